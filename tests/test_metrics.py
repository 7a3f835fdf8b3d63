"""The metrics (rapport.metrics, docs/metrics.md) on hand-built histories with known answers: weeks with
no activity, partners in other time zones, a partner who left; the Monday timer with an injected
clock sends each card once; the cards in the official Adaptive Cards renderer; privacy canaries in
every output; `rapport metrics` and `rapport report send`."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from rapport import runtime, work
from rapport.cards.week import VERB_DRAFT_NOTE, desk_card, firm_report_card, partner_week_card
from rapport.metrics import definitions as d
from rapport.metrics import report as rp
from rapport.metrics import week
from rapport.metrics.rollup import roll_up
from rapport.pipeline.clock import Hours
from rapport.records import (
    Account,
    Contact,
    Draft,
    Enquiry,
    Interaction,
    Meeting,
    OutboxItem,
    Owner,
    Person,
    Signal,
    Tenant,
    TenantSettings,
    WeekStats,
    contact_id,
)
from rapport.settings import load_settings
from rapport.store import Store
from rapport.store.sqlite import SqliteBackend
from rapport.timezones import zone

T = "11111111-2222-4333-8444-555555555555"
A, B, MP, GONE = "oid-a", "oid-b", "oid-mp", "oid-gone"
NY, TOKYO = "America/New_York", "Asia/Tokyo"
MON = date(2026, 11, 2)  # a Monday
UTCZ = zone("")


def at(day: int, hour: int = 12, minute: int = 0, tz: str = "") -> datetime:
    """A time in the week of MON (day 0 = Monday), in `tz` (UTC by default)."""
    return datetime(MON.year, MON.month, MON.day, hour, minute, tzinfo=zone(tz)) + timedelta(days=day)


def meeting(mid: str, owner: str, end: datetime, contacts=("ct-1",), **kw) -> Meeting:
    return Meeting(id=mid, tenantId=T, eventId=mid, organizerOid=owner, subject=kw.pop("subject", f"Meeting {mid}"),
                   start=end - timedelta(hours=1), end=end, contactIds=list(contacts), **kw)


def draft(did: str, owner: str, approved: datetime | None, *, meeting_id: str | None = None, state: str = "sent",
          kind: str = "followup", to=()) -> Draft:
    return Draft(id=did, tenantId=T, ownerOid=owner, meetingId=meeting_id, approvedAt=approved, state=state, kind=kind,
                 to=list(to), subject=f"Re {did}", updatedAt=approved or at(0))


# --- the definitions, pure ---------------------------------------------------------------------------

def test_approved_actions_count_approvals_in_the_week_of_every_kind():
    w = d.week_window(MON, UTCZ)
    h = d.History.of(drafts=[
        draft("d1", A, at(0, 9)), draft("d2", A, at(3, 9), kind="intro"), draft("d3", A, at(6, 23), state="approved"),
        draft("d4", A, at(7, 0)),  # next Monday: next week
        draft("d5", A, None, state="drafted"), draft("d6", A, None, state="dismissed"),
        draft("d7", B, at(1)),
    ])
    assert d.approved_actions(h, A, w) == {"followup": 2, "intro": 1}
    assert d.approved_actions(h, B, w) == {"followup": 1}
    assert d.approved_actions(h, A, d.week_window(MON - timedelta(weeks=1), UTCZ)) == {}  # a week with nothing


def test_time_to_followup_median_and_p90_and_meetings_without_one():
    w = d.week_window(MON, UTCZ)
    ends = [at(0, 10), at(1, 10), at(2, 10), at(3, 10), at(4, 10)]
    meetings = [meeting(f"m{i}", A, e) for i, e in enumerate(ends)]
    meetings.append(meeting("internal", A, at(1, 15), contacts=()))  # no outside people: no follow-up due
    meetings.append(meeting("cancelled", A, at(1, 16), isCancelled=True))
    drafts = [draft("f0", A, ends[0] + timedelta(hours=2), meeting_id="m0"),
              draft("f1", A, ends[1] + timedelta(hours=10), meeting_id="m1"),
              draft("f2", A, ends[2] + timedelta(hours=30), meeting_id="m2"),
              draft("f3", A, None, meeting_id="m3", state="drafted")]  # m3 pending, m4 never drafted
    h = d.History.of(meetings=meetings, drafts=drafts)
    now = at(10)
    hours = d.followup_hours(h, A, w, now)
    assert sorted(hours) == [2.0, 10.0, 30.0]
    assert d.percentile(hours, 50) == 10.0 and d.percentile(hours, 90) == 30.0
    assert {m.id for m in d.without_followup(h, A, w, now)} == {"m3", "m4"}
    # seen on Wednesday, the meetings of Thursday and Friday have not ended yet
    assert {m.id for m in d.without_followup(h, A, w, at(2, 12))} == {"m2"}
    assert d.percentile([], 50) is None


def test_weeks_are_the_partners_own():
    """A meeting that ends Sunday 23:30 in New York is Monday 04:30 UTC: last week for the New York
    partner, this week in UTC."""
    end = datetime(2026, 11, 8, 23, 30, tzinfo=zone(NY))
    assert d.week_of(end, zone(NY)) == MON
    assert d.week_of(end, UTCZ) == MON + timedelta(weeks=1)
    h = d.History.of(meetings=[meeting("late", A, end)])
    now = end + timedelta(days=2)
    assert len(d.ended_meetings(h, A, d.week_window(MON, zone(NY)), now)) == 1
    assert d.ended_meetings(h, A, d.week_window(MON, UTCZ), now) == []
    # the week of a daylight-saving change is 169 hours long in New York (1 Nov 2026: clocks back)
    start, stop = d.week_window(date(2026, 10, 26), zone(NY))
    assert (stop - start) == timedelta(hours=169)


def test_counsel_moves_contacted_within_7_and_30_days():
    w = d.week_window(MON, UTCZ)
    c1 = Contact.new(T, "one@client.example", name="One", owners=[Owner(oid=A, name="A")])
    c2 = Contact.new(T, "two@client.example", name="Two", owners=[Owner(oid=A, name="A")])
    c3 = Contact.new(T, "three@client.example", name="Three", owners=[Owner(oid=A, name="A")])
    c4 = Contact.new(T, "four@client.example", name="Four", owners=[Owner(oid=B, name="B")])
    signals = [Signal(id=f"s{i}", tenantId=T, contactId=c.id, at=at(1)) for i, c in enumerate((c1, c2, c3, c4))]
    touches = [
        Interaction(id="i1", tenantId=T, channel="email", direction="outbound", at=at(3), ownerOid=A, contactIds=[c1.id]),
        Interaction(id="i2", tenantId=T, channel="email", direction="inbound", at=at(3), ownerOid=A, contactIds=[c3.id]),
    ]
    drafts = [draft("d", A, at(1) + timedelta(days=20), to=[c2.email])]  # the 20th day: within 30, not 7
    h = d.History.of(signals=signals, contacts=[c1, c2, c3, c4], interactions=touches, drafts=drafts)
    assert d.counsel_moves(h, A, w, at(40)) == (3, 1, 2)
    assert d.counsel_moves(h, A, w, at(4)) == (3, 1, 1)  # the draft has not happened yet
    assert d.counsel_moves(h, B, w, at(40)) == (1, 0, 0)


def test_new_relationships_are_first_meetings_with_the_firm():
    w = d.week_window(MON, UTCZ)
    h = d.History.of(meetings=[
        meeting("old", B, at(-30), contacts=("ct-known",)),
        meeting("m1", A, at(1), contacts=("ct-known", "ct-new")),
        meeting("m2", B, at(2), contacts=("ct-new",)),  # B met ct-new after A: not new for B
    ])
    assert d.new_relationships(h, A, w) == ["ct-new"]
    assert d.new_relationships(h, B, w) == []


def test_cold_relationships_are_long_standing_client_contacts_without_a_touch():
    now = at(0)
    client = Account.new(T, "client.example", name="Client", kind="client")
    prospect = Account.new(T, "prospect.example", name="Prospect", kind="prospect")

    def c(email, acct, since_days, last_days, owner=A):
        return Contact.new(T, email, name=email, accountId=acct.id,
                           owners=[Owner(oid=owner, name="x", since=now - timedelta(days=since_days),
                                         lastTouch=now - timedelta(days=last_days))])

    contacts = [c("cold@client.example", client, 700, 70), c("warm@client.example", client, 700, 20),
                c("young@client.example", client, 100, 70), c("p@prospect.example", prospect, 700, 70),
                c("older@client.example", client, 900, 80), c("b@client.example", client, 700, 70, owner=B)]
    accounts = {a.id: a for a in (client, prospect)}
    cold = d.cold_relationships(contacts, accounts, A, now, weeks=8)
    assert [x.email for x in cold] == ["older@client.example", "cold@client.example"]
    assert [x.email for x in d.cold_relationships(contacts, accounts, A, now, weeks=12)] == []


def test_enquiry_first_response_against_four_hours_and_stage_moves():
    w = d.week_window(MON, UTCZ)
    e = [
        Enquiry(id="e1", tenantId=T, ownerOid=A, receivedAt=at(0, 9), firstResponseAt=at(0, 12)),
        Enquiry(id="e2", tenantId=T, ownerOid=A, receivedAt=at(1, 9), firstResponseAt=at(1, 15)),
        Enquiry(id="e3", tenantId=T, ownerOid=A, receivedAt=at(2, 9)),
        Enquiry(id="e4", tenantId=T, ownerOid=A, receivedAt=at(6, 22)),  # not yet 4 h old at `now`
    ]
    # issue 16's shape, when present: read by name
    moved = SimpleNamespace(ownerOid=A, receivedAt=at(-40), firstResponseAt=None,
                            stageChanges=[{"stage": "proposal", "at": at(2)}, {"stage": "instructed", "at": at(4)},
                                          {"stage": "lost", "at": "not a date"}])
    h = d.History.of(enquiries=[*e, moved])
    # working hours Mon-Fri 09:00-18:00 UTC: e2 took 6 working hours, e3 is 27 working hours old
    f = d.enquiry_figures(h, A, w, at(6, 23), Hours.of(TenantSettings()), 4)
    assert (f.received, f.on_time, f.late, f.unanswered) == (4, 1, 1, 1)
    assert f.stage_moves == {"proposal": 1, "instructed": 1} and f.instructions == 1


def test_origination_concentration():
    assert d.hhi([10, 0, 0]) == 1.0
    assert d.hhi([5, 5, 5, 5]) == pytest.approx(0.25)
    assert d.hhi([]) is None
    o = d.origination([("a", 6), ("b", 2), ("c", 1), ("d", 1)])
    assert o["total"] == 10 and o["top3"] == pytest.approx(0.9) and o["hhi"] == pytest.approx(0.42)


# --- a firm in a store: roll-ups, the report, the Monday timer --------------------------------------

CANARY = "CANARY-PRIVATE-7c41"


@pytest.fixture
async def firm(tmp_path):
    store = Store(SqliteBackend(str(tmp_path / "m.db")))
    await store.open()
    client = Account.new(T, "client.example", name="Client", kind="client")
    long_ago = at(-700)
    people = [
        Person(id=A, tenantId=T, oid=A, upn="a@firm.example", name="Alice Avery", timeZone=NY),
        Person(id=B, tenantId=T, oid=B, upn="b@firm.example", name="Bruno Berg", timeZone=TOKYO),
        Person(id=MP, tenantId=T, oid=MP, upn="mp@firm.example", name="Mona Park", role="managing_partner"),
        Person(id=GONE, tenantId=T, oid=GONE, upn="g@firm.example", name="Gus Gone", enabled=False),
    ]
    private = Contact.new(T, "secret@client.example", name=f"Sam {CANARY}", accountId=client.id,
                          owners=[Owner(oid=B, name="Bruno Berg", visibility="private", since=long_ago,
                                        lastTouch=at(-100))])
    shared = Contact.new(T, "open@client.example", name="Olive Open", accountId=client.id,
                         owners=[Owner(oid=A, name="Alice Avery", visibility="firm", since=long_ago, lastTouch=at(-100))])
    records = [
        Tenant(id=T, tenantId=T, name="Firm", domains=["firm.example"]), *people, client, private, shared,
        meeting("ma", A, at(1, 10, tz=NY), contacts=(shared.id,), subject="Budget review"),
        meeting("mb", B, at(1, 10, tz=TOKYO), contacts=(private.id,), subject=f"Talk {CANARY}"),
        draft("da", A, at(1, 14, tz=NY), meeting_id="ma"),
        meeting("mg", GONE, at(-5), contacts=(shared.id,)),  # the partner who left: the week before
        draft("dg", GONE, at(-4), meeting_id="mg"),
        Signal(id="sb", tenantId=T, contactId=private.id, at=at(2), summary=f"moved {CANARY}", toValue="Elsewhere"),
        Draft(id="pend", tenantId=T, ownerOid=B, subject=f"Follow-up {CANARY}", state="drafted"),
    ]
    await store.put_many(records)
    try:
        yield store
    finally:
        await store.close()


async def test_roll_up_writes_each_partners_week_and_keeps_a_departed_partners_past(firm):
    tenant = await firm.get_tenant(T)
    now = at(9, 12)  # Wednesday of the week after MON
    stats = await roll_up(firm, tenant, 3, now)
    by = {(s.partnerOid, s.week): s for s in stats}
    assert by[(A, MON.isoformat())].approved == 1 and by[(A, MON.isoformat())].followupHours == [4.0]
    assert by[(B, MON.isoformat())].withoutFollowup == 1 and by[(B, MON.isoformat())].counselSurfaced == 1
    assert by[(A, (MON + timedelta(weeks=1)).isoformat())].approved == 0  # a week with no activity: a row of zeros
    gone = {w for (oid, w) in by if oid == GONE}
    assert gone == {(MON - timedelta(weeks=1)).isoformat()}  # only the week they had something
    assert MP not in {s.partnerOid for s in stats}  # a managing partner's role is not a partner's mailbox
    stored = await firm.week_stats(T, "2026-01-01", "2027-01-01")
    assert {s.id for s in stored} == {s.id for s in stats}
    rows = rp.table(stats, {p.oid: p for p in await firm.people(T)})
    assert {r["partner"] for r in rows} == {"Alice Avery", "Bruno Berg", "Gus Gone"}


async def _outbox(store: Store) -> list[OutboxItem]:
    return await store.find_all(OutboxItem, T)


async def test_monday_timer_sends_each_card_once_at_0730_in_each_zone(firm, tmp_path):
    settings = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "unused.db")})
    nxt = MON + timedelta(weeks=1)
    tokyo_0729 = datetime(nxt.year, nxt.month, nxt.day, 7, 29, tzinfo=zone(TOKYO))
    with runtime.override(settings=settings, store=firm):
        assert (await week.week_cards_timer(firm, now=tokyo_0729)).queued == 0
        assert await _outbox(firm) == []
        for minutes in (1, 16, 31):  # Tokyo's 07:30 has passed: Bruno only (UTC and New York are still Sunday)
            await week.week_cards_timer(firm, now=tokyo_0729 + timedelta(minutes=minutes))
        sent = await _outbox(firm)
        assert [o.to for o in sent] == [["b@firm.example"]]
        utc_0730 = datetime(nxt.year, nxt.month, nxt.day, 7, 30, tzinfo=UTC)
        await week.week_cards_timer(firm, now=utc_0730)  # Mona (no zone: UTC): her report
        ny_0730 = datetime(nxt.year, nxt.month, nxt.day, 7, 30, tzinfo=zone(NY))
        for minutes in (0, 15, 60 * 23, 60 * 24 * 3):
            await week.week_cards_timer(firm, now=ny_0730 + timedelta(minutes=minutes))
        await work.drain(firm, now=ny_0730 + timedelta(days=4), tenant_ids=[T])
        sent = await _outbox(firm)
        who = sorted((o.to[0], o.subject) for o in sent)
        assert who == [("a@firm.example", "Your week in business development"),
                       ("b@firm.example", "Your week in business development"),
                       ("mp@firm.example", "The firm's week in business development")]
        # the next Monday: once more each
        await week.week_cards_timer(firm, now=ny_0730 + timedelta(weeks=1))
        assert len(await _outbox(firm)) == 6
        assert "g@firm.example" not in {o.to[0] for o in await _outbox(firm)}  # the partner who left gets nothing


def _texts(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


async def test_private_contacts_reach_only_their_owner(firm, tmp_path):
    """B's private contact (name, meeting subject, counsel move, pending draft) appears in B's own
    week card, and in nothing A or the managing partner gets: the firm report, its CSV, their cards."""
    tenant = await firm.get_tenant(T)
    now = datetime(2026, 11, 9, 12, tzinfo=UTC)
    await roll_up(firm, tenant, 3, now)
    people = {p.oid: p for p in await firm.people(T)}
    fb = await week.partner_facts(firm, tenant, people[B], now)
    fa = await week.partner_facts(firm, tenant, people[A], now)
    mine = _texts(partner_week_card(fb))
    assert CANARY in mine  # visible canaries must appear to the one who may see them
    assert fb["counselMoves"] and fb["withoutFollowup"] and fb["pending"] and fb["cold"]
    report = await week.firm_facts(firm, tenant, people[MP], now)
    stats = await firm.week_stats(T, "2026-01-01", "2027-01-01")
    outputs = [_texts(fa), _texts(partner_week_card(fa)), _texts(report), _texts(firm_report_card(report, url="x")),
               rp.to_csv(rp.table(stats, people))]
    outputs += [rp.metric_csv(rp.table(stats, people), m) for m in rp.METRICS]
    for out in outputs:
        assert CANARY not in out and "secret@client.example" not in out
    # ...while the managing partner still sees B's counts
    row_b = next(r for r in report["partners"] if r["oid"] == B)
    assert row_b["counselSurfaced"] == 1


def test_csv_is_one_row_per_partner_week_and_defuses_formulas():
    stats = [WeekStats(id="w", tenantId=T, partnerOid=A, week="2026-11-02", approved=3, followupHours=[1, 5])]
    text = rp.to_csv(rp.table(stats, {A: Person(id=A, tenantId=T, oid=A, upn="a@x.example", name="=cmd()")}))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["partner"] == "'=cmd()" and rows[0]["approved_actions"] == "3"
    assert rows[0]["followup_median_h"] == "1.0" and rows[0]["followup_p90_h"] == "5.0"


def test_firm_report_exceptions_and_trends():
    weeks = [(MON + timedelta(weeks=i)).isoformat() for i in range(4)]
    people = {o: Person(id=o, tenantId=T, oid=o, upn=f"{o}@x.example", name=o.upper()) for o in (A, B)}
    stats = [WeekStats(id=f"{A}{w}", tenantId=T, partnerOid=A, week=w, approved=2, followupHours=[60.0],
                       withoutFollowup=3 if w == weeks[-1] else 0) for w in weeks]
    stats += [WeekStats(id=f"{B}{w}", tenantId=T, partnerOid=B, week=w, approved=1 if w == weeks[0] else 0)
              for w in weeks]
    r = rp.firm_report(stats, people, weeks)
    assert [t["approved"] for t in r["trend"]] == [3, 2, 2, 2]
    text = " | ".join(r["exceptions"])
    assert "OID-A: 3 meetings last week without a follow-up" in text and "OID-A: follow-ups take 60 h" in text
    assert "OID-B: no approved BD action for two weeks" in text


# --- the cards in the official renderer ---------------------------------------------------------------

def busy_facts() -> dict:
    many = [{"draftId": f"d{i}", "subject": f"Follow-up on the opposition {i} with a long subject line", "when": "2 days ago"}
            for i in range(8)]
    return {"week": "2026-11-02", "weekLabel": "2 November 2026", "approved": 4, "approvedPrior4": 2.5,
            "pending": many, "withoutFollowup": many[:6],
            "cold": [{"contactId": contact_id(f"c{i}@x.example"), "name": f"Contact With A Long Name {i}",
                      "since": "3 months ago"} for i in range(6)],
            "counselMoves": [{"contactId": "c", "name": "Jane Doe", "summary": "now Head of IP at Other Co"}] * 6,
            "deskUrl": "https://rapport.example/addin/report.html"}


async def test_cards_render_without_warnings_and_fit_one_screen(page):
    from tests.test_bot_help import RENDER_JS
    from tests.test_followup_card import CARDS_HOST, RENDERER

    report = rp.firm_report([WeekStats(id="w", tenantId=T, partnerOid=A, week="2026-11-02", approved=2,
                                       followupHours=[3.0], pipeline={"proposal": 2})],
                            {A: Person(id=A, tenantId=T, oid=A, upn="a@x.example", name="Alice")}, ["2026-11-02"])
    empty = {**busy_facts(), "pending": [], "withoutFollowup": [], "cold": [], "counselMoves": []}
    desk = {"pending": busy_facts()["pending"], "cold": busy_facts()["cold"],
            "meetings": [{"meetingId": "m", "subject": "Strategy call", "when": "today", "brief": "sent",
                          "followUp": "drafted"}] * 4,
            "enquiries": [{"subject": "Trade mark clearance", "stage": "proposal", "received": "2 days ago"}]}
    cards = {"busy": partner_week_card(busy_facts()), "empty": partner_week_card(empty),
             "firm": firm_report_card(report, url="https://rapport.example/addin/report.html"),
             "desk": desk_card(desk), "desk-empty": desk_card({"pending": [], "cold": [], "meetings": [], "enquiries": []})}
    for width in (450, 320):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.set_content(f"<!doctype html><html><body style='margin:0'><div id='root' style='width:{width}px'>"
                               "</div></body></html>")
        await page.add_script_tag(path=str(RENDERER))
        await page.add_script_tag(path=str(CARDS_HOST))
        for name, c in cards.items():
            out = await page.evaluate(RENDER_JS, [c, "rapport"])
            assert out["events"] == [], (name, width, out["events"])
            assert out["clipped"] == [], (name, width, out["clipped"])
            assert out["height"] < 900, (name, width, out["height"])  # one screen of a Teams chat
    busy = await page.evaluate(RENDER_JS, [cards["busy"], "rapport"])
    assert busy["buttons"].count("Draft a note") == 3 and "Review follow-ups" in busy["buttons"]
    assert "and 5 more" in busy["text"]
    notes = [a for n in _walk(cards["busy"]) for a in n.get("actions", []) if a.get("verb") == VERB_DRAFT_NOTE]
    assert all(set(a["data"]) == {"contactId"} for a in notes)  # no tenant or user id in a card


def _walk(node):
    from tests.test_cards import nodes

    return list(nodes(node))


# --- the command line ----------------------------------------------------------------------------------

async def test_metrics_command_prints_the_table_and_csv(firm, tmp_path, capsys, monkeypatch):
    from local.commands.metrics import metrics_command

    settings = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "m.db")})
    await firm.close()
    assert await metrics_command(settings, T, 3, True) == 0
    out = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["partner"] for r in rows} >= {"Alice Avery", "Bruno Berg"} and CANARY not in out
    assert await metrics_command(settings, T, 0, False) == 2
    assert await metrics_command(settings, "not-a-tenant", 2, False) == 2
    assert await metrics_command(settings, T, 2, False) == 0
    assert "approved" in capsys.readouterr().out
    await firm.open()


def test_chart_js_is_served_from_the_npm_package_not_a_cdn():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    vendored = root / "addin/web/vendor/chart.umd.min.js"
    assert vendored.read_bytes() == (root / "node_modules/chart.js/dist/chart.umd.min.js").read_bytes()
    page = (root / "addin/web/report.html").read_text() + (root / "addin/web/report.js").read_text()
    assert "https://" not in page.replace("https://login.microsoftonline.com", "")
    assert 'src="vendor/chart.umd.min.js"' in page


# --- privacy, as a property: generated firms, canaries in every contact ---------------------------------

from hypothesis import HealthCheck, given  # noqa: E402
from hypothesis import settings as hsettings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rapport.metrics.desk import desk as desk_facts  # noqa: E402
from rapport.records import Wall  # noqa: E402

PARTNERS = (A, B, "oid-c")
CONTACT = st.fixed_dictionaries({
    "owner": st.sampled_from(PARTNERS), "visibility": st.sampled_from(["private", "team", "firm"]),
    "cold": st.booleans(), "moved": st.booleans(), "pending": st.booleans(), "walled": st.sampled_from([None, *PARTNERS]),
})


@hsettings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contacts=st.lists(CONTACT, min_size=1, max_size=6))
async def test_canaries_reach_only_the_partner_who_keeps_them(tmp_path_factory, contacts):
    """Each generated contact (its name, its account, its counsel move, a pending draft to it) carries
    its own canary. The managing partner's report, its CSVs and card carry none; a partner's card
    and desk carry a canary only of a contact they keep and are not walled from, and the desk shows
    every such one that is cold (a visible canary must appear)."""
    store = Store(SqliteBackend(str(tmp_path_factory.mktemp("canary") / "m.db")))
    await store.open()
    now = datetime(2026, 11, 11, 12, tzinfo=UTC)
    try:
        people = [Person(id=o, tenantId=T, oid=o, upn=f"{o}@firm.example", name=f"Partner {o}", team="IP")
                  for o in PARTNERS]
        people.append(Person(id=MP, tenantId=T, oid=MP, upn="mp@firm.example", name="Mona", role="managing_partner"))
        records: list = [Tenant(id=T, tenantId=T, name="Firm", domains=["firm.example"]), *people]
        for i, spec in enumerate(contacts):
            canary = f"CANARY{i}Q{i * 7919}"
            acct = Account.new(T, f"acct{i}.example", name=f"Acct {canary}", kind="client")
            last = now - timedelta(days=120 if spec["cold"] else 3)
            c = Contact.new(T, f"{canary.lower()}@acct{i}.example", name=f"Name {canary}", accountId=acct.id,
                            owners=[Owner(oid=spec["owner"], name="x", visibility=spec["visibility"],
                                          since=now - timedelta(days=800), lastTouch=last)])
            records += [acct, c]
            if spec["moved"]:
                records.append(Signal(id=f"sg{i}", tenantId=T, contactId=c.id, at=now - timedelta(days=4),
                                      summary=f"moved {canary}", accountIds=[acct.id]))
            if spec["pending"]:
                records.append(Draft(id=f"df{i}", tenantId=T, ownerOid=spec["owner"], subject=f"Re {canary}",
                                     to=[c.email], accountIds=[acct.id], state="drafted"))
            if spec["walled"]:
                records.append(Wall(id=f"wall{i}", tenantId=T, accountIds=[acct.id], screenedOids=[spec["walled"]]))
        await store.put_many(records)
        tenant = await store.get_tenant(T)
        await roll_up(store, tenant, 3, now)
        everyone = {p.oid: p for p in await store.people(T)}
        stats = await store.week_stats(T, "2026-01-01", "2027-01-01")
        report = await week.firm_facts(store, tenant, everyone[MP], now)
        firm_out = [_texts(report), _texts(firm_report_card(report, url="x")), rp.to_csv(rp.table(stats, everyone)),
                    *(rp.metric_csv(rp.table(stats, everyone), m) for m in rp.METRICS)]
        ids = [r.id for r in records if isinstance(r, Contact)]
        for i, _ in enumerate(contacts):
            assert all(f"CANARY{i}Q" not in out and ids[i] not in out for out in firm_out), (i, "named in the report")
        for oid in PARTNERS:
            facts = await week.partner_facts(store, tenant, everyone[oid], now)
            desk = await desk_facts(store, T, everyone[oid], now)
            outs = _texts(facts) + _texts(partner_week_card(facts)) + _texts(desk) + _texts(desk_card(desk))
            for i, spec in enumerate(contacts):
                may = spec["owner"] == oid and spec["walled"] != oid
                if not may:
                    assert f"CANARY{i}Q" not in outs, (oid, i, spec)
                elif spec["cold"]:
                    assert f"Name CANARY{i}Q" in _texts(desk), (oid, i, spec)  # the owner sees their own
    finally:
        await store.close()


async def test_report_send_delivers_the_cards_now_under_keys_of_its_own(firm, tmp_path, capsys):
    from local.commands.metrics import report_send_command

    settings = load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "m.db")})
    await firm.close()
    assert await report_send_command(settings, T) == 0
    assert await report_send_command(settings, "no-such-tenant") == 2
    out = capsys.readouterr().out
    assert "a@firm.example: the partner's week sent" in out and "mp@firm.example: the firm's report sent" in out
    await firm.open()
    sent = sorted((o.to[0], o.subject) for o in await _outbox(firm))
    assert sent == [("a@firm.example", "Your week in business development"),
                    ("b@firm.example", "Your week in business development"),
                    ("mp@firm.example", "The firm's week in business development")]
