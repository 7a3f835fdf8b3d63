"""Issue 15 item 7: the admin-consent link lands on a page that says what was granted or what
failed (outsider text as data, never a link), docs/deploy.md registers that redirect URI; and the
`rapport` CLI (serve included) reads local.settings.json's Values with environment variables winning."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import azure.functions as func
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import function_app
from rapport.identity.consent import CALLBACK_ROUTE, consent_callback
from rapport.settings import SettingsError, load_settings, read_local_settings

ROOT = Path(__file__).resolve().parents[1]
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "p"}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)

    def handle_data(self, data):
        self.text.append(data)


async def page(query: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    q = "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())
    req = func.HttpRequest("GET", f"https://rapport.example/{CALLBACK_ROUTE}?{q}", headers={}, body=b"", params=query)
    resp = await function_app._http(req, consent_callback)
    assert resp.mimetype == "text/html"
    return resp.status_code, resp.get_body().decode(), {k.lower(): v for k, v in resp.headers.items()}


def only_our_markup(html: str) -> Tags:
    t = Tags()
    t.feed(html)
    assert t.tags <= ALLOWED_TAGS, t.tags
    assert not (t.attrs & {"href", "src", "action", "onload", "onerror", "style"}), t.attrs
    return t


async def test_granted_says_so_with_the_tenant():
    status, html, headers = await page({"admin_consent": "True", "tenant": TENANT.upper(), "state": "x"})
    assert status == 200
    assert "default-src 'none'" in headers["content-security-policy"]
    text = " ".join(only_our_markup(html).text)
    assert "consent granted" in text and f"tenant {TENANT}" in text and "admin_consent=True" in text


async def test_failure_shows_entras_error_as_plain_text_without_links():
    desc = ("AADSTS65004: User declined to consent. <script>alert(1)</script> Sign in again at "
            "https://evil.example/login?x=1 or www.evil.example, javascript:alert(2)")
    status, html, _ = await page({"error": "access_denied", "error_description": desc, "tenant": TENANT,
                                  "admin_consent": "True"})  # an error wins over admin_consent
    assert status == 200
    text = " ".join(only_our_markup(html).text)
    assert "not granted" in text and "access_denied" in text and "AADSTS65004: User declined to consent." in text
    assert "evil.example" not in html and "<script>alert" not in html and "javascript:" not in html
    assert "&lt;script&gt;" in html or "script" not in text  # shown as text if at all, never markup


async def test_an_odd_error_code_or_tenant_is_not_repeated():
    _, html, _ = await page({"error": "<img src=x onerror=alert(1)>", "tenant": "not-a-tenant"})
    text = " ".join(only_our_markup(html).text)
    assert "Microsoft Entra answered: an error." in text and "not-a-tenant" not in html and "onerror" not in html


async def test_no_parameters_says_there_is_no_result():
    _, html, _ = await page({})
    assert "no consent result" in html.lower()


@hsettings(max_examples=40, deadline=None, derandomize=True)
@given(before=st.text(max_size=80), after=st.text(max_size=80),
       scheme=st.sampled_from(["https://", "http://", "HTTPS://", "//", "www."]),
       code=st.text(max_size=20))
async def test_property_no_planted_link_or_markup_reaches_the_page(before, after, scheme, code):
    canary = "canary-link-7f3a.example"
    desc = f"{before} {scheme}{canary}/steal?t=1 {after}"
    _, html, _ = await page({"error": code or "x", "error_description": desc})
    assert canary not in html
    only_our_markup(html)


def test_the_consent_link_redirects_to_the_callback_and_the_guide_registers_it():
    from rapport.identity.graph_tokens import GraphTokens

    s = load_settings({"RAPPORT_CLIENT_ID": "11111111-2222-4333-8444-555555555555",
                       "RAPPORT_PUBLIC_URL": "https://rapport.firm.example"})
    url = GraphTokens(s).consent_url(TENANT)
    redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    assert redirect == f"https://rapport.firm.example/{CALLBACK_ROUTE}"
    assert f'route="{CALLBACK_ROUTE}"' in (ROOT / "function_app.py").read_text()
    guide = (ROOT / "docs" / "deploy.md").read_text()
    assert f"https://<host>/{CALLBACK_ROUTE}" in guide and "redirect_uri=https://<host>/" in guide


# --- local.settings.json ---------------------------------------------------------------------------

def write_local(path: Path, values: dict) -> Path:
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    return path


def test_values_are_read_and_the_environment_wins(tmp_path):
    f = write_local(tmp_path / "local.settings.json", {"RAPPORT_SQLITE_PATH": "from-file.db", "COSMOS_DATABASE": "filedb",
                                                       "RAPPORT_DEV_AUTH": True, "FUNCTIONS_WORKER_RUNTIME": "python"})
    s = load_settings({}, local_file=f)
    assert (s.sqlite_path, s.cosmos_database, s.dev_auth) == ("from-file.db", "filedb", True)
    s = load_settings({"RAPPORT_SQLITE_PATH": "from-env.db"}, local_file=f)
    assert (s.sqlite_path, s.cosmos_database) == ("from-env.db", "filedb")


@pytest.mark.parametrize("content, words", [
    ("{not json", "not valid JSON"),
    ('{"Values": []}', "no \"Values\" object"),
    ('{"IsEncrypted": true, "Values": {}}', "encrypted"),
    ('{"Values": {"RAPPORT_STORE": {"x": 1}}}', "must be text"),
    ('{"Values": {"RAPPORT_STORE": "mongo"}}', "RAPPORT_STORE is malformed"),
])
def test_a_bad_file_names_itself(tmp_path, content, words):
    f = tmp_path / "local.settings.json"
    f.write_text(content)
    with pytest.raises(SettingsError, match=words):
        load_settings({}, local_file=f)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match="cannot be read"):
        read_local_settings(tmp_path / "nope.json")


def serve_once(cwd: Path, env_extra: dict[str, str]) -> tuple[str, str]:
    """`rapport serve` in `cwd` until its banner, then a request to the consent page, then SIGTERM."""
    import urllib.request

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAPPORT_", "COSMOS_"))}
    env.update({"PYTHONPATH": str(ROOT), **env_extra})
    proc = subprocess.Popen([sys.executable, "-m", "local.cli", "serve", "--port", "0", "--no-timers"], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = ""
        deadline = time.monotonic() + 120
        while "Press Ctrl-C" not in banner and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner += line
        assert "serving on" in banner, banner + proc.stderr.read()
        base = banner.split("serving on ", 1)[1].split(" ", 1)[0]
        with urllib.request.urlopen(f"{base}/{CALLBACK_ROUTE}?admin_consent=True&tenant={TENANT}") as r:  # noqa: S310
            body = r.read().decode()
        return banner, body
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()


def test_rapport_serve_reads_local_settings_json_and_env_wins(tmp_path):
    write_local(tmp_path / "local.settings.json", {"RAPPORT_SQLITE_PATH": str(tmp_path / "file" / "r.db")})
    _, body = serve_once(tmp_path, {})
    assert (tmp_path / "file" / "r.db").exists()  # the store the file names was opened
    assert "consent granted" in body and TENANT in body  # and the consent page answers on the host
    serve_once(tmp_path, {"RAPPORT_SQLITE_PATH": str(tmp_path / "env" / "r.db")})
    assert (tmp_path / "env" / "r.db").exists()
