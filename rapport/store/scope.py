"""The store as one viewer in one tenant may see it. Every request handler goes through this.

Scoping lives here and nowhere else:
- the tenant is bound when the handle is made (from a validated token), so no call can name another;
- an account or matter the viewer is walled from does not exist: the same `None` / empty answer as
  a missing id, and so do the contacts, interactions and meetings attached to it;
- a contact whose owners all keep it `private` (or `team`, for someone outside their team) shows a
  colleague only that it is known, and to whom: no title, phone, history or account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapport.records import (
    Account, Contact, Draft, Interaction, Matter, Meeting, Person, Record, Signal, Wall, account_id,
    contact_id, email_domain,
)
from rapport.store.base import Page, Store


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
        if record is None or record.tenantId != self.tenant_id:
            return True
        accounts, matters = await self.walled()
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
        return None if await self._hidden(record) else record

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
