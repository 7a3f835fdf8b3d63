"""One company's facts to that company only (issue 12, finding 4 and "What to build" 3).

A follow-up names a matter, enquiry or opportunity (and carries recent subjects and mail excerpts)
only when EVERY recipient belongs to that item's company: the contact's account, else the account of
the recipient's domain; an outsider with no known account is a company of their own (by domain, and
by address for free mail). With outsiders from several companies the default is one neutral draft to
all; "One draft per company" on its card makes one draft per company, each with that company's items.

Real store (SQLite), real drafting (the template drafter, and the LLM drafter through the openai
client against tests/doubles/openai_server.py, whose "normal" mode echoes the prompt's items into the
draft), the real work drain and the local outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rapport import followups, runtime, work
from rapport.cards.followup import VERB_APPROVE, VERB_SPLIT, companies_in, followup_card
from rapport.drafting import make_drafter
from rapport.followups import sending
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
    OutboxItem,
    Owner,
    Person,
    Tenant,
    account_id,
    contact_id,
    utcnow,
)
from rapport.settings import load_settings
from rapport.store.base import Store
from rapport.store.sqlite import SqliteBackend
from tests.doubles.openai_server import OpenAIStandIn
from tests.test_followups import card_texts, settle
from tests.test_followups_e2e import Loop, loop, mails, trigger  # noqa: F401 - `loop`: the e2e fixture, used here

TENANT = "aaaaaaaa-0000-4000-8000-00000000000a"
OWNER = "0a0a0a0a-1111-4222-8333-444444444444"


# --- a firm whose partner met people of several companies ------------------------------------------

@dataclass
class Company:
    """One company at the meeting. `kind`: "account" (an Account record, contacts, items),
    "free" (one person writing from free mail: no account), "unknown" (a domain the firm has no
    account or contact for)."""

    tag: str
    kind: str = "account"
    people: int = 1
    matters: int = 0
    enquiries: int = 0
    opportunities: int = 0
    other_domain: bool = False  # one more person at another domain, tied to the account by the contact

    @property
    def domain(self) -> str:
        return "gmail.com" if self.kind == "free" else f"{self.tag.lower()}.example"

    @property
    def emails(self) -> list[str]:
        out = [f"{self.tag.lower()}{i}@{self.domain}" for i in range(self.people)]
        if self.other_domain and self.kind == "account":
            out.append(f"{self.tag.lower()}-x@{self.tag.lower()}-holding.example")
        return out

    @property
    def account_id(self) -> str | None:
        return account_id(self.domain) if self.kind == "account" else None

    def item_canaries(self) -> list[str]:
        return ([f"CANARY-{self.tag}-MATTER-{i}" for i in range(self.matters)]
                + [f"CANARY-{self.tag}-ENQUIRY-{i}" for i in range(self.enquiries)]
                + [f"CANARY-{self.tag}-OPP-{i}" for i in range(self.opportunities)])

    def history_canaries(self) -> list[str]:
        return [f"CANARY-{self.tag}-SUBJECT", f"CANARY-{self.tag}-EXCERPT"] if self.kind != "unknown" else []

    def canaries(self) -> list[str]:
        return self.item_canaries() + self.history_canaries()


@dataclass
class Firm:
    store: Store
    meeting: Meeting
    companies: list[Company]
    company_of: dict[str, str] = field(default_factory=dict)  # recipient address -> company tag

    def canaries_of(self, tag: str) -> list[str]:
        return next(c for c in self.companies if c.tag == tag).canaries()

    def all_canaries(self) -> dict[str, str]:
        return {canary: c.tag for c in self.companies for canary in c.canaries()}


async def make_firm(store: Store, companies: list[Company], *, event: str = "ev-1") -> Firm:
    now = utcnow()
    await store.put_tenant(Tenant(id=TENANT, tenantId=TENANT, name="Firm A", domains=["firm.test"]))
    records: list = [Person(id=OWNER, tenantId=TENANT, oid=OWNER, upn="ada@firm.test", name="Ada Partner")]
    firm = Firm(store, None, companies)  # type: ignore[arg-type]
    attendees = [Attendee(email="ada@firm.test", name="Ada Partner")]
    for c in companies:
        acct = c.account_id
        if acct is not None:
            records.append(Account.new(TENANT, c.domain, name=f"{c.tag} GmbH", kind="client"))
        for i in range(c.matters):
            due = now + timedelta(days=30 + i)
            records.append(Matter(id=f"mt-{c.tag}-{i}", tenantId=TENANT, accountId=acct, title=f"CANARY-{c.tag}-MATTER-{i}",
                                  reference=f"REF-{c.tag}-{i}",
                                  **({"oppositionDeadline": due} if i % 2 == 0 else {"renewalDate": due})))
        for i in range(c.enquiries):
            records.append(Enquiry(id=f"enq-{c.tag}-{i}", tenantId=TENANT, accountId=acct,
                                   subject=f"CANARY-{c.tag}-ENQUIRY-{i}"))
        for i in range(c.opportunities):
            records.append(Opportunity(id=f"opp-{c.tag}-{i}", tenantId=TENANT, accountId=acct,
                                       title=f"CANARY-{c.tag}-OPP-{i}", stage="pitching"))
        for email in c.emails:
            firm.company_of[email] = c.tag
            attendees.append(Attendee(email=email, name=f"{c.tag.title()} Person"))
            if c.kind == "unknown":
                continue
            records.append(Contact.new(TENANT, email, name=f"{c.tag.title()} Person", accountId=acct,
                                       owners=[Owner(oid=OWNER, name="Ada Partner")]))
            records.append(Interaction(
                id=Interaction.id_for("graph", f"m-{email}"), tenantId=TENANT, channel="email",
                at=now - timedelta(days=2), subject=f"CANARY-{c.tag}-SUBJECT", ownerOid=OWNER,
                contactIds=[contact_id(email)], accountIds=[acct] if acct else [],
                excerpt=f"Thanks for the call. CANARY-{c.tag}-EXCERPT"))
    await store.put_many(records)
    end = now - timedelta(hours=1)
    emails = [e for c in companies for e in c.emails]
    firm.meeting = Meeting(
        id=Meeting.id_for(OWNER, event), tenantId=TENANT, eventId=event, organizerOid=OWNER,
        organizerEmail="ada@firm.test", subject="Quarterly catch-up", start=end - timedelta(hours=1), end=end,
        attendees=attendees, contactIds=[contact_id(e) for e in emails if firm.company_of[e]],
        accountIds=[c.account_id for c in companies if c.account_id])
    await store.put(firm.meeting)
    return firm


def leaks(firm: Firm, draft_to: list[str], texts: list[str]) -> list[str]:
    """Canaries in `texts` of a company that is not every recipient's company."""
    found = []
    companies_of_recipients = {firm.company_of[a] for a in draft_to}
    for canary, tag in firm.all_canaries().items():
        if any(canary in t for t in texts) and companies_of_recipients != {tag}:
            found.append(canary)
    return found


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[Store]:
    path = str(tmp_path / "c.db")
    s = await Store(SqliteBackend(path)).open()
    config = load_settings({"RAPPORT_SQLITE_PATH": path})
    with runtime.override(settings=config, store=s, drafter=make_drafter(config),
                          mail_transport=sending.LocalOutboxTransport(), send_limiter=sending.RateLimiter()):
        try:
            yield s
        finally:
            await settle()
            await s.close()


# --- finding 4: a client's deadline and a prospect's enquiry went to both ----------------------------

async def test_client_and_prospect_in_one_meeting_get_neither_companys_items(store):
    client = Company("ACME", matters=1)  # an opposition deadline
    prospect = Company("BETA", enquiries=1)
    firm = await make_firm(store, [client, prospect])
    d = await followups.draft_for_meeting(store, TENANT, firm.meeting.id, OWNER)
    assert d is not None and sorted(d.to) == sorted(client.emails + prospect.emails)
    assert leaks(firm, d.to, [d.subject, d.body]) == []
    assert "CANARY" not in d.subject + d.body


async def test_single_company_meeting_keeps_its_items_and_history(store):
    acme = Company("ACME", people=2, matters=1, enquiries=1, opportunities=1, other_domain=True)
    firm = await make_firm(store, [acme])
    d = await followups.draft_for_meeting(store, TENANT, firm.meeting.id, OWNER)
    assert d is not None and len(d.to) == 3 and companies_in(d) == 0
    for canary in acme.item_canaries():
        assert canary in d.body  # one company: its matters are named, as before
    card = await followups.card_for(store, d)
    assert "companies" not in " ".join(card_texts(card))
    assert VERB_SPLIT not in [a["verb"] for a in card["actions"]]


async def test_free_mail_attendees_are_each_a_company_of_their_own(store):
    # Two people writing from gmail.com say nothing about one employer: two companies, not one.
    firm = await make_firm(store, [Company("GAMMA", kind="free"), Company("DELTA", kind="free")])
    d = await followups.draft_for_meeting(store, TENANT, firm.meeting.id, OWNER)
    assert d is not None and companies_in(d) == 2
    # and an unknown domain's people are one company (by domain), next to a known one
    firm2 = await make_firm(store, [Company("ACME", matters=1), Company("OMEGA", kind="unknown", people=2)],
                            event="ev-2")
    d2 = await followups.draft_for_meeting(store, TENANT, firm2.meeting.id, OWNER)
    assert d2 is not None and companies_in(d2) == 2 and "CANARY" not in d2.body


async def test_neutral_card_offers_one_draft_per_company_and_split_makes_each_once(store):
    acme, beta = Company("ACME", people=2, matters=2), Company("BETA", enquiries=1, opportunities=1)
    firm = await make_firm(store, [acme, beta])
    d = await followups.draft_for_meeting(store, TENANT, firm.meeting.id, OWNER)
    await work.drain(store)  # its card went to the partner
    card = await followups.card_for(store, d)
    assert "Attendees from 2 companies: this draft mentions no company's matters." in card_texts(card)
    verbs = [a["verb"] for a in card["actions"]]
    assert verbs[:2] == [VERB_APPROVE, VERB_SPLIT] and len(verbs) == 6
    # a double click and a retry: one transition, the same two company drafts
    outs = await asyncio.gather(*(followups.split(store, TENANT, OWNER, d.id, 1) for _ in range(3)))
    assert sorted(o.status for o in outs) == ["already", "already", "ok"]
    assert (await followups.split(store, TENANT, OWNER, d.id, 1)).status == "already"
    await settle()
    await work.drain(store)
    replaced = await store.get(Draft, TENANT, d.id)
    assert replaced.state == "superseded"
    shown = followup_card(replaced, owner_name="Ada Partner", now=utcnow())
    assert "Replaced by one draft per company" in " ".join(card_texts(shown)) and "actions" not in shown
    drafts = [x for x in (await store.find(Draft, TENANT, key=f"meeting:{firm.meeting.id}")).items if x.id != d.id]
    assert sorted(sorted(x.to) for x in drafts) == sorted([sorted(acme.emails), sorted(beta.emails)])
    for x in drafts:
        own = acme if set(x.to) == set(acme.emails) else beta
        assert x.state == "drafted" and companies_in(x) == 0
        assert all(c in x.body for c in own.item_canaries()) and leaks(firm, x.to, [x.subject, x.body]) == []
    # the replaced draft can no longer be approved; only the company drafts can
    assert (await followups.approve(store, TENANT, OWNER, d.id, 1)).status == "bad_state"
    # each company draft's card went to the partner, once
    cards = [i for i in (await store.find(OutboxItem, TENANT, limit=100)).items if i.channel == "teams"]
    ids = [c.card["actions"][0]["data"]["draftId"] for c in cards if c.card.get("actions")]
    assert sorted(ids) == sorted([d.id, *(x.id for x in drafts)])


async def test_a_split_cut_short_finishes_when_its_card_is_refreshed(store):
    firm = await make_firm(store, [Company("ACME", matters=1), Company("BETA", enquiries=1)])
    d = await followups.draft_for_meeting(store, TENANT, firm.meeting.id, OWNER)

    def superseded_only(x: Draft) -> Draft:  # the split's first step, then the process died
        x.state = "superseded"
        return x

    await store.update(Draft, TENANT, d.id, superseded_only)
    await work.drain(store)
    assert len((await store.find(Draft, TENANT, key=f"meeting:{firm.meeting.id}")).items) == 1
    for _ in range(2):
        out = await followups.view(store, TENANT, OWNER, d.id)  # the card's refresh
        assert out.status == "ok" and out.draft.state == "superseded"
        await settle()
        await work.drain(store)
    drafts = (await store.find(Draft, TENANT, key=f"meeting:{firm.meeting.id}")).items
    assert len(drafts) == 3 and sorted(x.state for x in drafts) == ["drafted", "drafted", "superseded"]


async def test_split_is_refused_for_one_company_and_after_approval(store):
    firm = await make_firm(store, [Company("ACME", matters=1)])
    d = await followups.draft_for_meeting(store, TENANT, firm.meeting.id, OWNER)
    assert (await followups.split(store, TENANT, OWNER, d.id, 1)).status == "bad_state"
    firm2 = await make_firm(store, [Company("ACME", matters=1), Company("BETA")], event="ev-2")
    d2 = await followups.draft_for_meeting(store, TENANT, firm2.meeting.id, OWNER)
    assert (await followups.approve(store, TENANT, OWNER, d2.id, 1)).status == "ok"
    assert (await followups.split(store, TENANT, OWNER, d2.id, 1)).status == "bad_state"
    d3 = await followups.draft_for_meeting(store, TENANT, (await make_firm(
        store, [Company("ACME"), Company("BETA")], event="ev-3")).meeting.id, OWNER)
    colleague = "0e0e0e0e-1111-4222-8333-444444444444"  # not the owner, nor a delegate
    assert (await followups.split(store, TENANT, colleague, d3.id, 1)).status == "not_found"  # a colleague's draft does not exist for them (scope)
    assert (await followups.split(store, TENANT, OWNER, d3.id, 7)).status == "stale"
    assert (await store.get(Draft, TENANT, d3.id)).state == "drafted"
    await settle()


# --- the property: generated meetings, both drafters ---------------------------------------------------

TAGS = ("ACME", "BETA", "GAMMA", "DELTA")


@st.composite
def meetings(draw) -> list[Company]:
    n = draw(st.integers(1, 4))
    out = []
    for tag in TAGS[:n]:
        kind = draw(st.sampled_from(["account", "account", "account", "free", "unknown"]))
        if kind == "account":
            out.append(Company(tag, people=draw(st.integers(1, 2)), matters=draw(st.integers(0, 2)),
                               enquiries=draw(st.integers(0, 2)), opportunities=draw(st.integers(0, 2)),
                               other_domain=draw(st.booleans())))
        else:
            out.append(Company(tag, kind=kind, people=1 if kind == "free" else draw(st.integers(1, 2))))
    return out


def _companies_named(prompt: str, companies: list[Company]) -> set[str]:
    """The companies whose people a prompt names as attendees (every recipient is an attendee)."""
    return {c.tag for c in companies if f"{c.tag.title()} Person" in prompt}


def _check_prompts(firm: Firm, prompts: list[str]) -> None:
    for prompt in prompts:
        present = _companies_named(prompt, firm.companies)
        for canary, tag in firm.all_canaries().items():
            assert canary not in prompt or present == {tag}, (canary, present)


async def scenario(companies: list[Company], drafter: str) -> None:
    store = await Store(SqliteBackend(":memory:")).open()
    llm = OpenAIStandIn(mode="normal") if drafter == "llm" else None
    services = contextlib.ExitStack()
    try:
        if llm is not None:
            await llm.start()
            services.enter_context(runtime.override(drafter=make_drafter(load_settings(llm.settings_env()), timeout=5.0)))
        else:
            services.enter_context(runtime.override(drafter=make_drafter(load_settings({}))))
        firm = await make_firm(store, companies)
        d = await followups.draft_for_meeting(store, TENANT, firm.meeting.id, OWNER)
        assert d is not None and sorted(d.to) == sorted(firm.company_of)
        assert leaks(firm, d.to, [d.subject, d.body]) == []
        if llm is not None:
            _check_prompts(firm, llm.prompts)
        if len(companies) == 1:
            assert companies_in(d) == 0
            assert all(c in d.body for c in companies[0].item_canaries())  # the one company's items stay
            return
        assert companies_in(d) == len(companies)
        asked = len(llm.requests) if llm else 0
        assert (await followups.split(store, TENANT, OWNER, d.id, 1)).status == "ok"
        await settle()
        await work.drain(store)
        drafts = [x for x in (await store.find(Draft, TENANT, key=f"meeting:{firm.meeting.id}")).items
                  if x.id != d.id]
        assert len(drafts) == len(companies)
        for x in drafts:
            tags = {firm.company_of[a] for a in x.to}
            assert len(tags) == 1
            own = next(c for c in companies if c.tag in tags)
            assert sorted(x.to) == sorted(own.emails)
            assert leaks(firm, x.to, [x.subject, x.body]) == []
            assert all(c in x.body for c in own.item_canaries())  # its own company's items, every one
        if llm is not None:
            new = llm.prompts[asked:]
            _check_prompts(firm, new)
            for c in companies:  # each company's own history reached its own prompt
                for canary in c.history_canaries():
                    assert any(canary in p for p in new), canary
    finally:
        await settle()
        services.close()
        if llm is not None:
            await llm.stop()
        await store.close()


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(meetings())
def test_no_draft_or_prompt_carries_another_companys_items_template(companies):
    asyncio.run(scenario(companies, "template"))


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(meetings())
def test_no_draft_or_prompt_carries_another_companys_items_llm(companies):
    asyncio.run(scenario(companies, "llm"))


# --- end to end: the split verb through the bot over HTTP ---------------------------------------------

async def test_split_over_http_gives_one_card_per_company_each_sent_once(loop: Loop):  # noqa: F811 - the fixture
    from tests.test_followups import ACME, meeting_for

    s = loop.store
    beta = account_id("beta.example")
    await s.put_many([
        Account.new(TENANT, "beta.example", name="Beta Ltd", kind="prospect"),
        Contact.new(TENANT, "pat@beta.example", name="Pat Roe", accountId=beta),
        Enquiry(id="enq-beta", tenantId=TENANT, accountId=beta, subject="CANARY-BETA-ENQUIRY"),
        Matter(id="mt-acme", tenantId=TENANT, accountId=ACME, title="CANARY-ACME-OPPOSITION",
               oppositionDeadline=utcnow() + timedelta(days=20)),
    ])
    await loop.post(loop.activity())  # the partner's chat, for proactive cards
    meeting = meeting_for(TENANT, OWNER, utcnow() - timedelta(hours=1), event="e2e-split",
                          emails=("jane@acme.example", "pat@beta.example"))
    await s.put(meeting)
    await trigger("followups_timer")(type("T", (), {"past_due": False})())
    await settle()
    await work.drain(s)
    (method, card), = loop.cards()
    texts = " ".join(card_texts(card))
    assert "Attendees from 2 companies" in texts and "CANARY" not in texts
    split = next(a for a in card["actions"] if a["verb"] == VERB_SPLIT)

    status, body = await loop.post(loop.invoke(VERB_SPLIT, split["data"]))
    assert status == 200 and body["statusCode"] == 200, body
    assert "Replaced by one draft per company" in " ".join(card_texts(body["value"]))
    assert "actions" not in body["value"]
    status, again = await loop.post(loop.invoke(VERB_SPLIT, split["data"]))  # a double click
    assert again["statusCode"] == 200 and "actions" not in again["value"]
    await settle()
    await work.drain(s)
    new = [(m, c) for m, c in loop.cards()[1:] if m == "POST"]
    assert len(new) == 2
    by_company = {}
    for _, c in new:
        shown = " ".join(card_texts(c))
        to = "jane@acme.example" if "jane@acme.example" in shown else "pat@beta.example"
        assert ("pat@beta.example" in shown) != ("jane@acme.example" in shown)  # one company's people each
        own, other = (("CANARY-ACME", "CANARY-BETA") if to.endswith("acme.example")
                      else ("CANARY-BETA", "CANARY-ACME"))
        assert own in shown and other not in shown
        by_company[to] = next(a for a in c["actions"] if a["verb"] == VERB_APPROVE)["data"]
    for data in by_company.values():
        for _ in range(2):  # approved twice: sent once
            status, body = await loop.post(loop.invoke(VERB_APPROVE, data))
            assert body["statusCode"] == 200
    # the replaced draft cannot be sent
    status, body = await loop.post(loop.invoke(VERB_APPROVE, split["data"]))
    assert "Replaced by one draft per company" in " ".join(card_texts(body["value"]))
    await settle()
    await work.drain(s)
    sent = await mails(loop)
    assert len(sent) == 2
    recipients = sorted(tuple(getattr(m, "to", None) or _graph_to(m)) for m in sent)
    assert recipients == [("jane@acme.example",), ("pat@beta.example",)]
    for data in by_company.values():
        assert (await s.get(Draft, TENANT, data["draftId"])).state == "sent"
    assert (await s.get(Draft, TENANT, split["data"]["draftId"])).state == "superseded"


def _graph_to(message: Any) -> list[str]:
    return [r["emailAddress"]["address"] for r in message.get("toRecipients", [])]
