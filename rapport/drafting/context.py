"""What the drafters are given and what they give back.

The caller (briefs, follow-ups) builds these from records the viewer may already see: the drafting
service never reads the store, so it cannot widen what a partner is shown. Every text field here is
treated as data, never as instructions: subjects and display names come from mail that outsiders
write. `forbidden` carries canary strings and ids the caller knows must never reach a prompt or a
draft (other tenants, walled matters); the drafters refuse rather than use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

OpenItemKind = Literal["enquiry", "opportunity", "renewal", "opposition"]
DrafterName = Literal["template", "llm"]


class DraftingRefused(Exception):
    """The context carried something the caller marked forbidden: no prompt was sent, no draft made.

    This is a scoping bug upstream, so the caller should alert rather than retry. The message never
    repeats the forbidden value.
    """


@dataclass(frozen=True)
class ExternalAttendee:
    """Someone outside the firm at the meeting. Recipients are set by the caller, not from this."""

    name: str
    email: str
    account: str = ""  # the organisation's name, e.g. "Acme GmbH"
    role: str = ""  # job title, when the records know it
    account_kind: str = ""  # client / prospect / foreign_associate / other


@dataclass(frozen=True)
class OpenItem:
    """An open enquiry or opportunity, or a matter deadline (renewal, opposition)."""

    kind: OpenItemKind
    title: str
    due: datetime | None = None
    reference: str = ""  # matter reference or right, e.g. "EU trade mark 018234567"
    detail: str = ""  # e.g. an opportunity stage


@dataclass(frozen=True)
class InteractionNote:
    """One earlier interaction, metadata only."""

    at: datetime
    subject: str
    channel: str = "email"  # email / meeting / note / call
    direction: str = "inbound"
    with_name: str = ""


@dataclass(frozen=True)
class SignalNote:
    """A counsel-move or title-change signal about an attendee."""

    name: str
    summary: str


@dataclass(frozen=True)
class FollowupContext:
    partner_name: str
    meeting_subject: str
    meeting_start: datetime
    meeting_end: datetime
    attendees: tuple[ExternalAttendee, ...] = ()
    recent_subjects: tuple[str, ...] = ()
    open_items: tuple[OpenItem, ...] = ()
    # Untrusted: excerpts of mail the firm allowed Rapport to keep. HTML is reduced to text, hidden
    # characters and hidden elements are dropped, and the model is told it is data.
    email_excerpts: tuple[str, ...] = ()
    partner_email: str = ""
    forbidden: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class BriefContext:
    partner_name: str
    meeting_subject: str
    meeting_start: datetime
    attendees: tuple[ExternalAttendee, ...] = ()
    last_interactions: tuple[InteractionNote, ...] = ()
    open_items: tuple[OpenItem, ...] = ()  # enquiries and opportunities
    deadlines: tuple[OpenItem, ...] = ()  # renewals and oppositions (the caller picks the window)
    signals: tuple[SignalNote, ...] = ()
    email_excerpts: tuple[str, ...] = ()
    forbidden: frozenset[str] = field(default_factory=frozenset)
    time_zone: str = ""  # the partner's zone (IANA or Windows name): dates are written in it


@dataclass(frozen=True)
class DraftText:
    """A follow-up's text. Never recipients: the caller sets To/CC from the meeting's records."""

    subject: str
    body: str
    drafter: DrafterName
    flags: list[str] = field(default_factory=list)
    # Numbers and dates in the text that no input fact contains: the card highlights them.
    highlights: list[str] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)  # fact ids ("F1"...) the model said it used


@dataclass(frozen=True)
class TalkingPoints:
    points: list[str]
    drafter: DrafterName
    flags: list[str] = field(default_factory=list)
    highlights: list[str] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
