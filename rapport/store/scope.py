"""The store as one viewer in one tenant may see it. Every request handler goes through this.

Scoping lives here and nowhere else (readers hold no copy of these rules):
- the tenant is bound when the handle is made (from a validated token), so no call can name another;
- walls: an account or matter the viewer is walled from does not exist: the same `None` / empty
  answer as a missing id, and so do the records attached to it (by `accountId` or `accountIds`, or
  through a contact of that account). A viewer is walled by a wall (not ended) that screens them
  (by oid or UPN: exclusionary), or that has insiders and they are not one (inclusionary). When
  the firm syncs its walls (TenantSettings.wallsMaxAgeHours is set) and the last sync
  (Tenant.wallsSyncedAt) is older than that, every wall screens everyone but its insiders until
  the next sync: a stale wall list fails closed (`walls_stale`);
- contacts: a contact whose owners all keep it `private` (or `team`, for someone outside their
  team) shows a colleague only that it is known, and to whom: no title, phone, history or account;
- owner visibility of records (`may_see`, the one rule): a record owned by partner P (an
  interaction or note by `ownerOid`, a meeting by `organizerOid`, an enquiry or opportunity by
  `ownerOid`) that involves contacts C1..Cn is visible to viewer V iff V is P, or for every Ci, P's
  Owner entry on Ci lets V see it (private: P only; team: the same non-empty team; firm: everyone).
  Where P has no entry on Ci (or the record has no owner, like a signal), Ci must be a contact V
  sees in full. A contact that is walled hides the record. A draft is seen by its owner and the
  owner's delegates only. When the facts are missing (no people record to compare teams), the
  answer is no.

The data the rule needs (walls, the contacts a record involves, the people whose teams are
compared) is read by the handle itself, in the same batch where it can (read_many), and cached for
the handle's life, so a reader never has to know what the rule needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rapport.records import (
    Account,
    Contact,
    Draft,
    Enquiry,
    Interaction,
    Matter,
    Meeting,
    Opportunity,
    Owner,
    Person,
    Record,
    Signal,
    Tenant,
    Wall,
    account_id,
    aware,
    contact_id,
    email_domain,
    utcnow,
)
from rapport.store.base import Page, Read, Store
from rapport.store.errors import NotFound

_UNKNOWN = object()  # a rule's answer when the handle has not read the facts it needs yet


@dataclass
class ContactView:
    """A contact as the viewer may see it. `contact` is None when only its existence is visible.
    (Which owners' details are hidden from the viewer: ScopedStore.hidden_owners.)"""

    email: str
    contact: Contact | None
    known_to: list[str] = field(default_factory=list)  # owner names, always safe to show

    @property
    def restricted(self) -> bool:
        return self.contact is None


def _owned(record: Record) -> tuple[str | None, list[str]] | None:
    """(owner oid, contact ids) of a record under owner visibility, or None for a family without."""
    if isinstance(record, Interaction):
        return record.ownerOid, record.contactIds
    if isinstance(record, Meeting):
        return record.organizerOid, record.contactIds
    if isinstance(record, Enquiry):
        return record.ownerOid, [record.contactId] if record.contactId else []
    if isinstance(record, Opportunity):
        return record.ownerOid, []
    if isinstance(record, Signal):
        return None, [record.contactId]
    return None


def _account_ids(record: Record) -> list[str]:
    """Every account a record belongs to (`accountIds` lists, or the singular `accountId`)."""
    ids = list(getattr(record, "accountIds", None) or [])
    single = getattr(record, "accountId", None)
    if single:
        ids.append(single)
    return ids


def walls_stale(tenant: Tenant | None, now: datetime | None = None) -> bool:
    """Does this firm's wall list fail closed: it syncs walls (wallsMaxAgeHours set) and the last
    sync is missing or older than that? (Also what the walls watch alerts on: rapport.firm.walls.)"""
    if tenant is None or not tenant.settings.wallsMaxAgeHours:
        return False
    if tenant.wallsSyncedAt is None:
        return True
    return (now or utcnow()) - aware(tenant.wallsSyncedAt) > timedelta(hours=tenant.settings.wallsMaxAgeHours)


def walled_from(walls: Iterable[Wall], oid: str, upn: str, *, stale: bool) -> tuple[frozenset[str], frozenset[str]]:
    """(account ids, matter ids) the person with this oid and UPN is walled from (the module's doc)."""
    accounts: set[str] = set()
    matters: set[str] = set()
    upn = upn.lower()
    for w in walls:
        if w.endedAt is not None:
            continue
        insider = oid in w.insiderOids or bool(upn and upn in w.insiderUpns)
        screened = oid in w.screenedOids or bool(upn and upn in w.screenedUpns)
        inclusionary = bool(w.insiderOids or w.insiderUpns)
        if screened or (not insider and (inclusionary or stale)):
            accounts.update(w.accountIds)
            matters.update(w.matterIds)
    return frozenset(accounts), frozenset(matters)


class ScopedStore:
    def __init__(self, store: Store, tenant_id: str, viewer_oid: str) -> None:
        if not tenant_id or not viewer_oid:
            raise ValueError("a scoped store needs a tenant and a viewer")
        self.store = store
        self.tenant_id = tenant_id
        self.viewer_oid = viewer_oid
        self._walls: tuple[frozenset[str], frozenset[str]] | None = None
        self._people: dict[str, Person] | None = None  # the whole list, when read
        self._persons: dict[str, Person | None] = {}  # people read one by one (None: no such person)
        self._contacts: dict[str, Contact | None] = {}  # contacts read so far (None: no such contact)
        self.calls = 0  # store round trips made through this handle (the sidebar budget counts them)

    # --- the facts the rules need ----------------------------------------------------------

    def _wall_reads(self) -> list[Read]:
        """What the walls rule needs, read in one batch: the walls, the tenant (is the sync stale?)
        and the viewer (their UPN, for walls imported by UPN)."""
        return [Read(Wall, every=True), Read(Tenant, record_id=self.tenant_id),
                Read(Person, record_id=self.viewer_oid)]

    def _set_walls(self, walls: Iterable[Wall], tenant: Tenant | None, me: Person | None) -> None:
        if me is not None and me.tenantId != self.tenant_id:
            me = None
        if self._people is None:
            self._persons[self.viewer_oid] = me
        self._walls = walled_from(walls, self.viewer_oid, me.upn if me else "", stale=walls_stale(tenant))

    async def walled(self) -> tuple[frozenset[str], frozenset[str]]:
        """(account ids, matter ids) this viewer is screened from. Read once per handle."""
        if self._walls is None:
            self.calls += 1
            self._set_walls(*await self.store.read_many(self.tenant_id, self._wall_reads()))
        assert self._walls is not None
        return self._walls

    async def people(self) -> dict[str, Person]:
        if self._people is None:
            self.calls += 1
            self._people = {p.oid: p for p in await self.store.people(self.tenant_id)}
        return self._people

    def _person(self, oid: str) -> Any:
        if self._people is not None:
            return self._people.get(oid)
        return self._persons.get(oid, _UNKNOWN)

    def _remember(self, record: Any) -> None:
        if isinstance(record, Contact) and record.tenantId == self.tenant_id:
            self._contacts[record.id] = record

    async def _load(self, contacts: Iterable[str] = (), persons: Iterable[str] = ()) -> None:
        """Read the contacts and people not read yet, in one round trip (none if all are known)."""
        cids = [c for c in dict.fromkeys(contacts) if c not in self._contacts]
        oids = [o for o in dict.fromkeys(persons) if self._person(o) is _UNKNOWN]
        reads = [Read(Contact, record_id=c) for c in cids] + [Read(Person, record_id=o) for o in oids]
        if not reads:
            return
        fetch_walls = self._walls is None
        if fetch_walls:
            reads += self._wall_reads()
        self.calls += 1
        results = await self.store.read_many(self.tenant_id, reads)
        if fetch_walls:
            self._set_walls(*results[-3:])
            del results[-3:]
        for cid, c in zip(cids, results[: len(cids)], strict=True):
            self._contacts[cid] = c if c is not None and c.tenantId == self.tenant_id else None
        for oid, p in zip(oids, results[len(cids):], strict=True):
            self._persons[oid] = p if p is not None and p.tenantId == self.tenant_id else None

    # --- the rules -------------------------------------------------------------------------

    def _screened(self, record: Record | None, walls: tuple[frozenset[str], frozenset[str]]) -> bool:
        """True when the record must look like it does not exist: another tenant's or walled."""
        if record is None or record.tenantId != self.tenant_id:
            return True
        accounts, matters = walls
        if not accounts and not matters:
            return False
        if isinstance(record, Account):
            return record.id in accounts
        if isinstance(record, Matter) and record.id in matters:
            return True
        return bool(accounts.intersection(_account_ids(record)))

    async def _hidden(self, record: Record | None) -> bool:
        return self._screened(record, await self.walled())

    def _lets_see(self, entry: Owner) -> Any:
        """Does this owner entry let the viewer see the owner's records with the contact?"""
        if entry.oid == self.viewer_oid or entry.visibility == "firm":
            return True
        if entry.visibility != "team":
            return False
        mine, theirs = self._person(self.viewer_oid), self._person(entry.oid)
        if mine is _UNKNOWN or theirs is _UNKNOWN:
            return _UNKNOWN
        return bool(mine and theirs and mine.team and mine.team == theirs.team)

    def _contact_visible(self, contact: Contact) -> Any:
        """Does the viewer see this contact in full (True / False / _UNKNOWN)?"""
        if not contact.owners:
            return True
        answers = [self._lets_see(o) for o in contact.owners]
        if True in answers:
            return True
        return _UNKNOWN if _UNKNOWN in answers else False

    def _hidden_owners(self, contact: Contact) -> Any:
        answers = {o.oid: self._lets_see(o) for o in contact.owners}
        if _UNKNOWN in answers.values():
            return _UNKNOWN
        return frozenset(oid for oid, ok in answers.items() if not ok)

    def _needs(self, record: Record) -> tuple[list[str], list[str]]:
        """(contact ids, person oids) to read before may_see can answer for this record."""
        if isinstance(record, Draft):
            return [], ([record.ownerOid] if record.ownerOid != self.viewer_oid else [])
        if isinstance(record, Contact):
            return [], [self.viewer_oid, *(o.oid for o in record.owners)]
        owned = _owned(record)
        if owned is None or owned[0] == self.viewer_oid:
            return [], []
        owner, cids = owned
        oids = [self.viewer_oid]
        for cid in cids:
            c = self._contacts.get(cid)
            oids += [o.oid for o in c.owners] if c is not None else ([owner] if owner else [])
        return list(cids), oids

    def may_see(self, record: Record) -> Any:
        """THE visibility rule for one record that passed the walls (see the module's doc).
        True / False, or _UNKNOWN when a contact or person it depends on has not been read."""
        if isinstance(record, Contact):
            return self._contact_visible(record)
        if isinstance(record, Draft):
            if record.ownerOid == self.viewer_oid:
                return True
            owner = self._person(record.ownerOid)
            if owner is _UNKNOWN:
                return _UNKNOWN
            return bool(owner and self.viewer_oid in {d.lower() for d in owner.delegates})
        owned = _owned(record)
        if owned is None:
            return True  # accounts, matters, people, walls...: the walls alone decide
        owner, cids = owned
        if owner == self.viewer_oid:
            return True
        walls = self._walls or (frozenset(), frozenset())
        unsure = False
        for cid in cids:
            if cid not in self._contacts:
                unsure = True
                continue
            c = self._contacts[cid]
            if c is None:
                continue  # no such contact: nobody keeps anything private about it
            if self._screened(c, walls):
                return False  # a walled contact's records are walled too
            entry = next((o for o in c.owners if o.oid == owner), None) if owner else None
            ok = self._lets_see(entry) if entry is not None else self._contact_visible(c)
            if ok is False:
                return False
            unsure = unsure or ok is _UNKNOWN
        return _UNKNOWN if unsure else True

    async def _visible(self, records: Sequence[Any]) -> list[bool]:
        """may_see for each record (None and walled records: False), reading what the rule needs
        in one round trip at most (two when a contact read reveals a team to compare)."""
        walls = await self.walled()
        answers = [False if r is None or self._screened(r, walls) else self.may_see(r) for r in records]
        for _ in range(2):
            pending = [i for i, a in enumerate(answers) if a is _UNKNOWN]
            if not pending:
                break
            contacts: list[str] = []
            persons: list[str] = []
            for i in pending:
                c, p = self._needs(records[i])
                contacts += c
                persons += p
            await self._load(contacts, persons)
            for i in pending:
                answers[i] = self.may_see(records[i])
        return [a is True for a in answers]

    async def _filter(self, records: Sequence[Any]) -> list[Any]:
        return [r for r, ok in zip(records, await self._visible(records), strict=True) if ok]

    async def _view(self, c: Contact) -> ContactView:
        self._remember(c)
        (visible,) = await self._visible([c])
        return ContactView(c.email, c if visible else None, [o.name for o in c.owners])

    # --- reads -----------------------------------------------------------------------------

    async def get(self, cls: type[Record], record_id: str) -> Any:
        self.calls += 1
        record = await self.store.get(cls, self.tenant_id, record_id)
        self._remember(record)
        if record is None or not (await self._visible([record]))[0]:
            return None
        return record

    async def find_all(self, cls: type[Record], key: str) -> list[Any]:
        """Every record under an index key that this viewer may see (bounded sets only: a person's
        open enquiries, an owner's): the same rules as a read through this handle."""
        self.calls += 1
        return await self._filter(await self.store.find_all(cls, self.tenant_id, key=key))

    async def sees(self, record: Record) -> bool:
        """Does the viewer see this record, which the caller read already (a pass over many)? The same
        rules as a read through this handle: walled or hidden is False."""
        return (await self._visible([record]))[0]

    async def contact(self, cid: str) -> ContactView | None:
        self.calls += 1
        c = await self.store.get(Contact, self.tenant_id, cid)
        if c is None or await self._hidden(c):
            if c is not None:
                self._contacts[c.id] = c
            return None
        return await self._view(c)

    async def contact_by_email(self, email: str) -> ContactView | None:
        return await self.contact(contact_id(email))

    async def account(self, acct_id: str) -> Account | None:
        return await self.get(Account, acct_id)

    async def account_for_email(self, email: str) -> Account | None:
        return await self.account(account_id(email_domain(email)))

    async def interactions_for_contact(self, cid: str, *, limit: int = 20, cursor: str | None = None) -> Page:
        """A page of the contact's history as the viewer may see it: possibly shorter than `limit`
        where records were hidden (follow the cursor for more)."""
        view = await self.contact(cid)
        if view is None or view.restricted:
            return Page([], None)
        self.calls += 1
        page = await self.store.interactions_for_contact(self.tenant_id, cid, limit=limit, cursor=cursor)
        return Page(await self._filter(page.items), page.cursor)

    async def meetings_between(self, start: datetime, end: datetime, *, mine: bool = True,
                               contact: str | None = None) -> list[Meeting]:
        self.calls += 1
        meetings = await self.store.meetings_between(
            self.tenant_id, start, end, organizer_oid=self.viewer_oid if mine else None, contact=contact
        )
        return await self._filter(meetings)

    async def matters_of_account(self, acct_id: str) -> list[Matter]:
        if await self.account(acct_id) is None:
            return []
        self.calls += 1
        return await self._filter(await self.store.matters_of_account(self.tenant_id, acct_id))

    async def open_pipeline(self, acct_id: str) -> list[Any]:
        if await self.account(acct_id) is None:
            return []
        self.calls += 1
        return await self._filter(await self.store.open_pipeline(self.tenant_id, acct_id))

    async def signals_for_contact(self, cid: str) -> list[Signal]:
        view = await self.contact(cid)
        if view is None or view.restricted:
            return []
        self.calls += 1
        return await self._filter(await self.store.signals_for_contact(self.tenant_id, cid))

    async def read_many(self, reads: Sequence[Read], *, people: bool = False) -> list[Any]:
        """Several reads as ONE round trip (the sidebar's budget), under the same rules as the single
        reads: a hidden record comes back None and is dropped from lists, a contact comes back as a
        ContactView. The walls (and the people list, with `people=True` or when a contact this
        handle has read is shared with a team) travel in the same batch, so the rules usually cost
        no extra trip; a list record involving a contact not read yet costs one more (all of them
        together)."""
        self.calls += 1
        extra: list[Read] = []
        fetch_walls = self._walls is None
        if fetch_walls:
            extra += self._wall_reads()
        teams = any(o.visibility == "team" for c in self._contacts.values() if c is not None for o in c.owners)
        fetch_people = self._people is None and (people or (teams and any(r.record_id is None for r in reads)))
        if fetch_people:
            extra.append(Read(Person, every=True))
        results = await self.store.read_many(self.tenant_id, [*extra, *reads])
        if fetch_walls:
            self._set_walls(*results[:3])
            del results[:3]
        if fetch_people:
            self._people = {p.oid: p for p in results.pop(0)}
        for result in results:
            for r in result if isinstance(result, list) else [result]:
                self._remember(r)
        # One decision over every record of the batch, so what the rule needs is read at most once.
        flat = [r for result in results for r in (result if isinstance(result, list) else [result])]
        ok = iter(await self._visible(flat))
        walls = self._walls or (frozenset(), frozenset())
        out: list[Any] = []
        for result in results:
            if isinstance(result, list):
                kept: list[Any] = []
                for r in result:
                    seen = next(ok)
                    if isinstance(r, Contact):  # contacts only ever leave as views, restricted or not
                        if not self._screened(r, walls):
                            kept.append(await self._view(r))
                    elif seen:
                        kept.append(r)
                out.append(kept)
            else:
                seen = next(ok)
                if isinstance(result, Contact):
                    out.append(None if self._screened(result, walls) else await self._view(result))
                else:
                    out.append(result if seen else None)
        return out

    async def hidden_owners(self, contact: Contact) -> frozenset[str]:
        """The owners of this contact whose relationship details the viewer may not see."""
        hidden = self._hidden_owners(contact)
        if hidden is _UNKNOWN:
            await self._load(persons=[self.viewer_oid, *(o.oid for o in contact.owners)])
            hidden = self._hidden_owners(contact)
        return hidden

    def person(self, oid: str) -> Person | None:
        """A person this handle has already read (no round trip), or None."""
        p = self._person(oid)
        return None if p is _UNKNOWN else p

    async def draft(self, draft_id: str) -> Draft | None:
        return await self.get(Draft, draft_id)

    async def my_drafts(self, state: str) -> list[Draft]:
        self.calls += 1
        drafts = await self.store.drafts_by_state(self.tenant_id, state, owner_oid=self.viewer_oid)
        return await self._filter(drafts)

    # --- writes ----------------------------------------------------------------------------

    async def add(self, record: Record, *, create_only: bool = False) -> Record:
        """Write a record of this tenant. Its tenant is forced to the scope's, never taken from input."""
        record.tenantId = self.tenant_id
        if await self._hidden(record):
            # Writing onto a walled account would reveal it exists; refuse as if it were missing.
            raise NotFound()
        self.calls += 1
        return await self.store.put(record, create_only=create_only)

    async def interaction_by_id(self, interaction_id: str) -> Interaction | None:
        return await self.get(Interaction, interaction_id)
