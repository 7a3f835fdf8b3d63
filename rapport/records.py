"""The records Rapport keeps, and their ids.

Every record carries `tenantId` (the partition) and a `schemaVersion`. Ids are deterministic where a
source id exists (a contact from its normalized address, an interaction from its Graph id, ...), so
capturing the same mail or event twice writes the same record instead of a second one.

Each record also declares how the store finds it: `index_keys()` (equality keys such as
"ct:<contact id>") and `sort_at()` (the time it sorts by). The store implementations index exactly
these, so a new query need only add a key here.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import to_json

SCHEMA_VERSION = 1

Visibility = Literal["private", "team", "firm"]
AccountKind = Literal["client", "prospect", "foreign_associate", "other"]
# "superseded": a neutral draft to several companies, replaced by one draft per company (never sent).
# "expired": its owner was removed from the firm (rapport.firm.people.remove_person): handed to no one, never sent.
DraftState = Literal["drafted", "approved", "sending", "sent", "failed", "dismissed", "snoozed", "superseded",
                     "expired"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def stable_id(prefix: str, *parts: str) -> str:
    """A short deterministic id: the same source parts always give the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]
    return f"{prefix}_{digest}"


_WHITESPACE = re.compile(r"\s")


def normalize_email(address: str) -> str:
    """Lower-case, trimmed, without a mailto: prefix. Raises ValueError when it is no address."""
    a = address.strip().lower()
    if a.startswith("mailto:"):
        a = a[7:]
    local, sep, domain = a.rpartition("@")
    if not sep or not local or "." not in domain or len(a) > 254 or _WHITESPACE.search(a):
        raise ValueError("not an email address")
    return a


@functools.lru_cache(maxsize=65536)  # pure, and capture asks for the same few names again and again
def person_name_key(name: str) -> str:
    """A match key for a person's display name ("Doe, Jane" and "jane  DOE" give "jane doe"), or ""
    when the name is not a full name (one word, an initial, an address): capture matches contacts by
    it to spot a counsel move, and a weak name would match strangers."""
    import unicodedata

    n = name.strip().strip("'\"").strip()
    if "@" in n:
        return ""
    if n.count(",") == 1:
        last, first = (p.strip() for p in n.split(","))
        n = f"{first} {last}"
    n = "".join(c for c in unicodedata.normalize("NFKD", n) if not unicodedata.combining(c))
    words = ["".join(c for c in w if c.isalpha() or c in "-'") for w in n.casefold().split()]
    words = [w for w in words if w]
    if len(words) < 2 or sum(len(w) >= 2 for w in words) < 2:
        return ""
    return " ".join(words)


def email_domain(address: str) -> str:
    return normalize_email(address).rpartition("@")[2]


def contact_id(email: str) -> str:
    return stable_id("ct", normalize_email(email))


def account_id(domain: str) -> str:
    return stable_id("ac", domain.strip().lower())


def aware(dt: datetime) -> datetime:
    """A datetime with a time zone: naive ones (old records, tests) are taken as UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _iso(dt: datetime | None) -> str:
    if dt is None:
        return ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    # isoformat is C and several times faster than strftime; "+00:00" becomes "Z". Same text.
    return dt.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


class Record(BaseModel):
    """Base of every stored record. `etag` is the store's concurrency token, never part of the doc."""

    model_config = ConfigDict(extra="ignore", validate_assignment=False)
    doc_type: ClassVar[str] = "record"
    family: ClassVar[str] = "records"

    id: str
    tenantId: str
    schemaVersion: int = SCHEMA_VERSION
    etag: str | None = Field(default=None, exclude=True)

    def index_keys(self) -> list[str]:
        return []

    def sort_at(self) -> str:
        return ""

    def to_doc(self) -> dict[str, Any]:
        doc = self.model_dump(mode="json")
        doc["docType"] = self.doc_type
        doc["ixKeys"] = self.index_keys()
        doc["ixAt"] = self.sort_at()
        return doc

    def to_json(self) -> str:
        """The same document as to_doc(), as JSON text, made by pydantic's serializer in one go
        (about 5x cheaper than to_doc() and encoding it: bulk capture writes millions)."""
        return self.to_row()[4]

    def to_row(self) -> tuple[str, str, list[str], str, str]:
        """(id, doc type, index keys, sort time, JSON text): what a store keeping documents as text
        writes, each part computed once."""
        keys, at = self.index_keys(), self.sort_at()
        extra = to_json({"docType": self.doc_type, "ixKeys": keys, "ixAt": at}).decode()
        return self.id, self.doc_type, keys, at, self.model_dump_json()[:-1] + "," + extra[1:]


# --- the firm and its people -------------------------------------------------------------------


class TenantSettings(BaseModel):
    """A firm's own settings. `rapport tenant set KEY=VALUE` and PATCH /api/admin/settings are generic
    over these fields (rapport.firm.settings): a field added here is settable with no other change,
    so give it a default and constraints that make a bad value fail validation (never a later read)."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)
    captureExcerpts: bool = False  # metadata only unless the firm turns excerpts on
    # The firm-wide switch for Outlook briefs (the actionable-message pop-up through Graph). Stored
    # records from before the rename say "actionableMessages": still read as this field.
    outlookBriefs: bool = Field(default=False, validation_alias=AliasChoices("outlookBriefs", "actionableMessages"))
    briefLeadMinutes: int = Field(default=60, ge=5, le=24 * 60)
    followUpDelayMinutes: int = Field(default=0, ge=0, le=7 * 24 * 60)  # after a meeting ends, before its draft
    # The Actionable Messages provider id (the card's `originator`) registered for this firm;
    # "" = the deployment's RAPPORT_AM_ORIGINATOR.
    amOriginator: str = Field(default="", pattern=r"^$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
    # The oldest a walls sync may be before screened accounts fail closed; None = the firm does
    # not sync walls from a walls system.
    wallsMaxAgeHours: int | None = Field(default=None, ge=1, le=24 * 90)
    workingHours: str = ""  # "Mon-Fri 09:00-18:00 Europe/London"; "" = not set (rapport.firm.settings.working_hours)
    # The enquiry pipeline (rapport.pipeline): the shared mailbox whose new threads are enquiries, who
    # takes an enquiry nobody else owns (oids, in turn), and the clock and cadence. The 4-hour clock
    # runs in `workingHours` above (rapport.pipeline.clock; unset: Mon-Fri 09:00-18:00 UTC).
    enquiriesMailbox: str = ""
    intakeRota: list[str] = Field(default_factory=list)
    responseHours: float = Field(default=4.0, gt=0, le=24 * 14)  # working hours to a first reply
    acknowledgeAfterHours: float = Field(default=2.0, gt=0, le=24 * 14)  # before the acknowledgement draft
    cadenceDays: list[int] = Field(default_factory=lambda: [3, 7, 14, 30, 60])
    # Metrics (rapport.metrics, docs/metrics.md): a strong relationship with no touch in this many
    # weeks is "going cold"; the partner's-week card and the managing partner's Monday report go out
    # unless turned off. An enquiry is answered on time within `responseHours` (the clock above).
    coldAfterWeeks: int = Field(default=8, ge=1, le=104)
    weeklyCards: bool = True
    # Counsel moves from signatures (rapport.capture.reads): capture may read the new part of one
    # recent mail a known person wrote (`uniqueBody`), at most once a month per person, to read
    # their title and company from its signature; only those two facts are kept, never the text.
    signatureScan: bool = True

    @field_validator("workingHours")
    @classmethod
    def _hours(cls, v: str) -> str:
        from rapport.firm.hours import normalize_working_hours

        return normalize_working_hours(v)

    @property
    def actionableMessages(self) -> bool:  # the old name, for readers not yet moved
        return self.outlookBriefs


class Tenant(Record):
    doc_type: ClassVar[str] = "tenant"
    family: ClassVar[str] = "tenants"
    name: str
    domains: list[str] = Field(default_factory=list)  # the firm's own mail domains (internal people)
    partners: list[str] = Field(default_factory=list)  # UPNs whose mail and calendar are captured
    allowed: bool = True
    settings: TenantSettings = Field(default_factory=TenantSettings)
    consentState: Literal["ok", "needs_admin_consent", "revoked"] = "ok"
    wallsSyncedAt: datetime | None = None
    createdAt: datetime = Field(default_factory=utcnow)


class Person(Record):
    """A lawyer or staff member of the firm (an Entra user). id = the user's object id (oid)."""

    doc_type: ClassVar[str] = "person"
    family: ClassVar[str] = "people"
    oid: str
    upn: str
    name: str
    title: str = ""
    # What each role may do is decided in one place: rapport.identity.membership.ROLE_ACTIONS.
    role: Literal["partner", "associate", "bd", "managing_partner", "admin", "staff"] = "partner"
    team: str = ""
    delegates: list[str] = Field(default_factory=list)  # oids allowed to approve on this partner's behalf
    conversationRef: dict[str, Any] | None = None  # for proactive Teams messages
    channels: dict[str, bool] = Field(default_factory=lambda: {"teams": True, "outlook": False})
    captured: bool = True
    # False once the firm disabled or removed the user: the record keeps its history (owner of
    # captured mail), but the person can no longer use Rapport (rapport.identity.membership).
    enabled: bool = True
    # IANA name (from Graph mailboxSettings, see rapport.timezones); "" = unknown, treated as UTC.
    timeZone: str = ""
    timeZoneCheckedAt: datetime | None = None  # last read from Graph (refreshed daily by capture's sync)
    # When they became a partner (the firm's HR date; None = unknown): one input of seniority
    # (rapport.identity.membership.seniority), which the introductions audit compares.
    partnerSince: datetime | None = None

    def index_keys(self) -> list[str]:
        return [f"upn:{self.upn.lower()}"]


# --- relationships -----------------------------------------------------------------------------


class Owner(BaseModel):
    """A partner who knows a contact, and how much of it colleagues may see."""

    model_config = ConfigDict(extra="ignore")
    oid: str
    name: str
    visibility: Visibility = "firm"
    since: datetime | None = None
    lastTouch: datetime | None = None
    # "intro": the entry was given by an owner accepting an introduction request
    # (rapport.relationships.intros); its holder sees the contact but may not widen who else does.
    via: str = ""


class SignatureSeen(BaseModel):
    """What capture read from the signature of a mail the contact wrote (rapport.capture.reads):
    the two derived facts and when, never the text. Empty facts: read, nothing recognised."""

    model_config = ConfigDict(extra="ignore")
    title: str = ""
    company: str = ""
    at: datetime | None = None  # when the mail read was received
    checkedAt: datetime


class Contact(Record):
    doc_type: ClassVar[str] = "contact"
    family: ClassVar[str] = "contacts"
    email: str
    name: str = ""
    title: str = ""
    phone: str = ""
    accountId: str | None = None
    owners: list[Owner] = Field(default_factory=list)
    firstSeen: datetime | None = None
    lastSeen: datetime | None = None
    signature: SignatureSeen | None = None
    bouncedAt: datetime | None = None  # a non-delivery report said this address does not exist (then)

    @field_validator("email")
    @classmethod
    def _normal(cls, v: str) -> str:
        return normalize_email(v)

    @classmethod
    def new(cls, tenant_id: str, email: str, **kw: Any) -> Contact:
        return cls(id=contact_id(email), tenantId=tenant_id, email=email, **kw)

    def index_keys(self) -> list[str]:
        keys = [f"acct:{self.accountId}"] if self.accountId else []
        name_key = person_name_key(self.name)  # capture finds a counsel move by it
        return keys + [f"name:{name_key}"] if name_key else keys

    def sort_at(self) -> str:
        return _iso(self.lastSeen)


class Account(Record):
    doc_type: ClassVar[str] = "account"
    family: ClassVar[str] = "accounts"
    domain: str
    name: str
    kind: AccountKind = "prospect"
    country: str = ""

    @classmethod
    def new(cls, tenant_id: str, domain: str, **kw: Any) -> Account:
        return cls(id=account_id(domain), tenantId=tenant_id, domain=domain.lower(), **kw)

    def index_keys(self) -> list[str]:
        return [f"kind:{self.kind}"]

    def sort_at(self) -> str:
        return self.name.lower()


class Interaction(Record):
    """One email, meeting, note or call. Metadata only: no body unless the firm enables excerpts."""

    doc_type: ClassVar[str] = "interaction"
    family: ClassVar[str] = "interactions"
    channel: Literal["email", "meeting", "note", "call"]
    at: datetime
    subject: str = ""
    direction: Literal["inbound", "outbound", "internal"] = "inbound"
    ownerOid: str  # the partner whose mailbox or note this is
    contactIds: list[str] = Field(default_factory=list)
    accountIds: list[str] = Field(default_factory=list)
    participants: list[str] = Field(default_factory=list)
    source: str = ""
    sourceId: str = ""
    excerpt: str | None = None
    text: str | None = None  # a partner's own note text

    @classmethod
    def id_for(cls, source: str, source_id: str) -> str:
        return stable_id("ix", source, source_id)

    def index_keys(self) -> list[str]:
        # Only what is queried: a contact's history. Interactions are the biggest family (millions a
        # firm), so every extra key is an index row per mail; add "acct:"/"owner:" keys with the
        # first query that needs them (an account timeline, a partner's activity report).
        return [f"ct:{c}" for c in self.contactIds]

    def sort_at(self) -> str:
        return _iso(self.at)


class Attendee(BaseModel):
    model_config = ConfigDict(extra="ignore")
    email: str
    name: str = ""
    type: Literal["required", "optional", "resource"] = "required"
    response: str = "none"


class Meeting(Record):
    doc_type: ClassVar[str] = "meeting"
    family: ClassVar[str] = "meetings"
    eventId: str
    organizerOid: str
    organizerEmail: str = ""
    subject: str = ""
    start: datetime
    end: datetime
    attendees: list[Attendee] = Field(default_factory=list)
    contactIds: list[str] = Field(default_factory=list)  # external attendees known as contacts
    accountIds: list[str] = Field(default_factory=list)
    isOnline: bool = False
    isCancelled: bool = False
    seriesMasterId: str | None = None
    webLink: str = ""
    briefsSent: dict[str, str] = Field(default_factory=dict)  # partner oid -> start time the brief showed

    @classmethod
    def id_for(cls, mailbox_oid: str, event_id: str) -> str:
        return stable_id("mt", mailbox_oid, event_id)

    @property
    def external(self) -> bool:
        return bool(self.contactIds)

    def index_keys(self) -> list[str]:
        return [f"org:{self.organizerOid}"] + [f"ct:{c}" for c in self.contactIds] + [
            f"acct:{a}" for a in self.accountIds
        ]

    def sort_at(self) -> str:
        return _iso(self.start)


class Draft(Record):
    """A BD action awaiting the owning partner's approval. Recipients are chosen by code."""

    doc_type: ClassVar[str] = "draft"
    family: ClassVar[str] = "drafts"
    kind: Literal["followup", "enquiry_reply", "intro"] = "followup"
    ownerOid: str
    meetingId: str | None = None
    accountIds: list[str] = Field(default_factory=list)
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    subject: str = ""
    body: str = ""
    version: int = 1
    state: DraftState = "drafted"
    drafter: str = "template"
    # Why the draft exists beyond its kind: "" for a meeting's follow-up, "counsel_move" for the
    # congratulations note after a move (rapport.relationships.moves), and for an enquiry's draft
    # "ack" (the conflict-safe acknowledgement) or "touch:N" (the cadence's N-th follow-up).
    purpose: str = ""
    flags: list[str] = Field(default_factory=list)
    approvedBy: str | None = None
    approvedAt: datetime | None = None
    sentAt: datetime | None = None
    snoozedUntil: datetime | None = None
    failureReason: str | None = None
    cardActivityId: str | None = None  # the approval card's Teams activity, updated in place after a send
    # An enquiry's draft (kind "enquiry_reply"): which enquiry (its `purpose` says what for). Sent
    # by the same approval and send.
    enquiryId: str | None = None
    createdAt: datetime = Field(default_factory=utcnow)
    updatedAt: datetime = Field(default_factory=utcnow)

    def index_keys(self) -> list[str]:
        return [f"state:{self.state}", f"owner:{self.ownerOid}", f"owner-state:{self.ownerOid}:{self.state}"] + (
            [f"meeting:{self.meetingId}"] if self.meetingId else []
        )

    def sort_at(self) -> str:
        return _iso(self.updatedAt)


EnquiryStage = Literal["enquiry", "needs_analysis", "proposal", "negotiation", "instructed", "lost"]
ENQUIRY_STAGES: tuple[str, ...] = ("enquiry", "needs_analysis", "proposal", "negotiation", "instructed", "lost")
OPEN_STAGES: tuple[str, ...] = ("enquiry", "needs_analysis", "proposal", "negotiation")
# Stages stored before the pipeline had its own (issue 16): read as the nearest new stage, so stored
# records still load; the next write stores the new name.
_LEGACY_STAGES = {"new": "enquiry", "responded": "enquiry", "qualified": "needs_analysis", "won": "instructed"}


class StageChange(BaseModel):
    model_config = ConfigDict(extra="ignore")
    stage: str
    byOid: str = ""
    at: datetime


class Touch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    n: int
    draftId: str = ""
    at: datetime


class Enquiry(Record):
    """A new matter someone outside the firm asked about, from first mail to instructed or lost.

    The clock: `receivedAt` to `firstResponseAt` (the first reply from anyone at the firm, or a call
    someone logged, credited to `firstResponderOid`), counted in the firm's working hours (rapport.pipeline.clock). After a
    proposal, `touches` are the cadence's follow-ups; a reply from the prospect pauses it."""

    doc_type: ClassVar[str] = "enquiry"
    family: ClassVar[str] = "pipeline"
    accountId: str | None = None
    contactId: str | None = None
    ownerOid: str | None = None
    subject: str = ""
    stage: EnquiryStage = "enquiry"
    receivedAt: datetime = Field(default_factory=utcnow)
    firstResponseAt: datetime | None = None
    firstResponderOid: str | None = None
    firstResponseChannel: Literal["", "email", "call"] = ""  # how it was answered ("" before calls were logged)
    responseSeconds: int | None = None  # working seconds from receipt to the first reply (the metric)
    conflictsCleared: bool = False
    lostReason: str = ""
    stageChanges: list[StageChange] = Field(default_factory=list)
    touches: list[Touch] = Field(default_factory=list)
    followUpCount: int = 0  # before issue 16; kept so old records read the same
    # How it came in and why (shown on the card): "mail" | "mailbox" | "manual"; e.g. "new sender, first thread".
    source: str = "manual"
    reason: str = ""
    receivedBy: str | None = None  # the partner (or shared mailbox) it was addressed to
    knownBy: list[str] = Field(default_factory=list)  # partners who already know the sender's company
    sourceMessageId: str = ""
    conversationId: str = ""
    ackDraftId: str | None = None
    overdueNotifiedAt: datetime | None = None
    proposalAt: datetime | None = None
    cadencePausedAt: datetime | None = None
    cadenceAskedAt: datetime | None = None
    mergedInto: str | None = None  # merged into another enquiry of the same person: closed, never shown

    @field_validator("stage", mode="before")
    @classmethod
    def _legacy_stage(cls, v: Any) -> Any:
        return _LEGACY_STAGES.get(v, v) if isinstance(v, str) else v

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES and self.mergedInto is None

    @property
    def clock_running(self) -> bool:
        return self.is_open and self.firstResponseAt is None

    @property
    def cadence_active(self) -> bool:
        return (self.is_open and self.stage in ("proposal", "negotiation") and self.cadencePausedAt is None
                and self.cadenceAskedAt is None)

    def index_keys(self) -> list[str]:
        state = "open" if self.is_open else "closed"
        keys = [f"acct:{self.accountId}:{state}", f"ct:{self.contactId}:{state}", f"pipeline:{state}"]
        if self.ownerOid:
            keys.append(f"owner:{self.ownerOid}:{state}")
        if self.clock_running:
            keys.append("clock:running")  # the timer's and capture's working set: unanswered enquiries
        if self.cadence_active:
            keys.append("cadence:active")
        return keys

    def sort_at(self) -> str:
        return _iso(self.receivedAt)


class Opportunity(Record):
    doc_type: ClassVar[str] = "opportunity"
    family: ClassVar[str] = "pipeline"
    accountId: str | None = None
    ownerOid: str | None = None
    title: str = ""
    stage: Literal["identified", "pitching", "proposal", "won", "lost"] = "identified"
    value: int = 0
    openedAt: datetime = Field(default_factory=utcnow)
    followUpCount: int = 0

    @property
    def is_open(self) -> bool:
        return self.stage not in ("won", "lost")

    def index_keys(self) -> list[str]:
        state = "open" if self.is_open else "closed"
        return [f"acct:{self.accountId}:{state}", f"pipeline:{state}"]

    def sort_at(self) -> str:
        return _iso(self.openedAt)


class Campaign(Record):
    doc_type: ClassVar[str] = "campaign"
    family: ClassVar[str] = "pipeline"
    name: str
    kind: Literal["conference", "newsletter"] = "conference"
    startsAt: datetime | None = None
    contactIds: list[str] = Field(default_factory=list)

    def sort_at(self) -> str:
        return _iso(self.startsAt)


class Matter(Record):
    doc_type: ClassVar[str] = "matter"
    family: ClassVar[str] = "matters"
    accountId: str
    reference: str = ""
    title: str
    rights: list[str] = Field(default_factory=list)  # e.g. "EU trade mark 018234567"
    jurisdiction: str = ""
    responsibleOid: str | None = None
    renewalDate: datetime | None = None
    oppositionDeadline: datetime | None = None
    # From a docketing import (rapport.firm.matters); additive, so older records still load.
    officeActionDue: datetime | None = None
    annuityDue: datetime | None = None
    jurisdictions: list[str] = Field(default_factory=list)
    clientName: str = ""
    clientDomain: str = ""
    responsibleUpn: str = ""
    source: str = ""  # "import" for matters from the firm's IP management system

    @classmethod
    def id_for(cls, reference: str) -> str:
        """A matter's id from its docketing reference: re-importing the same reference updates it."""
        return stable_id("ma", reference.strip().casefold())

    def key_dates(self) -> list[tuple[str, datetime]]:
        """(kind, date) of every key date this matter has: THE list of date kinds (sidebar, briefs)."""
        pairs = (("renewal", self.renewalDate), ("opposition", self.oppositionDeadline),
                 ("office_action", self.officeActionDue), ("annuity", self.annuityDue))
        return [(k, d) for k, d in pairs if d is not None]

    def index_keys(self) -> list[str]:
        return [f"acct:{self.accountId}"]

    def sort_at(self) -> str:
        dates = [d for _, d in self.key_dates()]
        return _iso(min(dates)) if dates else ""


class Wall(Record):
    """An ethical wall: the screened people must not see these accounts or matters at all.

    Exclusionary (Intapp's word): `screenedOids`/`screenedUpns` are kept out. Inclusionary: when a
    wall has insiders (`insiderOids`/`insiderUpns`), everyone who is not one is kept out. People are
    matched by oid or by UPN (a wall imported before the person was known still holds them). An
    ended wall (`endedAt`, a full import that no longer lists it) screens no one. The rule that
    reads these is rapport.store.scope, and only it.
    """

    doc_type: ClassVar[str] = "wall"
    family: ClassVar[str] = "walls"
    name: str = ""
    accountIds: list[str] = Field(default_factory=list)
    matterIds: list[str] = Field(default_factory=list)
    screenedOids: list[str] = Field(default_factory=list)
    screenedUpns: list[str] = Field(default_factory=list)
    insiderOids: list[str] = Field(default_factory=list)
    insiderUpns: list[str] = Field(default_factory=list)
    externalId: str = ""  # the wall's id in the firm's walls system
    source: str = ""  # "import" for walls from the firm's walls system
    endedAt: datetime | None = None
    createdAt: datetime = Field(default_factory=utcnow)
    updatedAt: datetime | None = None

    @classmethod
    def id_for(cls, external_id: str) -> str:
        return stable_id("wl", external_id.strip())


class Signal(Record):
    """A counsel-move signal: a known contact now writes from another company or with a new title.

    `via` says how capture knows (and what from/to hold):
    - "domain": the same name writes from another company's domain (rapport.capture.merge);
      fromValue/toValue are the old and the new address, contactId the new address's contact;
    - "signature": the contact's own signature names another company (kind counsel_move) or another
      title at the same company (kind title_change); fromValue/toValue are the old and new company
      (or title), contactId the contact (same address);
    - "bounce": mail to the contact's address bounced as unknown there; fromValue is that address,
      toValue empty (where they went is not known)."""

    doc_type: ClassVar[str] = "signal"
    family: ClassVar[str] = "signals"
    kind: Literal["counsel_move", "title_change"] = "counsel_move"
    via: Literal["domain", "signature", "bounce"] = "domain"
    contactId: str
    accountIds: list[str] = Field(default_factory=list)
    summary: str = ""
    fromValue: str = ""
    toValue: str = ""
    at: datetime = Field(default_factory=utcnow)

    @property
    def is_move(self) -> bool:
        """A move with somewhere to write to (a new address or a new company): what the metrics count
        and the move tracking follows. A bounce says only that the old address is gone."""
        return self.kind == "counsel_move" and self.via != "bounce"

    def index_keys(self) -> list[str]:
        return [f"ct:{self.contactId}"] + [f"acct:{a}" for a in self.accountIds]

    def sort_at(self) -> str:
        return _iso(self.at)


class WeekStats(Record):
    """One partner's figures for one week (rapport.metrics.rollup): counts only, never a name, a
    subject or an address, so a report read from roll-ups cannot show what a viewer may not see.

    `week` is the Monday (YYYY-MM-DD) the week starts on in the partner's own time zone (`zone`).
    Written by the roll-up timer; a week whose windows are still open (a counsel move's 30 days) is
    written again until they close (`final`).
    """

    doc_type: ClassVar[str] = "weekstats"
    family: ClassVar[str] = "metrics"
    partnerOid: str
    week: str
    zone: str = "UTC"
    approved: int = 0  # BD actions the partner approved (docs/metrics.md)
    approvedByKind: dict[str, int] = Field(default_factory=dict)
    followupHours: list[float] = Field(default_factory=list)  # meeting end -> approval, per meeting
    meetings: int = 0  # external meetings that ended
    withoutFollowup: int = 0
    counselSurfaced: int = 0
    counselContacted7: int = 0
    counselContacted30: int = 0
    newRelationships: int = 0
    cold: int = 0  # strong relationships gone cold, as of `computedAt` (a snapshot)
    # Which ones (at most ten), for the partner's own desk only: never put in a report, a CSV or
    # another person's view (rapport.metrics.desk reads them back through the partner's ScopedStore).
    coldIds: list[str] = Field(default_factory=list)
    enquiries: int = 0  # received, owned by the partner
    enquiriesOnTime: int = 0
    enquiriesLate: int = 0
    enquiriesUnanswered: int = 0  # no response yet and past the response time
    opportunities: int = 0  # opened
    instructions: int = 0
    stageMoves: dict[str, int] = Field(default_factory=dict)  # moves into each pipeline stage
    pipeline: dict[str, int] = Field(default_factory=dict)  # open enquiries/opportunities by stage (snapshot)
    final: bool = False
    computedAt: datetime = Field(default_factory=utcnow)

    @classmethod
    def id_for(cls, partner_oid: str, week: str) -> str:
        return stable_id("wk", partner_oid, week)

    def index_keys(self) -> list[str]:
        return [f"partner:{self.partnerOid}"]

    def sort_at(self) -> str:
        return self.week


class AuditEvent(Record):
    """Who did what, when. Hashes and lengths only: never a mail or draft body."""

    doc_type: ClassVar[str] = "audit"
    family: ClassVar[str] = "audit"
    at: datetime = Field(default_factory=utcnow)
    actorOid: str
    action: str
    targetId: str = ""
    details: dict[str, Any] = Field(default_factory=dict)

    def index_keys(self) -> list[str]:
        return [f"action:{self.action}", f"target:{self.targetId}"]

    def sort_at(self) -> str:
        return _iso(self.at)


class IntroRequest(Record):
    """A colleague's request to be introduced to a contact someone at the firm keeps to themselves
    (rapport.relationships.intros). One open request per (contact, asker): asking again folds in."""

    doc_type: ClassVar[str] = "intro"
    family: ClassVar[str] = "relationships"
    contactId: str
    askerOid: str
    ownerOids: list[str] = Field(default_factory=list)  # the owners whose relationship is asked for
    routedTo: list[str] = Field(default_factory=list)  # who may answer (owners, or the managing partner)
    reason: str = ""
    asks: int = 1
    round: int = 1  # the n-th request of this (contact, asker); a closed one is never reopened
    state: Literal["open", "accepted", "declined"] = "open"
    answer: Literal["", "share", "introduce"] = ""
    answeredBy: str | None = None
    answerReason: str = ""
    createdAt: datetime = Field(default_factory=utcnow)
    answeredAt: datetime | None = None
    remindedAt: datetime | None = None

    @classmethod
    def id_for(cls, cid: str, asker_oid: str, round_: int) -> str:
        return stable_id("ir", cid, asker_oid, str(round_))

    def index_keys(self) -> list[str]:
        return [f"state:{self.state}", f"pair:{self.contactId}:{self.askerOid}"] + [f"to:{o}" for o in self.routedTo]

    def sort_at(self) -> str:
        return _iso(self.createdAt)


class MoveAlert(Record):
    """What Rapport did about one counsel-move signal (rapport.relationships.moves): raised to the
    partners who know the person once, dismissed for good, tracked to the first contact after it.
    A record of its own because capture re-derives signals (and rewrites them) at will."""

    doc_type: ClassVar[str] = "movealert"
    family: ClassVar[str] = "relationships"
    signalId: str
    contactId: str  # the person at the new address
    fromContactId: str
    state: Literal["raised", "dismissed"] = "raised"
    via: Literal["domain", "signature", "bounce"] = "domain"  # the signal's (a bounce is not tracked)
    partnerOids: list[str] = Field(default_factory=list)  # who was told
    draftIds: list[str] = Field(default_factory=list)
    raisedAt: datetime = Field(default_factory=utcnow)
    dismissedBy: str | None = None
    contactedAt: datetime | None = None

    @classmethod
    def id_for(cls, signal_id: str) -> str:
        return stable_id("ma", signal_id)

    def index_keys(self) -> list[str]:
        return [f"move-state:{self.state}", f"ct:{self.contactId}"]

    def sort_at(self) -> str:
        return _iso(self.raisedAt)


class WorkItem(Record):
    """Slow work written before the answer and drained after it (docs/architecture.md, "Work after the answer")."""

    doc_type: ClassVar[str] = "work"
    family: ClassVar[str] = "work"
    kind: str
    key: str
    payload: dict[str, Any] = Field(default_factory=dict)
    state: Literal["queued", "done", "dead"] = "queued"
    attempts: int = 0
    lastError: str | None = None
    notBefore: datetime = Field(default_factory=utcnow)
    createdAt: datetime = Field(default_factory=utcnow)
    queuedAt: datetime | None = None  # last (re)queued: createdAt, or when a settled item was asked again
    # The W3C trace of the request that queued it (rapport.telemetry): the work's span continues it.
    traceparent: str | None = None

    @classmethod
    def id_for(cls, kind: str, key: str) -> str:
        return stable_id("wi", kind, key)

    def index_keys(self) -> list[str]:
        return [f"state:{self.state}", f"kind:{self.kind}:{self.state}"]

    def sort_at(self) -> str:
        return _iso(self.notBefore)


class OutboxItem(Record):
    """A delivery the embedded default made locally instead of through Graph or Teams (/dev/outbox).

    The demo never mails anyone: mail and Teams messages land here, with the same idempotency key
    the real senders use, so "sent exactly once" is observable locally too.
    """

    doc_type: ClassVar[str] = "outbox"
    family: ClassVar[str] = "outbox"
    channel: Literal["mail", "teams", "actionable-mail"]
    idempotencyKey: str
    fromOid: str = ""
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    subject: str = ""
    body: str = ""
    card: dict[str, Any] | None = None
    at: datetime = Field(default_factory=utcnow)

    @classmethod
    def id_for(cls, channel: str, key: str) -> str:
        return stable_id("ob", channel, key)

    def sort_at(self) -> str:
        return _iso(self.at)


class SyncState(Record):
    """Where one mailbox folder's Graph delta sync stands: its latest deltaLink, per (partner, folder).

    The deltaLink is the only cursor: a notification just says "look", the sync reads the truth back
    from here. `folder` is "inbox", "sentitems" or "calendar" (the calendarView over `window*`).
    """

    doc_type: ClassVar[str] = "syncstate"
    family: ClassVar[str] = "sync"
    userOid: str
    folder: Literal["inbox", "sentitems", "calendar"]
    deltaLink: str | None = None
    windowStart: datetime | None = None  # calendar only: the rolling window the deltaLink encodes
    windowEnd: datetime | None = None
    lastSyncAt: datetime | None = None
    lastError: str | None = None
    restarts: int = 0  # how often an expired/410 delta link made it start over
    items: int = 0  # items read from Graph over the life of this state

    @classmethod
    def id_for(cls, user_oid: str, folder: str) -> str:
        return stable_id("sy", user_oid, folder)

    def index_keys(self) -> list[str]:
        return [f"user:{self.userOid}"]


class Subscription(Record):
    """A Graph change-notification subscription for one partner's messages or events.

    id = Graph's subscription id. The clientState secret is never stored: only its SHA-256.
    """

    doc_type: ClassVar[str] = "subscription"
    family: ClassVar[str] = "sync"
    userOid: str
    kind: Literal["messages", "events"]
    resource: str
    expiresAt: datetime
    clientStateHash: str
    state: Literal["active", "removed"] = "active"
    createdAt: datetime = Field(default_factory=utcnow)
    renewedAt: datetime | None = None

    def index_keys(self) -> list[str]:
        return [f"user:{self.userOid}", f"sub-state:{self.state}"]

    def sort_at(self) -> str:
        return _iso(self.expiresAt)


class SubscriptionRoute(Record):
    """The webhook's routing table: Graph subscription id -> the firm it belongs to.

    Stored in one fixed directory partition (ROUTES_PARTITION, not a tenant) because a notification
    must be routed before any tenant is known, and a body's tenantId is never trusted. Immutable:
    a recreated subscription gets a new id and a new route.
    """

    doc_type: ClassVar[str] = "subroute"
    family: ClassVar[str] = "sync"
    firmTenantId: str
    userOid: str
    kind: Literal["messages", "events"]
    clientStateHash: str


ROUTES_PARTITION = "_graph-routes"


class Suppression(Record):
    """An outside person the firm erased (`rapport contact forget`): capture never records them again.

    Keyed by a hash of the firm and the normalized address (Suppression.id_for), so the record holds
    no address or name: capture hashes each address it sees and drops the ones found here
    (rapport.capture.names.is_suppressed, the one rule).
    """

    doc_type: ClassVar[str] = "suppression"
    family: ClassVar[str] = "suppressions"
    at: datetime = Field(default_factory=utcnow)

    @classmethod
    def id_for(cls, tenant_id: str, email: str) -> str:
        return _suppression_id(tenant_id, normalize_email(email))

    def sort_at(self) -> str:
        return _iso(self.at)


@functools.lru_cache(maxsize=65536)  # capture asks for the same few thousand addresses over and over
def _suppression_id(tenant_id: str, normalized: str) -> str:
    return stable_id("sp", tenant_id, normalized)


# Records written outside any firm's partition, by the system itself: the audit line of a purged
# firm (it must outlive the firm's data, and holds no personal data). Never a tenant id (GUIDs).
SYSTEM_PARTITION = "_rapport-system"


RECORD_TYPES: dict[str, type[Record]] = {
    cls.doc_type: cls
    for cls in (
        Tenant, Person, Contact, Account, Interaction, Meeting, Draft, Enquiry, Opportunity,
        Campaign, Matter, Wall, Signal, WeekStats, AuditEvent, IntroRequest, MoveAlert, WorkItem, OutboxItem, SyncState, Subscription,
        SubscriptionRoute, Suppression,
    )
}

FAMILIES: tuple[str, ...] = tuple(sorted({cls.family for cls in RECORD_TYPES.values()}))


def iso(dt: datetime | None) -> str:
    """The sortable UTC text the stores index times by."""
    return _iso(dt)
