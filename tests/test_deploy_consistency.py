"""The deployment artefacts agree with the code: settings, routes, the app package, the Bicep.

- Every setting Rapport reads (rapport.settings.SETTINGS) is in local.settings.example.json and in
  the Bicep app settings, and nothing else is, apart from an explicit allow-list of names that the
  Functions host or the Azure SDKs read (PLATFORM_* below).
- Every HTTP route the app package, the Azure Bot or Microsoft Graph calls exists in function_app.py
  with the right method, and every task pane file the manifest names is served.
- The manifest inside a built package validates against the official schema.
- No Bicep CLI exists in this workplace, so the Bicep files are checked as text: balanced, the
  expected resource types, outputs, modules called with the parameters they declare.
"""

from __future__ import annotations

import functools
import json
import re
import zipfile
from dataclasses import fields
from pathlib import Path
from urllib.parse import urlparse

import pytest

from manifest import package
from rapport.settings import SETTINGS, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"

# Names the Functions host or the Azure SDKs read, not Rapport: allowed besides SETTINGS.
PLATFORM_LOCAL = {
    "FUNCTIONS_WORKER_RUNTIME",  # Core Tools: which worker runs function_app.py
    "AzureWebJobsStorage",  # the host's storage (Azurite locally)
}
PLATFORM_AZURE = {
    "AzureWebJobsStorage__accountName",  # host storage through the managed identity ...
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",  # ... the user-assigned one
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",  # telemetry with Entra auth (local auth is off)
    "AZURE_CLIENT_ID",  # azure-identity: which managed identity to use (Cosmos, Key Vault)
    "RAPPORT_WORK_QUEUE__credential",  # the work queue trigger's connection through the managed identity ...
    "RAPPORT_WORK_QUEUE__clientId",  # ... the user-assigned one (the Functions host reads these)
}
# Flex Consumption refuses these as app settings (the runtime is in functionAppConfig).
FLEX_FORBIDDEN = {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE"}
SECRET_SETTINGS = {f.metadata["env"] for f in fields(Settings) if f.metadata["secret"]}
# Rapport reads these too (telemetry's exporter), but the platform section supplies them in Azure.
PLATFORM_READ = {"APPLICATIONINSIGHTS_CONNECTION_STRING", "AZURE_CLIENT_ID"}

SAMPLE_ENV = {
    "RAPPORT_CLIENT_ID": "11111111-2222-3333-4444-555555555555",
    "MicrosoftAppId": "66666666-7777-8888-9999-000000000000",
    "MicrosoftAppType": "UserAssignedMSI",
    "MicrosoftAppTenantId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "RAPPORT_PUBLIC_URL": "https://func-rapport-test.azurewebsites.net",
}


# --- a little Bicep reading (text only) -----------------------------------------------------------

def _blank_strings_and_comments(text: str) -> str:
    """Same length and lines, with string contents and comments blanked, so braces can be counted."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'":
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise AssertionError(f"unterminated string at offset {i}")
            out.append("'" + re.sub(r"[^\n]", "x", text[i + 1:j]) + "'")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _balanced_block(text: str, open_at: int) -> str:
    """The text from the bracket at open_at to its match (text already blanked)."""
    pairs = {"{": "}", "[": "]", "(": ")"}
    stack = []
    for i in range(open_at, len(text)):
        if text[i] in pairs:
            stack.append(pairs[text[i]])
        elif text[i] in pairs.values():
            assert stack and stack.pop() == text[i], f"mismatched {text[i]!r} at offset {i}"
            if not stack:
                return text[open_at:i + 1]
    raise AssertionError(f"unclosed bracket at offset {open_at}")


def _top_level_keys(block: str) -> list[str]:
    """Unquoted keys of an object literal `{ ... }`, at its own level only."""
    depth, flat = 0, []
    for ch in block[1:-1]:
        if ch in "{[(":
            depth += 1
        flat.append(ch if depth == 0 else " ")
        if ch in "}])":
            depth -= 1
    return re.findall(r"(?:^|[{,])[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*:", "".join(flat), re.MULTILINE)


def _object_after(text: str, pattern: str) -> str:
    blank = _blank_strings_and_comments(text)
    m = re.search(pattern, blank, re.MULTILINE)
    assert m, f"{pattern!r} not found"
    return _balanced_block(blank, blank.index("{", m.start()))


def _bicep(name: str) -> str:
    return (INFRA / name).read_text(encoding="utf-8")


def _params(text: str) -> dict[str, bool]:
    """Declared params -> has a default."""
    blank = _blank_strings_and_comments(text)
    return {m.group(1): "=" in m.group(0) for m in re.finditer(r"^param\s+(\w+)\s+\w+[^\n]*", blank, re.MULTILINE)}


BICEP_FILES = sorted(p.relative_to(INFRA).as_posix() for p in INFRA.rglob("*.bicep"))


# --- settings -------------------------------------------------------------------------------------

def test_local_settings_example_has_every_setting_and_nothing_else():
    data = json.loads((ROOT / "local.settings.example.json").read_text())
    assert data["IsEncrypted"] is False
    names = set(data["Values"])
    assert sorted(set(SETTINGS) - names) == [], "settings Rapport reads but the example lacks"
    assert sorted(names - set(SETTINGS) - PLATFORM_LOCAL) == [], "names in the example that nobody reads"
    assert PLATFORM_LOCAL <= names
    assert all(isinstance(v, str) for v in data["Values"].values())


def test_local_settings_example_loads_and_holds_no_secret():
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    settings = load_settings(values)
    assert settings.store == "sqlite" and settings.dev_auth is False
    assert {k: values[k] for k in SECRET_SETTINGS} == dict.fromkeys(SECRET_SETTINGS, "")


def test_bicep_app_settings_are_exactly_rapports_settings():
    text = _bicep("modules/functionapp.bicep")
    keys = _top_level_keys(_object_after(text, r"^var rapportSettings\s*="))
    assert len(keys) == len(set(keys)), "a setting is listed twice"
    assert sorted(set(SETTINGS) - PLATFORM_READ - set(keys)) == [], "settings Rapport reads but the Function App lacks"
    assert sorted(set(keys) - set(SETTINGS)) == [], "Function App settings Rapport does not read"


def test_bicep_platform_settings_are_on_the_allow_list():
    text = _bicep("modules/functionapp.bicep")
    keys = set(_top_level_keys(_object_after(text, r"^var platformSettings\s*=")))
    assert sorted(keys - PLATFORM_AZURE) == [], "platform settings not on the allow-list"
    assert {"AzureWebJobsStorage__accountName", "APPLICATIONINSIGHTS_CONNECTION_STRING"} <= keys
    assert not keys & FLEX_FORBIDDEN
    assert not keys & (set(SETTINGS) - PLATFORM_READ), "a Rapport setting hidden among the platform ones"


def test_bicep_app_settings_come_from_those_two_lists_only():
    text = _blank_strings_and_comments(_bicep("modules/functionapp.bicep"))
    assert "appSettings:" not in text, "siteConfig.appSettings would bypass the checked lists"
    assert re.search(r"name:\s*'x{11}'\s*\n\s*properties:\s*union\(platformSettings,\s*rapportSettings\)", text)
    for other in BICEP_FILES:
        if other != "modules/functionapp.bicep":
            assert "Microsoft.Web/sites/config" not in _bicep(other)


def test_secrets_are_key_vault_references_or_empty():
    text = _bicep("modules/functionapp.bicep")
    assert "@Microsoft.KeyVault(VaultName=" in text
    for name in SECRET_SETTINGS:
        line = re.search(rf"^\s*{name}:\s*(.+)$", text, re.MULTILINE)
        assert line, name
        value = line.group(1).strip()
        assert value == "''" or re.fullmatch(r"\w+ \? '\$\{kv\}[a-z-]+\)' : ''", value), f"{name}: {value}"
    assert re.search(r"^\s*RAPPORT_DEV_AUTH:\s*'0'", text, re.MULTILINE), "dev tokens must stay off in Azure"


# --- routes ---------------------------------------------------------------------------------------

def _route_prefix() -> str:
    host = json.loads((ROOT / "host.json").read_text())
    return host.get("extensions", {}).get("http", {}).get("routePrefix", "api")


@functools.cache  # FunctionApp.get_functions() may be called only once per process
def _routes() -> list[tuple[re.Pattern[str], set[str], str]]:
    import function_app
    from local.host import functions

    prefix = _route_prefix().strip("/")
    out = []
    for fn in functions(function_app.app):
        trigger = fn.get_trigger()
        route = getattr(trigger, "route", None)
        if route is None or type(trigger).__name__ != "HttpTrigger":
            continue
        full = "/" + "/".join(p for p in (prefix, route.strip("/")) if p)
        regex = re.escape(full)
        regex = re.sub(r"\\\{\\\*[^}]*\\\}", ".*", regex)  # {*path}: the rest, slashes included
        regex = re.sub(r"\\\{[^}]*\\\}", "[^/]+", regex)  # {id}: one segment
        methods = {str(getattr(m, "value", m)).upper() for m in (trigger.methods or [])}
        out.append((re.compile(regex + "$"), methods, fn.get_function_name()))
    return out


# Who calls what: the Azure Bot (infra/modules/bot.bicep endpoint), the task pane, Microsoft Graph.
CALLED_ROUTES = [
    ("POST", "/api/messages", "Azure Bot messaging endpoint (Teams, Outlook actionable messages)"),
    ("GET", "/api/addin/context", "task pane: sidebar for the sender"),
    ("GET", "/api/addin/brief", "task pane: brief for a calendar item"),
    ("POST", "/api/addin/notes", "task pane: quick note"),
    ("POST", "/api/graph/notifications", "Microsoft Graph change notifications"),
    ("POST", "/api/graph/lifecycle", "Microsoft Graph lifecycle notifications"),
]


@pytest.mark.parametrize(("method", "path", "caller"), CALLED_ROUTES, ids=[p for _, p, _ in CALLED_ROUTES])
def test_called_route_exists(method, path, caller):
    matches = [(name, methods) for regex, methods, name in _routes() if regex.match(path)]
    assert matches, f"{method} {path} ({caller}) is not a route of function_app.py"
    assert any(method in methods for _, methods in matches), f"{path} exists but not for {method}: {matches}"


def _built_manifest(tmp_path: Path) -> dict:
    out = tmp_path / "appPackage.zip"
    assert package.manifest_command(load_settings(SAMPLE_ENV), "build", out=out) == 0
    with zipfile.ZipFile(out) as zf:
        return json.loads(zf.read("manifest.json"))


def _manifest_urls() -> list[str]:
    template = json.loads(package.TEMPLATE.read_text())
    base = SAMPLE_ENV["RAPPORT_PUBLIC_URL"]
    urls = {s.replace("{{PUBLIC_URL}}", base) for _, s in package._strings(template) if "{{PUBLIC_URL}}" in s}
    return sorted({urlparse(u).path for u in urls})


@pytest.mark.parametrize("path", _manifest_urls())
def test_every_page_the_manifest_names_is_served(path):
    """Outlook loads these from RAPPORT_PUBLIC_URL: the route must exist and the file must be there."""
    assert any(regex.match(path) and "GET" in methods for regex, methods, _ in _routes()), f"no GET route for {path}"
    from addin.static import resolve

    rel = path.removeprefix("/addin/")
    assert path.startswith("/addin/") and resolve(rel) is not None, f"addin/web/{rel} is missing or not servable"


def test_the_bot_endpoint_in_bicep_is_the_messages_route():
    assert "endpoint: '${publicUrl}/api/messages'" in _bicep("main.bicep")


# --- the package --------------------------------------------------------------------------------

def test_the_manifest_in_the_built_package_validates(tmp_path):
    manifest = _built_manifest(tmp_path)
    schema, where = package.load_schema(manifest["manifestVersion"], package.schema_roots())
    assert schema is not None, where
    assert package.schema_problems(manifest, schema) == []
    assert package.rule_problems(manifest, package.HERE / "icons", load_settings(SAMPLE_ENV)) == []
    assert "bots" in manifest and "extensions" in manifest


def test_the_manifest_uses_the_newest_released_schema_with_bots_and_extensions():
    root = next(r for r in package.schema_roots() if r.is_dir())
    versions = []
    for d in root.iterdir():
        schema_file = d / "MicrosoftTeams.schema.json"
        if d.name.startswith("v") and d.name[1:2].isdigit() and schema_file.is_file():
            props = json.loads(schema_file.read_text())["properties"]
            if "bots" in props and "extensions" in props:
                versions.append(d.name[1:])
    newest = max(versions, key=package._version_key)
    assert json.loads(package.TEMPLATE.read_text())["manifestVersion"] == newest


# --- the Bicep, as text ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", BICEP_FILES)
def test_bicep_file_is_balanced(name):
    blank = _blank_strings_and_comments(_bicep(name))
    depth = {"{": 0, "[": 0, "(": 0}
    closing = {"}": "{", "]": "[", ")": "("}
    for ch in blank:
        if ch in depth:
            depth[ch] += 1
        elif ch in closing:
            depth[closing[ch]] -= 1
            assert depth[closing[ch]] >= 0, f"{name}: unexpected {ch!r}"
    assert depth == {"{": 0, "[": 0, "(": 0}, name


EXPECTED_RESOURCES = {
    "main.bicep": ["Microsoft.Resources/resourceGroups"],
    "modules/identity.bicep": ["Microsoft.ManagedIdentity/userAssignedIdentities"],
    "modules/monitoring.bicep": ["Microsoft.OperationalInsights/workspaces", "Microsoft.Insights/components",
                                 "Microsoft.Authorization/roleAssignments"],
    "modules/storage.bicep": ["Microsoft.Storage/storageAccounts", "Microsoft.Storage/storageAccounts/blobServices",
                              "Microsoft.Storage/storageAccounts/blobServices/containers",
                              "Microsoft.Storage/storageAccounts/queueServices",
                              "Microsoft.Storage/storageAccounts/queueServices/queues",
                              "Microsoft.Authorization/roleAssignments"],
    "modules/cosmos.bicep": ["Microsoft.DocumentDB/databaseAccounts", "Microsoft.DocumentDB/databaseAccounts/sqlDatabases",
                             "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers",
                             "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments"],
    "modules/keyvault.bicep": ["Microsoft.KeyVault/vaults", "Microsoft.KeyVault/vaults/secrets",
                               "Microsoft.Authorization/roleAssignments"],
    "modules/functionapp.bicep": ["Microsoft.Web/serverfarms", "Microsoft.Web/sites", "Microsoft.Web/sites/config"],
    "modules/bot.bicep": ["Microsoft.BotService/botServices", "Microsoft.BotService/botServices/channels"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_RESOURCES))
def test_bicep_declares_the_expected_resources(name):
    declared = set(re.findall(r"^resource\s+\w+\s+'([^'@]+)@\d{4}-\d{2}-\d{2}(?:-preview)?'", _bicep(name), re.MULTILINE))
    assert sorted(set(EXPECTED_RESOURCES[name]) - declared) == []


def test_main_bicep_calls_every_module_with_the_parameters_it_declares():
    text = _bicep("main.bicep")
    blank = _blank_strings_and_comments(text)
    calls = list(re.finditer(r"^module\s+(\w+)\s+'([^']+)'\s*=\s*\{", text, re.MULTILINE))
    assert {m.group(2) for m in calls} == {p for p in BICEP_FILES if p.startswith("modules/")}
    for m in calls:
        body = _balanced_block(blank, blank.index("{", m.start()))
        params_at = body.index("params:")
        given = set(_top_level_keys(_balanced_block(body, body.index("{", params_at))))
        declared = _params(_bicep(m.group(2)))
        assert sorted(given - set(declared)) == [], f"{m.group(2)}: unknown params"
        assert sorted(p for p, has_default in declared.items() if not has_default and p not in given) == [], \
            f"{m.group(2)}: required params not given"


def test_main_parameters_match_main_bicep():
    declared = _params(_bicep("main.bicep"))
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert sorted(set(given) - set(declared)) == []
    assert sorted(p for p, has_default in declared.items() if not has_default and p not in given) == []


def test_main_bicep_outputs_what_the_package_and_onboarding_need():
    outputs = set(re.findall(r"^output\s+(\w+)\s", _bicep("main.bicep"), re.MULTILINE))
    needed = {"RAPPORT_PUBLIC_URL", "RAPPORT_CLIENT_ID", "RAPPORT_API_AUDIENCE", "MicrosoftAppId", "MicrosoftAppType",
              "MicrosoftAppTenantId", "RAPPORT_STORE", "COSMOS_ENDPOINT", "COSMOS_DATABASE", "AZURE_FUNCTION_APP_NAME",
              "AZURE_KEY_VAULT_NAME", "AZURE_RESOURCE_GROUP", "MANAGED_IDENTITY_PRINCIPAL_ID"}
    assert sorted(needed - outputs) == []
    assert outputs - {"AZURE_LOCATION", "AZURE_TENANT_ID", "AZURE_BOT_NAME", "MANAGED_IDENTITY_CLIENT_ID"} <= needed


def test_cosmos_containers_are_the_record_families_partitioned_by_tenant():
    from rapport.records import FAMILIES
    from rapport.store.cosmos import DIRECTORY, INDEXING_POLICY

    text = _bicep("modules/cosmos.bicep")
    listing = re.search(r"^var containerNames = \[\n(.*?)^\]", text, re.MULTILINE | re.DOTALL)
    assert listing, "var containerNames = [ ... ] (one name a line) not found"
    names = re.findall(r"^\s*'([a-z_]+)'\s*$", listing.group(1), re.MULTILINE)
    assert sorted(names) == sorted({*FAMILIES, DIRECTORY})
    assert "paths: [ '/tenantId' ]" in text
    assert "EnableServerless" in text and "param serverless bool = true" in text
    assert "disableLocalAuth: true" in text
    for composite in INDEXING_POLICY["compositeIndexes"]:
        for part in composite:
            assert f"{{ path: '{part['path']}', order: '{part['order']}' }}" in text
    assert "sqlRoleDefinitions/${dataContributor}" in text and "'00000000-0000-0000-0000-000000000002'" in text
    assert "COSMOS_DATABASE: cosmosDatabase" in _bicep("modules/functionapp.bicep")
    assert "var databaseName = 'rapport'" in text


def test_least_privilege_roles_for_the_managed_identity():
    kv = _bicep("modules/keyvault.bicep")
    assert "enableRbacAuthorization: true" in kv
    assert "'4633458b-17de-408a-b874-0445c86b69e6'" in kv  # Key Vault Secrets User, on the vault only
    storage = _bicep("modules/storage.bicep")
    assert "'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'" in storage  # Storage Blob Data Owner
    assert "allowSharedKeyAccess: false" in storage
    for name in BICEP_FILES:
        text = _bicep(name)
        for role in ("8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c"):
            assert role not in text, f"{name} grants Owner/Contributor"
        assert "listKeys(" not in text, f"{name} reads keys; use the managed identity"


def test_the_function_app_is_flex_consumption_python():
    text = _bicep("modules/functionapp.bicep")
    assert "tier: 'FlexConsumption', name: 'FC1'" in text
    assert "runtime: { name: 'python', version: pythonVersion }" in text and "param pythonVersion string = '3.11'" in text
    assert "kind: 'functionapp,linux'" in text
    assert "type: 'UserAssigned'" in text and "keyVaultReferenceIdentity: identityId" in text
    assert "'azd-service-name': 'api'" in text


def test_the_bot_has_the_teams_and_outlook_channels():
    text = _bicep("modules/bot.bicep")
    assert "channelName: 'MsTeamsChannel'" in text and "channelName: 'OutlookChannel'" in text
    assert "@allowed([ 'UserAssignedMSI', 'SingleTenant' ])" in text
    assert "msaAppMSIResourceId" in text


def test_azure_yaml_deploys_the_function_app():
    text = (ROOT / "azure.yaml").read_text()
    assert re.search(r"^services:\n  api:\n    project: \.\n    language: python\n    host: function$", text, re.MULTILINE)
    assert re.search(r"^infra:\n  provider: bicep\n  path: infra$", text, re.MULTILINE)
    assert (ROOT / "requirements.txt").is_file(), "Flex Consumption builds from requirements.txt"
