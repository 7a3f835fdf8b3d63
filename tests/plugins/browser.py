"""pytest fixtures: browser (see tests/conftest.py) and the add-in API world it runs against.

- `demo_db_template`: the demo firm (local.demo) plus a second tenant holding canaries, seeded
  once per session into a SQLite file; each test gets its own copy (seeding takes seconds).
- `demo_pane`: that copy served by the real function_app on DevHost (127.0.0.1, free port) with
  RAPPORT_DEV_AUTH=1 and a declared loopback bind, so dev tokens pass the real token validation.
  `demo_pane.token(upn)` mints one; `demo_pane.url(path)`.
- `browser` / `page`: headless Debian Chromium driven by Playwright. The page may reach only
  127.0.0.1: every other request is aborted and recorded in `page.external_requests`, so a test
  can prove the pane works offline (no CDN at run time).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from local.demo import DEMO_PARTNERS, DEMO_TENANT_ID, demo_partner_upn, seed_demo
from local.host import DevHost
from rapport.identity import dev as devauth
from rapport.records import Account, Contact, Owner, Person, Tenant, account_id
from rapport.settings import Settings, load_settings
from rapport.store import Store, make_store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

OTHER_TENANT = "9d0c3b1a-2222-4333-8444-000000000b0b"
OTHER_OID = "7a7a7a7a-1111-4222-8333-444444444444"
OTHER_CANARY = "CANARY-OTHER-FIRM-5e1d"
SHARED_EMAIL = "helena.northcott@cobaltine.example"  # known to the demo firm, and to the other firm
OTHER_ONLY_EMAIL = "zora.kvist@lindqvist.example"  # known only to the other firm


async def seed_other_tenant(store: Store) -> None:
    """A second firm on the same store, with canaries under addresses the demo firm also sees."""
    t = OTHER_TENANT
    await store.put_many([
        Tenant(id=t, tenantId=t, name=f"Other Firm {OTHER_CANARY}", domains=["otherfirm.example"]),
        Person(id=OTHER_OID, tenantId=t, oid=OTHER_OID, upn="o@otherfirm.example", name=f"Olga {OTHER_CANARY}"),
        Account.new(t, "cobaltine.example", name=f"Cobaltine {OTHER_CANARY}", kind="client"),
        Contact.new(t, SHARED_EMAIL, name=f"Helena {OTHER_CANARY}", accountId=account_id("cobaltine.example"),
                    owners=[Owner(oid=OTHER_OID, name=f"Olga {OTHER_CANARY}", visibility="firm")]),
        Contact.new(t, OTHER_ONLY_EMAIL, name=f"Zora {OTHER_CANARY}",
                    owners=[Owner(oid=OTHER_OID, name=f"Olga {OTHER_CANARY}", visibility="firm")]),
    ])


@pytest.fixture(scope="session")
def demo_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo-template") / "rapport.db"

    async def seed() -> None:
        store = make_store(load_settings({"RAPPORT_SQLITE_PATH": str(path)}))
        await store.open()
        try:
            await seed_demo(store)
            await seed_other_tenant(store)
        finally:
            await store.close()

    asyncio.run(seed())
    return path


DOCS = Path(__file__).resolve().parents[2] / "docs"


def wants_screenshot(name: str) -> bool:
    """docs/ keeps the README's screenshots: written when missing, or refreshed on request
    (RAPPORT_UPDATE_SCREENSHOTS=1), so an ordinary test run leaves the checkout unchanged."""
    return not (DOCS / name).exists() or os.environ.get("RAPPORT_UPDATE_SCREENSHOTS") == "1"


def save_screenshot(name: str, png: bytes) -> None:
    if wants_screenshot(name):
        DOCS.mkdir(exist_ok=True)
        (DOCS / name).write_bytes(png)


@dataclass
class DemoPane:
    host: DevHost
    settings: Settings
    store: Store

    @property
    def base_url(self) -> str:
        return self.host.base_url

    def url(self, path: str) -> str:
        return self.host.base_url + path

    def token(self, upn: str | None = None, *, tenant: str = DEMO_TENANT_ID, oid: str | None = None,
              **kw) -> str:
        """A dev token (signed by this test's dev key) for a demo partner, or any tenant/oid."""
        if oid is None:
            wanted = upn or demo_partner_upn(0)
            oid = next(p[0] for p in DEMO_PARTNERS if wanted.startswith(p[1] + "@"))
        return devauth.mint_dev_token(self.settings, tenant, oid, name="Test", upn=upn or "", **kw)

    def auth(self, upn: str | None = None, **kw) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(upn, **kw)}"}


@pytest.fixture
async def demo_pane(tmp_path: Path, demo_db_template: Path) -> AsyncIterator[DemoPane]:
    db = tmp_path / "rapport.db"
    shutil.copyfile(demo_db_template, db)
    settings = load_settings({"RAPPORT_SQLITE_PATH": str(db), "RAPPORT_DEV_AUTH": "1"})
    store = make_store(settings)
    await store.open()
    host = DevHost(settings, store=store)
    await host.start()  # declares its loopback bind: dev tokens count from here on
    try:
        yield DemoPane(host, settings, store)
    finally:
        await host.stop()  # the host's services end with it: its bind, its validator
        await store.close()


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def page(browser):
    context = await browser.new_context(viewport={"width": 360, "height": 900}, color_scheme="light")
    context.set_default_timeout(15_000)
    pg = await context.new_page()
    external: list[str] = []

    async def loopback_only(route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            external.append(route.request.url)
            await route.abort()

    await context.route("**/*", loopback_only)
    pg.external_requests = external  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        await context.close()
