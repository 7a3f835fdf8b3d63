"""Graph JSON -> records, pure: one Graph message or event in, a `Captured` out (the records as that
single item shows them). No store, no clock. Also Graph's time format (`parse_graph_time`).

Imports: rapport.records and rapport.capture.names only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapport.capture.names import (
    account_name_from_domain,
    better_name,
    clean_name,
    clean_text,
    excerpt_of,
    is_automated,
    is_free_mail,
    is_internal,
    is_own_domain,
    is_suppressed,
)
from rapport.records import (
    Account,
    Attendee,
    Contact,
    Interaction,
    Meeting,
    Owner,
    Person,
    Tenant,
    account_id,
    contact_id,
    normalize_email,
)

# The Windows zone names Graph uses when a mailbox asked for local times (Prefer: outlook.timezone).
# Rapport asks for UTC; these cover items that still carry a Windows name.
_WINDOWS_ZONES = {
    "UTC": "UTC", "GMT Standard Time": "Europe/London", "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris", "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw", "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kyiv", "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago", "Mountain Standard Time": "America/Denver",
    "Pacific Standard Time": "America/Los_Angeles", "Tokyo Standard Time": "Asia/Tokyo",
    "China Standard Time": "Asia/Shanghai", "Singapore Standard Time": "Asia/Singapore",
    "India Standard Time": "Asia/Kolkata", "AUS Eastern Standard Time": "Australia/Sydney",
    "Korea Standard Time": "Asia/Seoul", "E. South America Standard Time": "America/Sao_Paulo",
}

@dataclass
class Captured:
    """What one Graph item shows: the records as that item alone would have them.

    People and companies are kept as light sightings (ingest folds a whole batch of them into one
    record each); `contacts` and `accounts` build the records as this item alone would have them.
    """

    interactions: list[Interaction] = field(default_factory=list)
    meetings: list[Meeting] = field(default_factory=list)
    sightings: list[tuple[str, str, str, str | None]] = field(default_factory=list)  # (contact id, email, name, account id)
    account_sightings: list[tuple[str, str]] = field(default_factory=list)  # (account id, domain), never free-mail
    seen_at: datetime | None = None
    firm_id: str = ""
    owner: Person | None = None
    cancelled_meeting_ids: list[str] = field(default_factory=list)  # removed events: mark cancelled
    dropped_interaction_ids: list[str] = field(default_factory=list)  # cancelled/removed events
    removed: bool = False
    skipped: bool = False
    sender: str | None = None  # a mail's sender, when a contact (external, a person): capture's targeted reads

    @property
    def contacts(self) -> list[Contact]:
        """External people seen, owned by the mailbox's partner (visibility "firm")."""
        return [contact_record(self.firm_id, cid, email, name, acct, self.owner, self.seen_at, self.seen_at)
                for cid, email, name, acct in self.sightings]

    @property
    def accounts(self) -> list[Account]:
        """Their company domains (never free-mail), named from the domain until someone names them."""
        return [account_record(self.firm_id, acct_id, domain) for acct_id, domain in self.account_sightings]


def contact_record(firm_id: str, cid: str, email: str, name: str, acct: str | None, owner: Person | None,
                   first: datetime | None, last: datetime | None, last_touch: datetime | None = None) -> Contact:
    # model_construct: every field is built here from checked values (the address is already normalized).
    owners = [] if owner is None else [Owner.model_construct(
        oid=owner.oid, name=owner.name, visibility="firm", since=first,
        lastTouch=last if last_touch is None else last_touch)]
    return Contact.model_construct(id=cid, tenantId=firm_id, email=email, name=name, accountId=acct, owners=owners,
                                   firstSeen=first, lastSeen=last)


def account_record(firm_id: str, acct_id: str, domain: str) -> Account:
    return Account(id=acct_id, tenantId=firm_id, domain=domain, name=account_name_from_domain(domain), kind="prospect")



def parse_graph_time(value: Any, tz: str | None = None) -> datetime:
    """Graph's ISO times ("...Z", or a dateTimeTimeZone with up to 7 fractional digits) -> aware UTC."""
    if isinstance(value, dict):
        return parse_graph_time(value.get("dateTime"), value.get("timeZone"))
    if not isinstance(value, str) or not value:
        raise ValueError("missing time")
    s = value.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", s)
    if m:  # Python 3.11 wants at most 6 fractional digits
        s = f"{m.group(1)}.{m.group(2)[:6]}{m.group(3)}"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        zone: Any = UTC
        if tz and tz.upper() not in ("UTC", "Z"):
            try:
                zone = ZoneInfo(_WINDOWS_ZONES.get(tz, tz))
            except (ZoneInfoNotFoundError, ValueError):
                zone = UTC
        dt = dt.replace(tzinfo=zone)
    return dt.astimezone(UTC)


def _address(entry: Any) -> tuple[str, str] | None:
    """(normalized address, display name) of a Graph recipient {emailAddress:{name,address}}."""
    if not isinstance(entry, dict):
        return None
    ea = entry.get("emailAddress", entry)
    if not isinstance(ea, dict):
        return None
    try:
        email = _normal_address(str(ea.get("address") or ""))
    except ValueError:
        return None  # X.500 legacy DNs, empty addresses: nobody Rapport can key
    return email, clean_name(ea.get("name"))


def sender_address(msg: dict[str, Any]) -> str:
    """The normalized address a Graph message is from, "" when it has none Rapport can key (the
    rule map_message uses; the targeted reads compare senders by it)."""
    found = _address(msg.get("from")) or _address(msg.get("sender"))
    return found[0] if found else ""


@lru_cache(maxsize=65536)
def _normal_address(address: str) -> str:
    # A mailbox sees the same few hundred addresses over and over: normalize each once.
    return normalize_email(address)


@lru_cache(maxsize=65536)
def _external(email: str, own_domains: tuple[str, ...]) -> tuple[str | None, str | None, str] | None:
    """(contact id, account id, domain) of a normalized address, or None when it is the firm's own.
    The contact id is None for automated senders, the account id None for free-mail domains.
    Cached: a mailbox sees the same few thousand addresses over and over."""
    domain = email.rpartition("@")[2]
    if is_own_domain(domain, own_domains):
        return None
    if is_automated(email):
        return None, None, domain
    return contact_id(email), None if is_free_mail(domain) else account_id(domain), domain


class _Participants:
    """Turns the addresses of one item into contact and account sightings (shared by mail and events)."""

    def __init__(self, firm: Tenant, owner: Person, at: datetime, suppressed: frozenset[str] = frozenset()) -> None:
        self.firm, self.owner, self.at, self.suppressed = firm, owner, at, suppressed
        self.dropped = False  # an erased person took part (is_suppressed): left out entirely
        self.owner_email = owner.upn.lower()
        self.own_domains = tuple(firm.domains)
        self.contacts: dict[str, list] = {}  # contact id -> [email, name, account id]
        self.accounts: dict[str, str] = {}  # account id -> domain
        self.participants: list[str] = []
        self.any_external = False

    def see(self, email: str, name: str, *, person: bool = True) -> str | None:
        """Record one participant; returns the contact id when external. `person=False` (a room or
        other resource) and automated senders are participants, never contacts. An erased person
        (is_suppressed) is none of these: None, and the item is marked."""
        if self.suppressed and is_suppressed(email, self.firm.id, self.suppressed):
            self.dropped = True
            return None
        if email not in self.participants:
            self.participants.append(email)
        ext = None if email == self.owner_email else _external(email, self.own_domains)
        if ext is None:
            return None
        self.any_external = True
        cid, acct_id, domain = ext
        if not person or cid is None:
            return None
        if acct_id is not None:
            self.accounts.setdefault(acct_id, domain)
        seen = self.contacts.get(cid)
        if seen is None:
            self.contacts[cid] = [email, better_name("", name, email), acct_id]
        else:
            seen[1] = better_name(seen[1], name, email)
        return cid

    def captured(self, **kw: Any) -> Captured:
        return Captured(sightings=[(cid, *v) for cid, v in self.contacts.items()],
                        account_sightings=list(self.accounts.items()), seen_at=self.at, firm_id=self.firm.id,
                        owner=self.owner, **kw)

    @property
    def contact_ids(self) -> list[str]:
        return list(self.contacts)

    @property
    def account_ids(self) -> list[str]:
        return list(self.accounts)


# --- the mapping (pure) ------------------------------------------------------------------------


def map_message(msg: dict, *, firm: Tenant, owner: Person, folder: str,
                suppressed: frozenset[str] = frozenset()) -> Captured:
    """One Graph message -> one Interaction plus the contacts and accounts it shows. Pure.
    `suppressed`: the firm's erased people (Suppression ids): a mail with no one else outside the
    firm is skipped, else they are left out of it."""
    if not isinstance(msg, dict) or not msg.get("id"):
        return Captured(skipped=True)
    if "@removed" in msg:
        return Captured(removed=True)  # history stays: the mail happened
    try:
        sent = folder.lower() in ("sentitems", "sent", "sent items")
        at = parse_graph_time(
            (msg.get("sentDateTime") if sent else msg.get("receivedDateTime"))
            or msg.get("receivedDateTime") or msg.get("sentDateTime")
        )
    except ValueError:
        return Captured(skipped=True)
    people = _Participants(firm, owner, at, suppressed)
    sender = _address(msg.get("from")) or _address(msg.get("sender"))
    sender_id = people.see(*sender) if sender else None
    for key in ("toRecipients", "ccRecipients", "bccRecipients"):
        for entry in msg.get(key) or ():
            a = _address(entry)
            if a:
                people.see(*a)
    if people.dropped and not people.any_external:
        return Captured(skipped=True)  # a mail with an erased person only: not recorded at all
    if not people.any_external:
        direction = "internal"
    elif sent or (sender is not None and sender[0] == people.owner_email):
        direction = "outbound"
    else:
        direction = "inbound"
    ix = Interaction(
        id=Interaction.id_for("graph-mail", f"{owner.oid}:{msg['id']}"), tenantId=firm.id, channel="email",
        # With an erased person in it, the mail is kept for the others without its subject or text
        # (they may name that person; the suppression holds no name to scrub them by).
        at=at, subject="" if people.dropped else clean_text(msg.get("subject"))[:300], direction=direction,
        ownerOid=owner.oid, contactIds=people.contact_ids, accountIds=people.account_ids,
        participants=people.participants, source="graph-mail", sourceId=f"{owner.oid}:{msg['id']}",
        excerpt=None if people.dropped else _excerpt(msg, firm),
    )
    return people.captured(interactions=[ix], sender=sender_id)


def _excerpt(item: dict, firm: Tenant) -> str | None:
    if not firm.settings.captureExcerpts:
        return None  # metadata only: the body is never even looked at
    body = item.get("body")
    text = item.get("bodyPreview") or (body.get("content") if isinstance(body, dict) else None)
    return excerpt_of(text if isinstance(text, str) else None)


def map_event(event: dict, *, firm: Tenant, owner: Person, suppressed: frozenset[str] = frozenset()) -> Captured:
    """One Graph event (calendarView item) -> one Meeting and, unless cancelled, one Interaction.
    An erased person (`suppressed`, as map_message) is left out, and so is an event with no one
    else outside the firm."""
    if not isinstance(event, dict) or not event.get("id"):
        return Captured(skipped=True)
    meeting_id = Meeting.id_for(owner.oid, event["id"])
    source_id = f"{owner.oid}:{event['id']}"
    ix_id = Interaction.id_for("graph-event", source_id)
    if "@removed" in event:
        return Captured(cancelled_meeting_ids=[meeting_id], dropped_interaction_ids=[ix_id], removed=True)
    if event.get("type") == "seriesMaster":
        return Captured(skipped=True)  # its occurrences come on their own
    try:
        start = parse_graph_time(event.get("start"))
        end = parse_graph_time(event.get("end"))
    except ValueError:
        return Captured(skipped=True)
    people = _Participants(firm, owner, start, suppressed)
    organizer = _address(event.get("organizer"))
    if organizer:
        people.see(*organizer)
        if people.dropped:
            organizer = None
    attendees: list[Attendee] = []
    for entry in event.get("attendees") or ():
        a = _address(entry)
        if not a:
            continue
        if suppressed and is_suppressed(a[0], firm.id, suppressed):
            people.dropped = True  # not an attendee either
            continue
        kind = str(entry.get("type") or "required").lower()
        people.see(*a, person=kind != "resource")
        status = entry.get("status") or {}
        attendees.append(Attendee(
            email=a[0], name=a[1], type=kind if kind in ("required", "optional", "resource") else "required",
            response=clean_text(status.get("response")) or "none" if isinstance(status, dict) else "none",
        ))
    if people.dropped and not people.any_external:
        return Captured(skipped=True)  # a meeting with an erased person only: not recorded at all
    cancelled = bool(event.get("isCancelled"))
    organizer_email = organizer[0] if organizer else ""
    if not people.any_external:
        direction = "internal"
    elif organizer is None or organizer_email == people.owner_email or is_internal(
        organizer_email.rpartition("@")[2], firm
    ):
        direction = "outbound"
    else:
        direction = "inbound"
    subject = "" if people.dropped else clean_text(event.get("subject"))[:300]  # as map_message
    meeting = Meeting(
        id=meeting_id, tenantId=firm.id, eventId=str(event["id"]),
        organizerOid=owner.oid,  # the calendar's owner ("my meetings"); the organizer's address is below
        organizerEmail=organizer_email, subject=subject, start=start, end=end, attendees=attendees,
        contactIds=people.contact_ids, accountIds=people.account_ids, isOnline=bool(event.get("isOnlineMeeting")),
        isCancelled=cancelled, seriesMasterId=event.get("seriesMasterId") or None,
        webLink=clean_text(event.get("webLink")),
    )
    if cancelled:
        return people.captured(meetings=[meeting], dropped_interaction_ids=[ix_id])
    ix = Interaction(
        id=ix_id, tenantId=firm.id, channel="meeting", at=start, subject=subject, direction=direction,
        ownerOid=owner.oid, contactIds=people.contact_ids, accountIds=people.account_ids,
        participants=people.participants, source="graph-event", sourceId=source_id,
        excerpt=None if people.dropped else _excerpt(event, firm),
    )
    return people.captured(interactions=[ix], meetings=[meeting])
