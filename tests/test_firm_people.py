"""`rapport people list|add|remove|set-role` and the domain functions under it (rapport.firm.people).

Every CLI test runs the real parser and command against the store the settings name: the embedded
SQLite file and the local Cosmos server (fresh database). Graph is the stand-in (tests/doubles/
graph_server.py) through the real GraphClient where the directory is asked.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from local.cli import _parser
from rapport.identity.membership import is_member, is_partner, may
from rapport.records import (
    ROUTES_PARTITION,
    AuditEvent,
    Draft,
    Interaction,
    Person,
    Subscription,
    SubscriptionRoute,
)
from tests.plugins.firm import OID, OTHER, TID, cli, snapshot

# --- add, list, set-role ----------------------------------------------------------------------------

async def test_add_without_graph_takes_oid_and_name_and_any_role_gets_a_person(firm_env, capsys):
    settings, store = firm_env
    assert await cli(settings, "people", "add", "Jo.Bloggs@Firm.Example", "--tenant", TID, "--role", "BD",
                     "--oid", OID.upper(), "--name", "Jo Bloggs") == 0
    p = await store.get_person(TID, OID)
    assert (p.upn, p.name, p.role, p.enabled, p.captured) == ("jo.bloggs@firm.example", "Jo Bloggs", "bd", True, False)
    assert is_member(p, TID) and not is_partner(p, await store.get_tenant(TID))  # uses Rapport, not captured
    assert "added" in capsys.readouterr().out
    assert await cli(settings, "people", "list", "--tenant", TID) == 0
    out = capsys.readouterr().out
    assert "jo.bloggs@firm.example" in out and "bd" in out and OID in out
    [event] = [e for e in await store.find_all(AuditEvent, TID) if e.action == "people.added"]
    assert event.targetId == OID and event.actorOid == "cli"
    # the same again changes nothing
    before = await snapshot(store)
    assert await cli(settings, "people", "add", "jo.bloggs@firm.example", "--tenant", TID, "--role", "bd",
                     "--oid", OID, "--name", "Jo Bloggs") == 0
    assert "unchanged" in capsys.readouterr().out and await snapshot(store) == before


async def test_add_from_graph_directory(firm_env, graph, graph_standin, capsys):
    settings, store = firm_env
    mb = graph_standin.add_mailbox(TID, "ann.able@firm.example", "Ann Able")
    assert await cli(settings, "people", "add", "ann.able@firm.example", "--tenant", TID, "--capture") == 0
    p = await store.get_person(TID, mb.oid)
    assert (p.name, p.title, p.role, p.captured) == ("Ann Able", "Partner", "partner", True)
    tenant = await store.get_tenant(TID)
    assert tenant.partners == ["ann.able@firm.example"] and is_partner(p, tenant)
    # not in the directory: exit 2, nothing written
    before = await snapshot(store)
    assert await cli(settings, "people", "add", "ghost@firm.example", "--tenant", TID) == 2
    assert "no user ghost@firm.example in the firm's directory" in capsys.readouterr().err
    assert await snapshot(store) == before
    # an --oid that is not the directory's
    assert await cli(settings, "people", "add", "bob@firm.example", "--tenant", TID, "--oid", OID) in (2,)
    assert await snapshot(store) == before


async def test_capture_on_a_firm_without_a_list_keeps_its_partners_by_role(firm_env):
    """A firm that listed no partners captures everyone with role partner; listing the first one
    must not stop that (membership: with a list, only the listed are partners)."""
    settings, store = firm_env
    old = str(uuid.uuid4())
    await store.put(Person(id=old, tenantId=TID, oid=old, upn="old@firm.example", name="Old Partner"))
    tenant = await store.get_tenant(TID)
    assert is_partner(await store.get_person(TID, old), tenant)
    assert await cli(settings, "people", "add", "new@firm.example", "--tenant", TID, "--oid", OID,
                     "--name", "New Partner", "--capture") == 0
    tenant = await store.get_tenant(TID)
    assert tenant.partners == ["old@firm.example", "new@firm.example"]
    assert is_partner(await store.get_person(TID, old), tenant) and is_partner(await store.get_person(TID, OID), tenant)


async def test_set_role_changes_what_the_person_may_do(firm_env, capsys):
    settings, store = firm_env
    await store.put(Person(id=OID, tenantId=TID, oid=OID, upn="mp@firm.example", name="M P", role="partner"))
    assert not may(await store.get_person(TID, OID), "firm_report")
    assert await cli(settings, "people", "set-role", "mp@firm.example", "managing-partner", "--tenant", TID) == 0
    p = await store.get_person(TID, OID)
    assert p.role == "managing_partner" and may(p, "firm_report")
    [event] = [e for e in await store.find_all(AuditEvent, TID) if e.action == "people.role_changed"]
    assert event.details == {"from": "partner", "to": "managing_partner"}
    assert await cli(settings, "people", "set-role", OID, "admin", "--tenant", TID) == 0  # by oid too
    assert (await store.get_person(TID, OID)).role == "admin"


# --- bad input: a clear message, exit 2, nothing written --------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["people", "add", "x@firm.example", "--role", "boss", "--oid", OID, "--name", "X"], "unknown role 'boss'"),
    (["people", "add", "not-an-address", "--oid", OID, "--name", "X"], "is not a user principal name"),
    (["people", "add", "x@elsewhere.example", "--oid", OID, "--name", "X"], "not in the firm's domains"),
    (["people", "add", "x_o.com#EXT#@firm.example", "--oid", OID, "--name", "X"], "guest"),
    (["people", "add", "x@firm.example", "--oid", "not-a-guid", "--name", "X"], "not an Entra object id"),
    (["people", "add", "x@firm.example"], "give --oid"),
    (["people", "add", "x@firm.example", "--oid", OID], "--name is needed"),
    (["people", "remove", "nobody@firm.example"], "no person nobody@firm.example"),
    (["people", "remove", OID], "no person"),
    (["people", "set-role", "nobody@firm.example", "bd"], "no person"),
    (["people", "set-role", "bad upn", "bd"], "not a user principal name"),
])
async def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(firm_env, capsys, argv, words):
    settings, store = firm_env
    before = await snapshot(store)
    assert await cli(settings, *argv, "--tenant", TID) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert await snapshot(store) == before


async def test_unknown_tenant_and_another_firms_person(firm_env, capsys):
    settings, store = firm_env
    await store.put(Person(id=OID, tenantId=OTHER, oid=OID, upn="x@other.example", name="X"))
    before = await snapshot(store, OTHER)
    assert await cli(settings, "people", "list", "--tenant", str(uuid.uuid4())) == 2
    assert "not onboarded" in capsys.readouterr().err
    assert await cli(settings, "people", "remove", OID, "--tenant", TID) == 2  # not this firm's
    assert await cli(settings, "people", "set-role", OID, "admin", "--tenant", TID) == 2
    assert await snapshot(store, OTHER) == before


# --- remove -------------------------------------------------------------------------------------------

async def test_remove_stops_capture_and_subscriptions_expires_open_drafts_and_keeps_records(
        firm_env, graph, graph_standin, capsys):
    from rapport.capture import subscriptions
    from rapport.followups import send_approved, timer_pass

    settings, store = firm_env
    graph_standin.validate_subscriptions = False
    mb = graph_standin.add_mailbox(TID, "leaver@firm.example", "Lee Ver")
    assert await cli(settings, "people", "add", "leaver@firm.example", "--tenant", TID, "--capture") == 0
    firm = await store.get_tenant(TID)
    person = await store.get_person(TID, mb.oid)
    subs = [await subscriptions.create(store, graph, firm, person, kind, public_url="https://rapport.test")
            for kind in ("messages", "events")]
    assert len(graph_standin.subscriptions) == 2
    now = datetime.now(UTC)
    drafts = {}
    for state in ("drafted", "snoozed", "approved", "failed", "sending", "sent", "dismissed"):
        d = Draft(id=f"dr_{state}", tenantId=TID, ownerOid=mb.oid, state=state, to=["c@client.test"],
                  subject="s", body="b", snoozedUntil=now - timedelta(minutes=1) if state == "snoozed" else None)
        drafts[state] = await store.put(d)
    ix = Interaction(id="ix_1", tenantId=TID, channel="email", at=now, ownerOid=mb.oid, subject="kept")
    await store.put(ix)

    assert await cli(settings, "people", "remove", "leaver@firm.example", "--tenant", TID) == 0
    out = capsys.readouterr().out
    assert "2 Graph subscriptions retired, 4 open drafts expired" in out

    p = await store.get_person(TID, mb.oid)
    firm = await store.get_tenant(TID)
    assert not p.enabled and not p.captured and not is_member(p, TID) and firm.partners == []
    assert graph_standin.subscriptions == {}  # deleted at Graph
    for sub in subs:
        assert (await store.get(Subscription, TID, sub.id)).state == "removed"
        assert await store.get(SubscriptionRoute, ROUTES_PARTITION, sub.id) is None
    states = {s: (await store.get(Draft, TID, d.id)).state for s, d in drafts.items()}
    assert states == {"drafted": "expired", "snoozed": "expired", "approved": "expired", "failed": "expired",
                      "sending": "sending", "sent": "sent", "dismissed": "dismissed"}
    assert await store.get(Interaction, TID, "ix_1") is not None  # the firm's records stay
    [event] = [e for e in await store.find_all(AuditEvent, TID) if e.action == "people.removed"]
    assert event.details == {"subscriptionsRetired": 2, "draftsExpired": 4}

    # An expired draft is never sent, and the timer neither wakes nor drafts for them.
    assert await send_approved(store, TID, "dr_approved", 1) == "skipped"
    await timer_pass(store, kick=False)
    assert (await store.get(Draft, TID, "dr_snoozed")).state == "expired"
    # Removing again changes nothing; adding again enables them (capture is asked for again).
    assert await cli(settings, "people", "remove", mb.oid, "--tenant", TID) == 0
    assert "unchanged" in capsys.readouterr().out
    assert await cli(settings, "people", "add", "leaver@firm.example", "--tenant", TID) == 0
    p = await store.get_person(TID, mb.oid)
    assert p.enabled and not p.captured


async def test_the_timer_expires_a_snoozed_draft_whose_owner_left(firm_env):
    """Rule as well as state: a draft snoozed by someone disabled elsewhere (Entra sync, an old
    removal) expires when its time comes instead of coming back."""
    from rapport.followups import timer_pass

    settings, store = firm_env
    await store.put(Person(id=OID, tenantId=TID, oid=OID, upn="gone@firm.example", name="Gone", enabled=False))
    past = datetime.now(UTC) - timedelta(minutes=5)
    await store.put(Draft(id="dr_z", tenantId=TID, ownerOid=OID, state="snoozed", snoozedUntil=past))
    report = await timer_pass(store, kick=False)
    assert report.unsnoozed == 0 and (await store.get(Draft, TID, "dr_z")).state == "expired"


def test_every_command_has_help(capsys):
    for argv in (["people", "--help"], ["people", "add", "--help"], ["people", "remove", "--help"],
                 ["people", "set-role", "--help"], ["people", "list", "--help"]):
        with pytest.raises(SystemExit) as exc:
            _parser().parse_args(argv)
        assert exc.value.code == 0
    assert "managing_partner" in capsys.readouterr().out
