"""The store as one viewer in one tenant may see it. Every request handler goes through this.

Scoping lives here and nowhere else:
- the tenant is bound when the handle is made (from a validated token), so no call can name another;
- an account or matter the viewer is walled from does not exist: the same `None` / empty answer as
  a missing id, and so do the contacts, interactions and meetings attached to it;
- a contact whose owners all keep it `private` (or `team`, for someone outside their team) shows a
  colleague only that it is known, and to whom: no title, phone, history or account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapport.records import (
    Account,
    Contact,
    Draft,
    Interaction,
    Matter,
    Meeting,
    Person,
    Record,
    Signal,
    Wall,
    account_id,
    contact_id,
    email_domain,
)
from rapport.store.base import Page, Read, Store


@dataclass
class ContactView:
    """A contact as the viewer may see it. `contact` is None when only its existence is visible."""

    email: str
    contact: Contact | None
    known_to: list[str] = field(default_factory=list)  # owner names, always safe to show

    @property
    def restricted(self) -> bool:
        return self.contact is None


class ScopedStore:
    def __init__(self, store: Store, tenant_id: str, viewer_oid: str) -> None:
        if not tenant_id or not viewer_oid:
            raise ValueError("a scoped store needs a tenant and a viewer")
        self.store = store
        self.tenant_id = tenant_id
        self.viewer_oid = viewer_oid
        self._walls: tuple[frozenset[str], frozenset[str]] | None = None
        self._people: dict[str, Person] | None = None
        self.calls = 0  # store round trips made through this handle (the sidebar budget counts them)

    # --- the rules -------------------------------------------------------------------------

    async def walled(self) -> tuple[frozenset[str], frozenset[str]]:
        """(account ids, matter ids) this viewer is screened from. Read once per handle."""
        if self._walls is None:
            self.calls += 1
            walls: list[Wall] = await self.store.walls(self.tenant_id)
            accounts: set[str] = set()
            matters: set[str] = set()
            for w in walls:
                if self.viewer_oid in w.screenedOids:
                    accounts.update(w.accountIds)
                    matters.update(w.matterIds)
            self._walls = (frozenset(accounts), frozenset(matters))
        return self._walls

    async def people(self) -> dict[str, Person]:
        if self._people is None:
            self.calls += 1
            self._people = {p.oid: p for p in await self.store.people(self.tenant_id)}
        return self._people

    async def _hidden(self, record: Record | None) -> bool:
        """True when the record must look like it does not exist to this viewer."""
        return self._screened(record, await self.walled())

    def _screened(self, record: Record | None, walls: tuple[frozenset[str], frozenset[str]]) -> bool:
        """_hidden, given the viewer's walls (no await: list reads check every record with it)."""
        if record is None or record.tenantId != self.tenant_id:
            return True
        accounts, matters = walls
        if not accounts and not matters:
            return False
        if isinstance(record, Account):
            return record.id in accounts
        if isinstance(record, Matter):
            return record.id in matters or record.accountId in accounts
        if isinstance(record, Contact):
            return record.accountId in accounts
        ids = getattr(record, "accountIds", None)
        return bool(ids and accounts.intersection(ids))

    async def _fully_visible(self, contact: Contact) -> bool:
        if not contact.owners:
            return True
        for o in contact.owners:
            if o.oid == self.viewer_oid or o.visibility == "firm":
                return True
        if any(o.visibility == "team" for o in contact.owners):
            people = await self.people()
            mine = people.get(self.viewer_oid)
            for o in contact.owners:
                theirs = people.get(o.oid)
                if o.visibility == "team" and mine and theirs and mine.team and mine.team == theirs.team:
                    return True
        return False

    # --- reads -----------------------------------------------------------------------------

    async def get(self, cls: type[Record], record_id: str) -> Any:
        self.calls += 1
        record = await self.store.get(cls, self.tenant_id, record_id)
        if await self._hidden(record) or not await self._details_visible(record):
            return None
        return record

    async def _details_visible(self, record: Record) -> bool:
        """Privacy for point reads: a contact in full only when fully visible (contact() gives the
        restricted view); an interaction or signal only to its owner or through a contact the viewer
        sees in full, as interactions_for_contact would show it."""
        if isinstance(record, Contact):
            return await self._fully_visible(record)
        if not isinstance(record, Interaction | Signal):
            return True
        if getattr(record, "ownerOid", None) == self.viewer_oid:
            return True
        cids = record.contactIds if isinstance(record, Interaction) else [record.contactId]
        for cid in cids:
            contact = await self.store.get(Contact, self.tenant_id, cid)
            if contact is None or await self._fully_visible(contact):
                return True
        return not cids

    async def contact(self, cid: str) -> ContactView | None:
        self.calls += 1
        c = await self.store.get(Contact, self.tenant_id, cid)
        if c is None or await self._hidden(c):
            return None
        if await self._fully_visible(c):
            return ContactView(c.email, c, [o.name for o in c.owners])
        return ContactView(c.email, None, [o.name for o in c.owners])

    async def contact_by_email(self, email: str) -> ContactView | None:
        return await self.contact(contact_id(email))

    async def account(self, acct_id: str) -> Account | None:
        return await self.get(Account, acct_id)

    async def account_for_email(self, email: str) -> Account | None:
        return await self.account(account_id(email_domain(email)))

    async def interactions_for_contact(self, cid: str, *, limit: int = 20, cursor: str | None = None) -> Page:
        view = await self.contact(cid)
        if view is None or view.restricted:
            return Page([], None)
        self.calls += 1
        page = await self.store.interactions_for_contact(self.tenant_id, cid, limit=limit, cursor=cursor)
        accounts, _ = await self.walled()
        items = [i for i in page.items if not accounts.intersection(i.accountIds)]
        return Page(items, page.cursor)

    async def meetings_between(self, start: datetime, end: datetime, *, mine: bool = True,
                               contact: str | None = None) -> list[Meeting]:
        self.calls += 1
        meetings = await self.store.meetings_between(
            self.tenant_id, start, end, organizer_oid=self.viewer_oid if mine else None, contact=contact
        )
        return [m for m in meetings if not await self._hidden(m)]

    async def matters_of_account(self, acct_id: str) -> list[Matter]:
        if await self.account(acct_id) is None:
            return []
        self.calls += 1
        return [m for m in await self.store.matters_of_account(self.tenant_id, acct_id) if not await self._hidden(m)]

    async def open_pipeline(self, acct_id: str) -> list[Any]:
        if await self.account(acct_id) is None:
            return []
        self.calls += 1
        return await self.store.open_pipeline(self.tenant_id, acct_id)

    async def signals_for_contact(self, cid: str) -> list[Signal]:
        view = await self.contact(cid)
        if view is None or view.restricted:
            return []
        self.calls += 1
        return [s for s in await self.store.signals_for_contact(self.tenant_id, cid) if not await self._hidden(s)]

    async def read_many(self, reads: Sequence[Read], *, people: bool = False) -> list[Any]:
        """Several reads as ONE round trip (the sidebar's budget), under the same rules as the single
        reads: a hidden record comes back None and is dropped from lists, a contact comes back as a
        ContactView. The walls (and, with `people=True`, the people) this handle has not read yet
        travel in the same batch, so the rules cost no extra trip."""
        self.calls += 1
        extra: list[Read] = []
        if self._walls is None:
            extra.append(Read(Wall, every=True))
        if people and self._people is None:
            extra.append(Read(Person, every=True))
        results = await self.store.read_many(self.tenant_id, [*extra, *reads])
        if self._walls is None:
            walls: list[Wall] = results.pop(0)
            accounts: set[str] = set()
            matters: set[str] = set()
            for w in walls:
                if self.viewer_oid in w.screenedOids:
                    accounts.update(w.accountIds)
                    matters.update(w.matterIds)
            self._walls = (frozenset(accounts), frozenset(matters))
        if people and self._people is None:
            self._people = {p.oid: p for p in results.pop(0)}
        async def view(record: Any, point: bool) -> Any:
            if await self._hidden(record):
                return None
            if isinstance(record, Contact):  # contacts only ever leave as views, in lists too
                visible = await self._fully_visible(record)
                return ContactView(record.email, record if visible else None, [o.name for o in record.owners])
            if point and not await self._details_visible(record):
                return None  # the same privacy as get() for a point read
            return record

        # Lists of interactions or signals are filtered by walls only: read them by the key of a
        # contact this viewer sees in full (as rapport.sidebar does), never by owner or account.
        out: list[Any] = []
        walls = self._walls
        for result in results:
            if not isinstance(result, list):
                out.append(await view(result, True))
            elif result and isinstance(result[0], Contact):
                out.append([v for v in [await view(r, False) for r in result] if v is not None])
            else:  # lists of anything but contacts need only the walls: checked without a coroutine each
                out.append([r for r in result if not self._screened(r, walls)])
        return out

    async def draft(self, draft_id: str) -> Draft | None:
        return await self.get(Draft, draft_id)

    async def my_drafts(self, state: str) -> list[Draft]:
        self.calls += 1
        drafts = await self.store.drafts_by_state(self.tenant_id, state, owner_oid=self.viewer_oid)
        return [d for d in drafts if not await self._hidden(d)]

    # --- writes ----------------------------------------------------------------------------

    async def add(self, record: Record, *, create_only: bool = False) -> Record:
        """Write a record of this tenant. Its tenant is forced to the scope's, never taken from input."""
        record.tenantId = self.tenant_id
        if await self._hidden(record):
            # Writing onto a walled account would reveal it exists; refuse as if it were missing.
            from rapport.web import ApiError

            raise ApiError(404, "not found")
        self.calls += 1
        return await self.store.put(record, create_only=create_only)

    async def interaction_by_id(self, interaction_id: str) -> Interaction | None:
        return await self.get(Interaction, interaction_id)
