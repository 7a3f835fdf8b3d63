"""Is this mail a new enquiry? Pure: one Graph message's metadata in, a verdict with its reasons out.

Conservative (a missed enquiry can be logged by hand from the sidebar or the bot; a newsletter that
opens an enquiry and pings a partner every two hours teaches them to ignore Rapport) and
explainable: the reasons are shown on the owner's card ("new sender, first thread").

Only metadata is read, the fields capture already selects plus two Graph gives cheaply:
- `from`, the recipients, the subject, `conversationIndex` (22 bytes for the first mail of a
  thread, 5 more per reply or forward), `inferenceClassification` ("other": Outlook's bulk and
  newsletter pile);
- `internetMessageHeaders` when a caller has them (Graph returns them only on request for a single
  message, never in delta, so the rule never depends on them): List-Unsubscribe / List-Id,
  Auto-Submitted, Precedence bulk/list/junk, X-Autoreply / X-Autorespond.
The store side (is the sender new to the firm? is their company a known vendor or foreign
associate?) is decided in rapport.pipeline.capture with these verdicts.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from rapport.capture.names import is_automated, is_own_domain
from rapport.records import Tenant, normalize_email

REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|vs|antw|r|ref|rif|odp)\s*(\[\d+\])?\s*:", re.IGNORECASE)
FORWARD_PREFIX = re.compile(r"^\s*(fw|fwd|wg|tr|rv|enc|i)\s*:", re.IGNORECASE)
AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto[- ]?reply|autoreply|out of (the )?office|abwesenheitsnotiz|automatische antwort|"
    r"r[ée]ponse automatique|absence|undeliverable|undelivered|delivery status notification|"
    r"mail delivery (failed|failure|subsystem)|returned mail|accepted|declined|tentative|read:|not read:|"
    r"your message|ticket|\[?newsletter\]?|unsubscribe)",
    re.IGNORECASE,
)
BULK_HEADERS = ("list-unsubscribe", "list-id", "list-post")
MAX_RECIPIENTS = 10  # a mail to many people is an announcement, not an enquiry
FIRST_INDEX_BYTES = 22


@dataclass
class Verdict:
    enquiry: bool
    reasons: list[str] = field(default_factory=list)  # why (yes) or why not (no), in words for the card
    sender: str = ""
    sender_name: str = ""

    @property
    def why(self) -> str:
        return ", ".join(self.reasons)


def _addr(entry: Any) -> str:
    ea = entry.get("emailAddress", entry) if isinstance(entry, dict) else None
    if not isinstance(ea, dict):
        return ""
    try:
        return normalize_email(str(ea.get("address") or ""))
    except ValueError:
        return ""


def _name(entry: Any) -> str:
    ea = entry.get("emailAddress", entry) if isinstance(entry, dict) else None
    return str(ea.get("name") or "")[:200] if isinstance(ea, dict) else ""


def headers_of(msg: dict) -> dict[str, str]:
    """internetMessageHeaders (when present) as a lower-cased name -> value map."""
    out: dict[str, str] = {}
    for h in msg.get("internetMessageHeaders") or ():
        if isinstance(h, dict) and isinstance(h.get("name"), str):
            out[h["name"].strip().lower()] = str(h.get("value") or "")[:500]
    return out


def is_thread_start(msg: dict) -> bool | None:
    """From conversationIndex: True for the first mail of a thread, False for a reply or forward,
    None when Graph did not give it (then the subject decides)."""
    raw = msg.get("conversationIndex")
    if not isinstance(raw, str) or not raw:
        return None
    try:
        n = len(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError):
        return None
    return n <= FIRST_INDEX_BYTES


def auto_or_bulk(msg: dict) -> str:
    """Why this mail is machine-sent or bulk ("" when it looks written by a person to the firm)."""
    sender = _addr(msg.get("from")) or _addr(msg.get("sender"))
    if sender and is_automated(sender):
        return "automated sender"
    subject = str(msg.get("subject") or "")
    if AUTO_SUBJECT.match(subject):
        return "automatic reply or notice"
    h = headers_of(msg)
    if any(k in h for k in BULK_HEADERS):
        return "mailing list"
    auto = h.get("auto-submitted", "").strip().lower()
    if auto and auto != "no":
        return "automatic reply or notice"
    if h.get("precedence", "").strip().lower() in ("bulk", "list", "junk", "auto_reply"):
        return "bulk mail"
    if "x-autoreply" in h or "x-autorespond" in h:
        return "automatic reply or notice"
    if str(msg.get("inferenceClassification") or "").lower() == "other":
        return "newsletter (Outlook's Other)"
    return ""


def classify(msg: dict, firm: Tenant, mailbox_upn: str) -> Verdict:
    """Could this inbound mail open an enquiry, by its own metadata? (The store decides the rest.)"""
    if not isinstance(msg, dict) or "@removed" in msg or msg.get("isDraft"):
        return Verdict(False, ["not a received mail"])
    sender = _addr(msg.get("from")) or _addr(msg.get("sender"))
    if not sender:
        return Verdict(False, ["no sender"])
    own = tuple(firm.domains)
    if is_own_domain(sender.rpartition("@")[2], own) or sender == mailbox_upn.lower():
        return Verdict(False, ["from inside the firm"], sender)
    why_not = auto_or_bulk(msg)
    if why_not:
        return Verdict(False, [why_not], sender)
    subject = str(msg.get("subject") or "")
    start = is_thread_start(msg)
    if start is False or (start is None and (REPLY_PREFIX.match(subject) or FORWARD_PREFIX.match(subject))):
        return Verdict(False, ["a reply in an existing thread"], sender)
    recipients = [_addr(e) for k in ("toRecipients", "ccRecipients") for e in (msg.get(k) or ())]
    recipients = [r for r in recipients if r]
    if len(recipients) > MAX_RECIPIENTS:
        return Verdict(False, ["sent to many people"], sender)
    if mailbox_upn.lower() not in recipients and firm.settings.enquiriesMailbox.lower() not in recipients:
        return Verdict(False, ["not addressed to the firm directly"], sender)  # bcc, list expansion
    return Verdict(True, ["first thread"], sender, _name(msg.get("from")))


__all__ = ["Verdict", "auto_or_bulk", "classify", "headers_of", "is_thread_start"]
