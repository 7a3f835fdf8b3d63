"""Every setting Rapport reads, typed, from the environment. The one place for configuration.

Nothing here does I/O at import time: `load_settings()` reads a mapping (the process environment by
default) when a host starts, and fails with a message naming the setting that is missing or wrong.
The names are part of Rapport's external interface (README, local.settings.example.json, the Bicep); `SETTINGS` is the list the deployment
consistency tests compare against local.settings.example.json and the Bicep app settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlparse


class SettingsError(ValueError):
    """A setting is missing or malformed. The message names it; it never echoes a secret's value."""


def _text(value: str) -> str:
    return value.strip()


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true/false or 1/0")


def _url(value: str) -> str:
    v = value.strip().rstrip("/")
    parsed = urlparse(v)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("expected an http(s) URL")
    return v


def _csv(value: str) -> tuple[str, ...]:
    return tuple(sorted({p.strip().lower() for p in value.split(",") if p.strip()}))


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        v = value.strip().lower()
        if v not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return v

    return parse


def _bot_app_type(value: str) -> str:
    canonical = {"multitenant": "MultiTenant", "singletenant": "SingleTenant", "userassignedmsi": "UserAssignedMSI"}
    v = canonical.get(value.strip().lower())
    if v is None:
        raise ValueError("expected SingleTenant, UserAssignedMSI or MultiTenant")
    return v


# The client apps that may fetch a token for Rapport's API besides the add-in's own registration
# (RAPPORT_CLIENT_ID, which the pane uses for nested app authentication): Microsoft's first-party
# clients that call an SSO-protected API, as their docs list them under "Authorized client
# applications" (docs/deploy.md step 2.4 pre-authorizes the same ids):
# - Office Add-ins SSO (learn.microsoft.com/office/dev/add-ins/develop/register-sso-add-in-aad-v2):
#   the all-Office id and the platform ids it stands for;
# - Teams / Microsoft 365 / Outlook SSO (learn.microsoft.com/microsoftteams/platform/tabs/how-to/
#   authentication/tab-sso-register-aad).
FIRST_PARTY_CLIENT_APPS: tuple[str, ...] = tuple(sorted((
    "ea5a67f6-b6f3-4338-b240-c655ddc3cc8e",  # Microsoft Office (all Office application endpoints)
    "d3590ed6-52b3-4102-aeff-aad2292ab01c",  # Microsoft Office / Outlook desktop / Microsoft 365 mobile
    "93d53678-613d-4013-afc1-62e9e444a0a5",  # Office on the web
    "bc59ab01-8403-45c6-8796-ac3ef710b3e3",  # Outlook on the web
    "27922004-5251-4030-b22d-91ecd9a37ea4",  # Outlook mobile
    "1fec8e78-bce4-4aaf-ab1b-5451cc387264",  # Teams desktop and mobile
    "5e3ce6c0-2b1f-4285-8d4b-75ee78787346",  # Teams on the web
    "4765445b-32c6-49b0-83e6-1d93765276ca",  # Microsoft 365 web
    "0ec893e0-5785-4de6-99da-4ed124e5296c",  # Microsoft 365 desktop
)))


def _setting(env: str, parse: Callable[[str], Any] = _text, default: Any = None, secret: bool = False) -> Any:
    # A secret stays out of repr(): a Settings object printed or logged by mistake shows no secret.
    return field(default=default, repr=not secret, metadata={"env": env, "parse": parse, "secret": secret})


@dataclass(frozen=True)
class Settings:
    store: str = _setting("RAPPORT_STORE", _choice("sqlite", "cosmos"), "sqlite")
    sqlite_path: str = _setting("RAPPORT_SQLITE_PATH", _text, ".rapport/rapport.db")
    cosmos_endpoint: str | None = _setting("COSMOS_ENDPOINT", _url)
    cosmos_key: str | None = _setting("COSMOS_KEY", secret=True)
    cosmos_database: str = _setting("COSMOS_DATABASE", _text, "rapport")
    cosmos_verify_tls: bool = _setting("COSMOS_VERIFY_TLS", _bool, True)
    public_url: str = _setting("RAPPORT_PUBLIC_URL", _url, "http://127.0.0.1:7071")
    # botbuilder's own names: the bot's identity.
    bot_app_id: str | None = _setting("MicrosoftAppId")
    bot_app_password: str | None = _setting("MicrosoftAppPassword", secret=True)
    bot_app_type: str = _setting("MicrosoftAppType", _bot_app_type, "SingleTenant")
    bot_app_tenant_id: str | None = _setting("MicrosoftAppTenantId")
    bot_openid_metadata: str = _setting("BotOpenIdMetadata", _url, "https://login.botframework.com/v1/.well-known/openidconfiguration")
    am_originator: str | None = _setting("RAPPORT_AM_ORIGINATOR")  # Actionable Messages provider id (card `originator`)
    # The multi-tenant Entra app behind the add-in API and Graph.
    client_id: str | None = _setting("RAPPORT_CLIENT_ID")
    client_secret: str | None = _setting("RAPPORT_CLIENT_SECRET", secret=True)
    api_audience_setting: str | None = _setting("RAPPORT_API_AUDIENCE")
    allowed_tenants: tuple[str, ...] = _setting("RAPPORT_ALLOWED_TENANTS", _csv, ())
    # Client apps (azp/appid) whose tokens the add-in API accepts, besides RAPPORT_CLIENT_ID itself.
    client_apps: tuple[str, ...] = _setting("RAPPORT_CLIENT_APPS", _csv, FIRST_PARTY_CLIENT_APPS)
    graph_base_url: str = _setting("GRAPH_BASE_URL", _url, "https://graph.microsoft.com/v1.0")
    entra_authority_host: str = _setting("ENTRA_AUTHORITY_HOST", _url, "https://login.microsoftonline.com")
    azure_openai_endpoint: str | None = _setting("AZURE_OPENAI_ENDPOINT", _url)
    azure_openai_api_key: str | None = _setting("AZURE_OPENAI_API_KEY", secret=True)
    azure_openai_deployment: str | None = _setting("AZURE_OPENAI_DEPLOYMENT")
    # The GA api-version with response_format json_object; a firm's resource may need another.
    azure_openai_api_version: str = _setting("AZURE_OPENAI_API_VERSION", _text, "2024-10-21")
    openai_api_key: str | None = _setting("OPENAI_API_KEY", secret=True)
    openai_base_url: str | None = _setting("OPENAI_BASE_URL", _url)
    openai_model: str = _setting("OPENAI_MODEL", _text, "gpt-4o-mini")  # OpenAI-compatible servers only
    dev_auth: bool = _setting("RAPPORT_DEV_AUTH", _bool, False)
    # Telemetry (rapport/telemetry.py): auto = Azure Monitor when the connection string is set, else off.
    telemetry: str = _setting("RAPPORT_TELEMETRY", _choice("auto", "off", "console", "azure"), "auto")
    # Not a secret here: the component has local auth off, so the exporter signs in with the identity.
    appinsights_connection_string: str | None = _setting("APPLICATIONINSIGHTS_CONNECTION_STRING")
    managed_identity_client_id: str | None = _setting("AZURE_CLIENT_ID")  # the user-assigned identity, in Azure
    # Where work items are also sent as queue messages (rapport.work_queue; docs/architecture.md, "Work after
    # the answer"). The names are the queue trigger's `connection` (function_app.py), read the way the
    # Functions host reads them: a connection string (Azurite locally: UseDevelopmentStorage=true), or the
    # queue service URL with the managed identity (RAPPORT_WORK_QUEUE__credential/__clientId, platform
    # settings). Neither: no queue, the in-process kick and the minute timer (the embedded default).
    work_queue_connection: str | None = _setting("RAPPORT_WORK_QUEUE", secret=True)
    work_queue_service_uri: str | None = _setting("RAPPORT_WORK_QUEUE__queueServiceUri", _url)

    @property
    def api_audience(self) -> str | None:
        if self.api_audience_setting:
            return self.api_audience_setting
        return f"api://{self.client_id}" if self.client_id else None

    @property
    def drafting(self) -> str:
        """Which drafter is configured: 'azure-openai', 'openai' or 'template' (nothing set)."""
        if self.azure_openai_endpoint:
            return "azure-openai"
        if self.openai_api_key or self.openai_base_url:
            return "openai"
        return "template"

    @property
    def work_queue(self) -> bool:
        """Whether work items are also queue messages (a storage connection is configured)."""
        return bool(self.work_queue_connection or self.work_queue_service_uri)



SETTINGS: tuple[str, ...] = tuple(f.metadata["env"] for f in fields(Settings))


LOCAL_SETTINGS_FILE = "local.settings.json"  # Azure Functions' local file: {"IsEncrypted": false, "Values": {...}}


def read_local_settings(path: str | os.PathLike[str]) -> dict[str, str]:
    """The `Values` of an Azure Functions local.settings.json, as text. Raises SettingsError naming
    the file when it is not that shape (never echoing a value: it may hold a secret)."""
    import json

    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json.load(f)
    except OSError as exc:
        raise SettingsError(f"{path} cannot be read ({exc.strerror or exc})") from None
    except ValueError:
        raise SettingsError(f"{path} is not valid JSON") from None
    values = data.get("Values") if isinstance(data, dict) else None
    if not isinstance(values, dict):
        raise SettingsError(f"{path} has no \"Values\" object (see local.settings.example.json)")
    if data.get("IsEncrypted") is True:
        raise SettingsError(f"{path} is encrypted (IsEncrypted: true); decrypt it with `func settings decrypt`")
    out: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, bool):
            out[str(name)] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            out[str(name)] = str(value)
        elif value is not None:
            raise SettingsError(f"{path}: Values.{str(name)[:60]} must be text")
    return out


def load_settings(env: Mapping[str, str] | None = None, *,
                  local_file: str | os.PathLike[str] | None = None) -> Settings:
    """Read and check every setting. Raises SettingsError naming the first bad one.

    `local_file`: a local.settings.json whose `Values` are read first; the environment (`env`, or
    the process's) wins over it, name by name, as with Azure Functions Core Tools."""
    source = os.environ if env is None else env
    if local_file is not None:
        source = {**read_local_settings(local_file), **source}
    values: dict[str, Any] = {}
    for f in fields(Settings):
        name = f.metadata["env"]
        raw = source.get(name)
        if raw is None or raw.strip() == "":
            continue
        try:
            values[f.name] = f.metadata["parse"](raw)
        except ValueError as exc:
            shown = "" if f.metadata["secret"] else f" (got {raw.strip()[:80]!r})"
            raise SettingsError(f"setting {name} is malformed: {exc}{shown}") from None
    settings = Settings(**values)
    _check_combinations(settings)
    return settings


def _check_combinations(s: Settings) -> None:
    if s.store == "cosmos" and not s.cosmos_endpoint:
        raise SettingsError("setting COSMOS_ENDPOINT is required when RAPPORT_STORE=cosmos")
    if s.azure_openai_endpoint and not s.azure_openai_deployment:
        raise SettingsError("setting AZURE_OPENAI_DEPLOYMENT is required when AZURE_OPENAI_ENDPOINT is set")
    if s.bot_app_type == "SingleTenant" and s.bot_app_id and not s.bot_app_tenant_id:
        raise SettingsError("setting MicrosoftAppTenantId is required for a SingleTenant bot (MicrosoftAppId is set)")
    if s.bot_app_type == "SingleTenant" and s.bot_app_id and not s.bot_app_password:
        raise SettingsError("setting MicrosoftAppPassword is required for a SingleTenant bot (MicrosoftAppId is set)")
    if s.dev_auth and urlparse(s.public_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        # Dev tokens are signed by a key anyone with the repo has: never with a public address.
        raise SettingsError("setting RAPPORT_DEV_AUTH=1 is refused: RAPPORT_PUBLIC_URL is not a loopback address")
