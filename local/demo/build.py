"""The demo firm, built: a synthetic IP law firm, reproducible from a seed (local only).

`build_demo(seed, now)` is pure: it returns the firm, its people and accounts, and each partner's
mailbox as GRAPH-SHAPED message and event JSON (what calendarView/messages delta return); local.demo.seed
feeds those mailboxes through `rapport.capture.ingest` (the same mapping real Graph data takes). It is
built in three steps that draw, in this order, from one random stream: the people (partners,
accounts and their contacts, individuals, counsel moves), the mailboxes (mail, then calendars), the
firm's own records (matters, the wall, the pipeline). Every id is derived from the seed, never from
`now`.

Addresses live under the reserved `.example` TLD: the demo can never name a real organisation.
"""

from __future__ import annotations

import base64
import hashlib
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local.demo import data
from local.demo.data import (
    ASSOCIATE_SUBJECTS,
    CLIENT_SUBJECTS,
    DEMO_FIRM_DOMAIN,
    DEMO_FIRM_DOMAINS,
    DEMO_FIRM_NAME,
    DEMO_PARTNERS,
    DEMO_TENANT_ID,
    MEETING_SUBJECTS,
    PREVIEWS,
    PROSPECT_SUBJECTS,
    WALLED_CLIENT,
)
from rapport.records import (
    Account,
    Campaign,
    Enquiry,
    Matter,
    Opportunity,
    Person,
    Record,
    StageChange,
    Tenant,
    Wall,
    contact_id,
    stable_id,
)


@dataclass
class DemoContact:
    email: str
    name: str
    title: str
    domain: str | None  # None: a free-mail individual (no account)
    phone: str = ""
    private_owner: str | None = None  # oid of the one partner who keeps this contact private
    active_from: datetime | None = None
    active_until: datetime | None = None

    @property
    def id(self) -> str:
        return contact_id(self.email)


@dataclass
class DemoMailbox:
    partner: Person
    inbox: list[dict] = field(default_factory=list)
    sent: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)


@dataclass
class DemoFirm:
    seed: int
    now: datetime
    tenant: Tenant
    partners: list[Person]
    accounts: list[Account]
    contacts: list[DemoContact]
    mailboxes: list[DemoMailbox]
    matters: list[Matter]
    walls: list[Wall]
    enquiries: list[Enquiry]
    opportunities: list[Opportunity]
    campaigns: list[Campaign]
    counsel_moves: list[tuple[str, str]]  # (old address, new address) of the same person

    def firm_records(self) -> list[Record]:
        """What the firm records itself, written directly (not through capture)."""
        return [*self.matters, *self.walls, *self.enquiries, *self.opportunities, *self.campaigns]

    def partner(self, name_or_upn: str) -> Person:
        for p in self.partners:
            if name_or_upn in (p.name, p.upn, p.oid):
                return p
        raise KeyError(name_or_upn)


# --- helpers ------------------------------------------------------------------------------------


def _ascii(text: str) -> str:
    t = text.lower().replace("ı", "i").replace("ø", "o").replace("æ", "ae").replace("ß", "ss").replace("ł", "l")
    t = "".join(c for c in unicodedata.normalize("NFKD", t) if not unicodedata.combining(c))
    return "".join(c for c in t if c.isascii() and (c.isalnum() or c in "-.")).strip(".-")


def _graph_id(prefix: str, *parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return prefix + base64.urlsafe_b64encode(digest + digest[:12]).decode().rstrip("=")


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dtz(dt: datetime) -> dict[str, str]:
    return {"dateTime": dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _addr(name: str, email: str) -> dict[str, Any]:
    return {"emailAddress": {"name": name, "address": email}}


def _business_time(rng: random.Random, day: datetime) -> datetime:
    d = day
    while d.weekday() >= 5:  # weekends are quiet
        d -= timedelta(days=1)
    return d.replace(hour=rng.randint(7, 17), minute=rng.choice((0, 5, 12, 20, 30, 41, 45, 52)), second=rng.randint(0, 59),
                     microsecond=0)


@dataclass
class _Acct:
    account: Account
    slug: str
    partners: list[str]  # oids, primary first
    weight: float
    contacts: list[DemoContact] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)


@dataclass
class _Cast:
    """The first step's result: the firm, its partners, whom they deal with and when each is reachable."""

    tenant: Tenant
    partners: list[Person]
    accts: list[_Acct]
    individuals: list[DemoContact]  # on free mail: contacts of one partner each, never accounts
    indiv_owner: dict[str, str]  # individual's address -> the partner's oid
    moves: list[tuple[str, str]]  # counsel moves: (old address, new address)
    windows: dict[str, tuple[float, float]]  # address -> (reachable after, until) in days ago

    @property
    def oids(self) -> list[str]:
        return [p.oid for p in self.partners]

    @property
    def walled_oid(self) -> str:
        return self.oids[-1]

    @property
    def by_slug(self) -> dict[str, _Acct]:
        return {a.slug: a for a in self.accts}

    @property
    def prospects(self) -> list[_Acct]:
        return [a for a in self.accts if a.account.kind == "prospect"]

    @property
    def people_by_oid(self) -> dict[str, Person]:
        return {p.oid: p for p in self.partners}

    def active(self, c: DemoContact, days_ago: float, oid: str) -> bool:
        """Whether `c` is reachable `days_ago` days ago by partner `oid` (private contacts: their owner only)."""
        if c.private_owner and c.private_owner != oid:
            return False
        after, until = self.windows.get(c.email, (10_000.0, -10_000.0))
        return until < days_ago <= after


def _fill(rng: random.Random, now: datetime, template: str, a: _Acct) -> str:
    """A subject template filled in for account `a` (draws from `rng`)."""
    mark = rng.choice(a.marks)
    return template.format(
        mark=mark, mark2=rng.choice(data.MARKS) + " " + rng.choice(["LABS", "CO", "PLUS"]), mark_l=_ascii(mark).replace(" ", ""),
        cls=rng.choice([3, 5, 9, 25, 28, 30, 32, 33, 35, 41, 42]), jur=rng.choice(["EU", "UK", "US", "WIPO"]),
        ref=f"AP/{rng.randint(1000, 9999)}/{rng.choice(['TM', 'DS', 'LIT'])}", n=rng.randint(2, 6),
        country=rng.choice(data.COUNTRIES_FOR_FILING), due=(now + timedelta(days=rng.randint(5, 60))).strftime("%d %b"),
        num=f"DN-{rng.randint(10000, 99999)}", year=now.year, company=a.account.name,
    )


# --- the builder --------------------------------------------------------------------------------


def build_demo(seed: int = 7, now: datetime | None = None) -> DemoFirm:
    """The demo firm for `seed`, its times relative to `now`. Pure and reproducible."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    rng = random.Random(seed)  # one stream, drawn by the three steps in this order
    cast = _people(rng, now)
    mailboxes = _mailboxes(rng, seed, now, cast)
    matters, walls, enquiries, opportunities, campaigns = _firm_records(rng, now, cast)
    contacts = [c for a in cast.accts for c in a.contacts] + cast.individuals
    return DemoFirm(
        seed=seed, now=now, tenant=cast.tenant, partners=cast.partners, accounts=[a.account for a in cast.accts],
        contacts=contacts, mailboxes=mailboxes, matters=matters, walls=walls, enquiries=enquiries,
        opportunities=opportunities, campaigns=campaigns, counsel_moves=cast.moves,
    )


# --- 1. people: partners, accounts and their contacts, individuals, counsel moves -----------------


def _people(rng: random.Random, now: datetime) -> _Cast:
    tid = DEMO_TENANT_ID
    tenant = Tenant(id=tid, tenantId=tid, name=DEMO_FIRM_NAME, domains=list(DEMO_FIRM_DOMAINS),
                    partners=[f"{p[1]}@{DEMO_FIRM_DOMAIN}" for p in DEMO_PARTNERS],
                    createdAt=datetime(2024, 1, 1, tzinfo=UTC))
    partners = [
        Person(id=oid, tenantId=tid, oid=oid, upn=f"{local}@{DEMO_FIRM_DOMAIN}", name=name, title=title, team=team)
        for oid, local, name, title, team in DEMO_PARTNERS
    ]
    oids = [p.oid for p in partners]
    used_names: set[tuple[str, str]] = set()

    def unique_name(firsts: list[str], lasts: list[str]) -> tuple[str, str]:
        for _ in range(500):
            pair = (rng.choice(firsts), rng.choice(lasts))
            if pair not in used_names:
                used_names.add(pair)
                return pair
        raise RuntimeError("name pool exhausted")

    def phone(cc: str) -> str:
        return f"+{cc} {rng.randint(10, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
    accts: list[_Acct] = []

    def add_account(name: str, slug: str, kind: str, country: str, weight: float, titles: list[str], n: int,
                    firsts: list[str], lasts: list[str], cc: str) -> _Acct:
        domain = f"{slug}.example"
        if slug == WALLED_CLIENT:
            owners = [oids[0], oids[2]]
        else:
            owners = rng.sample(oids, k=2 if kind != "prospect" else 1)
        a = _Acct(Account.new(tid, domain, name=name, kind=kind, country=country), slug, owners, weight)
        for i in range(n):
            first, last = unique_name(firsts, lasts)
            title = titles[0] if i == 0 else rng.choice(titles)
            a.contacts.append(DemoContact(
                email=f"{_ascii(first)}.{_ascii(last).replace(' ', '')}@{domain}".replace(" ", ""),
                name=f"{first} {last}", title=title, domain=domain, phone=phone(cc),
            ))
        base = name.split()[0].upper().replace("&", "")
        a.marks = [base, f"{base} {rng.choice(['PRO', 'ONE', 'PURE', 'GO', 'CLASSIC'])}", *rng.sample(data.MARKS, 2)]
        accts.append(a)
        return a

    for name, slug in data.CLIENTS:
        add_account(name, slug, "client", rng.choice(["United Kingdom", "Germany", "France", "Ireland", "Netherlands"]),
                    rng.uniform(1.2, 3.0), data.CLIENT_TITLES, rng.randint(5, 8), data.FIRST_NAMES, data.LAST_NAMES, "44")
    for name, slug in data.PROSPECTS:
        add_account(name, slug, "prospect", rng.choice(["United Kingdom", "United States", "Germany", "Sweden"]),
                    rng.uniform(0.2, 0.6), data.PROSPECT_TITLES, rng.randint(2, 4), data.FIRST_NAMES, data.LAST_NAMES, "44")
    for name, slug, country, _code, firsts, lasts in data.ASSOCIATES:
        add_account(name, slug, "foreign_associate", country, rng.uniform(0.7, 1.4), data.ASSOCIATE_TITLES,
                    rng.randint(4, 6), firsts, lasts, str(rng.randint(30, 99)))
    by_slug = {a.slug: a for a in accts}

    # Individuals on free mail: contacts of one partner each, never accounts.
    individuals = [
        DemoContact(email=email, name=name, title=title, domain=None, phone=phone("44"))
        for name, email, title in data.INDIVIDUALS
    ]
    indiv_owner = {c.email: rng.choice(oids[:3]) for c in individuals}

    # Private contacts: three prospect contacts only one partner deals with, kept private.
    prospects = [a for a in accts if a.account.kind == "prospect"]
    private: list[DemoContact] = []
    for a in prospects[:3]:
        c = a.contacts[-1]
        c.private_owner = a.partners[0]
        private.append(c)

    # Counsel moves: a client's trade mark counsel moves to another company; same name, new address.
    moves: list[tuple[str, str]] = []
    # Who is reachable when is decided on days-ago, never on `now`'s calendar, so the same items
    # (and so the same Graph ids) come out whatever `now` is: email -> (active after, active until) days ago.
    windows: dict[str, tuple[float, float]] = {}
    for (src_slug, dst_slug, days_ago) in (("norvale", "cobaltine", 150), ("lumora", "pellucid", 45)):
        src, dst = by_slug[src_slug], by_slug[dst_slug]
        mover = src.contacts[1]
        mover.title = "Trademark Counsel"
        moved_at = now - timedelta(days=days_ago)
        mover.active_until = moved_at
        windows[mover.email] = (10_000.0, float(days_ago))
        first, last = mover.name.split(" ", 1)
        new = DemoContact(email=f"{_ascii(first)}.{_ascii(last)}@{dst.account.domain}", name=mover.name,
                          title="Head of IP", domain=dst.account.domain, phone=phone("44"), active_from=moved_at)
        dst.contacts.append(new)
        windows[new.email] = (float(days_ago), -10_000.0)
        moves.append((mover.email, new.email))
    return _Cast(tenant=tenant, partners=partners, accts=accts, individuals=individuals, indiv_owner=indiv_owner,
                 moves=moves, windows=windows)


# --- 2. mailboxes: mail, then calendars ------------------------------------------------------------


def _mailboxes(rng: random.Random, seed: int, now: datetime, cast: _Cast) -> list[DemoMailbox]:
    boxes = {p.oid: DemoMailbox(partner=p) for p in cast.partners}
    _mail(rng, seed, now, cast, boxes)
    _calendar(rng, seed, now, cast, boxes)
    return [boxes[o] for o in cast.oids]


def _mail(rng: random.Random, seed: int, now: datetime, cast: _Cast, boxes: dict[str, DemoMailbox]) -> None:
    accts, oids, walled_oid, people_by_oid = cast.accts, cast.oids, cast.walled_oid, cast.people_by_oid
    individuals, indiv_owner, moves, active = cast.individuals, cast.indiv_owner, cast.moves, cast.active
    colleagues = [(n, f"{local}@{DEMO_FIRM_DOMAIN}") for n, local in data.COLLEAGUES]
    latest = now - timedelta(minutes=1)  # mail is in the past, whatever weekday `now` is

    def fill(template: str, a: _Acct) -> str:
        return _fill(rng, now, template, a)

    # Threads until ~4,300 messages.
    weights = [a.weight for a in accts]
    counter = 0

    def message(oid: str, a: _Acct | None, subject: str, at: datetime, outbound: bool, contacts: list[DemoContact],
                conv: str, cc_internal: list[tuple[str, str]]) -> None:
        nonlocal counter
        counter += 1
        p = people_by_oid[oid]
        me = _addr(p.name, p.upn)
        ext = [_addr(c.name, c.email) for c in contacts]
        if outbound:
            frm, to, cc = me, ext[:1], ext[1:]
        else:
            frm, to, cc = ext[0], [me], ext[1:]
        cc = cc + [_addr(n, e) for n, e in cc_internal]
        gid = _graph_id("AAMkADAP", seed, oid, counter)
        msg = {
            "id": gid, "subject": subject, "from": frm, "sender": frm, "toRecipients": to, "ccRecipients": cc,
            "receivedDateTime": _ts(at + timedelta(seconds=3)), "sentDateTime": _ts(at),
            "internetMessageId": f"<{gid[8:30]}@{(p.upn if outbound else contacts[0].email).split('@')[1]}>",
            "conversationId": conv, "bodyPreview": rng.choice(PREVIEWS), "isRead": True,
        }
        (boxes[oid].sent if outbound else boxes[oid].inbox).append(msg)

    total_messages = 4300
    while counter < total_messages:
        a = rng.choices(accts, weights=weights)[0]
        oid = a.partners[0] if rng.random() < 0.7 else rng.choice(a.partners)
        days_ago = rng.uniform(0.5, 730) if rng.random() < 0.75 else rng.uniform(0.5, 90)
        start = _business_time(rng, now - timedelta(days=days_ago))
        fallback = rng.randint(1, 6)  # drawn always: the random stream must not depend on `now`
        if start >= now:
            start = now - timedelta(hours=fallback)
        pool = [c for c in a.contacts if active(c, days_ago, oid)]
        if not pool:
            continue
        kind = a.account.kind
        templates = CLIENT_SUBJECTS if kind == "client" else ASSOCIATE_SUBJECTS if kind == "foreign_associate" else PROSPECT_SUBJECTS
        subject = fill(rng.choice(templates), a)
        people = rng.sample(pool, k=min(len(pool), rng.choice((1, 1, 1, 2))))
        internal = [rng.choice(colleagues)] if rng.random() < 0.25 else []
        conv = _graph_id("AAQkADAP", seed, "conv", counter)
        at, elapsed = start, 0.0
        outbound = rng.random() < 0.45
        for i in range(rng.randint(1, 5)):
            if elapsed >= days_ago * 24:  # the thread has caught up with today
                break
            message(oid, a, subject if i == 0 else f"RE: {subject}", min(at, latest), outbound, people, conv, internal)
            outbound = not outbound
            gap = rng.uniform(0.5, 50)
            at += timedelta(hours=gap)
            elapsed += gap

    # Individuals on free mail, and the movers announcing their new role.
    for c in individuals:
        oid = indiv_owner[c.email]
        for k in range(rng.randint(3, 6)):
            at = _business_time(rng, now - timedelta(days=rng.uniform(3, 400)))
            message(oid, None, "Design registration for my product" if k == 0 else "RE: Design registration for my product",
                    at, k % 2 == 1, [c], _graph_id("AAQkADAP", seed, "indiv", c.email), [])
    for _old, new_email in moves:
        new = next(c for a in accts for c in a.contacts if c.email == new_email)
        acct = next(a for a in accts if a.account.domain == new.domain)
        for oid in sorted({*acct.partners[:1], oids[0]} - {walled_oid}):  # sorted: sets iterate by hash
            at = _business_time(rng, new.active_from + timedelta(days=rng.uniform(2, 20)))
            message(oid, acct, f"New role – {new.title} at {acct.account.name}", min(at, latest), False, [new],
                    _graph_id("AAQkADAP", seed, "move", new_email, oid), [])

    # Partner-to-partner internal mail (captured; direction internal; no contacts).
    for i in range(60):
        frm_oid, to_oid = rng.sample(oids, 2)
        at = _business_time(rng, now - timedelta(days=rng.uniform(1, 700)))
        subj = rng.choice(["Conflict check – new instruction", "BD plan for Q{q}", "Cover for hearing next week",
                           "Partners' meeting papers"]).format(q=rng.randint(1, 4))
        fp, tp = people_by_oid[frm_oid], people_by_oid[to_oid]
        gid_s, gid_r = _graph_id("AAMkADAP", seed, "int-s", i), _graph_id("AAMkADAP", seed, "int-r", i)
        base = {"subject": subj, "from": _addr(fp.name, fp.upn), "sender": _addr(fp.name, fp.upn),
                "toRecipients": [_addr(tp.name, tp.upn)], "ccRecipients": [], "receivedDateTime": _ts(at),
                "sentDateTime": _ts(at), "internetMessageId": f"<int{i}.{seed}@{DEMO_FIRM_DOMAIN}>",
                "conversationId": _graph_id("AAQkADAP", seed, "int", i), "bodyPreview": "See below."}
        boxes[frm_oid].sent.append({"id": gid_s, **base})
        boxes[to_oid].inbox.append({"id": gid_r, **base})


def _calendar(rng: random.Random, seed: int, now: datetime, cast: _Cast, boxes: dict[str, DemoMailbox]) -> None:
    accts, oids, walled_oid, people_by_oid = cast.accts, cast.oids, cast.walled_oid, cast.people_by_oid
    partners, active = cast.partners, cast.active

    def fill(template: str, a: _Acct) -> str:
        return _fill(rng, now, template, a)

    ev_counter = 0

    def event(oid: str, a: _Acct | None, subject: str, start: datetime, minutes: int, attendees: list[DemoContact],
              *, external_organizer: bool = False, cancelled: bool = False, online: bool | None = None,
              series: str | None = None, internal: list[Person] | None = None) -> None:
        nonlocal ev_counter
        ev_counter += 1
        p = people_by_oid[oid]
        online = rng.random() < 0.55 if online is None else online
        org = _addr(attendees[0].name, attendees[0].email) if (external_organizer and attendees) else _addr(p.name, p.upn)
        atts = [
            {**_addr(c.name, c.email), "type": "required" if i == 0 else rng.choice(["required", "optional"]),
             "status": {"response": rng.choice(["accepted", "accepted", "tentativelyAccepted", "none"]),
                        "time": "0001-01-01T00:00:00Z"}}
            for i, c in enumerate(attendees)
        ] + [
            {**_addr(q.name, q.upn), "type": "required", "status": {"response": "accepted", "time": "0001-01-01T00:00:00Z"}}
            for q in (internal or []) if q.oid != oid
        ]
        if external_organizer:
            atts.append({**_addr(p.name, p.upn), "type": "required", "status": {"response": "accepted"}})
        gid = _graph_id("AAMkADAPev", seed, oid, ev_counter)
        boxes[oid].events.append({
            "id": gid, "iCalUId": _graph_id("040000008200E", seed, "ical", oid, ev_counter), "subject": subject,
            "start": _dtz(start), "end": _dtz(start + timedelta(minutes=minutes)), "organizer": org, "attendees": atts,
            "isOnlineMeeting": online,
            "onlineMeeting": {"joinUrl": f"https://teams.example/l/meetup-join/{gid[10:26]}"} if online else None,
            "isCancelled": cancelled, "seriesMasterId": series, "type": "occurrence" if series else "singleInstance",
            "webLink": f"https://outlook.office365.com/owa/?itemid={gid}&exvsurl=1",
            "location": {"displayName": "Microsoft Teams Meeting" if online else f"{a.account.name if a else 'Office'}"},
            "bodyPreview": "Agenda to follow.",
        })

    def external_meeting(oid: str, start: datetime, days_ago: float, cancelled: bool = False) -> None:
        mine = [a for a in accts if oid in a.partners and not (oid == walled_oid and a.slug == WALLED_CLIENT)]
        a = rng.choice(mine)
        pool = [c for c in a.contacts if active(c, days_ago, oid)]
        if not pool:
            return
        guests = rng.sample(pool, k=min(len(pool), rng.choice((1, 1, 2, 3))))
        subject = fill(rng.choice(MEETING_SUBJECTS), a)
        event(oid, a, subject, start, rng.choice((30, 45, 60, 90)), guests,
              external_organizer=rng.random() < 0.25, cancelled=cancelled)

    for _ in range(560):  # two years of meetings
        oid = rng.choice(oids)
        days_ago = rng.uniform(1, 730)
        external_meeting(oid, _business_time(rng, now - timedelta(days=days_ago)), days_ago)
    hour = now.replace(minute=0)
    for oid in oids:  # today and this week, relative to `now`
        for offset in (-2, 1, 3):
            external_meeting(oid, hour + timedelta(hours=offset), -offset / 24)
        for day in range(1, 6):
            external_meeting(oid, (hour + timedelta(days=day)).replace(hour=9 + day), -day)
        external_meeting(oid, (hour + timedelta(days=2)).replace(hour=15), -2, cancelled=True)
    # A weekly internal pipeline meeting: occurrences of one series in each partner's calendar.
    monday = (now - timedelta(days=now.weekday())).replace(hour=8, minute=30)
    for oid in oids:
        series = _graph_id("AAMkADAPsm", seed, oid, "pipeline")
        for w in range(-12, 2):
            event(oid, None, "Weekly BD pipeline review", monday + timedelta(weeks=w), 45, [], online=True,
                  series=series, internal=partners)


# --- 3. firm records: matters, the wall, pipeline ---------------------------------------------------


def _firm_records(rng: random.Random, now: datetime, cast: _Cast) -> tuple[
        list[Matter], list[Wall], list[Enquiry], list[Opportunity], list[Campaign]]:
    """What the firm records itself (not seen by capture)."""
    tid, accts, by_slug, prospects = cast.tenant.tenantId, cast.accts, cast.by_slug, cast.prospects
    people_by_oid, walled_oid = cast.people_by_oid, cast.walled_oid

    def fill(template: str, a: _Acct) -> str:
        return _fill(rng, now, template, a)

    matters: list[Matter] = []
    for a in accts:
        if a.account.kind != "client":
            continue
        for i in range(rng.randint(1, 4)):
            mark = a.marks[i % len(a.marks)]
            jur = rng.choice(["EU", "UK", "US", "WIPO (Madrid)", "China", "Japan"])
            number = rng.randint(10_000_000, 19_999_999)
            right = {"EU": f"EU trade mark 0{number}", "UK": f"UK trade mark UK00{number // 10}",
                     "US": f"US registration {number // 2}", "WIPO (Madrid)": f"International registration {number // 10}",
                     "China": f"CN registration {number}", "Japan": f"JP registration {number // 3}"}[jur]
            ref = f"AP-TM-{a.slug[:4].upper()}-{i + 1:03d}"
            opposition = now + timedelta(days=rng.randint(3, 75)) if rng.random() < 0.3 else None
            matters.append(Matter(
                id=stable_id("mat", tid, ref), tenantId=tid, accountId=a.account.id, reference=ref,
                title=f"{mark} – {jur} trade mark" + (" – opposition" if opposition else ""), rights=[right],
                jurisdiction=jur, responsibleOid=a.partners[0],
                renewalDate=(now + timedelta(days=rng.randint(10, 3000))).replace(hour=0, minute=0),
                oppositionDeadline=opposition.replace(hour=0, minute=0) if opposition else None,
            ))
    walled = by_slug[WALLED_CLIENT]
    walls = [Wall(
        id=stable_id("wall", tid, WALLED_CLIENT), tenantId=tid,
        name=f"{people_by_oid[walled_oid].name} screened from {walled.account.name} (acts for an opponent)",
        accountIds=[walled.account.id], matterIds=[m.id for m in matters if m.accountId == walled.account.id],
        screenedOids=[walled_oid], createdAt=datetime(2025, 3, 3, tzinfo=UTC),
    )]
    enquiries: list[Enquiry] = []
    # The pipeline's stages (rapport.pipeline); "unanswered" ones have no first reply yet. The first is
    # an hour old, so the demo shows a running 4-hour clock (and, two working hours in, an
    # acknowledgement draft on the approval card).
    stages = ["enquiry", "enquiry", "enquiry", "enquiry", "needs_analysis", "needs_analysis", "instructed", "lost",
              "enquiry", "proposal"]
    unanswered = {0, 1, 8}
    for i, stage in enumerate(stages):
        a = prospects[i % len(prospects)]
        c = a.contacts[0]
        received = now - timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 8))
        if i == 0:
            received = now - timedelta(hours=1)
        answered = None if i in unanswered else received + timedelta(hours=rng.randint(1, 72))
        changes = [StageChange(stage="enquiry", byOid="", at=received)]
        if stage != "enquiry":
            changes.append(StageChange(stage=stage, byOid=a.partners[0], at=(answered or received) + timedelta(days=2)))
        enquiries.append(Enquiry(
            id=stable_id("enq", tid, str(i)), tenantId=tid, accountId=a.account.id, contactId=c.id,
            ownerOid=a.partners[0], subject=fill(rng.choice(PROSPECT_SUBJECTS), a), stage=stage, receivedAt=received,
            firstResponseAt=answered, firstResponderOid=a.partners[0] if answered else None,
            followUpCount=rng.randint(0, 3), stageChanges=changes, source="mail", reason="new sender, first thread",
            lostReason="chose another firm" if stage == "lost" else "", conflictsCleared=stage != "enquiry",
            proposalAt=changes[-1].at if stage == "proposal" else None,
        ))
    opportunities: list[Opportunity] = []
    titles = ["Portfolio transfer from incumbent firm", "Anti-counterfeiting programme in China", "Global filing programme",
              "Brand audit and clean-up", "Opposition defence", "Customs recordals across the EU"]
    opp_stages = ["identified", "pitching", "proposal", "pitching", "identified", "proposal", "won", "lost", "pitching",
                  "identified"]
    for i, stage in enumerate(opp_stages):
        a = [x for x in accts if x.account.kind in ("prospect", "client") and x.slug != WALLED_CLIENT][i * 3 % 30]
        opportunities.append(Opportunity(
            id=stable_id("opp", tid, str(i)), tenantId=tid, accountId=a.account.id, ownerOid=a.partners[0],
            title=f"{titles[i % len(titles)]} – {a.account.name}", stage=stage, value=rng.randrange(15_000, 250_000, 5_000),
            openedAt=now - timedelta(days=rng.randint(5, 200)), followUpCount=rng.randint(0, 4),
        ))
    associates = [c for a in accts if a.account.kind == "foreign_associate" for c in a.contacts if c.title == "Partner"]
    campaigns = [Campaign(
        id=stable_id("cmp", tid, "inta"), tenantId=tid, name="INTA Annual Meeting", kind="conference",
        startsAt=(now + timedelta(days=160)).replace(hour=9, minute=0), contactIds=[c.id for c in associates[:25]],
    )]
    return matters, walls, enquiries, opportunities, campaigns
