"""The process's services in one object: settings, the open store and the swappable collaborators.

Code that needs one of them asks `services()` (or the shorthands `settings()` and `store()`). A field
left None is the default, made from the settings on first use and kept (`Services.once`) for as
long as the services stay the same. Nothing is read or opened at import time: Azure imports
function_app.py while the host starts, and `rapport serve` does the same, so the first request pays
for opening the store, once.

Two ways to change them, and no other:
- `provide(**fields)`: a host's wiring, for the rest of the process (function_app.py's wiring block
  hands in the Teams connections only bot/ can make; rapport/ never imports bot/);
- `with override(**fields):` for a block, then the previous services again (local/host.py's DevHost
  while it serves, `rapport trigger`, the tests). Overrides nest; the innermost wins.

Imports rapport.settings, rapport.store and rapport.web only. The collaborators' types live with the
code that uses them and are named in comments: runtime never imports the modules that ask it, so
it makes no import cycle.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rapport import __version__
from rapport.settings import Settings, load_settings
from rapport.store import Store, make_store
from rapport.web import Answer, Request


@dataclass
class Services:
    """What this process runs with. None: the default, from the settings (see each field)."""

    settings: Settings | None = None  # None: read from the environment (load_settings) on first use
    store: Store | None = None  # None: opened from the settings on first use (`store()`)
    # How brief cards and follow-up cards reach Teams: makers that bot/ provides (function_app's
    # wiring), called with the settings on first use when the bot has an identity (MicrosoftAppId).
    # Without a bot identity the cards land in the local outbox (rapport.local_outbox).
    teams_briefs: Callable[[Settings], Any] | None = None  # -> rapport.briefs.delivery.TeamsSender
    teams_cards: Callable[[Settings], Any] | None = None  # -> rapport.followups.cards.CardDelivery or None
    bot_keys: Any = None  # the Bot Framework channel keys (rapport.identity.keys.KeySet); None: from the settings
    mail_transport: Any = None  # follow-up mail (rapport.followups.sending.MailTransport); None: Graph with an
    #                             Entra app (RAPPORT_CLIENT_ID), else the local outbox
    brief_mail: Any = None  # briefs' Outlook actionable mail (rapport.briefs.delivery.MailSender); None: Graph
    #                         through the follow-up transport's client, else the local outbox
    send_limiter: Any = None  # sends per partner a minute (rapport.followups.sending.RateLimiter); None: 30
    drafter: Any = None  # follow-ups' drafter (rapport.drafting); None: one made from the settings per draft
    brief_drafter: Any = None  # briefs' drafter; None: one made from the settings, kept
    entra_validator: Any = None  # the add-in's token check (rapport.identity.tokens.EntraValidator); None: made
    #                              from the settings and the bind below
    graph: Any = None  # the Microsoft Graph client (rapport.graph.GraphClient); None: one with app-only tokens
    #                  from the settings (rapport.identity.graph_tokens), made on first use and kept
    work_queue: Any = None  # where work items are also sent as messages (rapport.work_queue.StorageWorkQueue);
    #                         None: a Storage queue if the settings name one (RAPPORT_WORK_QUEUE...), else none
    bind_host: str | None = None  # the address a local host listens on; never set on Azure (rapport.identity.dev)
    preview_tenant: str | None = None  # the firm the task pane preview acts in (the local host's demo firm)
    _made: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: asyncio.Lock | None = field(default=None, init=False, repr=False, compare=False)

    def once(self, name: str, make: Callable[[], Any]) -> Any:
        """What `make()` returned the first time these services asked for `name` (a default made once)."""
        if name not in self._made:
            self._made[name] = make()
        return self._made[name]


_FIELDS = frozenset(f.name for f in dataclasses.fields(Services) if f.init)
_provided: dict[str, Any] = {}  # the hosts' wiring
_layers: list[dict[str, Any]] = []  # the active overrides, innermost last
_current: Services | None = None  # the composition of the two, made again after every change


def services() -> Services:
    """The services of this process now."""
    global _current
    if _current is None:
        fields = dict(_provided)
        for layer in _layers:
            fields.update(layer)
        _current = Services(**fields)
    return _current


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        raise TypeError(f"no such service: {', '.join(unknown)}")
    return dict(fields)


def provide(**fields: Any) -> None:
    """Wire these services in for the rest of the process (a host, once, at start)."""
    global _current
    _provided.update(_checked(fields))
    _current = None


@contextmanager
def override(**fields: Any) -> Iterator[Services]:
    """These services inside the block, the previous ones after it (whatever the block changed)."""
    global _current
    layer = _checked(fields)
    _layers.append(layer)
    _current = None
    try:
        yield services()
    finally:
        _layers[:] = [x for x in _layers if x is not layer]
        _current = None


def _keep(name: str, value: Any, owner_of: tuple[str, ...]) -> None:
    """Remember a default made on first use where it belongs: in the innermost override that chose
    any of `owner_of` (so it goes when that override ends), else for the process."""
    for layer in reversed(_layers):
        if any(k in layer for k in owner_of):
            layer[name] = value
            return
    _provided[name] = value

# Capture allocates millions of short-lived objects (a delta round of 20,000 mails): with CPython's
# default first-generation threshold (700) the cycle collector ran so often it cost a fifth of
# ingest time (bench/capture.py). Nearly all of these objects die young without cycles.
GC_THRESHOLDS = (20_000, 20, 50)


def tune_gc() -> None:
    """The process's collector settings, set by whatever hosts Rapport (function_app, the CLI)."""
    gc.set_threshold(*GC_THRESHOLDS)


def settings() -> Settings:
    """The process's settings (read from the environment on first use)."""
    svc = services()
    if svc.settings is None:
        svc.settings = load_settings()
        _keep("settings", svc.settings, ("settings",))
        from rapport import telemetry

        telemetry.begin(svc.settings)  # once per process, from the settings the process runs on
    return svc.settings


async def store() -> Store:
    """The open store; opens it on first use. Raises StoreUnavailable (503) if it cannot."""
    svc = services()
    if svc.store is not None:
        return svc.store
    if svc._lock is None:
        svc._lock = asyncio.Lock()
    async with svc._lock:
        if svc.store is None:
            s = make_store(settings())
            await s.open()
            svc.store = s
            if svc is _current:  # whoever chose the settings (or the store) owns the store opened for them
                _keep("store", s, ("store", "settings"))
    return svc.store


def opened_store() -> Store | None:
    """The store if one is open, without opening one (hooks that must not open a store as a side effect)."""
    return services().store


async def health(request: Request) -> Answer:
    """Liveness and version only: a probe learns nothing about tenants, data or configuration."""
    return Answer(200, {"status": "ok", "version": __version__})
