"""`rapport manifest build|validate`: fill the app manifest template, check it, write the package.

One app package brings the bot to Teams and the task pane to Outlook (unified Microsoft 365 app
manifest with `bots` and `extensions`). The steps:

1. values from settings: RAPPORT_CLIENT_ID, MicrosoftAppId and an https RAPPORT_PUBLIC_URL are
   required; a missing one is reported with its name and nothing else is tried;
2. fill the `{{NAME}}` placeholders in every string of the template;
3. validate against the official JSON schema of the manifest's own `manifestVersion`, read offline
   from node_modules/@microsoft/app-manifest (no `$ref` or `$schema` is fetched);
4. check what the schema cannot: icon sizes and the outline's transparency, ids are GUIDs, every
   URL is https and covered by `validDomains`, the bot id is MicrosoftAppId, the SSO app id is
   RAPPORT_CLIENT_ID;
5. only with no problem at all: write build/appPackage.zip (manifest.json + the two icons).

Problems are listed as "<json path>: <what is wrong>" and the command exits 1 without a package.

The Teams app id is not a setting: it is derived from RAPPORT_CLIENT_ID with uuid5, so every build
for the same deployment carries the same id and uploading a new package updates the app in place
instead of adding a second Rapport to the catalogue.
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from manifest.icons import PngError, decode_png

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "manifest.template.json"
DEFAULT_OUT = Path("build") / "appPackage.zip"
SCHEMA_SUBDIR = Path("node_modules/@microsoft/app-manifest/build/json-schemas/teams")
# Fixed namespace for the derived Teams app id (never change it: the id would change with it).
APP_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "teams-app.rapport")

_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
# Pixel sizes the clients require (Teams app icons).
ICON_SIZES = {"color": (192, 192), "outline": (32, 32), "color32x32": (32, 32)}
TRANSPARENT_ICONS = ("outline", "color32x32")


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def json_path(parts: Iterator[Any] | list[Any] | tuple[Any, ...]) -> str:
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif _IDENT.match(str(p)):
            out += f".{p}"
        else:
            out += f"[{json.dumps(str(p))}]"
    return out


def teams_app_id(client_id: str) -> str:
    """The Teams app id for a deployment: stable, derived from the Entra client id."""
    return str(uuid.uuid5(APP_ID_NAMESPACE, client_id.strip().lower()))


# --- 1. values from settings ---------------------------------------------------------------------

def package_values(settings: Any) -> tuple[dict[str, str], list[Problem]]:
    """The placeholder values, or the list of settings that are missing or unusable for a package."""
    problems: list[Problem] = []
    client_id = (settings.client_id or "").strip()
    bot_id = (settings.bot_app_id or "").strip()
    if not client_id:
        problems.append(Problem("RAPPORT_CLIENT_ID", "is not set; it is the Entra app (client) id used for SSO"))
    elif not _GUID.match(client_id):
        problems.append(Problem("RAPPORT_CLIENT_ID", f"is not a GUID (got {client_id[:60]!r})"))
    elif uuid.UUID(client_id).int == 0:
        problems.append(Problem("RAPPORT_CLIENT_ID", "is the all-zero placeholder of docs/deploy.md step 1; "
                                "set the app registration's client id"))
    if not bot_id:
        problems.append(Problem("MicrosoftAppId", "is not set; it is the Azure Bot's app id (azd output MicrosoftAppId)"))
    elif not _GUID.match(bot_id):
        problems.append(Problem("MicrosoftAppId", f"is not a GUID (got {bot_id[:60]!r})"))
    url = urlparse(settings.public_url or "")
    if url.scheme != "https" or not url.hostname:
        problems.append(Problem("RAPPORT_PUBLIC_URL", "must be the public https URL Outlook, Teams and Graph reach "
                                f"Rapport at (got {settings.public_url!r})"))
    elif url.hostname in _LOOPBACK:
        problems.append(Problem("RAPPORT_PUBLIC_URL", f"is a loopback address ({url.hostname}); "
                                "Outlook and Teams cannot reach it"))
    if problems:
        return {}, problems
    from rapport import __version__

    public = settings.public_url.rstrip("/")
    host = url.netloc.lower()
    return {
        "VERSION": __version__,
        "APP_ID": teams_app_id(client_id),
        "BOT_ID": bot_id.lower(),
        "CLIENT_ID": client_id.lower(),
        "PUBLIC_URL": public,
        "HOST": host,
        # Teams/Outlook SSO wants api://<host>/<client id>; an explicit audience setting wins.
        "API_RESOURCE": settings.api_audience_setting or f"api://{url.hostname}/{client_id.lower()}",
    }, []


# --- 2. fill -------------------------------------------------------------------------------------

def fill(template: Any, values: dict[str, str]) -> tuple[Any, list[Problem]]:
    """Replace `{{NAME}}` in every string; an unknown name is a problem at its JSON path."""
    problems: list[Problem] = []

    def walk(node: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, (*path, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*path, i)) for i, v in enumerate(node)]
        if isinstance(node, str):
            def sub(m: re.Match[str]) -> str:
                if m.group(1) in values:
                    return values[m.group(1)]
                problems.append(Problem(json_path(path), f"placeholder {m.group(0)} is not one package.py fills "
                                        f"(known: {', '.join(sorted(values))})"))
                return m.group(0)

            return _PLACEHOLDER.sub(sub, node)
        return node

    return walk(template, ()), problems


# --- 3. schema -----------------------------------------------------------------------------------

def schema_roots(extra: list[Path] | None = None) -> list[Path]:
    """Where node_modules may be: given dirs, the working directory, the repository root."""
    roots = [*(extra or []), Path.cwd(), HERE.parent]
    return [r / SCHEMA_SUBDIR for r in roots]


def load_schema(version: str, roots: list[Path]) -> tuple[dict | None, str]:
    """The schema for a manifestVersion, or None and a sentence saying why not."""
    if not re.match(r"^[0-9A-Za-z.]+$", version):
        return None, f"{version!r} is not a manifest version"
    for root in roots:
        path = root / f"v{version}" / "MicrosoftTeams.schema.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8")), str(path)
    for root in roots:
        if root.is_dir():
            have = sorted((p.name[1:] for p in root.iterdir() if p.name.startswith("v")), key=_version_key)
            return None, f"no schema for version {version} in {root} (available: {', '.join(have)})"
    return None, ("the @microsoft/app-manifest schemas are not installed (run scripts/setup, which runs npm ci)")


def _version_key(v: str) -> tuple:
    return tuple(int(p) if p.isdigit() else -1 for p in v.split("."))


def schema_problems(manifest: Any, schema: dict) -> list[Problem]:
    """Validate offline: every $ref in the schema is local; anything else is refused, never fetched."""
    from jsonschema import Draft4Validator
    from jsonschema.validators import validator_for
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource, Unresolvable
    from referencing.jsonschema import DRAFT4

    def refuse(uri: str):
        raise NoSuchResource(ref=uri)  # no network: an external $ref is an error, not a download

    cls = validator_for(schema, default=Draft4Validator)
    resource = Resource.from_contents(schema, default_specification=DRAFT4)
    registry = Registry(retrieve=refuse).with_resource(schema.get("$id", "urn:rapport:teams-manifest"), resource)
    validator = cls(schema, registry=registry)
    problems: list[Problem] = []
    try:
        errors = list(validator.iter_errors(manifest))
    except Unresolvable as exc:
        return [Problem("$", f"the schema refers to {exc.ref}, which is not available offline")]
    for err in errors:
        path = list(err.absolute_path)
        if err.validator == "required" and isinstance(err.instance, dict):
            for name in err.validator_value:
                if name not in err.instance:
                    problems.append(Problem(json_path([*path, name]), "required field is missing"))
        elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(err.schema.get("properties", {}))
            for name in err.instance:
                if name not in allowed:
                    problems.append(Problem(json_path([*path, name]), "is not a field the schema allows here"))
        elif err.validator == "pattern" and err.validator_value == _GUID.pattern:
            problems.append(_not_a_guid(path, err.instance))  # same words as the rule, so listed once
        else:
            problems.append(Problem(json_path(path), _short(err.message)))
    return problems


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


# --- 4. rules the schema cannot check ------------------------------------------------------------

def rule_problems(manifest: Any, icon_dir: Path, settings: Any) -> list[Problem]:
    if not isinstance(manifest, dict):
        return [Problem("$", "the manifest must be a JSON object")]
    return [
        *_icon_problems(manifest, icon_dir),
        *_guid_problems(manifest),
        *_domain_problems(manifest),
        *_identity_problems(manifest, settings),
    ]


def _icon_problems(manifest: dict, icon_dir: Path) -> list[Problem]:
    problems: list[Problem] = []
    icons = manifest.get("icons")
    if not isinstance(icons, dict):
        return problems
    for key, (w, h) in ICON_SIZES.items():
        name = icons.get(key)
        if not isinstance(name, str):
            continue
        where = json_path(["icons", key])
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            problems.append(Problem(where, f"{name!r} must be a file name at the root of the package"))
            continue
        if not name.lower().endswith(".png"):
            problems.append(Problem(where, f"{name!r} must be a PNG file"))
            continue
        path = icon_dir / name
        if not path.is_file():
            problems.append(Problem(where, f"icon file {name} not found in {icon_dir}"))
            continue
        try:
            image = decode_png(path.read_bytes())
        except PngError as exc:
            problems.append(Problem(where, f"{name}: {exc}"))
            continue
        if (image.width, image.height) != (w, h):
            problems.append(Problem(where, f"{name} is {image.width}x{image.height} pixels; must be {w}x{h}"))
            continue
        if key in TRANSPARENT_ICONS:
            problems.extend(_transparency_problems(where, name, image, white_only=key == "outline"))
    return problems


def _transparency_problems(where: str, name: str, image: Any, white_only: bool) -> list[Problem]:
    if not image.has_alpha_channel or not any(a == 0 for *_, a in image.pixels):
        return [Problem(where, f"{name} has no transparent pixels; its background must be transparent")]
    if white_only:
        for i, (r, g, b, a) in enumerate(image.pixels):
            if a > 0 and min(r, g, b) < 0xF0:
                x, y = i % image.width, i // image.width
                return [Problem(where, f"{name} must be white on transparent; pixel ({x},{y}) is "
                                       f"#{r:02X}{g:02X}{b:02X}")]
    return []


def _guid_problems(manifest: dict) -> list[Problem]:
    found: list[tuple[list[Any], Any]] = [(["id"], manifest.get("id"))]
    for i, bot in enumerate(manifest.get("bots") or []):
        if isinstance(bot, dict):
            found.append((["bots", i, "botId"], bot.get("botId")))
    wai = manifest.get("webApplicationInfo")
    if isinstance(wai, dict):
        found.append((["webApplicationInfo", "id"], wai.get("id")))
    return [_not_a_guid(p, v) for p, v in found if v is not None and not (isinstance(v, str) and _GUID.match(v))]


def _not_a_guid(path: list[Any], value: Any) -> Problem:
    return Problem(json_path(path), f"must be a GUID (got {str(value)[:60]!r})")


def _strings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, (*path, i))
    elif isinstance(node, str):
        yield path, node


def _domain_matches(entry: str, netloc: str) -> bool:
    """validDomains semantics: exact host, or `*.` matching exactly one more label; port only if given."""
    entry = entry.lower()
    host = netloc if ":" in entry else netloc.split(":")[0]
    if entry.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == entry[2:]
    return host == entry


def _domain_problems(manifest: dict) -> list[Problem]:
    problems: list[Problem] = []
    entries = manifest.get("validDomains") or []
    domains: list[str] = []
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, str):
            continue
        where = json_path(["validDomains", i])
        if "://" in entry or "/" in entry:
            problems.append(Problem(where, f"{entry!r} must be a host name, without scheme or path"))
        elif entry in ("*",) or (entry.startswith("*.") and "." not in entry[2:]):
            problems.append(Problem(where, f"{entry!r} is too broad; name the host Rapport runs on"))
        else:
            domains.append(entry)
    for path, value in _strings(manifest):
        if path == ("$schema",):
            continue  # the schema's own address, not content the app loads
        if value.lower().startswith(("http://", "https://")):
            url = urlparse(value)
            if url.scheme != "https":
                problems.append(Problem(json_path(path), f"{value} is not https; Teams and Outlook load only https"))
            if not any(_domain_matches(d, url.netloc.lower()) for d in domains):
                problems.append(Problem(json_path(path), f"host {url.netloc} is not covered by validDomains "
                                                         f"({', '.join(domains) or 'empty'})"))
    wai = manifest.get("webApplicationInfo")
    resource = wai.get("resource") if isinstance(wai, dict) else None
    if isinstance(resource, str) and resource.startswith("api://"):
        host = resource[len("api://"):].split("/")[0]
        if host and not _GUID.match(host) and not host.startswith("botid-") \
                and not any(_domain_matches(d, host.lower()) for d in domains):
            problems.append(Problem(json_path(["webApplicationInfo", "resource"]),
                                    f"host {host} is not covered by validDomains; SSO would fail"))
    return problems


def _identity_problems(manifest: dict, settings: Any) -> list[Problem]:
    problems: list[Problem] = []
    want_bot = (settings.bot_app_id or "").strip().lower()
    for i, bot in enumerate(manifest.get("bots") or []):
        got = bot.get("botId") if isinstance(bot, dict) else None
        if isinstance(got, str) and _GUID.match(got) and got.lower() != want_bot:
            problems.append(Problem(json_path(["bots", i, "botId"]),
                                    f"is {got} but MicrosoftAppId is {want_bot or 'not set'}; "
                                    "Teams would send the bot's messages to another app"))
    wai = manifest.get("webApplicationInfo")
    want_client = (settings.client_id or "").strip().lower()
    got = wai.get("id") if isinstance(wai, dict) else None
    if isinstance(got, str) and _GUID.match(got) and got.lower() != want_client:
        problems.append(Problem(json_path(["webApplicationInfo", "id"]),
                                f"is {got} but RAPPORT_CLIENT_ID is {want_client or 'not set'}; SSO tokens "
                                "would be refused"))
    return problems


# --- the pipeline --------------------------------------------------------------------------------

def check(settings: Any, template: Path | None = None,
          node_modules_roots: list[Path] | None = None) -> tuple[dict | None, list[Problem]]:
    """Fill and validate. Returns the manifest and the sorted problems (empty means valid)."""
    template = Path(template) if template else TEMPLATE
    values, problems = package_values(settings)
    if problems:
        return None, problems
    try:
        raw = json.loads(template.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, [Problem(str(template), "template file not found")]
    except json.JSONDecodeError as exc:
        return None, [Problem(str(template), f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")]
    manifest, problems = fill(raw, values)
    if not isinstance(manifest, dict):
        return None, [Problem("$", "the manifest must be a JSON object")]
    version = manifest.get("manifestVersion")
    if not isinstance(version, str):
        problems.append(Problem("$.manifestVersion", "required field is missing"))
    else:
        schema, where = load_schema(version, schema_roots(node_modules_roots))
        if schema is None:
            problems.append(Problem("$.manifestVersion", where))
        else:
            problems += schema_problems(manifest, schema)
    problems += rule_problems(manifest, template.parent / "icons", settings)
    return manifest, sorted(set(problems))


def write_package(manifest: dict, icon_dir: Path, out: Path) -> Path:
    """Write the zip atomically: manifest.json and the icons it names, at the root."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # same input, same bytes
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)

        add("manifest.json", (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        for name in sorted({v for v in manifest["icons"].values() if isinstance(v, str)}):
            add(name, (icon_dir / name).read_bytes())
    os.replace(tmp, out)
    return out


def manifest_command(settings: Any, action: str, template: str | os.PathLike | None = None,
                     out: str | os.PathLike | None = None) -> int:
    """`rapport manifest build|validate`. 0: valid (and written for build); 1: problems; 2: cannot check."""
    template_path = Path(template) if template else TEMPLATE
    try:
        manifest, problems = check(settings, template_path)
    except ImportError as exc:
        print(f"rapport manifest: cannot validate without the jsonschema package ({exc.name}); "
              "install Rapport with its test extras: pip install -e '.[test]'", file=sys.stderr)
        return 2
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        print(f"rapport manifest: {len(problems)} {noun} in {template_path}; no package written:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    assert manifest is not None
    bots = manifest.get("bots") or [{}]
    summary = (f"manifest {manifest['manifestVersion']}, Teams app id {manifest['id']}, "
               f"bot {bots[0].get('botId', 'none')}, valid domains {', '.join(manifest.get('validDomains', []))}")
    if action == "validate":
        print(f"rapport manifest: valid ({summary})")
        return 0
    path = write_package(manifest, template_path.parent / "icons", Path(out) if out else DEFAULT_OUT)
    print(f"rapport manifest: wrote {path} ({summary})")
    return 0
