"""The task pane's accessibility and phone layout, in headless Chromium against the real
function_app on DevHost (see tests/plugins/browser.py).

axe-core (the npm package, injected from node_modules: nothing is fetched) runs on every pane view
(known sender, restricted, unknown, brief, error, sign-in) in light and dark, and fails on any
critical or serious violation. The same views are then checked on a phone viewport (375x667,
touch): no horizontal scrolling, no clipped control, touch targets of at least 44 px.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from local.demo import DEMO_PARTNERS, build_demo
from tests.plugins.browser import SHARED_EMAIL
from tests.test_brief_browser import ELEANOR, upcoming

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "node_modules/axe-core/axe.min.js"
TIMEOUT = 15_000
VIEWS = ["known", "restricted", "unknown", "brief", "error", "signin"]
PHONE = {"viewport": {"width": 375, "height": 667}, "is_mobile": True, "has_touch": True}


async def new_page(browser, *, dark: bool = False, phone: bool = False):
    kw = PHONE if phone else {"viewport": {"width": 360, "height": 900}}
    # bypass_csp only so the test can inject axe; the pane itself runs under its own CSP.
    context = await browser.new_context(color_scheme="dark" if dark else "light", bypass_csp=True, **kw)
    context.set_default_timeout(TIMEOUT)

    async def loopback_only(route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            await route.abort()

    await context.route("**/*", loopback_only)
    return context, await context.new_page()


async def show(page, pane, view: str) -> None:
    """Drive the pane to one view, as tests/test_taskpane_browser.py does."""
    base = "/addin/taskpane.html"
    if view == "known":
        await page.goto(pane.url(f"{base}?sender={SHARED_EMAIL}"))
    elif view == "unknown":
        await page.goto(pane.url(f"{base}?sender=new.person@norvale.example"))
    elif view == "restricted":
        private = next(c for c in build_demo().contacts
                       if c.private_owner and c.private_owner != DEMO_PARTNERS[0][0])
        await page.goto(pane.url(f"{base}?sender={private.email}"))
    elif view == "brief":
        m = await upcoming(pane, ELEANOR)
        await page.goto(pane.url(f"{base}?meeting={m.eventId}"))
    elif view == "error":
        async def fail(route):
            await route.fulfill(status=503, content_type="application/json", body=json.dumps(
                {"error": {"status": 503, "message": "store down", "correlationId": "cid-123"}}))
        await page.route("**/api/addin/context*", fail)
        await page.goto(pane.url(f"{base}?sender={SHARED_EMAIL}"))
    elif view == "signin":
        expired = pane.token(lifetime=-3600)

        async def bogus(route):
            await route.fulfill(status=200, content_type="application/json", body=json.dumps(
                {"token": expired, "upn": "x", "name": "X", "partners": []}))
        await page.route("**/dev/addin/token*", bogus)
        await page.goto(pane.url(f"{base}?sender={SHARED_EMAIL}"))
    state = {"error": "error", "signin": "signin"}.get(view, "card")
    await page.wait_for_selector(f'body[data-state="{state}"]', timeout=TIMEOUT)
    if state == "card":
        await page.wait_for_selector("#card-host .ac-adaptiveCard", timeout=TIMEOUT)


async def axe_violations(page) -> list[dict]:
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' +
                                                                        (n.failureSummary || ''))}));
    }""")
    return [v for v in result if v["impact"] in ("critical", "serious")]


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
@pytest.mark.parametrize("view", VIEWS)
async def test_axe_finds_nothing_critical_or_serious(demo_pane, browser, view, dark):
    context, page = await new_page(browser, dark=dark)
    try:
        await show(page, demo_pane, view)
        assert await page.get_attribute("html", "data-theme") == ("dark" if dark else "light")
        assert await axe_violations(page) == []
    finally:
        await context.close()


async def test_card_headings_carry_a_level(demo_pane, browser):
    context, page = await new_page(browser)
    try:
        await show(page, demo_pane, "known")
        levels = await page.eval_on_selector_all('#card-host [role="heading"]',
                                                 "hs => hs.map(h => h.getAttribute('aria-level'))")
        assert levels and all(levels)
    finally:
        await context.close()


# --- on the phone ---------------------------------------------------------------------------------

LAYOUT = """() => {
    const doc = document.documentElement;
    const out = {scrollX: doc.scrollWidth - doc.clientWidth, small: [], clipped: []};
    const controls = document.querySelectorAll(
        'button, a[href], select, input:not([type=hidden]), textarea, [role=button], [tabindex]:not([tabindex="-1"])');
    for (const el of controls) {
        const r = el.getBoundingClientRect();
        const cs = getComputedStyle(el);
        if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden') continue;  // not shown
        const label = (el.innerText || el.getAttribute('aria-label') || el.id || el.tagName).trim().slice(0, 40);
        if (el.tagName !== 'TEXTAREA' && (r.height < 44 || r.width < 44)) out.small.push([label, r.width, r.height]);
        if (r.left < 0 || r.right > doc.clientWidth + 0.5) out.clipped.push([label, r.left, r.right]);
        if (el.scrollWidth > el.clientWidth + 1 && cs.overflowX !== 'auto' && cs.overflowX !== 'scroll'
            && el.tagName !== 'SELECT' && el.tagName !== 'INPUT' && el.tagName !== 'TEXTAREA')
            out.clipped.push([label, 'text overflows', el.scrollWidth, el.clientWidth]);
    }
    return out;
}"""


@pytest.mark.parametrize("view", VIEWS)
async def test_pane_fits_a_phone(demo_pane, browser, view):
    context, page = await new_page(browser, phone=True)
    try:
        await show(page, demo_pane, view)
        layout = await page.evaluate(LAYOUT)
        assert layout["scrollX"] <= 0, "the pane scrolls sideways at 375 px"
        assert layout["clipped"] == [], f"clipped: {layout['clipped']}"
        assert layout["small"] == [], f"touch targets under 44 px: {layout['small']}"
    finally:
        await context.close()


# --- the card host's colours -----------------------------------------------------------------------

def contrast(a: str, b: str) -> float:
    def lum(h: str) -> float:
        c = [int(h.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_helper_matches_known_figures():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#767676", "#ffffff"), 1) == 4.5


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
async def test_every_container_style_keeps_text_readable(demo_pane, browser, dark):
    """Each state band (accent, good, warning, attention, emphasis) is defined, and every text
    colour on it, subtle included, has a contrast of at least 4.5:1."""
    context, page = await new_page(browser, dark=dark)
    try:
        await show(page, demo_pane, "known")
        config = await page.evaluate("d => RapportCards.hostConfigJson(d)", dark)
    finally:
        await context.close()
    styles = config["containerStyles"]
    assert {"default", "emphasis", "accent", "good", "warning", "attention"} <= set(styles)
    assert config["textBlock"]["headingLevel"] >= 1
    poor = [(name, colour, kind, fg, round(contrast(fg, s["backgroundColor"]), 2))
            for name, s in styles.items()
            for colour, shades in s["foregroundColors"].items()
            for kind, fg in shades.items()
            if contrast(fg, s["backgroundColor"]) < 4.5]
    assert poor == []
