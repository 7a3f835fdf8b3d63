"""The pipeline in Teams, over HTTP through the real bot (botbuilder, Bot Framework tokens from the
identity stand-in, the connector stand-in): "new enquiry from", "my pipeline", "mark X instructed",
"called NAME or EMAIL", and the enquiry card's verbs (the stage, conflicts, "Log a call", "Merge into
one"), acting only as the activity's user (another partner: 403/nothing; bad input: 400)."""

from __future__ import annotations

import json
from datetime import timedelta

from rapport.pipeline.cards import VERB_CALL, VERB_CONFLICTS, VERB_MERGE, VERB_REFRESH, VERB_STAGE
from rapport.records import AuditEvent, Enquiry, Interaction, contact_id
from tests.test_cards import nodes
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


async def test_called_and_the_card_verbs_log_a_call_and_merge(loop: Loop):  # noqa: F811
    assert "Logged as an enquiry" in await say(loop, "new enquiry from Kim Lee <kim@callme.example>")
    [e] = [x for x in await loop.store.find_all(Enquiry, TENANT) if x.contactId == contact_id("kim@callme.example")]
    assert e.clock_running
    # Someone else: "called NAME" looks among their own enquiries only (a name is ambiguous), so it
    # finds nothing; an id they cannot see is not found; nothing is written.
    assert "no open enquiry of yours" in await say(loop, "called Kim", oid=OTHER)
    status, body = await loop.post(loop.invoke(VERB_CALL, {"enquiryId": "eq_not_theirs"}, oid=OTHER))
    assert body["statusCode"] == 404
    assert (await loop.store.get(Enquiry, TENANT, e.id)).clock_running
    # "called <email>": the call logged, the clock stopped, credited to the one who called.
    answer = await say(loop, "I called kim@callme.example")
    assert "Call logged" in answer and "clock stopped" in answer and "kim@" not in answer
    e = await loop.store.get(Enquiry, TENANT, e.id)
    assert (e.firstResponderOid, e.firstResponseChannel, e.clock_running) == (OWNER, "call", False)
    assert [i.ownerOid for i in await loop.store.find_all(Interaction, TENANT, key=f"ct:{e.contactId}")
            if i.channel == "call"] == [OWNER]
    assert "no open enquiry for that address" in await say(loop, "called nobody@nowhere.example")
    # The card's "Log a call" (a double click: one call), and bad input.
    status, body = await loop.post(loop.invoke(VERB_CALL, {"enquiryId": e.id}))
    assert body["statusCode"] == 200 and "already logged" in json.dumps(body["value"])
    status, body = await loop.post(loop.invoke(VERB_CALL, {}))
    assert body["statusCode"] == 400
    status, body = await loop.post(loop.invoke(VERB_CALL, {"enquiryId": "eq_nope"}))
    assert body["statusCode"] == 404

    # A second open enquiry of Kim's (two captures racing): the card offers the merge; the older stays.
    newer = e.model_copy(update={"id": "eq_kim_again", "etag": None, "subject": "Kim again",
                                 "receivedAt": e.receivedAt + timedelta(hours=2), "firstResponseAt": None,
                                 "firstResponderOid": None, "responseSeconds": None, "firstResponseChannel": ""})
    await loop.store.put(newer)
    assert "2 open enquiries" in await say(loop, "called kim@callme.example")
    status, body = await loop.post(loop.invoke(VERB_REFRESH, {"enquiryId": newer.id}))
    [merge] = [a for a in nodes(body["value"]) if a.get("verb") == VERB_MERGE]
    assert merge["data"] == {"enquiryId": newer.id, "otherId": e.id}
    status, body = await loop.post(loop.invoke(VERB_MERGE, {"enquiryId": newer.id}))
    assert body["statusCode"] == 400
    status, body = await loop.post(loop.invoke(VERB_MERGE, merge["data"], oid=OTHER))
    assert body["statusCode"] in (403, 404)
    status, body = await loop.post(loop.invoke(VERB_MERGE, merge["data"]))
    assert body["statusCode"] == 200 and "Merged" in json.dumps(body["value"])
    assert (await loop.store.get(Enquiry, TENANT, newer.id)).mergedInto == e.id
    kept = await loop.store.get(Enquiry, TENANT, e.id)
    assert kept.is_open and kept.firstResponseChannel == "call"
    assert not [a for a in nodes(body["value"]) if a.get("verb") == VERB_MERGE]  # the card now shows one
    await settle()
