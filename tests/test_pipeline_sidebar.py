"""The pipeline in the Outlook sidebar, over real HTTP (the demo firm, real Entra tokens from the
identity stand-in): "Log as enquiry" on an unknown sender, then the sender's enquiry with its stage,
owner, clock and the next step as a button; a walled partner gets the same 404 as for no enquiry."""

from __future__ import annotations

from local.demo import DEMO_TENANT_ID
from rapport.cards.contact import VERB_ENQUIRY_STAGE, VERB_LOG_ENQUIRY
from rapport.records import Enquiry, contact_id
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
