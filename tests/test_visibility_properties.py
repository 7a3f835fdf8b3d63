"""Property test (issue 12, "What to build" 2): no read path returns a record its viewer may not see.

Hypothesis generates a firm (a viewer, a teammate, a colleague in another team who may have named
the viewer a delegate), contacts with owners and visibilities, walls screening the viewer, and
records of every family (mail and notes, meetings, drafts, enquiries, opportunities, signals,
matters, accounts), each with its own canary string. An independent model of the rule decides which
canaries the viewer may see. Then every surface is read as the viewer:
- the sidebar and the brief over HTTP (function_app's triggers on the dev host, dev tokens);
- the bot's "brief <company>" and "my follow-ups" text commands (POST /api/messages through the
  trigger, Bot Framework tokens from the identity stand-in, replies caught by the connector
  stand-in), and the follow-up and brief cards' refresh verbs invoked the same way;
- rapport.briefs.build, the follow-up drafting context (rapport.followups.build_context);
- every read of ScopedStore, by id and by list.
A canary the viewer may not see must appear in none of them; every canary the viewer may see must
appear in at least one (so the test fails both ways). All examples share one store and host: each
uses its own ids and addresses, and only its own canaries are searched for.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from local.host import DevHost
from rapport import briefs, followups, runtime
from rapport.identity import dev as devauth
from rapport.identity.keys import KeySet
from rapport.records import (
    Account,
    Attendee,
    Contact,
    Draft,
    Enquiry,
    Interaction,
    Matter,
    Meeting,
    Opportunity,
    Owner,
    Person,
    Signal,
    Tenant,
    Wall,
    account_id,
    contact_id,
    utcnow,
)
from rapport.store import ScopedStore, Store, make_store
from tests.doubles.connector import ConnectorServer
from tests.doubles.identity_server import IdentityServer
from tests.plugins.identity import TENANT_A
from tests.test_bot_auth import PARTNER_OID, BotWorld, bot_settings

TENANT = TENANT_A
VIEWER, TEAMMATE, COLLEAGUE = PARTNER_OID, "0a0a0a0a-2222-4222-8333-444444444444", "0a0a0a0a-3333-4222-8333-444444444444"
TEAMS = {VIEWER: "london", TEAMMATE: "london", COLLEAGUE: "munich"}
PARTNERS = [VIEWER, TEAMMATE, COLLEAGUE]
FIRM_DOMAIN = "a.test"
_examples = itertools.count()


# --- the independent model of the rule -----------------------------------------------------------

def lets_see(oid: str, visibility: str) -> bool:
    return oid == VIEWER or visibility == "firm" or (visibility == "team" and TEAMS[oid] == TEAMS[VIEWER])


@dataclass
class Model:
    owners: list[list[tuple[str, str]]]  # per contact: (owner oid, visibility)
    domains: list[int]  # per contact: its account index
    walled: set[int]  # account indexes the viewer is walled from

    def contact_full(self, c: int) -> bool:
        return not self.owners[c] or any(lets_see(o, v) for o, v in self.owners[c])

    def contact_walled(self, c: int) -> bool:
        return self.domains[c] in self.walled

    def record(self, owner: str | None, contacts: list[int], accounts: list[int]) -> bool:
        if any(a in self.walled for a in accounts) or any(self.contact_walled(c) for c in contacts):
            return False
        if owner == VIEWER:
            return True
        for c in contacts:
            entry = next((v for o, v in self.owners[c] if o == owner), None) if owner else None
            if not (lets_see(owner, entry) if entry is not None else self.contact_full(c)):
                return False
        return True


# --- the generated world -------------------------------------------------------------------------

partner = st.sampled_from(PARTNERS)
owners = st.lists(st.tuples(partner, st.sampled_from(["private", "team", "firm"])), max_size=3,
                  unique_by=lambda t: t[0])
worlds = st.integers(1, 3).flatmap(lambda n: st.fixed_dictionaries({
    "owners": st.lists(owners, min_size=n, max_size=n),
    "domains": st.lists(st.integers(0, 1), min_size=n, max_size=n),
    "webmail": st.lists(st.booleans(), min_size=n, max_size=n),  # filed under an account not its domain's
    "walled": st.sets(st.integers(0, 1), max_size=2),
    "delegate": st.booleans(),
    "mail": st.lists(st.tuples(partner, st.integers(0, n - 1), st.sampled_from(["email", "note", "meeting"])),
                     max_size=6),
    "meetings": st.lists(st.tuples(partner, st.sets(st.integers(0, n - 1), min_size=1)), max_size=4),
    "enquiries": st.lists(st.tuples(st.one_of(st.none(), partner), st.integers(0, 1),
                                    st.one_of(st.none(), st.integers(0, n - 1))), max_size=3),
    "opportunities": st.lists(st.tuples(st.one_of(st.none(), partner), st.integers(0, 1)), max_size=2),
    "drafts": st.lists(st.tuples(st.sampled_from([VIEWER, COLLEAGUE, TEAMMATE]), st.integers(0, 1)), max_size=3),
    "signals": st.sets(st.integers(0, n - 1)),
}))


def build(w: dict[str, Any], ex: int) -> tuple[list[Any], dict[str, bool], dict[str, Any]]:
    """(records, canary -> may the viewer see it, handles) for one example."""
    now = utcnow()
    model = Model(w["owners"], w["domains"], w["walled"])
    counter = itertools.count()
    expected: dict[str, bool] = {}

    def canary(visible: bool) -> str:
        c = f"CNY{ex}x{next(counter)}Q"
        expected[c] = visible
        return c

    domains = [f"d{j}-ex{ex}.test" for j in range(2)]
    accts = [account_id(d) for d in domains]
    emails = [f"p{i}@{f'mail{i}-ex{ex}.test' if w['webmail'][i] else domains[d]}" for i, d in enumerate(w["domains"])]
    cids = [contact_id(e) for e in emails]
    names = {VIEWER: "Ada Partner", TEAMMATE: "Tom Mate", COLLEAGUE: "Cleo Lleague"}
    recs: list[Any] = [
        Tenant(id=TENANT, tenantId=TENANT, name="Firm A", domains=[FIRM_DOMAIN]),
        *[Person(id=o, tenantId=TENANT, oid=o, upn=f"{names[o].split()[0].lower()}@{FIRM_DOMAIN}", name=names[o],
                 team=TEAMS[o], delegates=[VIEWER] if o == COLLEAGUE and w["delegate"] else []) for o in PARTNERS],
        Wall(id=f"wall-{ex}", tenantId=TENANT, accountIds=[accts[j] for j in w["walled"]], screenedOids=[VIEWER]),
    ]
    for j, d in enumerate(domains):
        visible = j not in w["walled"]
        recs.append(Account.new(TENANT, d, name=f"Acct {canary(visible)}", kind="client"))
        recs.append(Matter(id=f"mat-{ex}-{j}", tenantId=TENANT, accountId=accts[j], title=f"Matter {canary(visible)}",
                           reference=f"R{ex}{j}", renewalDate=now + timedelta(days=20)))
    for i, e in enumerate(emails):
        full = not model.contact_walled(i) and model.contact_full(i)
        recs.append(Contact.new(TENANT, e, name=f"Person {i}", title=f"Title {canary(full)}",
                                accountId=accts[w["domains"][i]],
                                owners=[Owner(oid=o, name=names[o], visibility=v) for o, v in w["owners"][i]]))
    for k, (owner, c, channel) in enumerate(w["mail"]):
        ok = model.record(owner, [c], [w["domains"][c]])
        recs.append(Interaction(id=f"ix-{ex}-{k}", tenantId=TENANT, channel=channel, at=now - timedelta(days=1 + k),
                                subject=f"Mail {canary(ok)}", text=f"Note {canary(ok)}" if channel == "note" else None,
                                ownerOid=owner, contactIds=[cids[c]], accountIds=[accts[w["domains"][c]]]))
    for k, (organizer, cs) in enumerate(w["meetings"]):
        cs = sorted(cs)
        ok = model.record(organizer, cs, [w["domains"][c] for c in cs])
        recs.append(Meeting(
            id=f"mt-{ex}-{k}", tenantId=TENANT, eventId=f"ev{ex}x{k}", organizerOid=organizer,
            subject=f"Meeting {canary(ok)}", start=now + timedelta(days=1, hours=k),
            end=now + timedelta(days=1, hours=k + 1), attendees=[Attendee(email=emails[c]) for c in cs],
            contactIds=[cids[c] for c in cs], accountIds=list(dict.fromkeys(accts[w["domains"][c]] for c in cs))))
    for k, (owner, j, c) in enumerate(w["enquiries"]):
        ok = model.record(owner, [c] if c is not None else [], [j])
        recs.append(Enquiry(id=f"enq-{ex}-{k}", tenantId=TENANT, accountId=accts[j], ownerOid=owner,
                            contactId=cids[c] if c is not None else None, subject=f"Enquiry {canary(ok)}",
                            receivedAt=now - timedelta(days=k)))
    for k, (owner, j) in enumerate(w["opportunities"]):
        ok = model.record(owner, [], [j])
        recs.append(Opportunity(id=f"opp-{ex}-{k}", tenantId=TENANT, accountId=accts[j], ownerOid=owner,
                                title=f"Opportunity {canary(ok)}", stage="proposal"))
    for i in w["signals"]:
        ok = model.record(None, [i], [w["domains"][i]])
        recs.append(Signal(id=f"sg-{ex}-{i}", tenantId=TENANT, contactId=cids[i], accountIds=[accts[w["domains"][i]]],
                           summary=f"Signal {canary(ok)}", at=now - timedelta(days=2)))
    # The viewer's own meetings with everyone: one coming (the brief), one just ended (the follow-up).
    every = list(range(len(emails)))
    own_ok = model.record(VIEWER, every, [w["domains"][c] for c in every])
    coming = Meeting(id=Meeting.id_for(VIEWER, f"own{ex}"), tenantId=TENANT, eventId=f"own{ex}", organizerOid=VIEWER,
                     subject=f"Own {canary(own_ok)}", start=now + timedelta(hours=3), end=now + timedelta(hours=4),
                     attendees=[Attendee(email=e) for e in emails], contactIds=cids,
                     accountIds=list(dict.fromkeys(accts[d] for d in w["domains"])))
    ended = coming.model_copy(update={"id": f"past-{ex}", "eventId": f"past{ex}", "subject": f"Past {canary(own_ok)}",
                                      "start": now - timedelta(hours=2), "end": now - timedelta(hours=1)})
    recs += [coming, ended]
    drafts: list[tuple[str, bool]] = []
    for k, (owner, j) in enumerate(w["drafts"]):
        ok = j not in w["walled"] and (owner == VIEWER or (owner == COLLEAGUE and w["delegate"]))
        drafts.append((canary(ok), ok))
        recs.append(Draft(id=f"dr-{ex}-{k}", tenantId=TENANT, ownerOid=owner, meetingId=ended.id if owner == VIEWER
                          else None, accountIds=[accts[j]], to=[emails[0]], subject=f"Draft {drafts[-1][0]}",
                          body=f"Body {canary(ok)}"))
    own = next(c for c in expected if coming.subject.endswith(c))
    return recs, expected, {"emails": emails, "cids": cids, "accts": accts, "coming": coming, "ended": ended,
                            "drafts": drafts, "own": (own, own_ok), "webmail": w["webmail"]}


# --- the surfaces --------------------------------------------------------------------------------

@dataclass
class Surfaces:
    bot: BotWorld
    host: DevHost
    http: Any

    def dev_token(self) -> str:
        return devauth.mint_dev_token(self.bot.settings, TENANT, VIEWER, name="Ada Partner", upn=f"ada@{FIRM_DOMAIN}")


@pytest.fixture
async def surfaces(identity_server: IdentityServer, tmp_path) -> AsyncIterator[Surfaces]:
    import aiohttp

    connector = await ConnectorServer().start()
    settings = bot_settings(identity_server, tmp_path, RAPPORT_DEV_AUTH="1")
    store = make_store(settings)
    await store.open()
    try:
        with runtime.override(bot_keys=KeySet(settings.bot_openid_metadata)):
            host = await DevHost(settings, store=store).start()
            try:
                async with aiohttp.ClientSession() as http:
                    yield Surfaces(BotWorld(settings, identity_server, connector, store, [0.0]), host, http)
            finally:
                await host.stop()
    finally:
        await connector.stop()
        await store.close()


def dump(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "model_dump_json"):
        return value.model_dump_json()
    if isinstance(value, list | tuple):
        return " ".join(dump(v) for v in value)
    if isinstance(value, dict | str | int | float | bool):
        return json.dumps(value, default=str)
    return repr(value)


async def every_output(s: Surfaces, store: Store, h: dict[str, Any], ex: int) -> dict[str, str]:
    out: dict[str, str] = {}
    auth = {"Authorization": f"Bearer {s.dev_token()}"}
    for e, webmail in zip(h["emails"], h["webmail"], strict=True):
        async with s.http.get(s.host.base_url + "/api/addin/context", params={"email": e}, headers=auth) as r:
            assert r.status == 200, await r.text()
            # The sidebar's budget; a contact filed under another account than its domain's costs one
            # more batch (that account's dates and pipeline) and so possibly one more rule trip.
            assert int(r.headers["x-rapport-store-calls"]) <= (4 if webmail else 3)
            out[f"sidebar {e}"] = await r.text()
    async with s.http.get(s.host.base_url + "/api/addin/brief", params={"eventId": h["coming"].eventId},
                          headers=auth) as r:
        assert r.status in (200, 404)
        out["brief http"] = await r.text()
    now = utcnow()
    out["briefs.build"] = dump(await briefs.build(ScopedStore(store, TENANT, VIEWER), h["coming"].id, now))
    me = await store.get_person(TENANT, VIEWER)
    tenant = await store.get_tenant(TENANT)
    # As rapport.followups.draft_for_meeting does: no context at all for a meeting the partner may not see.
    if await ScopedStore(store, TENANT, VIEWER).get(Meeting, h["ended"].id) is not None:
        ctx, _ = await followups.build_context(store, h["ended"], me,
                                               followups.recipients_for(h["ended"], tenant, me))
        out["drafting context"] = repr(ctx)
    # The bot's text commands (the connector stand-in catches every reply) and the card refresh.
    sent_before = len(s.bot.connector.sent)
    for text in (f"brief ex{ex}.test", "my follow-ups"):
        resp = await s.bot.post(s.bot.activity(text=text))
        assert resp.status_code in (200, 201, 202), resp.status_code
    out["bot"] = json.dumps([x.activity for x in s.bot.connector.sent[sent_before:]])
    # Card refreshes: the follow-up card's and the brief card's refresh verbs, invoked through the
    # bot's trigger as Teams would (the answer carries the refreshed card).
    invokes = [("followup.refresh", {"draftId": f"dr-{ex}-{k}", "version": 1}) for k in range(3)]
    invokes.append(("refreshBrief", {"meetingId": h["coming"].id}))
    answers = []
    for verb, data in invokes:
        resp = await s.bot.post(s.bot.activity(kind="invoke", name="adaptiveCard/action", text=None, value={
            "action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}))
        assert resp.status_code == 200, resp.status_code
        answers.append(resp.get_body().decode())
    out["card refresh"] = " ".join(answers)
    # Every read of the scope.
    scoped = ScopedStore(store, TENANT, VIEWER)
    reads: list[Any] = []
    for cid in h["cids"]:
        reads += [await scoped.contact(cid), await scoped.interactions_for_contact(cid, limit=50),
                  await scoped.signals_for_contact(cid),
                  await scoped.meetings_between(now - timedelta(days=1), now + timedelta(days=9), mine=False,
                                                contact=cid)]
    for a in h["accts"]:
        reads += [await scoped.account(a), await scoped.matters_of_account(a), await scoped.open_pipeline(a)]
    for rec in (await store.read_many(TENANT, [Read(cls, every=True) for cls in FAMILIES])):
        for r in rec:
            if f"-{ex}-" in r.id or r.id in (h["coming"].id, h["ended"].id):
                reads.append(await ScopedStore(store, TENANT, VIEWER).get(type(r), r.id))
    reads.append(await scoped.my_drafts("drafted"))
    reads.append(await scoped.meetings_between(now - timedelta(days=1), now + timedelta(days=9)))
    out["scope"] = " ".join(dump(getattr(r, "items", r)) if not hasattr(r, "known_to") else
                            f"{dump(r.contact)} {r.known_to}" for r in reads)
    return out


from rapport.store.base import Read  # noqa: E402

FAMILIES = [Interaction, Meeting, Draft, Enquiry, Opportunity, Signal, Matter, Account]


@given(world=worlds)
@hsettings(max_examples=25, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
async def test_no_surface_returns_a_record_its_viewer_may_not_see(surfaces, world):
    ex = next(_examples)
    store = surfaces.bot.store
    records, expected, handles = build(world, ex)
    await store.put_many(records)
    outputs = await every_output(surfaces, store, handles, ex)
    for where, text in outputs.items():
        leaked = [c for c, ok in expected.items() if not ok and c in text]
        assert not leaked, (where, leaked)
    # The surfaces do show what the viewer may see: the brief of their own meeting over HTTP and in the
    # bot, their drafts' cards on refresh.
    own, own_ok = handles["own"]
    assert (own in outputs["brief http"]) == own_ok and (own in outputs["bot"]) == own_ok
    for c, ok in handles["drafts"]:
        assert (c in outputs["card refresh"]) == ok, c
    everything = " ".join(outputs.values())
    missing = [c for c, ok in expected.items() if ok and c not in everything]
    assert not missing, missing
