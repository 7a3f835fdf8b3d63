"""An enquiry's drafts: the acknowledgement at 2 hours and the cadence's touches, through the
follow-up approval card and its exactly-once send (rapport.followups), never a send path of their own.

Each is a `Draft` of kind "enquiry_reply" with `enquiryId` and `purpose` ("ack", "touch:N"), its id
derived from (enquiry, purpose), created once (create-only), its card queued like any follow-up's.
When the send succeeds, rapport.followups.sending queues an "enquiry-draft-sent" work item; its
handler here stops the clock (an acknowledgement is a first reply: rapport.pipeline.response).

The text is the template's, conflict-safe until the owner marks conflicts cleared: thanks, who will
handle it and by when; never a word that confirms or implies that the firm acts for the enquirer,
nothing about the matter, and a request to send nothing confidential yet. The enquirer's subject
enters only with links and addresses taken out (rapport.drafting.safety), as data.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rapport import timezones, work
from rapport.capture.names import clean_name
from rapport.drafting.safety import strip_links
from rapport.followups.cards import queue_card
from rapport.pipeline.clock import Hours, due_at
from rapport.pipeline.response import stop_clock
from rapport.records import Contact, Draft, Enquiry, Person, Tenant, Touch, stable_id
from rapport.store.base import AlreadyExists, Store
from rapport.store.scope import ScopedStore

log = logging.getLogger("rapport.pipeline")

SENT_WORK = "enquiry-draft-sent"  # queued by rapport.followups.sending after an enquiry draft is sent
# Words an acknowledgement must never carry before conflicts clear (tests search drafts for them).
UNSAFE_WORDS = ("represent", "act for you", "acting for you", "our client", "engagement", "retain", "we will file",
                "we can help you with", "instructed")


def draft_id(enquiry_id: str, purpose: str) -> str:
    return stable_id("dq", enquiry_id, purpose)


def _first_name(contact: Contact | None) -> str:
    name = clean_name(contact.name) if contact else ""
    return strip_links(name.split()[0]) if name and "@" not in name else ""


def _subject(e: Enquiry) -> str:
    s = " ".join(strip_links(e.subject).split())[:150]
    return f"Re: {s}" if s else "Your enquiry"


def ack_text(e: Enquiry, contact: Contact | None, owner: Person, by: str) -> tuple[str, str]:
    hello = f"Dear {_first_name(contact)}," if _first_name(contact) else "Hello,"
    body = (f"{hello}\n\n"
            "Thank you for your message, which we have received.\n\n"
            f"{owner.name} will look after it and will be in touch by {by}.\n\n"
            "Before we can discuss the details, we need to complete our usual conflict checks. Until then, "
            "please do not send us any confidential information; this acknowledgement does not mean that "
            "the firm has agreed to take the matter on.\n\n"
            f"Kind regards,\n{owner.name}")
    return _subject(e), body


def touch_text(e: Enquiry, contact: Contact | None, owner: Person, n: int) -> tuple[str, str]:
    hello = f"Dear {_first_name(contact)}," if _first_name(contact) else "Hello,"
    if n >= 5:
        middle = ("I have not heard back and do not want to crowd your inbox, so this is my last note for now. "
                  "If the timing is not right, just let me know; I am glad to pick this up whenever it suits you.")
    else:
        middle = ("I wanted to follow up on my earlier message and see whether you had any questions, "
                  "or whether a short call would help.")
    return _subject(e), f"{hello}\n\n{middle}\n\nKind regards,\n{owner.name}"


def _by_phrase(firm: Tenant, e: Enquiry, owner: Person) -> str:
    due = due_at(firm.settings, e.receivedAt, firm.settings.responseHours)
    local = due.astimezone(owner.timeZone and timezones.zone(owner.timeZone) or Hours.of(firm.settings).tz)
    return local.strftime("%H:%M on %A")


async def _make(store: Store, firm: Tenant, e: Enquiry, purpose: str, now: datetime) -> Draft | None:
    """The draft for (enquiry, purpose), made once, if the owner may still see the enquiry."""
    did = draft_id(e.id, purpose)
    existing = await store.get(Draft, firm.id, did)
    if existing is not None:
        return existing
    if not e.ownerOid or not e.contactId:
        return None
    owner = await store.get_person(firm.id, e.ownerOid)
    if owner is None or await ScopedStore(store, firm.id, owner.oid).get(Enquiry, e.id) is None:
        return None  # walled from the company since: no draft at all
    contact = await store.get(Contact, firm.id, e.contactId)
    if contact is None:
        return None
    if purpose == "ack":
        subject, body = ack_text(e, contact, owner, _by_phrase(firm, e, owner))
    else:
        subject, body = touch_text(e, contact, owner, int(purpose.partition(":")[2] or 1))
    draft = Draft(id=did, tenantId=firm.id, kind="enquiry_reply", ownerOid=owner.oid, enquiryId=e.id, purpose=purpose,
                  accountIds=[e.accountId] if e.accountId else [], to=[contact.email], subject=subject, body=body,
                  drafter="template", flags=[] if e.conflictsCleared else ["conflict_safe"], createdAt=now,
                  updatedAt=now)
    try:
        await store.put(draft, create_only=True)
    except AlreadyExists:
        return await store.get(Draft, firm.id, did)
    await queue_card(store, draft)
    log.info("enquiry draft made (%s)", purpose, extra={"tenant_id": firm.id})
    return draft


async def acknowledgement(store: Store, firm: Tenant, e: Enquiry, now: datetime) -> Draft | None:
    draft = await _make(store, firm, e, "ack", now)
    if draft is not None and e.ackDraftId != draft.id:
        def remember(x: Enquiry) -> Enquiry | None:
            if x.ackDraftId == draft.id:
                return None
            x.ackDraftId = draft.id
            return x

        await store.update(Enquiry, firm.id, e.id, remember)
    return draft


async def touch(store: Store, firm: Tenant, e: Enquiry, n: int, now: datetime) -> Draft | None:
    draft = await _make(store, firm, e, f"touch:{n}", now)
    if draft is None:
        return None

    def add(x: Enquiry) -> Enquiry | None:
        if any(t.n == n for t in x.touches):
            return None
        x.touches.append(Touch(n=n, draftId=draft.id, at=now))
        x.followUpCount = len(x.touches)
        return x

    await store.update(Enquiry, firm.id, e.id, add)
    return draft


@work.handler(SENT_WORK)
async def _sent_work(store: Store, item: Any) -> None:
    draft = await store.get(Draft, item.tenantId, str(item.payload.get("draftId", "")))
    firm = await store.get_tenant(item.tenantId)
    if draft is None or firm is None or not draft.enquiryId or draft.state != "sent" or draft.sentAt is None:
        return
    # Any mail the firm sends the enquirer is a reply: the acknowledgement and every touch alike.
    await stop_clock(store, firm, draft.enquiryId, draft.sentAt, draft.ownerOid)  # sent from the owner's mailbox


__all__ = ["SENT_WORK", "UNSAFE_WORDS", "ack_text", "acknowledgement", "draft_id", "touch", "touch_text"]
