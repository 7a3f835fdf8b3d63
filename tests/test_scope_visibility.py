"""Owner visibility (private / team / firm) and walls, applied by ScopedStore to every family.

Issue 12, findings 2 and 3, reproduced through the real surfaces:
- a colleague's private meeting with a contact must not show in the sidebar (GET /api/addin/context
  over HTTP, the real function_app on the dev host);
- a colleague's private mail with a contact must not reach the follow-up drafting context
  (rapport.followups.build_context, the context handed to the drafter and so to the model);
- a walled account's enquiry or opportunity (they carry `accountId`, singular) is screened;
- a draft is seen by its owner and the owner's delegates only.
Each test also checks what the viewer MAY see does show, so it can fail both ways.
"""

from __future__ import annotations

import json
from datetime import timedelta

from rapport import followups
from rapport.records import (
    Account,
    Attendee,
    Contact,
    Draft,
    Enquiry,
    Interaction,
    Meeting,
    Opportunity,
    Owner,
    Person,
    Tenant,
    Wall,
    account_id,
    contact_id,
    utcnow,
)
from rapport.store import ScopedStore
from rapport.store.base import Store
from rapport.store.sqlite import SqliteBackend

TENANT = "5c0be000-0000-4000-8000-000000000012"
ANNA, CARL, DORA, ERIC = (f"5c0be000-aaaa-4000-8000-00000000000{i}" for i in range(1, 5))
JANE = "jane@acme.example"
ACME = account_id("acme.example")
HAL = account_id("halcyon.example")
PRIVATE_MEETING = "CANARY-PRIVATE-MEETING-2b"
PRIVATE_MAIL = "CANARY-PRIVATE-MAIL-3c"
WALLED_ENQUIRY = "CANARY-WALLED-ENQUIRY-4d"
WALLED_OPPORTUNITY = "CANARY-WALLED-OPP-5e"


def world(now) -> list:
    jane = contact_id(JANE)
    return [
        Tenant(id=TENANT, tenantId=TENANT, name="Scope & Co", domains=["scope.example"]),
        Person(id=ANNA, tenantId=TENANT, oid=ANNA, upn="anna@scope.example", name="Anna Weber", team="TM"),
        Person(id=CARL, tenantId=TENANT, oid=CARL, upn="carl@scope.example", name="Carl Roy", team="TM",
               delegates=[ERIC]),
        Person(id=DORA, tenantId=TENANT, oid=DORA, upn="dora@scope.example", name="Dora Lin", team="Lit"),
        Person(id=ERIC, tenantId=TENANT, oid=ERIC, upn="eric@scope.example", name="Eric Assistant", team="Lit"),
        Account.new(TENANT, "acme.example", name="Acme GmbH", kind="client"),
        Account.new(TENANT, "halcyon.example", name="Halcyon", kind="client"),
        Wall(id="wall-hal", tenantId=TENANT, accountIds=[HAL], screenedOids=[ANNA]),
        # Jane: Anna shares her relationship with the firm, Carl keeps his private.
        Contact.new(TENANT, JANE, name="Jane Roe", title="Head of IP", accountId=ACME,
                    owners=[Owner(oid=ANNA, name="Anna Weber", visibility="firm"),
                            Owner(oid=CARL, name="Carl Roy", visibility="private")]),
        Meeting(id="mt-carl", tenantId=TENANT, eventId="e-carl", organizerOid=CARL, subject=f"Carl {PRIVATE_MEETING}",
                start=now + timedelta(days=2), end=now + timedelta(days=2, hours=1),
                attendees=[Attendee(email=JANE, name="Jane Roe")], contactIds=[jane], accountIds=[ACME]),
        Meeting(id="mt-anna", tenantId=TENANT, eventId="e-anna", organizerOid=ANNA, subject="Anna portfolio review",
                start=now + timedelta(days=3), end=now + timedelta(days=3, hours=1),
                attendees=[Attendee(email=JANE, name="Jane Roe")], contactIds=[jane], accountIds=[ACME]),
        Interaction(id="ix-carl", tenantId=TENANT, channel="email", at=now - timedelta(days=1),
                    subject=f"Carl {PRIVATE_MAIL}", ownerOid=CARL, contactIds=[jane], accountIds=[ACME]),
        Interaction(id="ix-anna", tenantId=TENANT, channel="email", at=now - timedelta(days=2),
                    subject="Anna renewal question", ownerOid=ANNA, contactIds=[jane], accountIds=[ACME]),
        Enquiry(id="enq-hal", tenantId=TENANT, accountId=HAL, subject=f"Halcyon {WALLED_ENQUIRY}", ownerOid=CARL),
        Opportunity(id="opp-hal", tenantId=TENANT, accountId=HAL, title=f"Halcyon {WALLED_OPPORTUNITY}",
                    ownerOid=CARL),
        Enquiry(id="enq-acme", tenantId=TENANT, accountId=ACME, subject="Acme new filings", ownerOid=ANNA),
        Draft(id="dr-carl", tenantId=TENANT, ownerOid=CARL, accountIds=[ACME], subject="Carl's draft to Jane"),
    ]


async def seeded(path) -> Store:
    store = await Store(SqliteBackend(str(path))).open()
    await store.put_many(world(utcnow()))
    return store


# --- finding 2: private meetings in colleagues' sidebars (over HTTP) ------------------------------

async def test_a_colleagues_private_meeting_is_not_in_the_sidebar(demo_pane, http):
    await demo_pane.store.put_many(world(utcnow()))
    async with http.get(demo_pane.url("/api/addin/context"), params={"email": JANE},
                        headers=demo_pane.auth("anna@scope.example", tenant=TENANT, oid=ANNA)) as r:
        assert r.status == 200
        body = await r.json()
    text = json.dumps(body)
    assert body["status"] == "known"
    assert "Anna portfolio review" in text  # her own meeting shows
    assert PRIVATE_MEETING not in text  # Carl's private one does not
    assert PRIVATE_MAIL not in text
    assert int(r.headers["x-rapport-store-calls"]) <= 3
    # Carl sees his own meeting in the same sidebar.
    async with http.get(demo_pane.url("/api/addin/context"), params={"email": JANE},
                        headers=demo_pane.auth("carl@scope.example", tenant=TENANT, oid=CARL)) as r:
        assert PRIVATE_MEETING in json.dumps(await r.json())


# --- finding 3: private mail in the drafting context ----------------------------------------------

async def test_a_colleagues_private_mail_does_not_reach_the_drafting_context(tmp_path):
    store = await seeded(tmp_path / "f3.db")
    try:
        meeting = await store.get(Meeting, TENANT, "mt-anna")
        anna = await store.get_person(TENANT, ANNA)
        ctx, _ = await followups.build_context(store, meeting, anna, [JANE])
        assert "Anna renewal question" in ctx.recent_subjects
        assert not any(PRIVATE_MAIL in s for s in ctx.recent_subjects)
        assert PRIVATE_MAIL not in repr(ctx) and PRIVATE_MEETING not in repr(ctx)
        # Carl drafting his own follow-up sees his own mail.
        carl = await store.get_person(TENANT, CARL)
        ctx, _ = await followups.build_context(store, await store.get(Meeting, TENANT, "mt-carl"), carl, [JANE])
        assert any(PRIVATE_MAIL in s for s in ctx.recent_subjects)
    finally:
        await store.close()


# --- every family, through the scope --------------------------------------------------------------

async def test_every_family_is_screened_by_owner_visibility_and_walls(tmp_path):
    store = await seeded(tmp_path / "fam.db")
    try:
        now = utcnow()
        anna = ScopedStore(store, TENANT, ANNA)
        # Meetings: not Carl's private one, neither listed by contact nor read by id.
        listed = await anna.meetings_between(now, now + timedelta(days=7), mine=False, contact=contact_id(JANE))
        assert [m.id for m in listed] == ["mt-anna"]
        assert await anna.get(Meeting, "mt-carl") is None
        # Interactions: Anna's own only.
        page = await anna.interactions_for_contact(contact_id(JANE))
        assert [i.id for i in page.items] == ["ix-anna"]
        assert await anna.interaction_by_id("ix-carl") is None
        # Pipeline of a walled account (accountId, singular): not even by id.
        assert await anna.get(Enquiry, "enq-hal") is None
        assert await anna.get(Opportunity, "opp-hal") is None
        assert await anna.open_pipeline(HAL) == []
        assert [p.id for p in await anna.open_pipeline(ACME)] == ["enq-acme"]
        # Drafts: the owner and the owner's delegates only.
        assert await anna.draft("dr-carl") is None
        assert (await ScopedStore(store, TENANT, CARL).draft("dr-carl")) is not None
        assert (await ScopedStore(store, TENANT, ERIC).draft("dr-carl")) is not None
        # Dora is not walled from Halcyon: the pipeline shows; Carl's private records do not.
        dora = ScopedStore(store, TENANT, DORA)
        assert {p.id for p in await dora.open_pipeline(HAL)} == {"enq-hal", "opp-hal"}
        assert await dora.get(Meeting, "mt-carl") is None
        # Team: Carl's team-visible meeting shows to Anna (same team), not to Dora.
        c = await store.get(Contact, TENANT, contact_id(JANE))
        c.owners[1].visibility = "team"
        await store.put(c)
        assert await ScopedStore(store, TENANT, ANNA).get(Meeting, "mt-carl") is not None
        assert await ScopedStore(store, TENANT, DORA).get(Meeting, "mt-carl") is None
    finally:
        await store.close()
