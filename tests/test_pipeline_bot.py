"""The pipeline in Teams, over HTTP through the real bot (botbuilder, Bot Framework tokens from the
identity stand-in, the connector stand-in): "new enquiry from", "my pipeline", "mark X instructed",
and the enquiry card's verbs, acting only as the activity's user (another partner: 403/nothing)."""

from __future__ import annotations

from rapport.pipeline.cards import VERB_CONFLICTS, VERB_STAGE
from rapport.records import AuditEvent, Enquiry
from tests.test_followups import OTHER, OWNER, TENANT, settle
from tests.test_followups_e2e import Loop, loop  # noqa: F401 - `loop`: the fixture, used here


async def say(loop: Loop, text: str, oid: str = OWNER) -> str:  # noqa: F811
    before = len(loop.connector.sent)
    status, _ = await loop.post(loop.activity(text=text, oid=oid))
    assert status == 200
    return "\n".join(s.text or "" for s in loop.connector.sent[before:])


async def test_log_list_mark_and_card_verbs(loop: Loop):  # noqa: F811
    assert "Logged as an enquiry" in await say(loop, "new enquiry from Jane Roe <jane@newco.example>")
    assert "already has an open enquiry" in await say(loop, "new enquiry from jane@newco.example")
    assert "email address" in await say(loop, "new enquiry from somebody")
    [e] = [x for x in await loop.store.find_all(Enquiry, TENANT) if x.ownerOid == OWNER]
    assert (e.ownerOid, e.source, e.stage) == (OWNER, "manual", "enquiry")
    listing = await say(loop, "my pipeline")
    assert "Enquiry:" in listing and "Jane Roe" in listing
    # The card's verbs: conflicts cleared, then a stage; another partner cannot see or change it.
    status, body = await loop.post(loop.invoke(VERB_CONFLICTS, {"enquiryId": e.id}))
    assert status == 200 and body["statusCode"] == 200
    status, body = await loop.post(loop.invoke(VERB_STAGE, {"enquiryId": e.id, "stage": "proposal"}, oid=OTHER))
    assert body["statusCode"] in (403, 404)
    status, body = await loop.post(loop.invoke(VERB_STAGE, {"enquiryId": e.id, "stage": "proposal"}))
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    e = await loop.store.get(Enquiry, TENANT, e.id)
    assert e.stage == "proposal" and e.conflictsCleared and e.stageChanges[-1].byOid == OWNER
    assert "Marked instructed" in await say(loop, "mark jane instructed")
    assert (await loop.store.get(Enquiry, TENANT, e.id)).stage == "instructed"
    assert {a.action for a in await loop.store.find_all(AuditEvent, TENANT)} >= {
        "enquiry.logged", "enquiry.conflicts_cleared", "enquiry.stage"}
    assert "no open enquiries" in await say(loop, "my pipeline")
    await settle()
