"""The pipeline's pure parts: working-hours arithmetic (with a property test), the cadence's steps,
the enquiry card (shape, untrusted text, and the official Adaptive Cards renderer at Teams' and
Outlook's widths), and stored enquiries of the old shape still loading on SQLite (new stage names)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rapport.cards.followup import followup_card
from rapport.pipeline.cadence import next_step
from rapport.pipeline.cards import (
    VERB_CALL,
    VERB_CONFLICTS,
    VERB_MERGE,
    VERB_STAGE,
    EnquiryFacts,
    enquiry_card,
)
from rapport.pipeline.clock import add_working, hours, working_seconds
from rapport.records import Draft, Enquiry, StageChange, Touch
from rapport.store.base import Store
from rapport.store.sqlite import SqliteBackend
from tests.test_cards import ALLOWED_TYPES, nodes
from tests.test_followup_card import CARDS_HOST, FIT_JS, RENDERER

MON = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday
H = hours("09:00-18:00", [0, 1, 2, 3, 4], "UTC")


def test_working_hours_skip_nights_and_weekends():
    assert working_seconds(H, MON, MON + timedelta(hours=4)) == 4 * 3600
    fri = MON + timedelta(days=4, hours=8)  # Friday 17:00
    assert add_working(H, fri, 4 * 3600) == MON + timedelta(days=7, hours=3)  # Monday 12:00
    assert working_seconds(H, fri, MON + timedelta(days=7, hours=3)) == 4 * 3600
    sat = MON + timedelta(days=5, hours=2)
    assert add_working(H, sat, 60) == MON + timedelta(days=7, minutes=1)  # received on Saturday: Monday 09:01
    assert working_seconds(H, MON, MON - timedelta(hours=1)) == 0


def test_working_hours_follow_the_firms_zone_across_daylight_saving():
    berlin = hours("09:00-17:00", [0, 1, 2, 3, 4], "Europe/Berlin")
    # Friday 23 October 2026 16:00 Berlin (14:00 UTC, CEST) + 2 h: Monday 26 October 10:00 Berlin = 09:00 UTC (CET).
    start = datetime(2026, 10, 23, 14, 0, tzinfo=UTC)
    assert add_working(berlin, start, 2 * 3600) == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)


def test_a_malformed_window_runs_round_the_clock_instead_of_sticking():
    h = hours("nonsense", [], "Not/AZone")
    assert working_seconds(h, MON, MON + timedelta(hours=30)) == pytest.approx(30 * 3600, abs=2)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
       secs=st.integers(min_value=0, max_value=200 * 3600))
def test_adding_working_time_and_measuring_it_agree(start, secs):
    s = start.replace(tzinfo=UTC)
    end = add_working(H, s, secs)
    assert end >= s
    assert working_seconds(H, s, end) == pytest.approx(secs, abs=1e-3)


def test_cadence_steps_are_due_in_order_and_the_last_asks():
    e = Enquiry(id="e", tenantId="t", stage="proposal", proposalAt=MON)
    assert next_step(e, [3, 7, 14, 30, 60], MON + timedelta(days=2)).kind == "none"
    assert next_step(e, [3, 7, 14, 30, 60], MON + timedelta(days=3)).n == 1
    e.touches = [Touch(n=n, at=MON + timedelta(days=d)) for n, d in zip(range(1, 6), (3, 7, 14, 30, 60), strict=True)]
    assert next_step(e, [3, 7, 14, 30, 60], MON + timedelta(days=66)).kind == "none"
    assert next_step(e, [3, 7, 14, 30, 60], MON + timedelta(days=67)).kind == "ask"
    e.cadencePausedAt = MON
    assert next_step(e, [3, 7, 14, 30, 60], MON + timedelta(days=99)).kind == "none"
    bad = Enquiry(id="e", tenantId="t", stage="proposal", proposalAt=MON)
    assert next_step(bad, [0, -3], MON + timedelta(days=3)).n == 1  # a broken setting falls back to the default


EVIL = "[click](https://evil.example) **x**"


def facts(**kw) -> EnquiryFacts:
    e = Enquiry(id="eq_1", tenantId="t", ownerOid="o", subject=f"Clearance {EVIL}", receivedAt=MON,
                reason="new sender, first thread", **kw)
    return EnquiryFacts(enquiry=e, person=f"Carla {EVIL}", company="Newco", owner_name="Anna Weber",
                        known_by=["Ben Ode"], due=MON + timedelta(hours=4))


def duplicate(**kw) -> EnquiryFacts:
    f = facts(**kw)
    f.also_open = [("eq_0", f"Earlier one {EVIL} " + "very long subject " * 20, MON - timedelta(days=40))]
    return f


CASES = {
    "new": (facts(), "new"),
    "overdue": (facts(), "overdue"),
    "answered": (facts(firstResponseAt=MON + timedelta(hours=1), responseSeconds=3600), "status"),
    "answered-by-phone": (facts(firstResponseAt=MON + timedelta(hours=1), responseSeconds=3600,
                                firstResponseChannel="call"), "status"),
    "proposal": (facts(stage="proposal", conflictsCleared=True), "status"),
    "ask": (facts(stage="proposal", touches=[Touch(n=n, at=MON) for n in range(1, 6)]), "ask"),
    "replied": (facts(stage="negotiation"), "replied"),
    "called": (facts(stage="negotiation", firstResponseAt=MON, responseSeconds=0, firstResponseChannel="call"),
               "called"),
    "duplicate": (duplicate(), "new"),
    "duplicate-cleared": (duplicate(stage="needs_analysis", conflictsCleared=True), "status"),
    "lost": (facts(stage="lost", lostReason="went elsewhere"), "status"),
}


def test_the_enquiry_card_is_1_5_execute_only_and_outside_text_is_never_markdown():
    for name, (f, kind) in CASES.items():
        c = enquiry_card(f, kind=kind, now=MON + timedelta(hours=1), refresh_users=["8:orgid:o"])
        assert c["version"] == "1.5" and c["fallbackText"], name
        types = {n["type"] for n in nodes(c) if "type" in n}
        assert types <= ALLOWED_TYPES, (name, types - ALLOWED_TYPES)
        for n in nodes(c):
            if n.get("type") == "TextBlock":
                assert EVIL not in n["text"]
            if n.get("type") == "Action.Execute":
                assert set(n["data"]) <= {"enquiryId", "stage", "otherId"}, n  # never a tenant or a user
        primary = [a for a in c.get("actions", []) if a.get("mode") != "secondary"]
        assert len(primary) <= 2, (name, primary)
        verbs = [n.get("verb") for n in nodes(c) if n.get("type") == "Action.Execute"]
        assert (VERB_CALL in verbs) == (name != "lost"), name  # "Log a call" on every open enquiry
        assert (VERB_MERGE in verbs) == name.startswith("duplicate"), name
    new = enquiry_card(CASES["new"][0], kind="new", now=MON)
    assert [a["verb"] for a in new["actions"] if a.get("mode") != "secondary"] == [VERB_STAGE, VERB_CONFLICTS]
    assert [a["verb"] for a in new["actions"] if a.get("mode") == "secondary"][0] == VERB_CALL
    assert enquiry_card(CASES["lost"][0], now=MON).get("actions") is None
    [merge] = [n for n in nodes(enquiry_card(CASES["duplicate"][0], kind="new", now=MON)) if n.get("verb") == VERB_MERGE]
    assert merge["data"] == {"enquiryId": "eq_1", "otherId": "eq_0"}
    text = json.dumps(enquiry_card(CASES["called"][0], kind="called", now=MON))
    assert "Call logged: follow-ups paused" in text and "Answered" in text and "by phone" in text


@pytest.mark.parametrize("width", [450, 320])
async def test_enquiry_cards_render_and_fit_in_the_adaptive_cards_renderer(page, width):
    await page.set_viewport_size({"width": width + 40, "height": 1400})
    await page.set_content("<!doctype html><html><body style='margin:0'><div id='root'></div></body></html>")
    await page.add_script_tag(path=str(RENDERER))
    await page.add_script_tag(path=str(CARDS_HOST))
    ack = Draft(id="dq_1", tenantId="t", ownerOid="o", kind="enquiry_reply", purpose="ack", to=["c@newco.example"],
                subject="Re: Clearance", body="Dear Carla,\n\nThank you.", flags=["conflict_safe"])
    cards = {name: enquiry_card(f, kind=kind, now=MON + timedelta(hours=1)) for name, (f, kind) in CASES.items()}
    cards["ack-draft"] = followup_card(ack, owner_name="Anna Weber", now=MON)
    for name, c in cards.items():
        out = await page.evaluate(FIT_JS, [c, width, "horizontal"])
        assert out["events"] == [], (name, out["events"])
        assert out["clipped"] == [], (name, width, out["clipped"], out["buttons"])
        assert "https://evil" not in out["text"] or EVIL.split("]")[0][1:] in out["text"]
    assert "Acknowledgement to approve" in (await page.evaluate(FIT_JS, [cards["ack-draft"], width, "horizontal"]))["text"]


async def test_an_enquiry_stored_with_the_old_stages_still_loads(tmp_path):
    store = await Store(SqliteBackend(str(tmp_path / "old.db"))).open()
    try:
        for i, old in enumerate(("new", "responded", "qualified", "won", "lost")):
            e = Enquiry(id=f"eq_{i}", tenantId="t", contactId="ct_x", subject="old", followUpCount=2)
            doc = e.to_doc()
            doc["stage"] = old
            for k in ("stageChanges", "touches", "conflictsCleared", "firstResponderOid"):
                doc.pop(k)  # written before those fields existed
            await store.backend.put_doc("t", "pipeline", doc)
        got = {e.id: e.stage for e in await store.find_all(Enquiry, "t")}
        assert got == {"eq_0": "enquiry", "eq_1": "enquiry", "eq_2": "needs_analysis", "eq_3": "instructed",
                       "eq_4": "lost"}
        e = await store.get(Enquiry, "t", "eq_2")
        e.stageChanges.append(StageChange(stage="proposal", byOid="o", at=MON))
        e.stage = "proposal"
        await store.put(e)
        assert json.loads((await store.backend.get_text("t", "pipeline", "eq_2"))[1])["stage"] == "proposal"
    finally:
        await store.close()
