"""The report page and "My BD desk" in headless Chromium against the real function_app (DevHost, the
demo firm): the managing partner sees the charts (real Chart.js canvases holding the roll-ups' data),
one row per partner and the downloads; a partner sees their desk only; the task pane shows the desk
when nothing is selected; axe-core finds nothing critical or serious. Over HTTP: who may read the
report and which CSV rows, and canaries planted in a partner's private contacts appear only to them.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from local.demo import DEMO_PARTNERS, DEMO_TENANT_ID, demo_partner_upn
from rapport.records import Account, Contact, Draft, Meeting, Owner, Person, utcnow
from tests.plugins.browser import save_screenshot
from tests.test_pane_accessibility import axe_violations, new_page

pytestmark = pytest.mark.browser

ELEANOR, TOMASZ, PRIYA = DEMO_PARTNERS[0][0], DEMO_PARTNERS[1][0], DEMO_PARTNERS[2][0]
TIMEOUT = 20_000
CANARY = "CANARY-DESK-91d3"


async def make_managing_partner(pane, oid: str = ELEANOR) -> None:
    def promote(p: Person) -> Person:
        p.role = "managing_partner"
        return p

    await pane.store.update(Person, DEMO_TENANT_ID, oid, promote)


async def plant_private(pane) -> Contact:
    """A cold, private client relationship of Priya's and a pending draft of hers, both with canaries."""
    now = utcnow()
    acct = Account.new(DEMO_TENANT_ID, "canary-client.example", name=f"Client {CANARY}", kind="client")
    c = Contact.new(DEMO_TENANT_ID, "kept@canary-client.example", name=f"Kept {CANARY}", accountId=acct.id,
                    owners=[Owner(oid=PRIYA, name="Priya Raman", visibility="private",
                                  since=now - timedelta(days=800), lastTouch=now - timedelta(days=150))])
    d = Draft(id="df_canary", tenantId=DEMO_TENANT_ID, ownerOid=PRIYA, subject=f"Follow-up {CANARY}",
              to=[c.email], state="drafted")
    await pane.store.put_many([acct, c, d])
    return c


async def plant_history(pane) -> int:
    """Twelve weeks of approved follow-ups after meetings with the demo's outside contacts, at known
    delays (so the charts have something to draw). Returns how many approvals were planted."""
    now = utcnow()
    contacts = [c for c in await pane.store.find_all(Contact, DEMO_TENANT_ID) if c.accountId][:8]
    records, n = [], 0
    for i, (oid, *_rest) in enumerate(DEMO_PARTNERS):
        for week in range(1, 13):
            for k in range((week * (i + 2)) % 5):
                end = now - timedelta(weeks=week, hours=3 * k + i)
                mid = f"mt_hist{i}{week:02d}{k}"
                records.append(Meeting(id=mid, tenantId=DEMO_TENANT_ID, eventId=mid, organizerOid=oid,
                                       subject="History", start=end - timedelta(hours=1), end=end,
                                       contactIds=[contacts[(i + k) % len(contacts)].id]))
                approved = end + timedelta(hours=2 + 5 * k + week % 3)
                records.append(Draft(id=f"df_hist{i}{week:02d}{k}", tenantId=DEMO_TENANT_ID, ownerOid=oid,
                                     meetingId=mid, state="sent", approvedAt=approved, sentAt=approved,
                                     updatedAt=approved, subject="History"))
                n += 1
    await pane.store.put_many(records)
    return n


async def get(http, pane, path: str, upn: str):
    async with http.get(pane.url(path), headers=pane.auth(upn)) as r:
        return r.status, r.headers, await r.text()


async def test_report_page_charts_rows_and_accessibility(demo_pane, browser):
    await make_managing_partner(demo_pane)
    planted = await plant_history(demo_pane)
    context, page = await new_page(browser)
    await page.set_viewport_size({"width": 1100, "height": 900})
    try:
        await page.goto(demo_pane.url(f"/addin/report.html?user={demo_partner_upn(0)}"))
        await page.wait_for_selector('body[data-state="ready"]', timeout=TIMEOUT)
        assert await page.is_visible("#firm") and await page.is_visible("#desk")
        charts = await page.evaluate("""() => Array.from(document.querySelectorAll('canvas')).map(c => {
            const ch = Chart.getChart(c);
            return {id: c.id, type: ch && ch.config.type, labels: ch ? ch.data.labels.length : 0,
                    data: ch ? ch.data.datasets.map(d => d.data) : [], w: c.width, h: c.height};
        })""")
        by = {c["id"]: c for c in charts}
        assert set(by) == {"chart-approved", "chart-followup", "chart-pipeline"}
        assert by["chart-approved"]["type"] == "bar" and by["chart-approved"]["labels"] == 12
        assert by["chart-followup"]["type"] == "line" and len(by["chart-followup"]["data"]) == 2
        # every planted approval is in the bars, but the newest week's, which is still under way
        assert 0 < sum(by["chart-approved"]["data"][0]) <= planted
        assert all(h is None or h >= 2 for h in by["chart-followup"]["data"][0])
        assert by["chart-pipeline"]["labels"] > 0 and sum(by["chart-pipeline"]["data"][0]) > 0  # the demo's pipeline
        assert all(c["w"] > 0 and c["h"] > 0 for c in charts)
        rows = await page.eval_on_selector_all("#partners tbody tr", "rs => rs.map(r => r.cells[0].innerText)")
        assert sorted(rows) == sorted(p[2] for p in DEMO_PARTNERS)
        assert await page.eval_on_selector_all("#downloads button", "bs => bs.length") == 9
        async with page.expect_download() as dl:
            await page.click("#downloads button >> nth=0")
        text = open(await (await dl.value).path()).read()
        assert text.startswith("week,partner,approved_actions")
        assert await axe_violations(page) == []
        save_screenshot("report.png", await page.screenshot(full_page=True))
    finally:
        await context.close()


async def test_a_partner_sees_the_desk_only_and_the_pane_shows_it_with_nothing_selected(demo_pane, browser):
    context, page = await new_page(browser)
    try:
        await page.goto(demo_pane.url(f"/addin/report.html?user={demo_partner_upn(1)}"))
        await page.wait_for_selector('body[data-state="ready"]', timeout=TIMEOUT)
        assert await page.is_hidden("#firm") and await page.is_visible("#desk")
        assert await page.eval_on_selector_all("canvas", "cs => cs.filter(c => Chart.getChart(c)).length") == 0
        assert await axe_violations(page) == []
        await page.goto(demo_pane.url(f"/addin/taskpane.html?user={demo_partner_upn(1)}"))
        await page.wait_for_selector('body[data-state="card"]', timeout=TIMEOUT)
        await page.select_option("#preview-sender", "")  # no email open
        await page.wait_for_selector('#desk-host[data-desk="shown"]', timeout=TIMEOUT)
        assert "My BD desk" in await page.inner_text("#desk-host")
        assert "Open an email" in await page.inner_text("#state-empty")
        assert await axe_violations(page) == []
    finally:
        await context.close()


async def test_who_reads_the_report_and_the_csv_and_canaries_stay_with_their_owner(demo_pane, http):
    await make_managing_partner(demo_pane)
    kept = await plant_private(demo_pane)
    mp, tomasz, priya = demo_partner_upn(0), demo_partner_upn(1), demo_partner_upn(2)

    status, _, body = await get(http, demo_pane, "/api/addin/report", tomasz)
    assert status == 403 and "managing partner" in body
    status, h, report = await get(http, demo_pane, "/api/addin/report", mp)
    assert status == 200 and h["cache-control"].startswith("private")
    firm = json.loads(report)
    assert len(firm["partners"]) == len(DEMO_PARTNERS) and len(firm["trend"]) == 12
    # counted without naming: Priya's row counts her cold relationships, the canary is nowhere
    assert next(r for r in firm["partners"] if r["oid"] == PRIYA)["cold"] >= 1

    status, _, all_csv = await get(http, demo_pane, "/api/addin/metrics.csv?metric=all", mp)
    assert status == 200
    assert {r["partner"] for r in csv.DictReader(io.StringIO(all_csv))} == {p[2] for p in DEMO_PARTNERS}
    status, h, own_csv = await get(http, demo_pane, "/api/addin/metrics.csv?metric=approved_actions", tomasz)
    assert status == 200 and h["content-type"].startswith("text/csv")
    assert {r["partner"] for r in csv.DictReader(io.StringIO(own_csv))} == {"Tomasz Wieczorek"}
    for bad in ("?metric=nope", "?metric=all&weeks=0", "?metric=all&weeks=x", "?metric=all&weeks=999"):
        status, _, body = await get(http, demo_pane, "/api/addin/metrics.csv" + bad, mp)
        assert status == 400 and "correlationId" in body

    outputs = [report, all_csv, own_csv]
    for upn in (mp, tomasz):
        status, _, desk = await get(http, demo_pane, "/api/addin/desk", upn)
        assert status == 200
        outputs.append(desk)
    for out in outputs:
        assert CANARY not in out and kept.email not in out and kept.id not in out
    status, _, hers = await get(http, demo_pane, "/api/addin/desk", priya)
    assert CANARY in hers  # the owner sees her own: the canary must appear where it may
    mine = json.loads(hers)
    assert any(c["contactId"] == kept.id for c in mine["cold"]) and any(p["draftId"] == "df_canary" for p in mine["pending"])

    # without a token: no page data at all
    async with http.get(demo_pane.url("/api/addin/desk")) as r:
        assert r.status == 401
