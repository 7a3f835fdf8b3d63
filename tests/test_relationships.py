"""rapport.relationships on both stores (SQLite and the local Cosmos server): visibility, introductions
(fold, two owners, a leaver's requests to the managing partner, the reminder after three working
days), and the introductions audit on a generated history, also as CSV from the CLI.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta

import pytest

from rapport import work
from rapport.records import (
    Account,
    AuditEvent,
    Contact,
    IntroRequest,
    Owner,
    Person,
    Tenant,
    Wall,
    WorkItem,
    account_id,
    contact_id,
)
from rapport.relationships import audit, intros, visibility
from rapport.relationships.notify import CARD_WORK
from rapport.store import ScopedStore, Store
from rapport.store.errors import NotFound

T = "aaaaaaaa-0000-4000-8000-00000000000a"
BEN, CARL, ANNA, MAX, WALT, LEO, ZOE = (f"{k:02d}{k:02d}0000-1111-4222-8333-444444444444" for k in range(1, 8))
ACME = account_id("acme.example")
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def person(oid: str, name: str, role: str = "partner", team: str = "", since: int | None = None, **kw) -> Person:
    return Person(id=oid, tenantId=T, oid=oid, upn=f"{name.split()[0].lower()}@firm.test", name=name, role=role,
                  team=team, partnerSince=datetime(since, 1, 1, tzinfo=UTC) if since else None, **kw)


async def seed(store: Store) -> None:
    await store.put_tenant(Tenant(id=T, tenantId=T, name="Firm", domains=["firm.test"]))
    for p in (person(BEN, "Ben Ode", team="ip", since=2008), person(CARL, "Carl Roy", team="ip", since=2015),
              person(ANNA, "Anna Weber", team="lit", since=2021), person(MAX, "Max Hale", role="managing_partner"),
              person(WALT, "Walt Screened", team="ip", since=2012), person(LEO, "Leo Gone", enabled=False, since=2001),
              person(ZOE, "Zoe Assoc", role="associate", team="lit")):
        await store.put(p)
    await store.put(Account.new(T, "acme.example", name="Acme"))
    await store.put(Contact.new(T, "secret@acme.example", name="Sam Secret", title="GC", accountId=ACME, owners=[
        Owner(oid=BEN, name="Ben Ode", visibility="private"), Owner(oid=CARL, name="Carl Roy", visibility="private")]))
    await store.put(Contact.new(T, "gone@beta.example", name="Gil Gone", owners=[
        Owner(oid=LEO, name="Leo Gone", visibility="private")]))
    await store.put(Contact.new(T, "open@acme.example", name="Olga Open", accountId=ACME, owners=[
        Owner(oid=BEN, name="Ben Ode", visibility="firm")]))
    await store.put(Wall(id="w1", tenantId=T, accountIds=[ACME], screenedOids=[WALT]))


async def cards_queued(store: Store) -> list[tuple[str, str]]:
    items = await store.find_all(WorkItem, T, key=f"kind:{CARD_WORK}:queued")
    return sorted((i.payload["kind"], i.payload["to"]) for i in items)


async def test_only_an_owner_changes_visibility_and_it_applies_through_the_scope(ingest_store):
    store = ingest_store
    await seed(store)
    view = await ScopedStore(store, T, ANNA).contact(contact_id("open@acme.example"))
    assert view is not None and not view.restricted
    _, before = await visibility.set_visibility(store, T, BEN, "open@acme.example", "private", now=MONDAY)
    assert before == "firm"
    view = await ScopedStore(store, T, ANNA).contact(contact_id("open@acme.example"))
    assert view is not None and view.restricted  # at once: the next read through the scope
    with pytest.raises(visibility.NotOwner):
        await visibility.set_visibility(store, T, ANNA, "open@acme.example", "firm")
    with pytest.raises(NotFound):  # walled: the same as a contact that does not exist
        await visibility.set_visibility(store, T, WALT, "open@acme.example", "firm")
    with pytest.raises(NotFound):
        await visibility.set_visibility(store, T, BEN, "nobody@acme.example", "firm")
    with pytest.raises(ValueError):
        await visibility.set_visibility(store, T, BEN, "open@acme.example", "everyone")
    # team: the owner's team sees it, another team does not
    await visibility.set_visibility(store, T, BEN, "open@acme.example", "team", now=MONDAY + timedelta(minutes=1))
    assert not (await ScopedStore(store, T, CARL).contact(contact_id("open@acme.example"))).restricted
    assert (await ScopedStore(store, T, ANNA).contact(contact_id("open@acme.example"))).restricted
    events = await store.find_all(AuditEvent, T, key="action:visibility.changed")
    assert sorted((e.details["from"], e.details["to"], e.actorOid) for e in events) == [
        ("firm", "private", BEN), ("private", "team", BEN)]
    assert all("Olga" not in str(e.details) for e in events)


async def test_ask_folds_two_owners_either_answers_once_and_sharing_shows_the_asker(ingest_store):
    store = ingest_store
    await seed(store)
    first = await intros.ask(store, T, ANNA, "secret@acme.example", "Japan filing", now=MONDAY)
    assert first.status == "ok" and sorted(first.request.routedTo) == sorted([BEN, CARL])
    again = await intros.ask(store, T, ANNA, "Secret@Acme.example", "still keen", now=MONDAY + timedelta(hours=1))
    assert again.status == "folded" and again.request.id == first.request.id and again.request.asks == 2
    assert await cards_queued(store) == sorted([(intros.CARD_REQUEST, BEN), (intros.CARD_REQUEST, CARL)])
    # not for a contact one sees, nor one walled or unknown (one answer for both)
    assert (await intros.ask(store, T, ANNA, "open@acme.example", "x")).status == "visible"
    assert (await intros.ask(store, T, WALT, "secret@acme.example", "x")).status == "not_found"
    assert (await intros.ask(store, T, ANNA, "nobody@acme.example", "x")).status == "not_found"
    # only those it was routed to may answer; a decline needs a reason
    assert (await intros.answer(store, T, ANNA, first.request.id, "share")).status == "not_found"
    assert (await intros.answer(store, T, MAX, first.request.id, "share")).status == "not_found"
    assert (await intros.answer(store, T, CARL, first.request.id, "decline", "  ")).status == "invalid"
    done = await intros.answer(store, T, CARL, first.request.id, "share", now=MONDAY + timedelta(days=1))
    assert done.status == "ok" and done.request.state == "accepted" and done.request.answeredBy == CARL
    late = await intros.answer(store, T, BEN, first.request.id, "decline", "no")
    assert late.status == "already" and late.request.state == "accepted"
    view = await ScopedStore(store, T, ANNA).contact(contact_id("secret@acme.example"))
    assert view.contact is not None and view.contact.name == "Sam Secret"
    entry = next(o for o in view.contact.owners if o.oid == ANNA)
    assert entry.visibility == "private" and entry.via == "intro"  # Anna's team sees no more than before
    with pytest.raises(visibility.NotOwner):  # nor can Anna widen it: hers to see, not to pass on
        await visibility.set_visibility(store, T, ANNA, "secret@acme.example", "firm")
    assert (await ScopedStore(store, T, ZOE).contact(contact_id("secret@acme.example"))).restricted
    assert (intros.CARD_OUTCOME, ANNA) in await cards_queued(store)
    # a new ask after the answer is a new request (round 2), never the closed one reopened
    assert (await intros.ask(store, T, ANNA, "secret@acme.example", "x")).status == "visible"
    actions = sorted(e.action for e in await store.find_all(AuditEvent, T))
    assert actions == ["intro.accepted", "intro.folded", "intro.requested"]


async def test_a_leavers_contact_goes_to_the_managing_partner_and_one_reminder_after_three_working_days(ingest_store):
    store = ingest_store
    await seed(store)
    friday = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)
    out = await intros.ask(store, T, ANNA, "gone@beta.example", "old client of Leo", now=friday)
    assert out.status == "ok" and out.request.routedTo == [MAX] and out.request.ownerOids == [LEO]
    assert intros.working_days_after(friday, 3) == datetime(2026, 3, 11, 16, 0, tzinfo=UTC)  # Wed: no weekend
    assert await intros.remind_pass(store, T, datetime(2026, 3, 11, 15, 59, tzinfo=UTC)) == 0
    assert await intros.remind_pass(store, T, datetime(2026, 3, 11, 16, 0, tzinfo=UTC)) == 1
    assert await intros.remind_pass(store, T, datetime(2026, 3, 20, tzinfo=UTC)) == 0  # one reminder, never two
    assert (intros.CARD_REQUEST, MAX) in await cards_queued(store)
    keys = [i.key for i in await store.find_all(WorkItem, T, key=f"kind:{CARD_WORK}:queued")]
    assert sum(k.endswith(":reminder") for k in keys) == 1
    declined = await intros.answer(store, T, MAX, out.request.id, "decline", "the client asked for discretion")
    assert declined.status == "ok" and declined.request.state == "declined"
    card = await intros.outcome_card(store, declined.request)
    assert "Gil" not in str(card) and "the client asked for discretion" in str(card)
    assert (await intros.remind_pass(store, T, datetime(2026, 4, 1, tzinfo=UTC))) == 0


# --- the audit on a generated history ----------------------------------------------------------------

async def generated_history(store: Store, seed_: int, n: int) -> dict[str, dict[str, int]]:
    """n requests from random askers to random owners, answered at random; returns the expected counts."""
    rng = random.Random(seed_)
    owners = [BEN, CARL, MAX]
    askers = [ANNA, ZOE, CARL, BEN]
    expected: dict[str, dict[str, int]] = {}
    people = {p.oid: p for p in await store.people(T)}
    from rapport.identity.membership import is_senior_to

    def row(oid: str) -> dict[str, int]:
        return expected.setdefault(oid, {"received": 0, "accepted": 0, "declined": 0, "unanswered": 0,
                                         "senior": 0})

    for k in range(n):
        owner = rng.choice(owners)
        asker = rng.choice([a for a in askers if a != owner])
        email = f"c{k}@client{k % 4}.example"
        await store.put(Contact.new(T, email, name=f"Client Person{k}", owners=[
            Owner(oid=owner, name=people[owner].name, visibility="private")]))
        out = await intros.ask(store, T, asker, email, f"reason {k}", now=MONDAY + timedelta(hours=k))
        assert out.status == "ok", out
        row(owner)["received"] += 1
        fate = rng.choice(["share", "introduce", "decline", None])
        if fate is None:
            row(owner)["unanswered"] += 1
            continue
        await intros.answer(store, T, owner, out.request.id, fate, f"because {k}" if fate == "decline" else "",
                            now=MONDAY + timedelta(hours=k, minutes=5))
        row(owner)["declined" if fate == "decline" else "accepted"] += 1
        if fate == "decline" and is_senior_to(people[owner], people[asker]):
            row(owner)["senior"] += 1
    return expected


async def test_audit_counts_on_a_generated_history(ingest_store):
    store = ingest_store
    await seed(store)
    expected = await generated_history(store, 7, 40)
    rows = await audit.intro_report(store, T, since=MONDAY - timedelta(days=1))
    got = {r.oid: {"received": r.received, "accepted": r.accepted, "declined": r.declined,
                   "unanswered": r.unanswered, "senior": r.senior_refusals} for r in rows}
    assert got == expected
    assert any(r.senior_refusals for r in rows)  # the history has some, and they sort first
    assert rows[0].senior_refusals == max(r.senior_refusals for r in rows)
    ben = next(r for r in rows if r.oid == BEN)
    assert len(ben.reasons) == ben.declined and all(x.startswith("because ") for x in ben.reasons)
    # a window after everything: nothing
    assert await audit.intro_report(store, T, since=MONDAY + timedelta(days=30)) == []


def test_seniority_is_role_tier_then_partner_since():
    from rapport.identity.membership import is_senior_to

    ben, carl, anna = person(BEN, "Ben Ode", since=2008), person(CARL, "Carl Roy", since=2015), person(ANNA, "A B")
    mp, zoe = person(MAX, "Max Hale", role="managing_partner"), person(ZOE, "Zoe A", role="associate")
    assert is_senior_to(ben, carl) and not is_senior_to(carl, ben)
    assert is_senior_to(mp, ben) and is_senior_to(carl, zoe) and not is_senior_to(zoe, carl)
    assert not is_senior_to(ben, anna) and not is_senior_to(anna, ben)  # unknown date: no flag either way
    assert not is_senior_to(ben, ben)


async def test_cli_audit_intros_csv(capture_store, tmp_path, monkeypatch, capsys):
    import local.cli

    store = capture_store
    await seed(store)
    expected = await generated_history(store, 3, 12)
    db = store.backend.path if hasattr(store.backend, "path") else None
    assert db, "the SQLite backend keeps its path"
    monkeypatch.setenv("RAPPORT_SQLITE_PATH", str(db))
    import asyncio

    # The CLI opens the store itself (asyncio.run in a worker thread: this test's loop keeps running).
    code = await asyncio.to_thread(local.cli.main, ["audit", "intros", "--tenant", T, "--csv", "--days", "3650"])
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["oid"]: int(r["received"]) for r in rows} == {k: v["received"] for k, v in expected.items()}
    assert {r["oid"]: int(r["unanswered"]) for r in rows} == {k: v["unanswered"] for k, v in expected.items()}
    assert await asyncio.to_thread(local.cli.main, ["audit", "intros", "--tenant", "no-such", "--csv"]) == 2
    assert await asyncio.to_thread(local.cli.main, ["audit", "moves", "--tenant", T]) == 0
    assert "counsel moves raised: 0" in capsys.readouterr().out


def test_working_days_skip_weekends():
    assert intros.working_days_after(MONDAY, 3) == MONDAY + timedelta(days=3)
    thursday = MONDAY + timedelta(days=3)
    assert intros.working_days_after(thursday, 3) == thursday + timedelta(days=5)


_ = (IntroRequest, work)


async def test_move_pass_on_both_stores_raises_once_and_tracks(ingest_store):
    from rapport.records import Draft, Interaction, MoveAlert, Signal
    from rapport.relationships import moves, timer_pass

    store = ingest_store
    await seed(store)
    old, new = "jo@oldco.example", "jo@newco.example"
    for email, domain, days in ((old, "oldco.example", 60), (new, "newco.example", 1)):
        await store.put(Account.new(T, domain, name=domain.split(".")[0].title()))
        await store.put(Contact.new(T, email, name="Jo Mover", accountId=account_id(domain),
                                    firstSeen=MONDAY - timedelta(days=days),
                                    owners=[Owner(oid=BEN, name="Ben Ode"), Owner(oid=WALT, name="Walt Screened")]))
    await store.put(Wall(id="w2", tenantId=T, accountIds=[account_id("oldco.example")], screenedOids=[WALT]))
    sig = Signal(id="sg-1", tenantId=T, contactId=contact_id(new), fromValue=old, toValue=new,
                 accountIds=[account_id("newco.example"), account_id("oldco.example")], at=MONDAY - timedelta(days=1))
    await store.put(sig)
    assert (await timer_pass(store, MONDAY, kick=False))["moves"] == 1
    assert (await timer_pass(store, MONDAY + timedelta(minutes=15), kick=False))["moves"] == 0
    [alert] = await store.find_all(MoveAlert, T)
    assert alert.partnerOids == [BEN]  # Walt is walled from the old company: nothing for him
    draft = await store.get(Draft, T, moves.draft_id(sig.id, BEN))
    assert draft.purpose == "counsel_move" and draft.to == [new]
    await store.put(Interaction(id="ix-call", tenantId=T, channel="email", at=MONDAY + timedelta(days=3),
                                direction="outbound", ownerOid=BEN, contactIds=[contact_id(new)]))
    await timer_pass(store, MONDAY + timedelta(days=3, hours=1), kick=False)
    t = await audit.move_tracking(store, T, MONDAY + timedelta(days=4))
    assert (t.raised, t.contacted_7, t.contacted_30, t.waiting) == (1, 1, 1, 0)
