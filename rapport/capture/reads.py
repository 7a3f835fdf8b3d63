"""Targeted reads: the few single messages capture reads beyond the delta's metadata, and which.

A delta round reads metadata only (the $select of rapport.graph.MESSAGE_SELECT: no body), which is
what keeps capture inside its throughput budget. Two facts about people are only in a message's
text, so a round plans a bounded number of single-message reads, done afterwards as work items by
rapport.capture.readers (one GET each, the text parsed in memory, only derived facts kept):

- a signature check: mail from a known outside person (a contact with an owner) whose signature was
  not read within SIGNATURE_EVERY. The person's newest mail of the round is read, only if it was
  received within that period (an old mail's signature is old news), and only while the firm's
  `signatureScan` is on. At most once per person per period: the work item's key is (contact, its
  last check, the calendar period), written create-only, so two mailboxes that both saw the person
  read once, and a read that found nothing to read (the mail deleted since) is tried again only in
  the next period. At most
  MAX_SIGNATURES a mailbox round, the most recent mail first; the others are planned again by their
  next mail.
- a bounce: a non-delivery report in the Inbox (rapport.capture.bounces.is_report: a system sender
  and a subject such as "Undeliverable:"), received within BOUNCE_FRESH; one read per report, at
  most MAX_BOUNCES a mailbox round (a storm of reports beyond that is left unread).
Only Graph's sync asks for a plan (`Ingestion(reads=True)`): other callers of ingest have no
mailbox to read from.

`ReadPlan.see` runs once per message on capture's hot path: a few attribute reads and, for a report's
subject, one prefix test. Imports rapport.records, rapport.work, rapport.capture.mapping (Captured,
sender_address) and rapport.capture.bounces.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rapport import work
from rapport.capture.bounces import is_report_subject, is_system_sender
from rapport.capture.mapping import Captured, sender_address
from rapport.records import Contact, Person, Tenant, aware
from rapport.store.base import Store

SIGNATURE_WORK = "read-signature"
BOUNCE_WORK = "read-bounce"
SIGNATURE_EVERY = timedelta(days=30)
BOUNCE_FRESH = timedelta(days=30)
MAX_SIGNATURES = 20  # signature reads planned per mailbox round
MAX_BOUNCES = 20  # report reads planned per mailbox round


def period_of(at: datetime) -> int:
    """The calendar period `at` falls in (a part of the work key: one try per period at most)."""
    return int(aware(at).timestamp() // SIGNATURE_EVERY.total_seconds())


def read_key(cid: str, last_checked: datetime | None, now: datetime) -> str:
    """The signature read's work key: the contact, when it was last checked, the period."""
    return f"{cid}:{last_checked.isoformat() if last_checked is not None else 'never'}:{period_of(now)}"


def checked_recently(contact: Contact, now: datetime) -> bool:
    """THE rule for "this person's signature needs no reading now"."""
    seen = contact.signature
    return seen is not None and aware(now) - aware(seen.checkedAt) < SIGNATURE_EVERY


class ReadPlan:
    """One mailbox round's targeted reads: fed each message (`see`), each batch's stored contacts
    (`after_batch`), queued at the round's end (`queue`)."""

    __slots__ = ("firm", "owner", "now", "signatures_on", "_fresh_after", "_bounce_after", "_latest",
                 "_signatures", "_bounces", "_skip")

    def __init__(self, firm: Tenant, owner: Person, now: datetime) -> None:
        self.firm, self.owner, self.now = firm, owner, now
        self.signatures_on = firm.settings.signatureScan
        self._fresh_after = now - SIGNATURE_EVERY
        self._bounce_after = now - BOUNCE_FRESH
        self._latest: dict[str, tuple[datetime, str]] = {}  # this batch: sender contact id -> (at, message id)
        # The round's reads: sender contact id -> (at, message id, when their signature was last checked).
        self._signatures: dict[str, tuple[datetime, str, datetime | None]] = {}
        self._bounces: list[str] = []  # message ids of the round's reports
        self._skip: set[str] = set()  # senders found not to need a read this round (looked at once)

    def see(self, msg: dict[str, Any], c: Captured, folder: str) -> None:
        at = c.seen_at
        if at is None:
            return
        sender = c.sender
        if sender is not None:
            if self.signatures_on and at >= self._fresh_after:
                known = self._latest.get(sender)
                if known is None or at > known[0]:
                    self._latest[sender] = (at, msg["id"])
            return
        if folder == "inbox" and at >= self._bounce_after and is_report_subject(msg.get("subject")):
            if is_system_sender(sender_address(msg)) and len(self._bounces) < MAX_BOUNCES:
                self._bounces.append(str(msg["id"]))

    def after_batch(self, known: dict[str, Contact]) -> None:
        """Keep the batch's senders whose stored contact has an owner and an old (or no) signature."""
        signatures, skip, now = self._signatures, self._skip, self.now
        for cid, (at, mid) in self._latest.items():
            planned = signatures.get(cid)
            if planned is not None:  # looked at in an earlier batch: only a newer mail to read
                if at > planned[0]:
                    signatures[cid] = (at, mid, planned[2])
                continue
            if cid in skip:
                continue
            contact = known.get(cid)
            if contact is None or not contact.owners or checked_recently(contact, now):
                skip.add(cid)
                continue
            signatures[cid] = (at, mid, contact.signature.checkedAt if contact.signature is not None else None)
        self._latest.clear()

    async def queue(self, store: Store) -> int:
        """Queue the round's reads (create-only work items). Returns how many were new."""
        tid, user = self.firm.id, self.owner.oid
        newest = sorted(self._signatures.items(), key=lambda kv: kv[1][0], reverse=True)[:MAX_SIGNATURES]
        created = await work.enqueue_many(store, tid, SIGNATURE_WORK, [
            (read_key(cid, last, self.now), {"user": user, "message": mid, "contact": cid})
            for cid, (_, mid, last) in newest])
        created += await work.enqueue_many(store, tid, BOUNCE_WORK, [
            (f"{user}:{mid}", {"user": user, "message": mid}) for mid in self._bounces])
        self._signatures.clear()
        self._bounces.clear()
        return created
