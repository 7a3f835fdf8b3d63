"""Settings: typed, from the environment, and a bad one fails at start-up naming itself."""

import subprocess
import sys
from pathlib import Path

import pytest

from rapport.settings import SETTINGS, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_the_embedded_default():
    s = load_settings({})
    assert s.store == "sqlite"
    assert s.drafting == "template"
    assert s.graph_base_url == "https://graph.microsoft.com/v1.0"
    assert s.entra_authority_host == "https://login.microsoftonline.com"
    assert s.cosmos_database == "rapport" and s.cosmos_verify_tls is True
    assert s.dev_auth is False


def test_names_are_the_design_names():
    for name in ("RAPPORT_STORE", "RAPPORT_SQLITE_PATH", "COSMOS_ENDPOINT", "COSMOS_KEY", "COSMOS_DATABASE",
                 "COSMOS_VERIFY_TLS", "RAPPORT_PUBLIC_URL", "MicrosoftAppId", "MicrosoftAppPassword",
                 "MicrosoftAppType", "MicrosoftAppTenantId", "RAPPORT_CLIENT_ID", "RAPPORT_CLIENT_SECRET",
                 "RAPPORT_API_AUDIENCE", "RAPPORT_ALLOWED_TENANTS", "GRAPH_BASE_URL", "ENTRA_AUTHORITY_HOST",
                 "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_DEPLOYMENT", "OPENAI_API_KEY",
                 "OPENAI_BASE_URL", "RAPPORT_DEV_AUTH"):
        assert name in SETTINGS


def test_audience_defaults_to_api_uri_of_client_id():
    assert load_settings({"RAPPORT_CLIENT_ID": "abc"}).api_audience == "api://abc"
    assert load_settings({"RAPPORT_CLIENT_ID": "abc", "RAPPORT_API_AUDIENCE": "api://x/abc"}).api_audience == "api://x/abc"


def test_allowed_tenants_are_a_normalised_list():
    s = load_settings({"RAPPORT_ALLOWED_TENANTS": " A , b,,a "})
    assert s.allowed_tenants == ("a", "b")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"RAPPORT_STORE": "postgres"}, "RAPPORT_STORE"),
        ({"COSMOS_VERIFY_TLS": "maybe"}, "COSMOS_VERIFY_TLS"),
        ({"GRAPH_BASE_URL": "graph.microsoft.com"}, "GRAPH_BASE_URL"),
        ({"RAPPORT_STORE": "cosmos"}, "COSMOS_ENDPOINT"),
        ({"MicrosoftAppType": "Whatever"}, "MicrosoftAppType"),
        ({"MicrosoftAppId": "x", "MicrosoftAppPassword": "p"}, "MicrosoftAppTenantId"),
        ({"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com"}, "AZURE_OPENAI_DEPLOYMENT"),
        ({"RAPPORT_DEV_AUTH": "1", "RAPPORT_PUBLIC_URL": "https://rapport.example.com"}, "RAPPORT_DEV_AUTH"),
    ],
)
def test_bad_settings_fail_naming_the_setting(env, named):
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    assert named in str(err.value)


def test_secret_values_are_never_echoed():
    with pytest.raises(SettingsError) as err:
        load_settings({"RAPPORT_STORE": "cosmos", "COSMOS_KEY": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(err.value)
    shown = repr(load_settings({"COSMOS_KEY": "s3cr3t-value", "RAPPORT_CLIENT_SECRET": "client-s3cret"}))
    assert "s3cr3t-value" not in shown and "client-s3cret" not in shown and "cosmos_database=" in shown


def test_cli_fails_at_start_up_with_the_setting_named():
    exe = Path(sys.executable).parent / "rapport"
    out = subprocess.run([str(exe), "trigger"], env={"PATH": "/usr/bin:/bin", "RAPPORT_STORE": "mongo"},
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 2
    assert "RAPPORT_STORE" in out.stderr and "Traceback" not in out.stderr


def test_sync_without_graph_configured_names_the_setting(tmp_path):
    exe = Path(sys.executable).parent / "rapport"
    env = {"PATH": "/usr/bin:/bin", "RAPPORT_SQLITE_PATH": str(tmp_path / "r.db")}
    out = subprocess.run([str(exe), "sync", "--tenant", "11111111-2222-4333-8444-555555555555"], env=env,
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 2
    assert "RAPPORT_CLIENT_ID" in out.stderr and "Traceback" not in out.stderr
