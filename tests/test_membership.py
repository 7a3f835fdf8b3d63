"""Only the firm's people (issue 12, finding 6): the add-in API answers only an onboarded Person of
the tenant, signed in with a member account, through one of our client apps. Everyone else gets the
same 403 "Rapport is not enabled for you", whatever the cause.

Over real HTTP through function_app's triggers on the local host; tokens minted by the identity
stand-in. The partner rule (rapport.identity.membership) is pinned at the end.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from local.host import DevHost
from rapport.identity import membership
from rapport.records import Contact, Interaction, Meeting, Owner, Person, Tenant, WorkItem, contact_id
from rapport.settings import FIRST_PARTY_CLIENT_APPS
from tests.plugins.identity import CLIENT_ID, TENANT_A, TENANT_B, EntraWorld, entra_world, new_oid

KNOWN = "helena@client.test"
CANARY = "CANARY-SIDEBAR-7f3a"
OTHER_TENANT_ISSUER = "https://sts.windows.net/dddddddd-0000-4000-8000-00000000000d/"


async def seed_person(world: EntraWorld, tid: str = TENANT_B, oid: str | None = None, **kw: Any) -> str:
    oid = oid or new_oid()
    kw.setdefault("upn", f"p{oid[:8]}@b.test")
    await world.store.put(Person(id=oid, tenantId=tid, oid=oid, name=kw.pop("name", "A Partner"), **kw))
    return oid


class Firm:
    def __init__(self, world: EntraWorld, host: DevHost, http: aiohttp.ClientSession) -> None:
        self.world, self.host, self.http = world, host, http

    def token(self, oid: str, tid: str = TENANT_B, **kw: Any) -> str:
        kw.setdefault("azp", CLIENT_ID)  # the add-in's own registration (nested app authentication)
        return self.world.minter.token(tid, oid, **kw)

    async def context(self, token: str) -> tuple[int, Any]:
        async with self.http.get(f"{self.host.base_url}/api/addin/context", params={"email": KNOWN},
                                 headers={"Authorization": f"Bearer {token}"}) as r:
            return r.status, await r.json()

    async def note(self, token: str, text: str) -> tuple[int, Any]:
        async with self.http.post(f"{self.host.base_url}/api/addin/notes",
                                  json={"email": KNOWN, "text": text, "clientKey": uuid.uuid4().hex},
                                  headers={"Authorization": f"Bearer {token}"}) as r:
            return r.status, await r.json()


@pytest.fixture
async def firm(identity_server, tmp_path) -> AsyncIterator[Firm]:
    async with entra_world(identity_server, tmp_path) as world:
        partner = await seed_person(world)
        await world.store.put(Contact.new(TENANT_B, KNOWN, name=f"Helena {CANARY}",
                                          owners=[Owner(oid=partner, name="A Partner", visibility="firm")]))
        async with DevHost(world.settings, store=world.store) as host, aiohttp.ClientSession() as http:
            world.make_validator()  # the world's clock, after the host rebuilt the process validator
            yield Firm(world, host, http)


def not_enabled(status: int, body: Any) -> None:
    assert status == 403, body
    assert body["error"]["message"] == membership.NOT_ENABLED
    assert body["error"]["correlationId"]
    assert CANARY not in json.dumps(body)


# --- members are answered ----------------------------------------------------------------------

async def test_a_person_of_the_firm_gets_the_sidebar(firm):
    oid = await seed_person(firm.world)
    status, body = await firm.context(firm.token(oid))
    assert status == 200, body
    assert CANARY in json.dumps(body)


@pytest.mark.parametrize("client", ["d3590ed6-52b3-4102-aeff-aad2292ab01c", "bc59ab01-8403-45c6-8796-ac3ef710b3e3",
                                    "1fec8e78-bce4-4aaf-ab1b-5451cc387264", "5e3ce6c0-2b1f-4285-8d4b-75ee78787346"])
async def test_office_outlook_and_teams_clients_are_ours(firm, client):
    assert client in FIRST_PARTY_CLIENT_APPS
    oid = await seed_person(firm.world)
    assert (await firm.context(firm.token(oid, azp=client)))[0] == 200


async def test_a_member_account_signed_in_at_home_is_not_a_guest(firm):
    oid = await seed_person(firm.world)
    home = f"https://sts.windows.net/{TENANT_B}/"  # idp of the tenant itself, acct 0: a member
    assert (await firm.context(firm.token(oid, acct=0, idp=home)))[0] == 200


# --- everyone else: one answer -------------------------------------------------------------------

async def _refused_tokens(firm: Firm) -> dict[str, str]:
    w = firm.world
    member = await seed_person(w)
    guest_upn = await seed_person(w, upn="alice_other.example#EXT#@b.onmicrosoft.com")
    disabled = await seed_person(w, enabled=False)
    elsewhere = await seed_person(w, tid=TENANT_A)  # a Person, but of another tenant
    return {
        "random oid of the tenant": firm.token(new_oid()),
        "guest account (acct=1)": firm.token(member, acct=1),
        "guest from another directory (idp)": firm.token(member, idp=OTHER_TENANT_ISSUER),
        "guest UPN on the record": firm.token(guest_upn),
        "unknown client app (azp)": firm.token(member, azp=str(uuid.uuid4())),
        "unknown client app (v1 appid)": firm.token(member, azp=None, appid=str(uuid.uuid4())),
        "disabled person": firm.token(disabled),
        "person of another tenant": firm.token(elsewhere),
    }


async def test_anyone_else_gets_the_same_short_answer(firm):
    bodies = {}
    for why, token in (await _refused_tokens(firm)).items():
        status, body = await firm.context(token)
        assert status == 403, (why, body)
        not_enabled(status, body)
        body["error"].pop("correlationId")
        bodies[why] = body
    # Indistinguishable: no oracle for which check failed.
    assert len({json.dumps(b, sort_keys=True) for b in bodies.values()}) == 1, bodies


OFFICE, TEAMS_WEB = "bc59ab01-8403-45c6-8796-ac3ef710b3e3", "5e3ce6c0-2b1f-4285-8d4b-75ee78787346"


@given(recorded=st.booleans(), enabled=st.booleans(), guest_upn=st.booleans(), acct=st.sampled_from([None, 0, 1]),
       idp=st.sampled_from([None, "home", "other"]), client=st.sampled_from(["own", OFFICE, TEAMS_WEB, "stranger"]))
@hsettings(max_examples=30, deadline=None, derandomize=True,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_only_members_through_our_clients_ever_see_the_firms_records(firm, recorded, enabled, guest_upn,
                                                                           acct, idp, client):
    oid = new_oid()
    if recorded:
        upn = "x_other.example#EXT#@b.onmicrosoft.com" if guest_upn else f"p{oid[:8]}@b.test"
        await seed_person(firm.world, oid=oid, upn=upn, enabled=enabled)
    claims: dict[str, Any] = {"azp": {"own": CLIENT_ID, "stranger": str(uuid.uuid4())}.get(client, client)}
    if acct is not None:
        claims["acct"] = acct
    if idp is not None:
        claims["idp"] = f"https://sts.windows.net/{TENANT_B}/" if idp == "home" else OTHER_TENANT_ISSUER
    member = recorded and enabled and not guest_upn and acct != 1 and idp != "other" and client != "stranger"
    status, body = await firm.context(firm.token(oid, **claims))
    if member:
        assert status == 200 and CANARY in json.dumps(body)
    else:
        not_enabled(status, body)
        assert set(body) == {"error"} and set(body["error"]) == {"status", "message", "correlationId"}


async def test_a_guest_cannot_write_notes(firm):
    member = await seed_person(firm.world)
    for token in (firm.token(member, acct=1), firm.token(member, idp=OTHER_TENANT_ISSUER), firm.token(new_oid())):
        not_enabled(*await firm.note(token, "CANARY-BODY-guestnote"))
    page = await firm.world.store.interactions_for_contact(TENANT_B, contact_id(KNOWN), limit=50)
    assert [i for i in page.items if isinstance(i, Interaction) and i.channel == "note"] == []


async def test_the_refusal_is_logged_with_its_reason_never_the_token(firm, caplog):
    caplog.set_level(logging.INFO)
    member = await seed_person(firm.world)
    not_enabled(*await firm.context(firm.token(member, acct=1)))
    lines = [r.getMessage() for r in caplog.records if r.name == "rapport.identity"]
    assert any("guest account" in line for line in lines), lines
    # (tests/conftest.py asserts after every test that no token reached the logs)


async def test_a_removed_person_is_refused_once_the_short_cache_lapses(firm):
    oid = await seed_person(firm.world)
    assert (await firm.context(firm.token(oid)))[0] == 200
    await firm.world.store.delete(Person, TENANT_B, oid)
    firm.world.clock[0] += 61
    not_enabled(*await firm.context(firm.token(oid)))


async def test_a_new_person_is_let_in_soon_after_onboarding(firm):
    oid = new_oid()
    not_enabled(*await firm.context(firm.token(oid)))
    await seed_person(firm.world, oid=oid)
    firm.world.clock[0] += 6
    assert (await firm.context(firm.token(oid)))[0] == 200


async def test_the_client_apps_are_a_setting(identity_server, tmp_path):
    own = "0f0f0f0f-1111-4222-8333-444444444444"
    async with entra_world(identity_server, tmp_path, RAPPORT_CLIENT_APPS=own) as world:
        oid = await seed_person(world)
        async with DevHost(world.settings, store=world.store) as host, aiohttp.ClientSession() as http:
            world.make_validator()
            f = Firm(world, host, http)
            assert (await f.context(f.token(oid, azp=own)))[0] == 200
            assert (await f.context(f.token(oid)))[0] == 200  # RAPPORT_CLIENT_ID is always ours
            not_enabled(*await f.context(f.token(oid, azp="d3590ed6-52b3-4102-aeff-aad2292ab01c")))


# --- who is a partner: one rule ------------------------------------------------------------------

def _person(upn: str, **kw: Any) -> Person:
    oid = new_oid()
    return Person(id=oid, tenantId=TENANT_B, oid=oid, upn=upn, name=upn, **kw)


def test_a_partner_is_a_captured_member_the_firm_listed():
    listed = Tenant(id=TENANT_B, tenantId=TENANT_B, name="B", partners=["ada@b.test", "ben@b.test"])
    ada, ben = _person("ada@b.test"), _person("Ben@B.test")
    off = _person("ben@b.test", captured=False)
    assistant = _person("cy@b.test", role="associate")  # a member who uses the pane, not a partner
    unlisted = _person("dee@b.test")  # captured=True by default, role partner, but not listed
    guest = _person("eve_x.com#EXT#@b.onmicrosoft.com")
    gone = _person("ada@b.test", enabled=False)
    assert membership.partners(listed, [ada, ben, off, assistant, unlisted, guest, gone]) == [ada, ben]
    # Before: the sync safety net and the work item counted `unlisted`'s mailbox when there was no
    # list / whatever the list said; the follow-up timer drafted for anyone recorded.
    assert all(membership.is_member(p, TENANT_B) for p in (ada, ben, off, assistant, unlisted))
    assert not membership.is_member(guest, TENANT_B) and not membership.is_member(gone, TENANT_B)
    assert not membership.is_member(ada, TENANT_A)


def test_without_a_list_a_partner_is_a_captured_member_whose_role_is_partner():
    unlisted = Tenant(id=TENANT_B, tenantId=TENANT_B, name="B")
    ada = _person("ada@b.test")
    assistant = _person("cy@b.test", role="associate")
    off = _person("ben@b.test", captured=False)
    assert membership.partners(unlisted, [ada, assistant, off]) == [ada]


# --- every place asks the one rule (where the copies used to disagree) ---------------------------

async def _firm_of(store, *, listed: list[str]) -> dict[str, Person]:
    await store.put_tenant(Tenant(id=TENANT_B, tenantId=TENANT_B, name="B", domains=["b.test"], partners=listed))
    people = {
        "ada": _person("ada@b.test"),                    # a partner by any answer
        "cy": _person("cy@b.test", role="associate"),    # captured by default, not a partner by role
        "dee": _person("dee@b.test"),                    # captured, role partner, not on a list
        "off": _person("off@b.test", captured=False),    # recorded, not captured
    }
    for p in people.values():
        await store.put(p)
    return people


async def test_the_sync_safety_net_queues_only_partners(capture_store):
    from rapport.capture import sync

    people = await _firm_of(capture_store, listed=[])
    await sync.safety_net(capture_store)
    users = {w.payload["user"] for w in (await capture_store.find(WorkItem, TENANT_B, limit=100)).items
             if w.kind == sync.SYNC_WORK}
    # Before: every captured Person when the firm listed none (the associate's mailbox too).
    assert users == {people["ada"].oid, people["dee"].oid}


async def test_the_sync_work_item_skips_a_mailbox_the_firm_did_not_list(capture_store, monkeypatch):
    from rapport.capture import sync

    people = await _firm_of(capture_store, listed=["ada@b.test"])
    item = await sync.request_sync(capture_store, TENANT_B, people["dee"].oid, "messages")
    asked = []
    # A tripwire at the far end: before, a captured but unlisted mailbox was synced from its work item.
    monkeypatch.setattr(sync, "graph_client", lambda *a, **k: asked.append(a) or pytest.fail("Graph was asked"))
    await sync.run_sync_work(capture_store, item)
    assert asked == []


async def test_the_followup_timer_drafts_only_for_partners(capture_store):
    from datetime import UTC, datetime, timedelta

    from rapport import followups
    from rapport.records import Attendee

    people = await _firm_of(capture_store, listed=["ada@b.test", "off@b.test"])
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    for key in ("ada", "cy", "dee", "off"):
        oid = people[key].oid
        await capture_store.put(Meeting(
            id=Meeting.id_for(oid, "ev1"), tenantId=TENANT_B, eventId="ev1", organizerOid=oid, subject="Review",
            start=now - timedelta(hours=1), end=now - timedelta(minutes=10), contactIds=[contact_id(KNOWN)],
            attendees=[Attendee(email=KNOWN, name="Helena")]))
    report = await followups.timer_pass(capture_store, now, kick=False)
    owners = {w.payload["ownerOid"] for w in (await capture_store.find(WorkItem, TENANT_B, limit=100)).items
              if w.kind == followups.DRAFT_WORK}
    # Before: any recorded organiser (cy, dee and off too).
    assert owners == {people["ada"].oid} and report.queued == 1


async def test_the_preview_offers_only_partners(demo_pane, http):
    from local.demo import DEMO_TENANT_ID, demo_partner_upn

    gone = await demo_pane.store.person_by_upn(DEMO_TENANT_ID, demo_partner_upn(1))
    await demo_pane.store.update(Person, DEMO_TENANT_ID, gone.oid, lambda p: p.model_copy(update={"captured": False}))
    async with http.get(demo_pane.url("/dev/addin/token")) as r:
        assert r.status == 200, await r.text()
        offered = {p["upn"] for p in (await r.json())["partners"]}
    # Before: everyone whose role is "partner", captured or not.
    assert demo_partner_upn(0) in offered and gone.upn not in offered


async def test_both_cards_name_a_person_to_teams_the_same_way(tmp_path):
    """The follow-up card once fell back to the bare object id where the brief card used the MRI form
    (8:orgid:<oid>), which Teams matches; one rule now serves both refresh lists."""
    from rapport.briefs.delivery import user_ids_for
    from rapport.followups.cards import card_for
    from rapport.identity.membership import teams_user_id
    from rapport.records import Draft
    from rapport.settings import load_settings
    from rapport.store import make_store

    store = await make_store(load_settings({"RAPPORT_SQLITE_PATH": str(tmp_path / "t.db")})).open()
    try:
        tid = "11111111-1111-4111-8111-111111111111"
        owner = Person(id="a" * 8, tenantId=tid, oid="o-1", upn="ada@firm.example", name="Ada", delegates=["o-2"])
        talked = Person(id="o-2", tenantId=tid, oid="o-2", upn="dee@firm.example", name="Dee",
                        conversationRef={"user": {"id": "29:dee"}})
        owner.id = owner.oid
        await store.put(owner)
        await store.put(talked)
        draft = Draft(id="df_1", tenantId=tid, ownerOid="o-1", to=["x@client.example"], subject="s", body="b")
        card = await card_for(store, draft)
        assert card["refresh"]["userIds"] == ["8:orgid:o-1", "29:dee"]
        assert user_ids_for(owner) == ["8:orgid:o-1"] and user_ids_for(talked) == ["29:dee"]
        assert teams_user_id(None, "o-9") == "8:orgid:o-9"
    finally:
        await store.close()
