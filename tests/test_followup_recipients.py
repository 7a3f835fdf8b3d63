"""Follow-up recipients (issue 14, item 1): every outside attendee, the organiser included.

When the client sent the invitation, the client is the meeting's organiser; `recipients_for` used to
skip the organiser, so the client was left off (with the client alone, no draft at all). Now every
outside attendee is a recipient, the organiser too when outside the firm; never the partner, never
the firm's own addresses (rapport.capture.names.is_internal, the one rule), never rooms.

Over the demo firm (local.demo, seeded through capture as tests/test_demo.py does): every meeting with
outside attendees that ended gets a draft, or has a stated reason it does not.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from local.demo import DEMO_TENANT_ID
from rapport import followups, runtime, work
from rapport.capture import is_internal
from rapport.drafting import make_drafter
from rapport.followups import sending
from rapport.identity.membership import partners as firm_partners
from rapport.records import Attendee, Draft, Meeting, Person, Tenant, contact_id
from rapport.settings import load_settings
from rapport.store import ScopedStore
from rapport.store.base import Store
from tests.test_company_facts import Company, leaks, make_firm, store  # noqa: F401 - `store`: the fixture
from tests.test_followups import NOW, OWNER, TENANT, settle, world  # noqa: F401 - `world`: the fixture, used here

FIRM = Tenant(id="t1", tenantId="t1", name="Firm", domains=["firm.example"])
ME = Person(id="p1", tenantId="t1", oid="p1", upn="me@firm.example", name="Me")
AT = datetime(2026, 5, 4, 9, tzinfo=UTC)


def meeting(organizer: str, *attendees: Attendee) -> Meeting:
    outside = {a.email.lower() for a in attendees if not a.email.lower().endswith("firm.example")}
    if not organizer.endswith("firm.example"):
        outside.add(organizer.lower())
    return Meeting(id="mt-1", tenantId="t1", eventId="e1", organizerOid="p1", organizerEmail=organizer,
                   start=AT, end=AT + timedelta(hours=1), attendees=list(attendees),
                   contactIds=[contact_id(a) for a in sorted(outside)])


# --- the rule, over plain meetings -------------------------------------------------------------------

def test_a_client_who_organised_the_meeting_is_a_recipient():
    # As Graph shows a client's invitation in the partner's calendar: the client organises, the
    # partner and the client's colleague are attendees (the organiser may be listed or not).
    listed = meeting("rosa@client.example", Attendee(email="rosa@client.example", name="Rosa Client"),
                     Attendee(email="tom@client.example", name="Tom Client"), Attendee(email="me@firm.example"))
    assert followups.recipients_for(listed, FIRM, ME) == ["rosa@client.example", "tom@client.example"]
    unlisted = meeting("Rosa@Client.example", Attendee(email="tom@client.example", name="Tom Client"),
                       Attendee(email="me@firm.example"))
    assert followups.recipients_for(unlisted, FIRM, ME) == ["rosa@client.example", "tom@client.example"]
    alone = meeting("rosa@client.example", Attendee(email="rosa@client.example"), Attendee(email="me@firm.example"))
    assert followups.recipients_for(alone, FIRM, ME) == ["rosa@client.example"]


def test_never_the_partner_a_colleague_or_a_room():
    m = meeting("carl@mail.firm.example",  # a colleague organised it, from a subdomain of the firm's
                Attendee(email="me@firm.example"), Attendee(email="carl@mail.firm.example"),
                Attendee(email="room-1@firm.example", type="resource"),
                Attendee(email="boardroom@client.example", type="resource"),  # the client's room
                Attendee(email="jane@client.example"), Attendee(email="JANE@client.example"))
    assert followups.recipients_for(m, FIRM, ME) == ["jane@client.example"]
    # the partner organised it: the partner is never a recipient
    mine = meeting("ME@firm.example", Attendee(email="jane@client.example"))
    assert followups.recipients_for(mine, FIRM, ME) == ["jane@client.example"]


def test_with_no_firm_domains_on_record_an_outside_organiser_known_as_a_contact_counts():
    firm = Tenant(id="t1", tenantId="t1", name="Firm", domains=[])
    m = meeting("rosa@client.example", Attendee(email="me@firm.example"), Attendee(email="tom@client.example"))
    assert followups.recipients_for(m, firm, ME) == ["rosa@client.example", "tom@client.example"]


_local = st.text(alphabet="abcdefghij", min_size=1, max_size=4)
_domain = st.sampled_from(["firm.example", "mail.firm.example", "client.example", "other.example",
                           "notfirm.example", "Firm.Example"])
_address = st.builds(lambda u, d: f"{u}@{d}", _local, _domain)
_attendee = st.builds(lambda e, kind: Attendee(email=e, type=kind), _address,
                      st.sampled_from(["required", "optional", "resource"]))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(organizer=_address, attendees=st.lists(_attendee, max_size=6))
def test_recipients_are_exactly_the_outside_people(organizer, attendees):
    m = meeting(organizer, *attendees)
    got = followups.recipients_for(m, FIRM, ME)
    rooms = {a.email.lower() for a in attendees if a.type == "resource"}
    people = {organizer.lower()} | {a.email.lower() for a in attendees if a.type != "resource"}
    wanted = {e for e in people - rooms if not is_internal(e.rpartition("@")[2], FIRM) and e != ME.upn}
    assert len(got) == len(set(got))  # no duplicates
    assert set(got) == wanted


# --- "follow up Rosa" (the store, the work drain, the template drafter) -------------------------------

async def test_follow_up_rosa_drafts_to_rosa_who_organised_it(world):  # noqa: F811 - the fixture
    s = world.store
    rosa = Meeting(id=Meeting.id_for(OWNER, "ev-rosa"), tenantId=TENANT, eventId="ev-rosa", organizerOid=OWNER,
                   organizerEmail="rosa@acme.example", subject="Opposition strategy",
                   start=NOW - timedelta(hours=2), end=NOW - timedelta(minutes=30),
                   attendees=[Attendee(email="rosa@acme.example", name="Rosa Diaz"),
                              Attendee(email="tom@acme.example", name="Tom Diaz"),
                              Attendee(email="ada@firm.test", name="Ada Partner")],
                   contactIds=[contact_id("rosa@acme.example"), contact_id("tom@acme.example")])
    await s.put(rosa)
    found = await followups.request_followup(s, TENANT, OWNER, "rosa", now=NOW)
    assert found is not None and found.id == rosa.id
    await settle()
    d = await s.get(Draft, TENANT, followups.draft_id_for(rosa.id, OWNER))
    assert d is not None and d.to == ["rosa@acme.example", "tom@acme.example"]
    assert "Rosa" in d.body  # addressed to her, not only to her colleague


# --- the demo firm --------------------------------------------------------------------------------

async def _no_draft_reason(db: Store, tenant: Tenant, partners: dict[str, Person], m: Meeting) -> str | None:
    """Why a meeting with outside attendees that ended gets no draft, from the rules that decide it."""
    if m.isCancelled:
        return "cancelled"
    owner = partners.get(m.organizerOid)
    if owner is None:
        return "the calendar is not a partner's"
    if await ScopedStore(db, tenant.id, owner.oid).get(Meeting, m.id) is None:
        return "walled"
    if not followups.recipients_for(m, tenant, owner):
        return "no outside attendee"
    return None


async def test_every_ended_demo_meeting_with_outsiders_gets_a_draft(demo_store: Store, demo_now):
    db = demo_store
    tenant = await db.get_tenant(DEMO_TENANT_ID)
    assert tenant is not None
    settings_ = load_settings({})
    partners = {p.oid: p for p in firm_partners(tenant, await db.people(tenant.id))}
    with runtime.override(settings=settings_, store=db, drafter=make_drafter(settings_),
                          mail_transport=sending.LocalOutboxTransport(), send_limiter=sending.RateLimiter()):
        # The timer pass over the whole history (the demo's two years), then the drain.
        await followups.timer_pass(db, demo_now, lookback=timedelta(days=800), kick=False)
        while (await work.drain(db, max_items=5000)).done:
            pass
    ended = [m for m in await db.find_all(Meeting, tenant.id) if m.external and m.end <= demo_now]
    drafts = {d.id: d for d in await db.find_all(Draft, tenant.id)}
    reasons: Counter[str] = Counter()
    client_organised = drafted_client_organised = 0
    for m in ended:
        reason = await _no_draft_reason(db, tenant, partners, m)
        d = drafts.get(followups.draft_id_for(m.id, m.organizerOid))
        outside_organiser = not is_internal(m.organizerEmail.rpartition("@")[2], tenant)
        client_organised += outside_organiser and reason is None
        if reason is None:
            assert d is not None, f"no draft and no reason: {m.subject!r} ({m.id})"
            assert d.to == followups.recipients_for(m, tenant, partners[m.organizerOid])
            assert all(not is_internal(a.rpartition("@")[2], tenant) for a in d.to)
            if outside_organiser:
                assert m.organizerEmail.lower() in d.to  # the client who sent the invitation
                drafted_client_organised += 1
        else:
            assert d is None, f"{reason}, yet drafted: {m.id}"
            reasons[reason] += 1
    assert client_organised > 100 and drafted_client_organised == client_organised
    assert set(reasons) <= {"cancelled", "walled", "the calendar is not a partner's", "no outside attendee"}
    assert reasons["no outside attendee"] == 0  # a meeting with outsiders always has one to write to
    # The drafts read like a person wrote them: no calendar prefix in a sentence or a subject, no
    # question-subject put after "your enquiry about".
    texts = [f"{d.subject}\n{d.body}" for d in drafts.values()]
    for form in ("to discuss", "Video call:", "Following our meeting: Re:", "enquiry about Catch up",
                 "enquiry about Following up", "?.\n"):
        assert not [t for t in texts if form in t], form
    by_subject = {m.id: m.subject for m in ended}
    video = [d for d in drafts.values() if by_subject.get(d.meetingId or "", "").startswith("Video call:")]
    lunches = [d for d in drafts.values() if by_subject.get(d.meetingId or "", "").startswith("Lunch")]
    assert video and all(d.subject.startswith("Following our meeting: ") and "Video call" not in d.subject
                         for d in video)
    assert lunches and all("Thank you for lunch on " in d.body for d in lunches)
    print("drafts quoting a chatty enquiry subject:", sum("your email \u201c" in t for t in texts), "of", len(texts))
    print(f"{len(ended)} ended meetings with outsiders; {client_organised} client-organised, all drafted; "
          f"no draft: {dict(reasons)}")


# --- the company split with a client organiser (tests/test_company_facts.py's firm) ---------------------

async def test_a_client_organiser_is_in_their_own_companys_draft_after_the_split(store):  # noqa: F811
    acme, beta = Company("ACME", people=2, matters=1), Company("BETA", enquiries=1)
    firm = await make_firm(store, [acme, beta])
    # ACME's first person sent the invitation; Graph lists the organiser apart from the attendees
    organiser = acme.emails[0]
    m = firm.meeting.model_copy(update={
        "organizerEmail": organiser, "attendees": [a for a in firm.meeting.attendees if a.email != organiser]})
    await store.put(m)
    d = await followups.draft_for_meeting(store, TENANT, m.id, OWNER)
    assert d is not None and d.to[0] == organiser and sorted(d.to) == sorted(acme.emails + beta.emails)
    assert leaks(firm, d.to, [d.subject, d.body]) == []  # neutral: two companies
    assert (await followups.split(store, TENANT, OWNER, d.id, 1)).status == "ok"
    await settle()
    await work.drain(store)
    drafts = [x for x in (await store.find(Draft, TENANT, key=f"meeting:{m.id}")).items if x.id != d.id]
    assert sorted(sorted(x.to) for x in drafts) == sorted([sorted(acme.emails), sorted(beta.emails)])
    for x in drafts:
        assert leaks(firm, x.to, [x.subject, x.body]) == []
    acme_draft = next(x for x in drafts if organiser in x.to)
    assert all(c in acme_draft.body for c in acme.item_canaries())  # one company: its matters named
