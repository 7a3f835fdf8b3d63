"""The process-wide pieces a trigger needs (settings, the open store), made on first use.

Nothing is read or opened at import time: Azure imports function_app.py while the host starts, and
`rapport serve` does the same, so the first request pays for opening the store, once.
"""

from __future__ import annotations

import asyncio
import gc

from rapport import __version__
from rapport.settings import Settings, load_settings
from rapport.store import Store, make_store
from rapport.web import Answer, Request

_settings: Settings | None = None
_store: Store | None = None
_store_lock: asyncio.Lock | None = None


# Capture allocates millions of short-lived objects (a delta round of 20,000 mails): with CPython's
# default first-generation threshold (700) the cycle collector ran so often it cost a fifth of
# ingest time (bench/capture.py). Nearly all of these objects die young without cycles.
GC_THRESHOLDS = (20_000, 20, 50)


def tune_gc() -> None:
    """The process's collector settings, set by whatever hosts Rapport (function_app, the CLI)."""
    gc.set_threshold(*GC_THRESHOLDS)


def settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def configure(new_settings: Settings | None = None, store: Store | None = None) -> None:
    """Install settings and/or an already-open store (used by `rapport serve` and tests)."""
    global _settings, _store
    if new_settings is not None:
        _settings = new_settings
    _store = store


async def store() -> Store:
    """The open store; opens it on first use. Raises StoreUnavailable (503) if it cannot."""
    global _store, _store_lock
    if _store is not None:
        return _store
    if _store_lock is None:
        _store_lock = asyncio.Lock()
    async with _store_lock:
        if _store is None:
            s = make_store(settings())
            await s.open()
            _store = s
    return _store


async def health(request: Request) -> Answer:
    """Liveness and version only: a probe learns nothing about tenants, data or configuration."""
    return Answer(200, {"status": "ok", "version": __version__})
