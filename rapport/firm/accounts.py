"""Finding the firm's accounts for an import: by mail domain (the account id is derived from it),
then by name. Lookups are cached for the import's life; the name index is read only when a row
needs it, one page of accounts at a time (it keeps names and ids, not the accounts)."""

from __future__ import annotations

from collections.abc import Iterable

from rapport.records import Account, account_id
from rapport.store.base import Read, Store
from rapport.text import clean

AMBIGUOUS = "?"  # the name index's value for a name two accounts share


def name_key(name: str) -> str:
    return " ".join(clean(name, multiline=False).casefold().split())


class Accounts:
    def __init__(self, store: Store, tenant_id: str) -> None:
        self.store = store
        self.tenant_id = tenant_id
        self._by_domain: dict[str, str | None] = {}  # domain -> account id, or None: no such account
        self._by_name: dict[str, str] | None = None

    async def load_domains(self, domains: Iterable[str]) -> None:
        """Look up these domains' accounts (those not looked up yet) in one batch."""
        todo = [d for d in dict.fromkeys(domains) if d and d not in self._by_domain]
        for start in range(0, len(todo), 200):
            chunk = todo[start:start + 200]
            found = await self.store.read_many(self.tenant_id, [Read(Account, record_id=account_id(d)) for d in chunk])
            for d, a in zip(chunk, found, strict=True):
                self._by_domain[d] = a.id if a is not None and a.tenantId == self.tenant_id else None

    async def by_domain(self, domain: str) -> str | None:
        await self.load_domains([domain])
        return self._by_domain.get(domain)

    async def by_name(self, name: str) -> str | None:
        """The id of the one account with this name (case and spacing ignored), or None (no such
        account, or several: a name two accounts share matches neither)."""
        if self._by_name is None:
            index: dict[str, str] = {}
            cursor = None
            while True:
                page = await self.store.find(Account, self.tenant_id, limit=500, cursor=cursor)
                for a in page.items:
                    k = name_key(a.name)
                    if k:
                        index[k] = AMBIGUOUS if k in index and index[k] != a.id else a.id
                cursor = page.cursor
                if cursor is None:
                    break
            self._by_name = index
        found = self._by_name.get(name_key(name))
        return None if found in (None, AMBIGUOUS) else found
