"""The demo firm (local.demo): reproducible from its seed, seeded through capture, idempotent."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from local.demo import (
    DEMO_FIRM_DOMAIN,
    DEMO_PARTNERS,
    DEMO_TENANT_ID,
    WALLED_CLIENT,
    DemoFirm,
    build_demo,
    demo_account_id,
    seed_demo,
)
from rapport.capture import is_free_mail
from rapport.records import (
    Account,
    Campaign,
    Contact,
    Enquiry,
    Interaction,
    Matter,
    Meeting,
    Opportunity,
    Person,
    Signal,
    Tenant,
    Wall,
    account_id,
    contact_id,
)
from rapport.store import ScopedStore
from rapport.store.base import Store

TID = DEMO_TENANT_ID
FAMILIES = (Tenant, Person, Account, Contact, Interaction, Meeting, Matter, Wall, Enquiry, Opportunity, Campaign, Signal)


def as_json(demo: DemoFirm) -> str:
    def dump(x: Any) -> Any:
        if hasattr(x, "model_dump"):
            return x.model_dump(mode="json", exclude={"etag"})
        if hasattr(x, "__dataclass_fields__"):
            return {k: dump(getattr(x, k)) for k in x.__dataclass_fields__}
        if isinstance(x, list | tuple):
            return [dump(i) for i in x]
        return x

    return json.dumps(dump(demo), default=str, sort_keys=True)


async def snapshot(store: Store) -> dict[str, dict]:
    out = {}
    for cls in FAMILIES:
        for r in await store.find_all(cls, TID):
            doc = r.model_dump(mode="json", exclude={"etag"})
            out[f"{cls.doc_type}:{r.id}"] = doc
    return out


def kinds(snap: dict[str, dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in snap:
        t = k.split(":", 1)[0]
        out[t] = out.get(t, 0) + 1
    return out


# --- the pure builder --------------------------------------------------------------------------


def test_reproducible_from_the_seed(demo_firm: DemoFirm, demo_now) -> None:
    assert as_json(build_demo(7, demo_now)) == as_json(demo_firm)
    assert as_json(build_demo(8, demo_now)) != as_json(demo_firm)


def test_seed_7_is_stable_for_other_tests(demo_firm: DemoFirm) -> None:
    # Other suites (browser, sidebar) name these people: changing the generator must be deliberate.
    assert demo_firm.counsel_moves == [
        ("helena.northcott@norvale.example", "helena.northcott@cobaltine.example"),
        ("ines.stirling@lumora.example", "ines.stirling@pellucid.example"),
    ]


def test_ids_do_not_depend_on_now(demo_firm: DemoFirm, demo_now) -> None:
    later = build_demo(7, demo_now + timedelta(days=3, hours=5))
    ids = lambda d: sorted(m["id"] for b in d.mailboxes for m in b.inbox + b.sent + b.events)  # noqa: E731
    assert ids(later) == ids(demo_firm)
    assert [m.id for m in later.matters] == [m.id for m in demo_firm.matters]


def test_firm_partners_accounts_contacts(demo_firm: DemoFirm) -> None:
    d = demo_firm
    assert d.tenant.id == TID and DEMO_FIRM_DOMAIN in d.tenant.domains and d.tenant.allowed
    assert [p.oid for p in d.partners] == [p[0] for p in DEMO_PARTNERS] and len(d.partners) == 4
    assert all(p.id == p.oid and p.upn.endswith("@" + DEMO_FIRM_DOMAIN) and p.team for p in d.partners)
    by_kind: dict[str, list[Account]] = {}
    for a in d.accounts:
        by_kind.setdefault(a.kind, []).append(a)
    assert 50 <= len(d.accounts) <= 70
    assert len(by_kind["client"]) >= 20 and len(by_kind["prospect"]) >= 10 and len(by_kind["foreign_associate"]) >= 15
    assert len({a.country for a in by_kind["foreign_associate"]}) >= 10
    assert all(a.domain.endswith(".example") for a in d.accounts)
    assert 250 <= len(d.contacts) <= 350
    titles = {c.title for c in d.contacts}
    assert {"Head of IP", "Trademark Counsel", "Partner"} <= titles
    assert len({c.email for c in d.contacts}) == len(d.contacts)
    assert all(c.email.endswith(".example") or is_free_mail(c.email.rpartition("@")[2]) for c in d.contacts)
    assert any(c.domain is None for c in d.contacts)  # individuals on free mail
    assert sum(1 for c in d.contacts if c.private_owner) >= 3


def test_mailboxes_are_graph_shaped(demo_firm: DemoFirm, demo_now) -> None:
    msgs = [m for b in demo_firm.mailboxes for m in b.inbox + b.sent]
    events = [e for b in demo_firm.mailboxes for e in b.events]
    assert 4500 <= len(msgs) + len(events) <= 5600
    for m in msgs:
        assert {"id", "subject", "from", "sender", "toRecipients", "ccRecipients", "receivedDateTime", "sentDateTime",
                "internetMessageId", "conversationId"} <= set(m)
        assert "address" in m["from"]["emailAddress"]
    for e in events:
        assert {"id", "iCalUId", "subject", "start", "end", "organizer", "attendees", "isOnlineMeeting", "isCancelled",
                "type", "webLink"} <= set(e)
        assert e["start"]["timeZone"] == "UTC" and e["start"]["dateTime"].endswith(".0000000")
    times = sorted(m["sentDateTime"] for m in msgs)
    assert times[0] <= (demo_now - timedelta(days=700)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert times[-1] <= demo_now.strftime("%Y-%m-%dT%H:%M:%SZ")
    subjects = " | ".join(m["subject"] for m in msgs)
    for phrase in ("EUTM opposition", "Renewal reminder", "Madrid filing instructions"):
        assert phrase in subjects


def test_the_walled_partner_never_deals_with_the_walled_client(demo_firm: DemoFirm) -> None:
    walled_oid = demo_firm.walls[0].screenedOids[0]
    box = next(b for b in demo_firm.mailboxes if b.partner.oid == walled_oid)
    blob = json.dumps(box.inbox + box.sent + box.events)
    assert f"@{WALLED_CLIENT}.example" not in blob


# --- seeded through capture ----------------------------------------------------------------------


async def test_seeded_records_reconcile_with_the_mailboxes(demo_store: Store, demo_firm: DemoFirm) -> None:
    snap = await snapshot(demo_store)
    n = kinds(snap)
    msgs = [m for b in demo_firm.mailboxes for m in b.inbox + b.sent]
    events = [e for b in demo_firm.mailboxes for e in b.events]
    # every message -> one interaction; every event -> one meeting; every non-cancelled event -> one interaction
    assert n["interaction"] == len(msgs) + sum(1 for e in events if not e["isCancelled"])
    assert n["meeting"] == len(events)
    assert n["contact"] == len(demo_firm.contacts)
    assert n["account"] == len(demo_firm.accounts)  # free mail never became an account
    assert n["tenant"] == 1 and n["person"] == 4 and n["wall"] == 1
    assert n["matter"] == len(demo_firm.matters) and n["signal"] == 2
    sources = {(d["source"], d["sourceId"]) for k, d in snap.items() if k.startswith("interaction:")}
    assert all(("graph-mail", f"{b.partner.oid}:{m['id']}") in sources for b in demo_firm.mailboxes for m in b.inbox)


async def test_no_mail_bodies_are_stored(demo_store: Store) -> None:
    blob = json.dumps(await snapshot(demo_store))
    for preview in ("Please find attached", "we will revert shortly", "Agenda to follow"):
        assert preview not in blob


async def test_meetings_today_and_this_week_with_external_attendees(demo_store: Store, demo_now) -> None:
    day_start = demo_now.replace(hour=0, minute=0)
    for oid, *_ in DEMO_PARTNERS:
        today = await demo_store.meetings_between(TID, day_start, day_start + timedelta(days=1), organizer_oid=oid)
        assert sum(1 for m in today if m.external and not m.isCancelled and m.start > demo_now) >= 1
        week = await demo_store.meetings_between(TID, demo_now, demo_now + timedelta(days=7), organizer_oid=oid)
        assert sum(1 for m in week if m.external and not m.isCancelled) >= 5
        assert any(m.isCancelled for m in week)
        assert any(not m.external for m in week)  # the internal pipeline meeting
    upcoming = await demo_store.meetings_between(TID, demo_now, demo_now + timedelta(days=1))
    m = next(m for m in upcoming if m.external)
    contact = await demo_store.get(Contact, TID, m.contactIds[0])
    assert contact is not None and contact.title  # a brief has someone to talk about


async def test_matters_pipeline_and_campaign(demo_store: Store, demo_now) -> None:
    matters = await demo_store.find_all(Matter, TID)
    assert all(m.renewalDate and m.renewalDate > demo_now for m in matters)
    assert any(m.renewalDate < demo_now + timedelta(days=180) for m in matters)
    assert sum(1 for m in matters if m.oppositionDeadline and m.oppositionDeadline < demo_now + timedelta(days=90)) >= 3
    assert all(m.rights and m.reference for m in matters)
    enquiries = await demo_store.find_all(Enquiry, TID)
    opportunities = await demo_store.find_all(Opportunity, TID)
    assert sum(1 for e in enquiries if e.is_open) >= 5 and any(not e.is_open for e in enquiries)
    assert sum(1 for o in opportunities if o.is_open) >= 5
    assert any(e.firstResponseAt is None for e in enquiries)
    acct = opportunities[0].accountId
    assert await demo_store.open_pipeline(TID, acct) or not opportunities[0].is_open
    assert len(await demo_store.find_all(Campaign, TID)) == 1


async def test_titles_and_accounts_on_contacts(demo_store: Store, demo_firm: DemoFirm) -> None:
    for dc in demo_firm.contacts[:40]:
        c = await demo_store.get(Contact, TID, dc.id)
        assert c.title == dc.title and c.name == dc.name and c.owners
        assert c.accountId == (account_id(dc.domain) if dc.domain else None)
    norvale = await demo_store.get(Account, TID, demo_account_id("norvale"))
    assert norvale.kind == "client" and norvale.name == "Norvale Robotics"


async def test_private_contacts(demo_store: Store, demo_firm: DemoFirm) -> None:
    private = [c for c in demo_firm.contacts if c.private_owner]
    for dc in private:
        c = await demo_store.get(Contact, TID, dc.id)
        assert [(o.oid, o.visibility) for o in c.owners] == [(dc.private_owner, "private")]
        other = next(p[0] for p in DEMO_PARTNERS if p[0] != dc.private_owner)
        view = await ScopedStore(demo_store, TID, other).contact(dc.id)
        assert view is not None and view.restricted and view.known_to
        mine = await ScopedStore(demo_store, TID, dc.private_owner).contact(dc.id)
        assert mine is not None and not mine.restricted and mine.contact.title == dc.title


async def test_the_ethical_wall(demo_store: Store, demo_firm: DemoFirm) -> None:
    wall = (await demo_store.walls(TID))[0]
    walled_acct = demo_account_id(WALLED_CLIENT)
    assert wall.accountIds == [walled_acct] and len(wall.screenedOids) == 1
    matters = await demo_store.matters_of_account(TID, walled_acct)
    assert matters and sorted(wall.matterIds) == sorted(m.id for m in matters)
    screened, colleague = wall.screenedOids[0], next(p[0] for p in DEMO_PARTNERS if p[0] not in wall.screenedOids)
    client_contact = next(c for c in demo_firm.contacts if c.domain == f"{WALLED_CLIENT}.example")
    walled = ScopedStore(demo_store, TID, screened)
    assert await walled.account(walled_acct) is None
    assert await walled.matters_of_account(walled_acct) == []
    assert await walled.contact(client_contact.id) is None
    other = ScopedStore(demo_store, TID, colleague)
    assert (await other.account(walled_acct)).name == "Halcyra Games"
    assert len(await other.matters_of_account(walled_acct)) == len(matters)


async def test_counsel_moves_raised_signals(demo_store: Store, demo_firm: DemoFirm) -> None:
    for old, new in demo_firm.counsel_moves:
        signals = await demo_store.signals_for_contact(TID, contact_id(new))
        assert [(s.kind, s.fromValue, s.toValue) for s in signals] == [("counsel_move", old, new)]
        assert await demo_store.signals_for_contact(TID, contact_id(old)) == []


async def test_seeding_again_changes_no_counts(demo_store: Store, demo_now) -> None:
    before = await snapshot(demo_store)
    summary = await seed_demo(demo_store, now=demo_now)
    after = await snapshot(demo_store)
    assert kinds(after) == kinds(before)
    assert after == before  # same now: not one field differs
    assert summary["interactions"] == kinds(after)["interaction"] and summary["contacts"] == kinds(after)["contact"]
    # Another day: times move with `now`, the records stay the same ones.
    await seed_demo(demo_store, now=demo_now + timedelta(days=1, hours=3))
    assert kinds(await snapshot(demo_store)) == kinds(before)


async def test_seed_summary_and_speed(capture_store: Store, demo_now) -> None:
    summary = await seed_demo(capture_store, now=demo_now)
    for key in ("tenant", "partners", "accounts", "contacts", "interactions", "meetings", "meetings today", "matters",
                "walls", "open enquiries", "open opportunities", "counsel-move signals", "private contacts", "seconds"):
        assert key in summary
    assert summary["interactions"] >= 4500 and summary["meetings today"] >= 4
    assert summary["seconds"] < 30  # typically ~3 s on SQLite; generous for a loaded CI machine


def test_reproducible_across_processes() -> None:
    """Same seed, same firm in a fresh interpreter with another hash seed (no set-order leaks)."""
    import subprocess
    import sys

    code = ("import hashlib, json; from datetime import datetime, UTC; from local.demo import build_demo; "
            "d = build_demo(7, datetime(2026, 11, 25, 10, tzinfo=UTC)); "
            "print(hashlib.sha256(json.dumps([b.inbox + b.sent + b.events for b in d.mailboxes]).encode()).hexdigest())")
    digests = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": str(h), "PATH": "/usr/bin:/bin"}).stdout
        for h in (1, 2)
    }
    assert len(digests) == 1 and len(next(iter(digests)).strip()) == 64


async def test_seeding_again_keeps_what_happened_in_the_running_demo(demo_store: Store, demo_firm: DemoFirm,
                                                                     demo_now) -> None:
    partner = demo_firm.partners[0]
    enquiry = demo_firm.enquiries[0]
    dc = next(c for c in demo_firm.contacts if c.private_owner)
    meeting = (await demo_store.meetings_between(TID, demo_now, demo_now + timedelta(days=1), organizer_oid=partner.oid))[0]
    await demo_store.update(Person, TID, partner.oid, lambda p: p.model_copy(update={"conversationRef": {"id": "c1"}}))
    await demo_store.update(Enquiry, TID, enquiry.id, lambda e: e.model_copy(update={"stage": "instructed"}))
    await demo_store.update(Meeting, TID, meeting.id, lambda m: m.model_copy(update={"briefsSent": {partner.oid: "s"}}))

    def relax(c: Contact) -> Contact:
        c.title = "Chief IP Officer"
        for o in c.owners:
            o.visibility = "firm"
        return c

    await demo_store.update(Contact, TID, dc.id, relax)
    await seed_demo(demo_store, now=demo_now)
    assert (await demo_store.get_person(TID, partner.oid)).conversationRef == {"id": "c1"}
    assert (await demo_store.get(Enquiry, TID, enquiry.id)).stage == "instructed"
    assert (await demo_store.get(Meeting, TID, meeting.id)).briefsSent == {partner.oid: "s"}
    c = await demo_store.get(Contact, TID, dc.id)
    assert c.title == "Chief IP Officer" and {o.visibility for o in c.owners} == {"firm"}
