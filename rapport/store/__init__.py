"""Rapport's record store: one set of domain operations over SQLite (default) or Cosmos DB.

Owns: the backends (sqlite, cosmos) and their primitives, the domain operations written once over
them (base.Store, for system jobs), the one viewer-and-tenant policy every request goes through
(scope.ScopedStore: make it as `ScopedStore(store, tenant_id, viewer_oid)`), the paging cursor
(cursor) and the exceptions it raises (errors: plain, no HTTP status).
May import: rapport.settings, rapport.records, rapport.text. Never rapport.web or anything above:
the HTTP boundary maps store exceptions to status codes (rapport.web.refusal), not the store.
"""

from __future__ import annotations

from rapport.settings import Settings
from rapport.store.base import Backend, Page, Store
from rapport.store.errors import AlreadyExists, BadCursor, Conflict, NotFound, StoreError, StoreUnavailable
from rapport.store.scope import ScopedStore

__all__ = [
    "AlreadyExists", "Backend", "BadCursor", "Conflict", "NotFound", "Page", "ScopedStore", "Store", "StoreError",
    "StoreUnavailable", "make_store",
]


def make_store(settings: Settings) -> Store:
    """The store the settings name, not yet opened (no I/O here)."""
    if settings.store == "cosmos":
        from rapport.store.cosmos import CosmosBackend  # azure-cosmos only loads when configured

        return Store(CosmosBackend.from_settings(settings))
    from rapport.store.sqlite import SqliteBackend

    return Store(SqliteBackend(settings.sqlite_path))
