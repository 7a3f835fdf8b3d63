"""rapport.sidebar + rapport.relationship: what the sidebar tells a viewer, on a real SQLite store.

Two tenants with canaries: tenant B's records and the walled account's must never show to a
viewer of tenant A who may not see them, and must look exactly like an unknown sender.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from rapport import sidebar
from rapport.cards import context_card
from rapport.records import (
    Account,
    Contact,
    Enquiry,
    Interaction,
    Matter,
    Meeting,
    Opportunity,
    Owner,
    Person,
    Signal,
    Wall,
    account_id,
    contact_id,
)
from rapport.relationship import Touch, strength
from rapport.store import ScopedStore, Store
from rapport.store.sqlite import SqliteBackend

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TA, TB = "tenant-a", "tenant-b"
ANNA, BEN, CARL, DORA = "oid-anna", "oid-ben", "oid-carl", "oid-dora"
CANARY = "CANARY-B-7f3a"
WALL_CANARY = "CANARY-WALL-91c2"


def ix(tenant: str, owner: str, email: str, days_ago: float, *, channel: str = "email", direction: str = "inbound",
       subject: str = "Re: filing", acct: str | None = None, n: int = 0) -> Interaction:
    return Interaction(
        id=Interaction.id_for("test", f"{tenant}:{owner}:{email}:{days_ago}:{n}:{channel}:{direction}"),
        tenantId=tenant, channel=channel, at=NOW - timedelta(days=days_ago), subject=subject, direction=direction,
        ownerOid=owner, contactIds=[contact_id(email)], accountIds=[acct] if acct else [],
    )


@pytest.fixture
async def store(tmp_path):
    s = Store(SqliteBackend(str(tmp_path / "side.db")))
    await s.open()
    acme = account_id("acme.example")
    walled = account_id("halcyon.example")
    records = [
        Person(id=ANNA, tenantId=TA, oid=ANNA, upn="anna@firm.example", name="Anna Weber", team="TM"),
        Person(id=BEN, tenantId=TA, oid=BEN, upn="ben@firm.example", name="Ben Ode", team="TM"),
        Person(id=CARL, tenantId=TA, oid=CARL, upn="carl@firm.example", name="Carl Roy", team="Lit"),
        Person(id=DORA, tenantId=TA, oid=DORA, upn="dora@firm.example", name="Dora Lin", team="Lit"),
        Account.new(TA, "acme.example", name="Acme GmbH", kind="client"),
        Account.new(TA, "halcyon.example", name=f"Halcyon {WALL_CANARY}", kind="client"),
        Account.new(TA, "newco.example", name="NewCo Ltd", kind="prospect"),
        Contact.new(TA, "jane@acme.example", name="Jane Roe", title="Head of IP", accountId=acme,
                    owners=[Owner(oid=ANNA, name="Anna Weber", visibility="firm"),
                            Owner(oid=CARL, name="Carl Roy", visibility="private")]),
        Contact.new(TA, "secret@acme.example", name=f"Secret {CANARY}", title="GC", accountId=acme,
                    owners=[Owner(oid=BEN, name="Ben Ode", visibility="private")]),
        Contact.new(TA, "team@acme.example", name="Teamy Tee", accountId=acme,
                    owners=[Owner(oid=BEN, name="Ben Ode", visibility="team")]),
        Contact.new(TA, "hal@halcyon.example", name=f"Hal {WALL_CANARY}", accountId=walled,
                    owners=[Owner(oid=ANNA, name="Anna Weber", visibility="firm")]),
        Wall(id="w1", tenantId=TA, name="Halcyon v. Acme", accountIds=[walled], screenedOids=[DORA]),
        # Jane's history: two-way with Anna, one private mail of Carl's, one walled-account thread.
        *[ix(TA, ANNA, "jane@acme.example", d, direction="inbound" if d % 2 else "outbound", acct=acme, n=int(d))
          for d in (1, 3, 8, 15, 40, 70)],
        ix(TA, ANNA, "jane@acme.example", 20, channel="meeting", direction="outbound", subject="Portfolio review",
           acct=acme),
        ix(TA, CARL, "jane@acme.example", 2, subject=f"Carl private {CANARY}", acct=acme),
        ix(TA, ANNA, "jane@acme.example", 5, subject=f"Walled thread {WALL_CANARY}", acct=walled),
        Meeting(id="m1", tenantId=TA, eventId="e1", organizerOid=ANNA, subject="Renewal strategy",
                start=NOW + timedelta(days=4), end=NOW + timedelta(days=4, hours=1),
                contactIds=[contact_id("jane@acme.example")], accountIds=[acme]),
        Matter(id="mt1", tenantId=TA, accountId=acme, title="ACME word mark (EU)", reference="TM-1",
               renewalDate=NOW + timedelta(days=20)),
        Matter(id="mt2", tenantId=TA, accountId=acme, title="ACME opposition", reference="TM-2",
               oppositionDeadline=NOW + timedelta(days=90)),
        Matter(id="mt3", tenantId=TA, accountId=acme, title="Old mark", reference="TM-0",
               renewalDate=NOW - timedelta(days=3)),
        Enquiry(id="q1", tenantId=TA, accountId=acme, subject="New filings in Asia", stage="new",
                receivedAt=NOW - timedelta(days=2)),
        Enquiry(id="q2", tenantId=TA, accountId=acme, subject="Closed one", stage="won",
                receivedAt=NOW - timedelta(days=60)),
        Opportunity(id="o1", tenantId=TA, accountId=acme, title="Portfolio audit", stage="proposal"),
        Signal(id="s1", tenantId=TA, contactId=contact_id("jane@acme.example"), accountIds=[acme],
               summary="Jane Roe moved from Beta AG to Acme GmbH", at=NOW - timedelta(days=10)),
        # Tenant B: the same address, with a canary.
        Account.new(TB, "acme.example", name=f"Acme {CANARY}", kind="client"),
        Contact.new(TB, "jane@acme.example", name=f"Jane {CANARY}", accountId=acme,
                    owners=[Owner(oid="oid-b", name=f"B {CANARY}", visibility="firm")]),
        Contact.new(TB, "only-b@other.example", name=f"Only {CANARY}",
                    owners=[Owner(oid="oid-b", name=f"B {CANARY}", visibility="firm")]),
        ix(TB, "oid-b", "jane@acme.example", 1, subject=f"B mail {CANARY}", acct=acme),
    ]
    await s.put_many(records)
    yield s
    await s.close()


async def facts_for(store: Store, viewer: str, email: str, tenant: str = TA) -> tuple[dict, int]:
    scoped = ScopedStore(store, tenant, viewer)
    facts = await sidebar.compose(scoped, email, NOW)
    return facts, scoped.calls


def dump(facts: dict) -> str:
    return json.dumps({**facts, "card": context_card(facts, NOW)})


async def test_known_contact_full_picture(store):
    facts, calls = await facts_for(store, ANNA, "Jane@ACME.example")
    assert facts["status"] == "known"
    assert facts["contact"]["name"] == "Jane Roe" and facts["contact"]["title"] == "Head of IP"
    assert facts["account"] == {"name": "Acme GmbH", "kind": "client", "domain": "acme.example"}
    anna = facts["knownBy"][0]
    assert anna["name"] == "Anna Weber" and anna["you"] and anna["label"] in ("strong", "warm")
    assert anna["lastTouch"].startswith("2026-03-01")
    carl = [k for k in facts["knownBy"] if k["name"] == "Carl Roy"][0]
    assert carl["private"] and carl["strength"] is None and carl["lastTouch"] is None
    assert len(facts["interactions"]) == 5 and facts["interactions"][0]["at"].startswith("2026-03-01")
    assert [m["subject"] for m in facts["meetings"]] == ["Renewal strategy"]
    assert [(d["kind"], d["matter"], d["soon"]) for d in facts["keyDates"]] == [
        ("renewal", "ACME word mark (EU)", True), ("opposition", "ACME opposition", False)]
    assert {(p["kind"], p["title"]) for p in facts["pipeline"]} == {
        ("enquiry", "New filings in Asia"), ("opportunity", "Portfolio audit")}
    assert facts["signals"][0]["summary"].startswith("Jane Roe moved")
    assert calls <= 3
    text = dump(facts)
    assert CANARY not in text  # Carl's private mail and tenant B never show
    assert WALL_CANARY in text  # Anna is not walled: she sees the Halcyon thread


async def test_walled_viewer_sees_nothing_of_the_walled_account(store):
    facts, calls = await facts_for(store, DORA, "jane@acme.example")
    assert facts["status"] == "known" and calls <= 3
    assert WALL_CANARY not in dump(facts)
    walled, _ = await facts_for(store, DORA, "hal@halcyon.example")
    unknown, _ = await facts_for(store, DORA, "nobody@nowhere.example")
    assert walled["status"] == unknown["status"] == "unknown"
    assert walled["account"] is None and WALL_CANARY not in dump(walled)
    # Same shape and same card as a sender nobody knows, apart from the address itself.
    assert dump(walled).replace("hal@halcyon.example", "X") == dump(unknown).replace("nobody@nowhere.example", "X")


async def test_private_contact_of_another_partner_shows_only_who_to_ask(store):
    facts, calls = await facts_for(store, ANNA, "secret@acme.example")
    assert facts["status"] == "restricted" and facts["knownTo"] == ["Ben Ode"]
    assert set(facts) == {"status", "email", "asOf", "knownTo", "canAskIntro"}  # the button, nothing of the contact
    card = context_card(facts, NOW)
    assert "Known to" in json.dumps(card) and "ask for an introduction" in json.dumps(card)
    assert CANARY not in dump(facts) and "Acme" not in dump(facts) and calls <= 3
    own, _ = await facts_for(store, BEN, "secret@acme.example")
    assert own["status"] == "known" and own["contact"]["title"] == "GC"


async def test_team_visibility_follows_the_team(store):
    same_team, calls = await facts_for(store, ANNA, "team@acme.example")
    other_team, _ = await facts_for(store, CARL, "team@acme.example")
    assert same_team["status"] == "known" and other_team["status"] == "restricted"
    assert calls <= 3


async def test_other_tenant_contact_is_unknown(store):
    facts, _ = await facts_for(store, ANNA, "only-b@other.example")
    nobody, _ = await facts_for(store, ANNA, "only-c@other.example")
    assert facts["status"] == "unknown" and CANARY not in dump(facts)
    assert dump(facts).replace("only-b", "X") == dump(nobody).replace("only-c", "X")


async def test_unknown_sender_at_known_domain_shows_the_account(store):
    facts, calls = await facts_for(store, ANNA, "someone@newco.example")
    assert facts["status"] == "unknown" and facts["account"]["name"] == "NewCo Ltd" and calls == 1
    assert "Not yet known to the firm" in json.dumps(context_card(facts, NOW))


async def test_a_colleague_is_recognised_not_reported_unknown(store):
    from rapport.records import Tenant

    facts, _ = await facts_for(store, CARL, "anna@firm.example")
    assert facts["status"] == "unknown"  # the firm's domains are not onboarded yet
    await store.put_tenant(Tenant(id=TA, tenantId=TA, name="Firm A", domains=["firm.example"]))
    facts, calls = await facts_for(store, CARL, "anna@firm.example")
    assert facts["status"] == "colleague" and facts["person"]["name"] == "Anna Weber" and calls == 2
    facts, _ = await facts_for(store, CARL, "new.trainee@firm.example")
    assert facts["status"] == "colleague" and facts["person"] is None
    assert "A colleague at the firm" in json.dumps(context_card(facts, NOW))
    other, _ = await facts_for(store, "oid-b", "anna@firm.example", tenant=TB)  # not B's colleague
    assert other["status"] == "unknown"


async def test_bad_address_raises(store):
    with pytest.raises(ValueError):
        await facts_for(store, ANNA, "not-an-address")


async def test_store_calls_budget_for_every_case(store):
    for viewer in (ANNA, BEN, CARL, DORA):
        for email in ("jane@acme.example", "secret@acme.example", "team@acme.example", "hal@halcyon.example",
                      "x@newco.example", "x@unknown.example"):
            _, calls = await facts_for(store, viewer, email)
            assert calls <= 3, (viewer, email, calls)


async def test_read_many_is_one_call_and_applies_the_rules_to_lists(store):
    from rapport.store.base import Read

    acme, walled = account_id("acme.example"), account_id("halcyon.example")
    scoped = ScopedStore(store, TA, ANNA)
    acme_contacts, halcyon = await scoped.read_many([Read(Contact, key=f"acct:{acme}"),
                                                      Read(Account, record_id=walled)], people=True)
    assert scoped.calls == 1 and halcyon is not None  # walls and people travelled in the same batch
    by_email = {v.email: v for v in acme_contacts}
    assert by_email["secret@acme.example"].restricted and by_email["jane@acme.example"].contact.title == "Head of IP"
    dora = ScopedStore(store, TA, DORA)
    # The contact the interactions are read by travels in the same batch (as in rapport.sidebar), so
    # the owner-visibility rule needs no extra trip.
    hal_contacts, hal_account, _, hal_ix = await dora.read_many([
        Read(Contact, key=f"acct:{walled}"), Read(Account, record_id=walled),
        Read(Contact, record_id=contact_id("jane@acme.example")),
        Read(Interaction, key=f"ct:{contact_id('jane@acme.example')}", limit=50)])
    assert hal_contacts == [] and hal_account is None and dora.calls == 1
    assert hal_ix and all(walled not in i.accountIds for i in hal_ix)
    assert all(i.ownerOid != CARL for i in hal_ix)  # Carl keeps his relationship with Jane private
    # Read without its contact, the list costs one more trip (the scope reads the contact), same answer.
    dora = ScopedStore(store, TA, DORA)
    (alone,) = await dora.read_many([Read(Interaction, key=f"ct:{contact_id('jane@acme.example')}", limit=50)])
    assert [i.id for i in alone] == [i.id for i in hal_ix] and dora.calls == 2


# --- relationship strength -----------------------------------------------------------------------

def touches(days: list[float], direction: str = "inbound", channel: str = "email") -> list[Touch]:
    return [Touch(NOW - timedelta(days=d), channel, direction) for d in days]


def test_strength_rises_with_frequency_and_recency():
    frequent = strength(touches([1, 5, 9, 20, 30], "inbound") + touches([2, 6, 10], "outbound"), NOW)
    stale = strength(touches([200, 250], "inbound") + touches([210], "outbound"), NOW)
    assert frequent.score > stale.score and frequent.label == "strong" and stale.label in ("light", "cold")
    assert frequent.two_way and frequent.touches == 8


def test_one_way_counts_for_less():
    one_way = strength(touches([1, 5, 9, 20, 30, 40]), NOW)
    two_way = strength(touches([1, 9, 30]) + touches([5, 20, 40], "outbound"), NOW)
    assert not one_way.two_way and two_way.score > one_way.score


def test_meetings_are_two_way_and_notes_and_future_do_not_count():
    assert strength(touches([3], "outbound", "meeting"), NOW).two_way
    notes = strength(touches([1, 2, 3], "internal", "note"), NOW)
    assert notes.score == 0 and notes.label == "cold" and notes.last_touch is None
    future = strength(touches([-5], "outbound", "meeting"), NOW)
    assert future.score == 0


def test_no_contact_is_cold():
    s = strength([], NOW)
    assert (s.score, s.label, s.touches, s.last_touch) == (0, "cold", 0, None)


# --- GET /api/addin/context over real HTTP (DevHost, real token validation with dev tokens) -------

from local.demo import DEMO_PARTNERS, build_demo  # noqa: E402
from tests.plugins.browser import OTHER_CANARY, OTHER_OID, OTHER_ONLY_EMAIL, OTHER_TENANT, SHARED_EMAIL  # noqa: E402

ELEANOR = "eleanor.marsh@ashgrovepell.example"
DANIEL = "daniel.okafor@ashgrovepell.example"  # screened from Halcyra Games


def demo_people():
    d = build_demo()
    halcyra = next(c.email for c in d.contacts if c.domain == "halcyra.example")
    private = next(c for c in d.contacts if c.private_owner and c.private_owner != DEMO_PARTNERS[0][0])
    return halcyra, private


async def get_context(http, pane, email, upn=ELEANOR, **kw):
    async with http.get(pane.url("/api/addin/context"), params={"email": email},
                        headers=pane.auth(upn, **kw)) as r:
        return r.status, await r.json(), r.headers


async def test_context_known_sender_over_http(demo_pane, http):
    status, body, headers = await get_context(http, demo_pane, SHARED_EMAIL)
    assert status == 200 and body["status"] == "known"
    assert body["contact"]["name"] == "Helena Northcott" and body["account"]["name"] == "Cobaltine Batteries"
    assert body["card"]["type"] == "AdaptiveCard" and body["card"]["version"] == "1.5"
    assert body["knownBy"] and all("strength" in k for k in body["knownBy"])
    assert int(headers["x-rapport-store-calls"]) <= 3
    assert headers["cache-control"] == "private, no-store"
    assert OTHER_CANARY not in json.dumps(body)


async def test_context_other_tenant_and_walled_look_unknown(demo_pane, http):
    halcyra, _ = demo_people()
    _, other_only, _ = await get_context(http, demo_pane, OTHER_ONLY_EMAIL)
    _, nobody, _ = await get_context(http, demo_pane, "zz.nobody@lindqvist.example")
    assert other_only["status"] == "unknown" and OTHER_CANARY not in json.dumps(other_only)

    def same(a: dict, b: dict, ea: str, eb: str) -> None:
        strip = lambda d, e: json.dumps({k: v for k, v in d.items() if k != "asOf"}).replace(e, "X")  # noqa: E731
        assert strip(a, ea) == strip(b, eb)

    same(other_only, nobody, OTHER_ONLY_EMAIL, "zz.nobody@lindqvist.example")
    _, walled, _ = await get_context(http, demo_pane, halcyra, DANIEL)
    _, unknown, _ = await get_context(http, demo_pane, "someone@nowhere-at-all.example", DANIEL)
    assert walled["status"] == "unknown" and "Halcyra" not in json.dumps(walled)
    same(walled, unknown, halcyra, "someone@nowhere-at-all.example")
    _, seen, _ = await get_context(http, demo_pane, halcyra, ELEANOR)
    assert seen["status"] == "known" and seen["account"]["name"] == "Halcyra Games"


async def test_context_the_other_firm_sees_only_its_own(demo_pane, http):
    _, body, _ = await get_context(http, demo_pane, SHARED_EMAIL, tenant=OTHER_TENANT, oid=OTHER_OID)
    assert body["status"] == "known" and OTHER_CANARY in body["contact"]["name"]
    assert "Northcott" not in json.dumps(body).replace(SHARED_EMAIL, "")


async def test_context_private_contact_of_a_colleague(demo_pane, http):
    _, private = demo_people()
    owner = next(p for p in DEMO_PARTNERS if p[0] == private.private_owner)
    viewer = next(p for p in DEMO_PARTNERS if p[0] != private.private_owner)
    _, body, _ = await get_context(http, demo_pane, private.email, f"{viewer[1]}@ashgrovepell.example")
    assert body["status"] == "restricted" and body["knownTo"] == [owner[2]]
    assert private.title not in json.dumps(body) and private.name not in json.dumps(body)
    assert "ask for an introduction" in json.dumps(body["card"])
    _, mine, _ = await get_context(http, demo_pane, private.email, f"{owner[1]}@ashgrovepell.example")
    assert mine["status"] == "known"


@pytest.mark.parametrize("params, words", [
    ({}, "required"),
    ({"email": ""}, "required"),
    ({"email": "not-an-address"}, "not a valid email"),
    ({"email": "a" * 5_000}, "too long"),
    ({"email": "a@b.example" + "x" * 400}, "too long"),
    ({"email": "two words@x.example"}, "not a valid email"),
])
async def test_context_bad_input_is_400_with_a_clear_message(demo_pane, http, params, words):
    async with http.get(demo_pane.url("/api/addin/context"), params=params, headers=demo_pane.auth()) as r:
        body = await r.json()
        assert r.status == 400 and words in body["error"]["message"]
        assert body["error"]["correlationId"] and "Traceback" not in json.dumps(body)


async def test_context_needs_a_valid_token(demo_pane, http):
    async with http.get(demo_pane.url("/api/addin/context"), params={"email": SHARED_EMAIL}) as r:
        assert r.status == 401 and "error" in await r.json()
    bad = {"Authorization": "Bearer " + demo_pane.token()[:-6] + "AAAAAA"}
    async with http.get(demo_pane.url("/api/addin/context"), params={"email": SHARED_EMAIL}, headers=bad) as r:
        assert r.status == 401
    expired = demo_pane.auth(lifetime=-3600)
    async with http.get(demo_pane.url("/api/addin/context"), params={"email": SHARED_EMAIL}, headers=expired) as r:
        assert r.status == 401


async def test_context_10000_character_parameter_through_the_azure_trigger(demo_pane):
    # aiohttp (the local host) caps a request line at 8 KB before any route runs; Azure's front end
    # allows longer URLs, so the 10,000-character case goes straight through function_app's trigger.
    import azure.functions as func

    import function_app

    req = func.HttpRequest("GET", "http://127.0.0.1/api/addin/context", headers=demo_pane.auth(),
                           params={"email": "a" * 10_000 + "@x.example"}, body=b"")
    resp = await function_app.addin_context(req)
    body = json.loads(resp.get_body())
    assert resp.status_code == 400 and "too long" in body["error"]["message"] and body["error"]["correlationId"]
