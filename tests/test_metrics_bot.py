"""The Monday cards and "Draft a note" over HTTP, through the real bot and the Bot Connector stand-in
(tests/test_followups_e2e.py's loop): the partner's week goes to Teams once; "Draft a note" on a cold
relationship makes one draft that reaches the partner's approval card and is sent once when approved;
a contact that is not the partner's answers like a missing one."""

from __future__ import annotations

from datetime import datetime, timedelta

from rapport import work
from rapport.cards.week import VERB_DRAFT_NOTE
from rapport.metrics import definitions as d
from rapport.metrics import week
from rapport.records import Account, Contact, Draft, Owner, utcnow
from rapport.timezones import zone
from tests.test_followups import OTHER, OWNER, TENANT, card_texts, settle
from tests.test_followups_e2e import Loop, loop, mails  # noqa: F401 - `loop`: the fixture, used here


async def _cold_contacts(store, now: datetime) -> tuple[Contact, Contact]:
    acct = Account.new(TENANT, "oldclient.example", name="Old Client", kind="client")
    mine = Contact.new(TENANT, "olga@oldclient.example", name="Olga Oldfield", accountId=acct.id,
                       owners=[Owner(oid=OWNER, name="Owner", since=now - timedelta(days=900),
                                     lastTouch=now - timedelta(days=120))])
    theirs = Contact.new(TENANT, "tim@oldclient.example", name="Tim Theirs", accountId=acct.id,
                         owners=[Owner(oid=OTHER, name="Other", visibility="private",
                                       since=now - timedelta(days=900), lastTouch=now - timedelta(days=120))])
    await store.put_many([acct, mine, theirs])
    return mine, theirs


async def test_week_card_to_teams_once_and_draft_a_note_to_approval_and_send(loop: Loop):  # noqa: F811
    status, _ = await loop.post(loop.activity())  # the partner has talked to the bot: a chat to post in
    assert status == 200
    now = utcnow()
    mine, theirs = await _cold_contacts(loop.store, now)
    monday = d.week_of(now, zone("")) + timedelta(weeks=1)
    at = datetime(monday.year, monday.month, monday.day, 7, 31, tzinfo=zone(""))
    before = len(loop.cards())
    for minutes in (0, 15, 30):
        await week.week_cards_timer(loop.store, now=at + timedelta(minutes=minutes))
    await work.drain(loop.store, now=at + timedelta(hours=1), tenant_ids=[TENANT])
    posted = loop.cards()[before:]
    weekly = [c for m, c in posted if "Your week in BD" in " ".join(card_texts(c))]
    assert len(weekly) == 1
    texts = " ".join(card_texts(weekly[0]))
    assert "Olga Oldfield" in texts and "Tim Theirs" not in texts
    note = next(a for a in weekly[0]["body"][-1]["items"][1]["columns"][1]["items"][0]["actions"]
                if a["verb"] == VERB_DRAFT_NOTE)
    assert note["data"] == {"contactId": mine.id}

    # "Draft a note": one draft (pressed twice), its approval card, approved, sent once
    for _ in range(2):
        status, body = await loop.post(loop.invoke(VERB_DRAFT_NOTE, note["data"]))
        assert status == 200 and body["statusCode"] == 200, body
    await settle()
    await work.drain(loop.store)
    drafts = [x for x in await loop.store.find_all(Draft, TENANT) if x.to == [mine.email]]
    assert len(drafts) == 1 and drafts[0].state == "drafted" and drafts[0].ownerOid == OWNER
    approval = [c for _, c in loop.cards() if any(a.get("data", {}).get("draftId") == drafts[0].id
                                                   for a in c.get("actions", []))]
    assert approval
    approve = next(a for a in approval[-1]["actions"] if a["verb"] == "followup.approve")
    status, body = await loop.post(loop.invoke("followup.approve", approve["data"]))
    assert body["statusCode"] == 200
    await settle()
    await work.drain(loop.store)
    sent = [m for m in await mails(loop) if mine.email in str(getattr(m, "to", m))]
    assert len(sent) == 1

    # someone else's contact, or a made-up id: the same 404, and no draft
    for cid in (theirs.id, "ct_" + "0" * 32):
        status, body = await loop.post(loop.invoke(VERB_DRAFT_NOTE, {"contactId": cid}))
        assert body["statusCode"] == 404, body
    status, body = await loop.post(loop.invoke(VERB_DRAFT_NOTE, {"contactId": "x" * 500}))
    assert body["statusCode"] == 400
    assert not [x for x in await loop.store.find_all(Draft, TENANT) if x.to == [theirs.email]]
