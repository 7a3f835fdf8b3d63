"""Rapport's record store: one set of domain operations over SQLite (default) or Cosmos DB."""

from __future__ import annotations

from rapport.settings import Settings
from rapport.store.base import AlreadyExists, Backend, Conflict, Page, Store, StoreUnavailable

__all__ = ["AlreadyExists", "Backend", "Conflict", "Page", "Store", "StoreUnavailable", "make_store"]


def make_store(settings: Settings) -> Store:
    """The store the settings name, not yet opened (no I/O here)."""
    if settings.store == "cosmos":
        from rapport.store.cosmos import CosmosBackend  # azure-cosmos only loads when configured

        return Store(CosmosBackend.from_settings(settings))
    from rapport.store.sqlite import SqliteBackend

    return Store(SqliteBackend(settings.sqlite_path))
