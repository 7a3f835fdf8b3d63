"""The task pane in headless Chromium (Playwright) against the real function_app on DevHost,
serving the seeded demo firm, in preview mode (no Office host, no network beyond 127.0.0.1).

Also here: the static file trigger (types, traversal, caching) and the vendored libraries, which
must be byte-for-byte the npm packages' builds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.demo import DEMO_PARTNERS, build_demo
from tests.plugins.browser import SHARED_EMAIL, save_screenshot

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
VENDOR = {
    "adaptivecards.min.js": ROOT / "node_modules/adaptivecards/dist/adaptivecards.min.js",
    "msal-browser.min.js": ROOT / "node_modules/@azure/msal-browser/lib/msal-browser.min.js",
}
STRANGER = "stranger@unknown-startup.example"
TIMEOUT = 15_000


async def open_pane(page, pane, sender: str | None = None, user: str | None = None):
    q = []
    if sender:
        q.append("sender=" + sender)
    if user:
        q.append("user=" + user)
    await page.goto(pane.url("/addin/taskpane.html" + ("?" + "&".join(q) if q else "")))


async def wait_state(page, state: str):
    await page.wait_for_selector(f'body[data-state="{state}"]', timeout=TIMEOUT)


async def card_text(page) -> str:
    return await page.inner_text("#card-host")


# --- in the browser ------------------------------------------------------------------------------

async def test_pane_shows_a_known_senders_card_offline(demo_pane, page):
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await open_pane(page, demo_pane, SHARED_EMAIL)
    await wait_state(page, "card")
    text = await card_text(page)
    assert "Helena Northcott" in text and "Cobaltine Batteries" in text
    assert "Who at the firm knows them" in text and "Latest contact" in text
    banner = await page.inner_text("#preview-banner")
    assert "PREVIEW" in banner and await page.is_visible("#preview-banner")
    assert await page.get_attribute("body", "data-status") == "known"
    assert page.external_requests == []  # no CDN, no Office.js, nothing off this machine
    assert dialogs == []
    shot = await page.screenshot(full_page=True)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    save_screenshot("sidebar.png", shot)


async def test_pane_switches_when_the_open_email_changes(demo_pane, page):
    await open_pane(page, demo_pane, SHARED_EMAIL)
    await wait_state(page, "card")
    assert "Helena Northcott" in await card_text(page)
    options = await page.eval_on_selector_all("#preview-sender option", "os => os.map(o => [o.value, o.text])")
    email, label = next((v, t) for v, t in options
                        if v and v not in (SHARED_EMAIL, STRANGER) and not v.startswith("new.person@"))
    name = label.split(" <")[0]
    await page.select_option("#preview-sender", email)  # what Outlook's ItemChanged does
    await page.wait_for_function("n => document.querySelector('#card-host').innerText.includes(n)",
                                 arg=name, timeout=TIMEOUT)
    assert "Helena Northcott" not in await card_text(page)
    await page.select_option("#preview-sender", STRANGER)
    await page.wait_for_function(
        "() => document.querySelector('#card-host').innerText.includes('Not yet known to the firm')", timeout=TIMEOUT)
    await page.select_option("#preview-sender", "")
    await wait_state(page, "empty")
    assert "Open an email" in await page.inner_text("#state-empty")


async def test_pane_shows_the_unknown_sender_card(demo_pane, page):
    await open_pane(page, demo_pane, "new.person@norvale.example")
    await wait_state(page, "card")
    text = await card_text(page)
    assert "Not yet known to the firm" in text and "Norvale Robotics" in text
    assert await page.get_attribute("body", "data-status") == "unknown"


async def test_pane_restricted_contact_shows_only_whom_to_ask(demo_pane, page):
    private = next(c for c in build_demo().contacts if c.private_owner and c.private_owner != DEMO_PARTNERS[0][0])
    owner = next(p[2] for p in DEMO_PARTNERS if p[0] == private.private_owner)
    await open_pane(page, demo_pane, private.email)
    await wait_state(page, "card")
    text = await card_text(page)
    assert f"Known to {owner} - ask for an introduction" in text
    assert private.title not in text and private.name not in text


async def test_pane_shows_a_clean_error_when_the_api_fails(demo_pane, page):
    async def fail(route):
        await route.fulfill(status=503, content_type="application/json", body=json.dumps(
            {"error": {"status": 503, "message": "store down", "correlationId": "cid-123"}}))

    await page.route("**/api/addin/context*", fail)
    await open_pane(page, demo_pane, SHARED_EMAIL)
    await wait_state(page, "error")
    text = await page.inner_text("#state-error")
    assert "Rapport is having trouble" in text and "cid-123" in text and "Traceback" not in text
    await page.unroute("**/api/addin/context*")
    await page.click("#retry-button")
    await wait_state(page, "card")


async def test_pane_asks_to_sign_in_when_the_token_is_refused(demo_pane, page):
    expired = demo_pane.token(lifetime=-3600)  # signed by the right key, refused as expired

    async def bogus(route):
        await route.fulfill(status=200, content_type="application/json", body=json.dumps(
            {"token": expired, "upn": "x", "name": "X", "partners": []}))

    await page.route("**/dev/addin/token*", bogus)
    await open_pane(page, demo_pane, SHARED_EMAIL)
    await wait_state(page, "signin")
    assert "could not confirm your sign-in" in await page.inner_text("#state-signin")
    assert await page.is_visible("#signin-button")


async def test_note_from_the_card_is_saved_and_shown_as_text(demo_pane, page):
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await open_pane(page, demo_pane, SHARED_EMAIL)
    await wait_state(page, "card")
    note = '<img src=x onerror="alert(1)"> Met at INTA **Berlin**'
    await page.fill("#card-host textarea", note)
    await page.click("#card-host button:has-text('Add note')")
    await page.wait_for_function("() => document.querySelector('#toast').innerText.includes('Note saved')",
                                 timeout=TIMEOUT)
    assert note in await card_text(page)  # shown literally, not as an image or bold
    assert await page.locator("#card-host img").count() == 0 and dialogs == []


async def test_enquiry_buttons_log_call_and_merge_from_the_pane(demo_pane, page):
    """The task pane's own code posts the card's enquiry actions (taskpane.js): "Log as enquiry",
    "Log a call" (with the note box's text) and "Merge into one", each answered by a fresh card."""
    from datetime import timedelta

    from local.demo import DEMO_TENANT_ID
    from rapport.records import Enquiry, Interaction, contact_id

    sender = "pia.pane@brandnew-pane.example"
    await open_pane(page, demo_pane, sender)
    await wait_state(page, "card")
    await page.click("#card-host button:has-text('Log as enquiry')")
    await page.wait_for_selector("#card-host button:has-text('Log a call')", timeout=TIMEOUT)
    await page.fill("#card-host textarea", "Rang back about the <i>filing</i>")
    await page.click("#card-host button:has-text('Log a call')")
    await page.wait_for_function("() => document.querySelector('#toast').innerText.includes('clock stopped')",
                                 timeout=TIMEOUT)
    store = demo_pane.store
    [call] = [i for i in await store.find_all(Interaction, DEMO_TENANT_ID, key=f"ct:{contact_id(sender)}")
              if i.channel == "call"]
    assert call.text == "Rang back about the <i>filing</i>"
    await page.wait_for_function("() => document.querySelector('#card-host').innerText.includes('answered')",
                                 timeout=TIMEOUT)
    # A second open enquiry of the same person (a race between two captures): the pane offers the merge.
    [older] = await store.find_all(Enquiry, DEMO_TENANT_ID, key=f"ct:{contact_id(sender)}:open")
    await store.put(older.model_copy(update={"id": "eq_pane_second", "etag": None, "firstResponseAt": None,
                                             "receivedAt": older.receivedAt + timedelta(minutes=5)}))
    await page.click("#card-host button:has-text('Refresh')")
    await page.wait_for_selector("#card-host button:has-text('Merge into one')", timeout=TIMEOUT)
    await page.click("#card-host button:has-text('Merge into one')")
    await page.wait_for_function("() => document.querySelector('#toast').innerText.includes('Merged')",
                                 timeout=TIMEOUT)
    assert [e.id for e in await store.find_all(Enquiry, DEMO_TENANT_ID, key=f"ct:{contact_id(sender)}:open")] == [
        older.id]
    assert await page.locator("#card-host button:has-text('Merge into one')").count() == 0


async def test_pane_is_keyboard_usable(demo_pane, page):
    await open_pane(page, demo_pane, SHARED_EMAIL)
    await wait_state(page, "card")
    seen = []
    for _ in range(8):
        await page.keyboard.press("Tab")
        seen.append(await page.evaluate(
            "() => (document.activeElement.tagName + ':' + (document.activeElement.getAttribute('aria-label') "
            "|| document.activeElement.innerText || document.activeElement.id || '')).slice(0, 40)"))
    joined = " | ".join(seen)
    assert "SELECT" in joined and "TEXTAREA" in joined and "Add note" in joined, joined


async def test_dark_theme_follows_the_system(demo_pane, browser):
    context = await browser.new_context(color_scheme="dark", viewport={"width": 360, "height": 800})
    try:
        page = await context.new_page()
        await page.goto(demo_pane.url(f"/addin/taskpane.html?sender={SHARED_EMAIL}"))
        await wait_state(page, "card")
        assert await page.get_attribute("html", "data-theme") == "dark"
        bg = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(41, 40, 39)"
        save_screenshot("sidebar-dark.png", await page.screenshot(full_page=True))
    finally:
        await context.close()


# --- the static trigger and the vendored libraries -----------------------------------------------

@pytest.mark.parametrize("name", sorted(VENDOR))
def test_vendored_libraries_match_node_modules_byte_for_byte(name):
    assert (ROOT / "addin/web/vendor" / name).read_bytes() == VENDOR[name].read_bytes()


def test_pane_references_no_cdn_but_office_js():
    import re

    for f in ("taskpane.html", "taskpane.js", "preview.js", "taskpane.css"):
        text = (ROOT / "addin/web" / f).read_text()
        hosts = set(re.findall(r"https://([a-z0-9.-]+)", text))
        assert hosts <= {"appsforoffice.microsoft.com", "login.microsoftonline.com"}, (f, hosts)


async def test_static_files_types_caching_and_traversal(demo_pane, http):
    async def get(path, **kw):
        async with http.get(demo_pane.url(path), **kw) as r:
            return r.status, r.headers, await r.read()

    status, h, body = await get("/addin/taskpane.html")
    assert status == 200 and h["content-type"].startswith("text/html") and h["cache-control"] == "no-cache"
    assert "default-src 'self'" in h["content-security-policy"] and h["x-content-type-options"] == "nosniff"
    etag = h["etag"]
    status, _, _ = await get("/addin/taskpane.html", headers={"If-None-Match": etag})
    assert status == 304
    status, h, body = await get("/addin/vendor/adaptivecards.min.js")
    assert status == 200 and h["content-type"].startswith("text/javascript") and "immutable" in h["cache-control"]
    assert body == VENDOR["adaptivecards.min.js"].read_bytes()
    status, h, _ = await get("/addin/taskpane.css")
    assert status == 200 and h["content-type"].startswith("text/css")
    status, h, body = await get("/addin/config.json")
    assert status == 200 and set(json.loads(body)) == {"clientId", "scope"}
    for bad in ("/addin/../function_app.py", "/addin/%2e%2e/function_app.py", "/addin/..%2ffunction_app.py",
                "/addin/vendor/..%2f..%2fstatic.py", "/addin/.hidden.js", "/addin/%00.js", "/addin/nope.html",
                "/addin/taskpane.py", "/addin/..%5c..%5cfunction_app.py", "/addin/vendor/%252e%252e/x.js"):
        status, _, body = await get(bad)
        assert status == 404, bad
        assert b"def " not in body and b"import" not in body


async def test_dev_routes_are_absent_without_dev_auth(start_devhost, http):
    host = await start_devhost()
    for path in ("/dev/addin/token", "/dev/addin/senders"):
        async with http.get(host.base_url + path) as r:
            assert r.status == 404


async def test_dev_routes_refuse_a_non_loopback_host_header(demo_pane, http):
    async with http.get(demo_pane.url("/dev/addin/token"), headers={"Host": "evil.example:7071"}) as r:
        assert r.status == 404
    async with http.get(demo_pane.url("/dev/addin/token")) as r:
        body = await r.json()
        assert r.status == 200 and body["token"] and body["partners"]
    async with http.get(demo_pane.url("/dev/addin/senders")) as r:
        senders = (await r.json())["senders"]
        assert any(s["email"] == SHARED_EMAIL for s in senders) and any(s["email"] == STRANGER for s in senders)


# --- the Outlook path (Office.js from Microsoft's CDN, stood in for here) -------------------------

OFFICE_STUB = """
(function () {
  var handlers = [];
  var item = {itemType: "message", from: {emailAddress: %(first)s, displayName: "First"}};
  window.__switchItem = function (email) {
    item = email ? {itemType: "message", from: {emailAddress: email, displayName: email}} : null;
    handlers.forEach(function (h) { h({}); });
  };
  window.__ssoCalls = 0;
  window.Office = {
    onReady: function () { return Promise.resolve({host: "Outlook", platform: "PC"}); },
    EventType: {ItemChanged: "olkItemSelectedChanged"},
    context: {
      officeTheme: {bodyBackgroundColor: "#1f1f1f"},
      mailbox: {
        get item() { return item; },
        addHandlerAsync: function (type, h) { if (type === "olkItemSelectedChanged") handlers.push(h); }
      }
    }
  };
  window.OfficeRuntime = {auth: {getAccessToken: function () { window.__ssoCalls++; return Promise.resolve(%(token)s); }}};
})();
"""


async def test_in_outlook_uses_office_js_sso_item_changes_and_office_theme(demo_pane, page):
    token = demo_pane.token()
    stub = OFFICE_STUB % {"first": json.dumps(SHARED_EMAIL), "token": json.dumps(token)}
    office_loads: list[str] = []

    async def office_js(route):
        office_loads.append(route.request.url)
        await route.fulfill(status=200, content_type="text/javascript", body=stub)

    await page.route("https://appsforoffice.microsoft.com/**", office_js)
    await page.goto(demo_pane.url("/addin/taskpane.html?_host_Info=Outlook$Win32$16.02$en-US"))
    await wait_state(page, "card")
    assert office_loads == ["https://appsforoffice.microsoft.com/lib/1/hosted/office.js"]
    assert await page.is_hidden("#preview-banner")
    assert "Helena Northcott" in await card_text(page)
    assert await page.evaluate("window.__ssoCalls") >= 1  # no NAA client id configured: SSO fallback
    assert await page.get_attribute("html", "data-theme") == "dark"  # Outlook's dark theme wins
    await page.evaluate(f"window.__switchItem({json.dumps(STRANGER)})")
    await page.wait_for_function(
        "() => document.querySelector('#card-host').innerText.includes('Not yet known to the firm')")
    await page.evaluate("window.__switchItem(null)")
    await wait_state(page, "empty")


async def test_in_outlook_without_office_js_says_so(demo_pane, page):
    # The page fixture aborts every request off 127.0.0.1, so Office.js cannot load.
    await page.goto(demo_pane.url("/addin/taskpane.html?office=1"))
    await wait_state(page, "error")
    assert "Can't start in Outlook" in await page.inner_text("#state-error")
