"""Capture: Graph mail and calendar metadata -> contacts, accounts, interactions, meetings, signals.

Two layers:
- `map_message` / `map_event` are pure: one Graph item (the JSON Graph returns) in, a `Captured` out
  (records as that single item shows them). No store, no clock.
- `ingest` merges a batch of mapped items with what the store already holds and writes the result.
  It is idempotent (the same batch twice changes nothing) and order-independent for duplicates:
  every id is deterministic and every merge is a max/union (names improve, never degrade; times
  widen; owners accumulate).

Metadata only: who, with whom, when, subject, direction. A body or bodyPreview is never stored
unless the firm turns `captureExcerpts` on, and then only a short sanitised excerpt.

Delta deletions (`"@removed"`):
- a removed message is left as history: the mail happened (a message moved out of the Inbox shows
  as removed too), so its Interaction stays;
- a removed or cancelled event marks its Meeting cancelled, and its Interaction (a meeting that did
  not take place is no touchpoint) is deleted. So: every live message -> exactly one Interaction;
  every event -> exactly one Meeting; every non-cancelled event -> exactly one Interaction.
  Series masters (`type: seriesMaster`) are skipped: calendarView delivers their occurrences.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapport.records import (
    Account,
    Attendee,
    Contact,
    Interaction,
    Meeting,
    Owner,
    Person,
    Signal,
    Tenant,
    account_id,
    contact_id,
    normalize_email,
    person_name_key,
    stable_id,
)
from rapport.store.base import AlreadyExists, Conflict, Store
from rapport.text import clean, cut

EXCERPT_CHARS = 200
YIELD_EVERY = 250  # items mapped between two turns of the event loop (webhook answers, the next page)

# Consumer mail domains: a person writing from one of these is a contact, but the domain is never
# an account (it says nothing about whom they work for). Families with many country TLDs are matched
# on their first label (yahoo.*, gmx.* ...).
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "passport.com",
    "icloud.com", "me.com", "mac.com", "aol.com", "ymail.com", "rocketmail.com", "proton.me",
    "protonmail.com", "protonmail.ch", "pm.me", "tutanota.com", "tuta.io", "fastmail.com", "zoho.com",
    "mail.com", "gmx.net", "web.de", "t-online.de", "freenet.de", "orange.fr", "wanadoo.fr", "free.fr",
    "laposte.net", "sfr.fr", "libero.it", "virgilio.it", "tiscali.it", "alice.it", "btinternet.com",
    "sky.com", "virginmedia.com", "ntlworld.com", "talktalk.net", "comcast.net", "verizon.net",
    "att.net", "sbcglobal.net", "cox.net", "bigpond.com", "optusnet.com.au", "shaw.ca", "rogers.com",
    "sympatico.ca", "qq.com", "163.com", "126.com", "yeah.net", "sina.com", "sohu.com", "aliyun.com",
    "foxmail.com", "naver.com", "daum.net", "hanmail.net", "nate.com", "rediffmail.com", "seznam.cz",
    "wp.pl", "o2.pl", "interia.pl", "onet.pl", "mail.ru", "bk.ru", "inbox.ru", "list.ru", "rambler.ru",
    "yandex.com", "ukr.net", "abv.bg", "ziggo.nl", "kpnmail.nl", "telenet.be", "skynet.be",
    "bluewin.ch", "hispeed.ch", "uol.com.br", "bol.com.br", "terra.com.br", "docomo.ne.jp",
    "ezweb.ne.jp", "nifty.com",
})
FREE_MAIL_FAMILIES = frozenset({"yahoo", "gmx", "hotmail", "outlook", "live", "yandex", "aol", "icloud"})

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

_TAG = re.compile(r"<[^>]*>")
_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


@dataclass
class IngestStats:
    messages: int = 0
    events: int = 0
    interactions: int = 0  # interactions written (new or re-delivered; re-delivery rewrites the same record)
    contacts_new: int = 0
    contacts_updated: int = 0
    accounts_new: int = 0
    signals: int = 0
    removed: int = 0  # delta deletions seen (removed messages and removed events)
    meetings: int = 0  # meetings created or changed
    skipped: int = 0  # items without the fields Rapport needs (counted, never fatal to the batch)

    def add(self, other: IngestStats) -> IngestStats:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


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

    @property
    def contacts(self) -> list[Contact]:
        """External people seen, owned by the mailbox's partner (visibility "firm")."""
        return [_contact(self.firm_id, cid, email, name, acct, self.owner, self.seen_at, self.seen_at)
                for cid, email, name, acct in self.sightings]

    @property
    def accounts(self) -> list[Account]:
        """Their company domains (never free-mail), named from the domain until someone names them."""
        return [_account(self.firm_id, acct_id, domain) for acct_id, domain in self.account_sightings]


def _contact(firm_id: str, cid: str, email: str, name: str, acct: str | None, owner: Person | None,
             first: datetime | None, last: datetime | None, last_touch: datetime | None = None) -> Contact:
    # model_construct: every field is built here from checked values (the address is already normalized).
    owners = [] if owner is None else [Owner.model_construct(
        oid=owner.oid, name=owner.name, visibility="firm", since=first,
        lastTouch=last if last_touch is None else last_touch)]
    return Contact.model_construct(id=cid, tenantId=firm_id, email=email, name=name, accountId=acct, owners=owners,
                                   firstSeen=first, lastSeen=last)


def _account(firm_id: str, acct_id: str, domain: str) -> Account:
    return Account(id=acct_id, tenantId=firm_id, domain=domain, name=account_name_from_domain(domain), kind="prospect")


# --- small pure helpers ------------------------------------------------------------------------


def is_free_mail(domain: str) -> bool:
    d = domain.lower()
    return d in FREE_MAIL_DOMAINS or d.split(".", 1)[0] in FREE_MAIL_FAMILIES


@lru_cache(maxsize=256)
def _domain_set(domains: tuple[str, ...]) -> frozenset[str]:
    return frozenset(d.strip().lower() for d in domains)


_AUTOMATED = re.compile(
    r"^(no-?reply|do-?not-?reply|mailer-daemon|postmaster|bounces?|notifications?|alerts?|calendar-notification)"
    r"([+._-].*)?$"
)


def is_automated(email: str) -> bool:
    """Machine senders (no-reply, bounces, notifications) are nobody to have a relationship with."""
    return bool(_AUTOMATED.match(email.partition("@")[0]))


def is_internal(domain: str, firm: Tenant) -> bool:
    """The firm's own domains and their subdomains are internal."""
    return _is_own(domain, tuple(firm.domains))


def _is_own(domain: str, own_domains: tuple[str, ...]) -> bool:
    own = _domain_set(own_domains)
    d = domain.lower()
    while True:  # "mail.firm.example" -> "firm.example" -> "example"
        if d in own:
            return True
        _, dot, d = d.partition(".")
        if not dot:
            return False


def clean_text(text: str | None) -> str:
    """One line of text as people should see it: Rapport's text rule (rapport.text.clean: no lone
    surrogate, control, bidi or zero-width character), whitespace collapsed. Not a str -> ""."""
    t = clean(text, multiline=False)
    if t.isprintable() and "  " not in t and t[:1] != " " and t[-1:] != " ":
        return t  # the common case, without splitting and joining
    return " ".join(t.split())


def clean_name(name: str | None) -> str:
    return _clean_name(name) if isinstance(name, str) and name else ""


@lru_cache(maxsize=65536)  # a mailbox shows the same few thousand names over and over
def _clean_name(name: str) -> str:
    n = clean_text(name).strip("'\"").strip()
    if n.count(",") == 1 and "@" not in n:
        last, first = (p.strip() for p in n.split(","))
        if first and last and " " not in last:  # "Doe, Jane" -> "Jane Doe"; leave "Acme, Inc" alone-ish
            n = f"{first} {last}"
    return n


@lru_cache(maxsize=65536)
def name_rank(name: str, email: str = "") -> tuple[int, int, int, str]:
    """How good a display name is; `better_name` keeps the highest. A total order, so the winner
    does not depend on the order names were seen in.

    0 empty; 1 address-like (has '@' or is the address' local part); 2 one word; 3 has an
    initial-only word ("J. Doe"); 4 a full name. Then: properly cased beats ALL CAPS/all lower,
    longer beats shorter, and the text itself breaks the last tie.
    """
    n = clean_name(name)
    if not n:
        return (0, 0, 0, "")
    local = email.partition("@")[0].lower()
    if "@" in n or (local and n.lower() == local) or n.lower() == email.lower():
        quality = 1
    else:
        words = [w.strip(".,") for w in n.split()]
        words = [w for w in words if w]
        if len(words) < 2:
            quality = 2
        elif any(len(w) == 1 for w in words):
            quality = 3
        else:
            quality = 4
    cased = 0 if (n.isupper() or n.islower()) else 1
    return (quality, cased, len(n), n)


def better_name(current: str, candidate: str, email: str = "") -> str:
    """The better of two display names for one address: never degrades a good name."""
    if current == candidate:
        return clean_name(current)
    a, b = clean_name(current), clean_name(candidate)
    return b if name_rank(b, email) > name_rank(a, email) else a


def account_name_from_domain(domain: str) -> str:
    """A first name for an account before anyone names it: "kestrel-bio.co.uk" -> "Kestrel Bio"."""
    labels = domain.lower().split(".")
    # Skip second-level public suffixes such as co.uk, com.au, co.jp.
    core = labels[-3] if len(labels) >= 3 and labels[-2] in {"co", "com", "ac", "or", "ne", "org", "gv"} else (
        labels[-2] if len(labels) >= 2 else labels[0]
    )
    return " ".join(p.capitalize() for p in re.split(r"[-_]", core) if p) or domain


def excerpt_of(text: str | None) -> str | None:
    """A short plain-text excerpt: HTML stripped, invisible characters removed, whitespace collapsed."""
    if not text:
        return None
    t = _HIDDEN.sub(" ", text)
    t = html.unescape(_TAG.sub(" ", t))
    t = clean_text(t)
    return cut(t, EXCERPT_CHARS) or None


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
    if _is_own(domain, own_domains):
        return None
    if is_automated(email):
        return None, None, domain
    return contact_id(email), None if is_free_mail(domain) else account_id(domain), domain


class _People:
    """Turns the addresses of one item into contact and account sightings (shared by mail and events)."""

    def __init__(self, firm: Tenant, owner: Person, at: datetime) -> None:
        self.firm, self.owner, self.at = firm, owner, at
        self.owner_email = owner.upn.lower()
        self.own_domains = tuple(firm.domains)
        self.contacts: dict[str, list] = {}  # contact id -> [email, name, account id]
        self.accounts: dict[str, str] = {}  # account id -> domain
        self.participants: list[str] = []
        self.any_external = False

    def see(self, email: str, name: str, *, person: bool = True) -> str | None:
        """Record one participant; returns the contact id when external. `person=False` (a room or
        other resource) and automated senders are participants, never contacts."""
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


def map_message(msg: dict, *, firm: Tenant, owner: Person, folder: str) -> Captured:
    """One Graph message -> one Interaction plus the contacts and accounts it shows. Pure."""
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
    people = _People(firm, owner, at)
    sender = _address(msg.get("from")) or _address(msg.get("sender"))
    if sender:
        people.see(*sender)
    for key in ("toRecipients", "ccRecipients", "bccRecipients"):
        for entry in msg.get(key) or ():
            a = _address(entry)
            if a:
                people.see(*a)
    if not people.any_external:
        direction = "internal"
    elif sent or (sender is not None and sender[0] == people.owner_email):
        direction = "outbound"
    else:
        direction = "inbound"
    ix = Interaction(
        id=Interaction.id_for("graph-mail", f"{owner.oid}:{msg['id']}"), tenantId=firm.id, channel="email",
        at=at, subject=clean_text(msg.get("subject"))[:300], direction=direction, ownerOid=owner.oid,
        contactIds=people.contact_ids, accountIds=people.account_ids, participants=people.participants,
        source="graph-mail", sourceId=f"{owner.oid}:{msg['id']}",
        excerpt=_excerpt(msg, firm),
    )
    return people.captured(interactions=[ix])


def _excerpt(item: dict, firm: Tenant) -> str | None:
    if not firm.settings.captureExcerpts:
        return None  # metadata only: the body is never even looked at
    body = item.get("body")
    text = item.get("bodyPreview") or (body.get("content") if isinstance(body, dict) else None)
    return excerpt_of(text if isinstance(text, str) else None)


def map_event(event: dict, *, firm: Tenant, owner: Person) -> Captured:
    """One Graph event (calendarView item) -> one Meeting and, unless cancelled, one Interaction."""
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
    people = _People(firm, owner, start)
    organizer = _address(event.get("organizer"))
    if organizer:
        people.see(*organizer)
    attendees: list[Attendee] = []
    for entry in event.get("attendees") or ():
        a = _address(entry)
        if not a:
            continue
        kind = str(entry.get("type") or "required").lower()
        people.see(*a, person=kind != "resource")
        status = entry.get("status") or {}
        attendees.append(Attendee(
            email=a[0], name=a[1], type=kind if kind in ("required", "optional", "resource") else "required",
            response=clean_text(status.get("response")) or "none" if isinstance(status, dict) else "none",
        ))
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
    subject = clean_text(event.get("subject"))[:300]
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
        participants=people.participants, source="graph-event", sourceId=source_id, excerpt=_excerpt(event, firm),
    )
    return people.captured(interactions=[ix], meetings=[meeting])


# --- merging (pure) ----------------------------------------------------------------------------


def _min_dt(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _max_dt(a: datetime | None, b: datetime | None, cap: datetime | None = None) -> datetime | None:
    if cap is not None:  # a meeting next week is no "last touch" yet
        a = None if a is not None and a > cap else a
        b = None if b is not None and b > cap else b
    return b if a is None else a if b is None else max(a, b)


def merge_contact(current: Contact, seen: Contact, now: datetime | None = None) -> Contact:
    """`current` updated with what capture saw in `seen` (same id). Pure; never loses data:
    names only improve, times only widen, owners accumulate (an existing owner keeps its visibility),
    title/phone and an account someone set are left alone."""
    out = current.model_copy()
    out.owners = [o.model_copy() for o in current.owners]  # the only mutable part we change
    out.name = better_name(current.name, seen.name, current.email)
    if out.accountId is None and seen.accountId is not None:
        out.accountId = seen.accountId
    out.firstSeen = _min_dt(current.firstSeen, seen.firstSeen)
    out.lastSeen = _max_dt(current.lastSeen, seen.lastSeen, now)
    owners = {o.oid: o for o in out.owners}
    for o in seen.owners:
        mine = owners.get(o.oid)
        if mine is None:
            owners[o.oid] = Owner(oid=o.oid, name=o.name, visibility=o.visibility, since=o.since,
                                  lastTouch=_max_dt(None, o.lastTouch, now))
        else:
            mine.since = _min_dt(mine.since, o.since)
            mine.lastTouch = _max_dt(mine.lastTouch, o.lastTouch, now)
            mine.name = mine.name or o.name
    out.owners = sorted(owners.values(), key=lambda o: o.oid)
    return out


def _same_contact(a: Contact, b: Contact) -> bool:
    return a.model_dump(exclude={"etag"}) == b.model_dump(exclude={"etag"})


def merge_meeting(current: Meeting, seen: Meeting) -> Meeting:
    """Graph is the truth for what Graph says; what Rapport added (briefs sent) is kept."""
    out = seen.model_copy(deep=True)
    out.briefsSent = dict(current.briefsSent)
    return out


def counsel_moves(group: Iterable[Contact]) -> list[Signal]:
    """The counsel-move signals a group of contacts sharing one full display name implies.

    Ordered by when each address was first seen, every address at a company account is a move away
    from the latest earlier address at a different company account. A function of the group alone
    (ingest re-evaluates a group whenever a member changes and removes signals it no longer implies),
    so the signals end up the same whatever order the mail arrived in.
    """
    members = sorted((c for c in group if c.accountId and c.firstSeen), key=lambda c: (c.firstSeen, c.id))
    out: list[Signal] = []
    # One pass: `last` is the latest member so far, `last_other` the latest one at another account
    # than `last`'s; so the latest earlier member at an account other than `to`'s is one of them.
    last: Contact | None = None
    last_other: Contact | None = None
    for to in members:
        frm = None
        if last is not None:
            frm = last if last.accountId != to.accountId else last_other
            if last.accountId != to.accountId:
                last_other = last
        last = to
        if frm is None:
            continue
        old_domain, new_domain = frm.email.rpartition("@")[2], to.email.rpartition("@")[2]
        out.append(Signal(
            id=stable_id("sg", "counsel_move", frm.id, to.id), tenantId=to.tenantId, kind="counsel_move",
            contactId=to.id, accountIds=[a for a in (to.accountId, frm.accountId) if a],
            summary=f"{to.name} now writes from {new_domain} (previously {old_domain})",
            fromValue=frm.email, toValue=to.email, at=to.firstSeen,
        ))
    return out


def _moves_changed(before: Contact | None, after: Contact) -> tuple[str, ...]:
    """The name keys whose counsel-move groups a contact write affects (none if nothing relevant moved)."""
    new_key = person_name_key(after.name)
    if before is None:
        return (new_key,) if new_key else ()
    old_key = person_name_key(before.name)
    if (old_key, before.firstSeen, before.accountId) == (new_key, after.firstSeen, after.accountId):
        return ()
    return tuple(k for k in {old_key, new_key} if k)


# --- ingest (store) ----------------------------------------------------------------------------


async def _gather_get(store: Store, cls: type, tenant_id: str, ids: list[str]) -> dict[str, Any]:
    """Point reads in small concurrent chunks (a Cosmos round trip each; SQLite answers at once)."""
    out: dict[str, Any] = {}
    for i in range(0, len(ids), 32):
        chunk = ids[i: i + 32]
        found = await asyncio.gather(*(store.get(cls, tenant_id, x) for x in chunk))
        out.update({k: v for k, v in zip(chunk, found, strict=True) if v is not None})
    return out


async def _rederive_moves(store: Store, tid: str, keys: list[str], fresh: set[str]) -> int:
    """Bring the counsel-move signals of each name group in line with its members. Returns how many
    signals are new. One find per key (a new contact with a unique name costs just that)."""
    created = 0
    for key in keys:
        group = await store.find_all(Contact, tid, key=f"name:{key}")
        if len(group) < 2 and all(c.id in fresh for c in group):
            continue  # a brand-new name: nothing to move from, and no old signal can mention it
        wanted = {s.id: s for s in counsel_moves(group)}
        have: dict[str, Signal] = {}
        for c in group:
            for s in await store.find_all(Signal, tid, key=f"ct:{c.id}"):
                if s.kind == "counsel_move":
                    have[s.id] = s
        for sid, sig in wanted.items():
            old = have.get(sid)
            if old is None:
                await store.put(sig)
                created += 1
            elif old.model_dump(exclude={"etag"}) != sig.model_dump(exclude={"etag"}):
                await store.put(sig)
        for sid in sorted(set(have) - set(wanted)):
            # Only signals of this group's members are looked at; one whose "from" left the group
            # (its name changed) is re-derived here, one of another group is left to that group.
            if have[sid].contactId in {c.id for c in group}:
                await store.delete(Signal, tid, sid)
    return created


async def ingest(
    store: Store, firm: Tenant, owner: Person, *, messages: Iterable[dict] = (), events: Iterable[dict] = (),
    folder: str = "inbox", now: datetime | None = None,
) -> IngestStats:
    """Map a batch of one mailbox's Graph items and merge them into the store. Idempotent.

    A one-batch `Ingestion`: see there for the order of writes and what guards concurrent mailboxes.
    """
    run = Ingestion(store, firm, owner, now=now)
    await run.add(messages=messages, events=events, folder=folder)
    return await run.finish()


class Ingestion:
    """One mailbox's ingestion of a delta round, batch by batch (`add`), closed by `finish`.

    Each batch writes its interactions and meetings at once (one bulk write), after creating the
    people and companies it shows that the store does not have yet, so a stored interaction never
    names a contact that is not there. What a round learns about people it already knows (a first
    or last sighting, a better name, another owner) is folded in memory over the whole round and
    written once, at `finish`: a first sync of a mailbox sees the same few thousand people in tens
    of thousands of mails, and rewriting each of them per batch was most of capture's cost (and, on
    Cosmos, of its request units). A crash before `finish` loses nothing: the round's delta link is
    only saved after it, so the next round reads the same items again, and every write is a merge.

    Contacts are written bound to the ETag read (or create-only), so two mailboxes capturing the same
    person concurrently both land their owner; the few that lose the race are re-read and re-applied.
    `now` caps "last touch" times so a future meeting does not count as contact yet.
    """

    # Folded people are written early once a round has seen this many (bounds the memory it holds).
    MAX_PEOPLE = 20_000

    def __init__(self, store: Store, firm: Tenant, owner: Person, *, now: datetime | None = None) -> None:
        self.store, self.firm, self.owner = store, firm, owner
        self.now = now or datetime.now(UTC)
        self.stats = IngestStats()
        self._sightings: dict[str, list] = {}  # contact id -> [email, name, account id, first, last]
        self._known: dict[str, Contact] = {}  # contact id -> the stored version (as read or written)
        self._accounts: set[str] = set()  # account ids known to be stored
        self._fresh: set[str] = set()  # contacts this round created
        self._regroup: set[str] = set()  # name keys whose counsel-move signals must be re-derived

    def _seen(self, cid: str) -> Contact:
        email, name, acct, first, last = self._sightings[cid]
        return _contact(self.firm.id, cid, email, name, acct, self.owner, first, last, last)

    async def add(self, *, messages: Iterable[dict] = (), events: Iterable[dict] = (), folder: str = "inbox") -> None:
        """Map one batch of items, create the people it shows that are new, write its interactions
        and meetings, and fold what it shows of everyone into the round."""
        now, stats, sightings = self.now, self.stats, self._sightings
        interactions: dict[str, Interaction] = {}
        meetings: dict[str, Meeting] = {}
        batch_contacts: set[str] = set()
        account_domains: dict[str, str] = {}
        cancelled: set[str] = set()
        dropped: set[str] = set()

        def take(c: Captured) -> None:
            if c.skipped:
                stats.skipped += 1
            if c.removed:
                stats.removed += 1
            for ix in c.interactions:
                interactions[ix.id] = ix
            for m in c.meetings:
                prev = meetings.get(m.id)
                meetings[m.id] = m if prev is None or not (prev.isCancelled and not m.isCancelled) else prev
            at = c.seen_at
            for cid, email, name, acct in c.sightings:
                batch_contacts.add(cid)
                agg = sightings.get(cid)
                if agg is None:
                    sightings[cid] = [email, name, acct, at, _max_dt(None, at, now)]
                else:
                    if name != agg[1]:
                        agg[1] = better_name(agg[1], name, email)
                    if agg[2] is None:
                        agg[2] = acct
                    agg[3] = _min_dt(agg[3], at)
                    agg[4] = _max_dt(agg[4], at, now)
            for acct_id, domain in c.account_sightings:
                account_domains.setdefault(acct_id, domain)
            cancelled.update(c.cancelled_meeting_ids)
            dropped.update(c.dropped_interaction_ids)

        for n, msg in enumerate(messages, 1):
            stats.messages += 1
            take(map_message(msg, firm=self.firm, owner=self.owner, folder=folder))
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let the next delta page download meanwhile (rapport.sync prefetches)
        for n, ev in enumerate(events, 1):
            stats.events += 1
            take(map_event(ev, firm=self.firm, owner=self.owner))
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        # A cancelled or removed event in the batch wins over a live copy of it (delta order is not trusted).
        for ix_id in dropped:
            interactions.pop(ix_id, None)
        for mid in cancelled:
            if mid in meetings:
                meetings[mid].isCancelled = True

        await self._create_accounts(account_domains)
        await self._create_contacts(sorted(batch_contacts))
        await self._write_items(interactions, meetings, cancelled, dropped)
        if len(sightings) >= self.MAX_PEOPLE:
            await self._write_people()

    async def finish(self) -> IngestStats:
        """Write what the round learnt about people, re-derive counsel moves; returns the round's stats."""
        await self._write_people()
        self.stats.signals += await _rederive_moves(self.store, self.firm.id, sorted(self._regroup), self._fresh)
        self._regroup.clear()
        return self.stats

    async def _create_accounts(self, domains: dict[str, str]) -> None:
        """Accounts: created once, never overwritten (the firm names and classifies them)."""
        tid = self.firm.id
        unknown = sorted(a for a in domains if a not in self._accounts)
        existing = await _gather_get(self.store, Account, tid, unknown)
        for acct_id in unknown:
            self._accounts.add(acct_id)
            if acct_id in existing:
                continue
            try:
                await self.store.put(_account(tid, acct_id, domains[acct_id]), create_only=True)
                self.stats.accounts_new += 1
            except AlreadyExists:
                pass

    async def _create_contacts(self, cids: list[str]) -> None:
        """The batch's contacts the store does not have yet, created (create-only, one checked batch)
        as the round has seen them so far; the ones it has are remembered for `_write_people`."""
        unknown = [cid for cid in cids if cid not in self._known]
        if not unknown:
            return
        self._known.update(await _gather_get(self.store, Contact, self.firm.id, unknown))
        creates = [(merge_contact(seen, seen, self.now), None, True)  # the merge applies the `now` cap
                   for seen in (self._seen(cid) for cid in unknown if cid not in self._known)]
        lost = {c.id for c in await self.store.put_checked(creates)}
        for first, _, _ in creates:
            if first.id in lost:  # another mailbox created it first: merged into theirs at the end
                self._known[first.id] = await self.store.get(Contact, self.firm.id, first.id) or first
                continue
            self._known[first.id] = first
            self.stats.contacts_new += 1
            self._fresh.add(first.id)
            self._regroup.update(_moves_changed(None, first))

    async def _write_people(self) -> None:
        """Merge the round's sightings into the stored contacts; write the ones that changed."""
        tid, now = self.firm.id, self.now
        updates: list[tuple[Contact, str | None, bool]] = []
        before: dict[str, Contact] = {}
        for cid in sorted(self._sightings):
            current = self._known[cid]
            merged = merge_contact(current, self._seen(cid), now)
            if not _same_contact(merged, current):
                before[cid] = current
                updates.append((merged, current.etag, False))
        refused = {c.id for c in await self.store.put_checked(updates)}
        for merged, _, _ in updates:
            if merged.id not in refused:
                self.stats.contacts_updated += 1
                self._regroup.update(_moves_changed(before[merged.id], merged))
        for cid in sorted(refused):
            # Someone else wrote this contact since it was read: re-read and re-apply the round's sighting.
            prior = await self.store.get(Contact, tid, cid)
            written = await self.store.update(Contact, tid, cid, lambda c, s=self._seen(cid): merge_contact(c, s, now))
            if written is not None:
                self.stats.contacts_updated += 1
                self._regroup.update(_moves_changed(prior, written))
        self._sightings.clear()
        self._known.clear()

    async def _write_items(self, interactions: dict[str, Interaction], meetings: dict[str, Meeting],
                           cancelled: set[str], dropped: set[str]) -> None:
        store, tid, stats = self.store, self.firm.id, self.stats
        # Interactions: one bulk write; deterministic ids make re-delivery a rewrite of the same record.
        if interactions:
            await store.put_many(interactions.values())
            stats.interactions += len(interactions)
        for ix_id in sorted(dropped):
            if await store.get(Interaction, tid, ix_id) is not None:
                await store.delete(Interaction, tid, ix_id)

        # Meetings: Graph's fields replace ours, Rapport's own (briefs sent) survive; ETag-bound.
        for mid in sorted(cancelled - set(meetings)):
            def cancel(m: Meeting) -> Meeting | None:
                if m.isCancelled:
                    return None
                m.isCancelled = True
                return m

            if await store.update(Meeting, tid, mid, cancel) is not None:
                stats.meetings += 1
        current_meetings = await _gather_get(store, Meeting, tid, sorted(meetings))
        # New meetings in one bulk write: a meeting's id is per mailbox, and a mailbox is synced by one
        # worker at a time (the sync serializes per mailbox), so nobody else can be creating it now.
        new_meetings = [meetings[mid] for mid in sorted(meetings) if mid not in current_meetings]
        if new_meetings:
            await store.put_many(new_meetings)
            stats.meetings += len(new_meetings)
        for mid in sorted(current_meetings):
            seen_m = meetings[mid]
            cur = current_meetings[mid]
            merged_m = merge_meeting(cur, seen_m)
            if merged_m.model_dump(exclude={"etag"}) == cur.model_dump(exclude={"etag"}):
                continue
            try:
                await store.put(merged_m, if_match=cur.etag)
            except Conflict:
                await store.update(Meeting, tid, mid, lambda m, s=seen_m: merge_meeting(m, s))
            stats.meetings += 1

