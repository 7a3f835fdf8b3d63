"""The pipeline in the Outlook sidebar, over real HTTP (the demo firm, real Entra tokens from the
identity stand-in): "Log as enquiry" on an unknown sender, then the sender's enquiry with its stage,
owner, clock and the next step as a button; "Log a call" (the clock stops, credited to the caller);
"Merge into one" when the sender has two open enquiries (the older is kept); a walled partner gets
the same 404 as for no enquiry, a partner who may see but not change it a 403, bad input a 400."""

from __future__ import annotations

from datetime import timedelta

from local.demo import DEMO_TENANT_ID
from rapport.cards.contact import VERB_ENQUIRY_CALL, VERB_ENQUIRY_MERGE, VERB_ENQUIRY_STAGE, VERB_LOG_ENQUIRY
from rapport.records import Enquiry, Interaction, contact_id
from tests.test_cards import nodes
from tests.test_notes import DANIEL, ELEANOR, ELEANOR_OID

NEW = "rosa.nuevo@brandnew-enquirer.example"


async def context(http, pane, email, upn=ELEANOR):
    async with http.get(pane.url("/api/addin/context"), params={"email": email}, headers=pane.auth(upn)) as r:
        assert r.status == 200
        return await r.json()


async def act(http, pane, body, upn=ELEANOR):
    async with http.post(pane.url("/api/addin/enquiry"), json=body, headers=pane.auth(upn)) as r:
        return r.status, await r.json()


def verbs_of(card):
    return {a.get("verb"): a for a in nodes(card) if a.get("type") == "Action.Execute"}


async def test_log_as_enquiry_then_the_next_step_from_the_sidebar(demo_pane, http):
    first = await context(http, demo_pane, NEW)
    assert first["status"] == "unknown"
    log = verbs_of(first["card"])[VERB_LOG_ENQUIRY]
    status, body = await act(http, demo_pane, {"action": "log", **log["data"]})
    assert status == 200 and body["enquiry"]["stage"] == "enquiry"
    status, again = await act(http, demo_pane, {"action": "log", "email": NEW})
    assert status == 200 and again["enquiry"]["id"] == body["enquiry"]["id"]  # one enquiry per person
    now = await context(http, demo_pane, NEW)
    [p] = [p for p in now["pipeline"] if p.get("sender")]
    assert (p["stage"], p["owner"], p["next"]) == ("enquiry", "you", "needs_analysis") and p["dueAt"]
    step = verbs_of(now["card"])[VERB_ENQUIRY_STAGE]
    assert step["title"] == "Move to needs analysis"
    status, moved = await act(http, demo_pane, {"action": "stage", **{k: v for k, v in step["data"].items()
                                                                       if k != "email"}})
    assert status == 200 and moved["enquiry"]["stage"] == "needs_analysis"
    status, lost = await act(http, demo_pane, {"action": "stage", "enquiryId": p["id"], "stage": "lost"})
    assert status == 400 and "why" in str(lost).lower()
    [e] = await demo_pane.store.find_all(Enquiry, DEMO_TENANT_ID, key=f"ct:{contact_id(NEW)}:open")
    assert e.ownerOid == ELEANOR_OID and [c.stage for c in e.stageChanges] == ["enquiry", "needs_analysis"]


async def test_a_walled_partner_cannot_log_or_touch_an_enquiry_of_the_walled_client(demo_pane, http):
    status, _ = await act(http, demo_pane, {"action": "log", "email": "new.person@halcyra.example"}, upn=DANIEL)
    assert status == 404  # the walled client does not exist for Daniel
    status, body = await act(http, demo_pane, {"action": "log", "email": "new.person@halcyra.example"})
    assert status == 200
    eid = body["enquiry"]["id"]
    for bad in (eid, "eq_doesnotexist"):
        status, _ = await act(http, demo_pane, {"action": "stage", "enquiryId": bad, "stage": "proposal"}, upn=DANIEL)
        assert status == 404
    status, _ = await act(http, demo_pane, {"action": "what"})
    assert status == 400


TOMASZ = "tomasz.wieczorek@ashgrovepell.example"  # a partner, neither owner nor delegate: may see, not change


async def test_log_a_call_from_the_sidebar_stops_the_clock(demo_pane, http):
    email = "carmen.calls@brandnew-caller.example"
    status, body = await act(http, demo_pane, {"action": "log", "email": email})
    assert status == 200
    eid = body["enquiry"]["id"]
    before = await context(http, demo_pane, email)
    call = verbs_of(before["card"])[VERB_ENQUIRY_CALL]
    assert call["title"] == "Log a call" and call["data"] == {"email": email, "enquiryId": eid}
    # A partner who may see it but not change it: its stage is not his to move (403, nothing written).
    status, err = await act(http, demo_pane, {"action": "stage", "enquiryId": eid, "stage": "proposal"}, upn=TOMASZ)
    assert status == 403 and err["error"]["correlationId"]
    # The owner logs the call the way the task pane posts it (the card's data, the note box's text).
    status, done = await act(http, demo_pane, {"action": "call", "enquiryId": call["data"]["enquiryId"],
                                               "note": "Talked through the <b>opposition</b>"})
    assert status == 200 and "clock stopped" in done["message"]
    assert done["enquiry"]["answeredVia"] == "call" and done["enquiry"]["answeredAt"]
    after = await context(http, demo_pane, email)
    [p] = [p for p in after["pipeline"] if p.get("sender")]
    assert p["answeredAt"] and p["dueAt"] is None
    [shown] = [i for i in after["interactions"] if i["channel"] == "call"]
    assert shown["by"] == "you" and shown["text"] == "Talked through the <b>opposition</b>"
    [e] = await demo_pane.store.find_all(Enquiry, DEMO_TENANT_ID, key=f"ct:{contact_id(email)}:open")
    assert (e.firstResponderOid, e.firstResponseChannel) == (ELEANOR_OID, "call")
    calls = [i for i in await demo_pane.store.find_all(Interaction, DEMO_TENANT_ID, key=f"ct:{contact_id(email)}")
             if i.channel == "call"]
    assert len(calls) == 1 and calls[0].ownerOid == ELEANOR_OID
    # A colleague who phoned them too logs his own call: the clock stays as the first answer left it.
    status, his = await act(http, demo_pane, {"action": "call", "enquiryId": eid}, upn=TOMASZ)
    assert status == 200 and "clock" not in his["message"]
    [e] = await demo_pane.store.find_all(Enquiry, DEMO_TENANT_ID, key=f"ct:{contact_id(email)}:open")
    assert e.firstResponderOid == ELEANOR_OID
    assert sorted(i.ownerOid == ELEANOR_OID for i in await demo_pane.store.find_all(
        Interaction, DEMO_TENANT_ID, key=f"ct:{contact_id(email)}") if i.channel == "call") == [False, True]
    # Bad input: the standard 4xx, nothing written.
    for bad, code in (({"action": "call"}, 400), ({"action": "call", "enquiryId": ""}, 400),
                      ({"action": "call", "enquiryId": 7}, 400), ({"action": "call", "enquiryId": "eq_nope"}, 404),
                      ({"action": "call", "enquiryId": eid, "note": "x" * 2001}, 400)):
        status, err = await act(http, demo_pane, bad)
        assert status == code and err["error"]["correlationId"] and "Traceback" not in str(err), bad


async def test_a_walled_partner_cannot_log_a_call_on_the_walled_clients_enquiry(demo_pane, http):
    email = "new.caller@halcyra.example"
    status, body = await act(http, demo_pane, {"action": "log", "email": email})
    assert status == 200
    status, _ = await act(http, demo_pane, {"action": "call", "enquiryId": body["enquiry"]["id"]}, upn=DANIEL)
    assert status == 404  # the same answer as for no enquiry at all
    assert not [i for i in await demo_pane.store.find_all(Interaction, DEMO_TENANT_ID, key=f"ct:{contact_id(email)}")
                if i.channel == "call"]


async def test_two_open_enquiries_of_the_sender_merge_from_the_sidebar(demo_pane, http):
    email = "mona.merge@brandnew-twice.example"
    status, body = await act(http, demo_pane, {"action": "log", "email": email})
    assert status == 200
    older = await demo_pane.store.get(Enquiry, DEMO_TENANT_ID, body["enquiry"]["id"])
    # A second open enquiry of the same person (two mailboxes' captures racing, say).
    newer = older.model_copy(update={"id": "eq_second_of_mona", "etag": None, "subject": "Again",
                                     "receivedAt": older.receivedAt + timedelta(hours=1), "stage": "needs_analysis",
                                     "stageChanges": []})
    await demo_pane.store.put(newer)
    facts = await context(http, demo_pane, email)
    assert len([p for p in facts["pipeline"] if p.get("sender")]) == 2
    merge = verbs_of(facts["card"])[VERB_ENQUIRY_MERGE]
    assert merge["title"] == "Merge into one"
    assert {merge["data"]["enquiryId"], merge["data"]["otherId"]} == {older.id, newer.id}
    # Missing the second id: 400; another partner: 403; a walled one: 404. Nothing merged.
    status, _ = await act(http, demo_pane, {"action": "merge", "enquiryId": older.id})
    assert status == 400
    status, _ = await act(http, demo_pane, {"action": "merge", "enquiryId": older.id, "otherId": newer.id},
                          upn=TOMASZ)
    assert status == 403
    status, _ = await act(http, demo_pane, {"action": "merge", "enquiryId": older.id, "otherId": "eq_nope"})
    assert status == 404
    assert len(await demo_pane.store.find_all(Enquiry, DEMO_TENANT_ID, key=f"ct:{contact_id(email)}:open")) == 2
    # The owner merges, given the other way round: the older is kept, with the further stage.
    status, done = await act(http, demo_pane, {"action": "merge", "enquiryId": newer.id, "otherId": older.id})
    assert status == 200 and done["enquiry"]["id"] == older.id and done["enquiry"]["stage"] == "needs_analysis"
    [left] = await demo_pane.store.find_all(Enquiry, DEMO_TENANT_ID, key=f"ct:{contact_id(email)}:open")
    assert left.id == older.id and (await demo_pane.store.get(Enquiry, DEMO_TENANT_ID, newer.id)).mergedInto == older.id
    facts = await context(http, demo_pane, email)
    assert len([p for p in facts["pipeline"] if p.get("sender")]) == 1 and facts["duplicate"] is None
    assert VERB_ENQUIRY_MERGE not in verbs_of(facts["card"])
