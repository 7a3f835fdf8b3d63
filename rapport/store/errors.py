"""What the store raises: plain exceptions that say what happened to the data, never how to answer.

Imports nothing. The HTTP boundary (rapport.web.refusal) is the one place that turns these into
status codes; timers and the CLI catch them as they are. Each message is a sentence safe to show a
caller (no paths, no backend detail: that goes in `StoreUnavailable.detail`, for the log).
"""

from __future__ import annotations

from typing import Any


class StoreError(Exception):
    """Anything the store refuses or cannot do."""


class StoreUnavailable(StoreError):
    """The backend cannot be reached. Nothing half-written is left behind; try again later."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("Rapport's record store is unavailable right now; try again shortly")
        self.detail = detail  # what the backend said: for the log, never for the caller


class Conflict(StoreError):
    """A write was bound to an ETag that is no longer current (someone else wrote first).

    A control-flow signal first (Store.update re-reads and re-applies on it); `current` is the
    record as it now stands, when the store read it."""

    def __init__(self, current: Any = None) -> None:
        super().__init__("this record was changed by someone else; reload and try again")
        self.current = current


class AlreadyExists(StoreError):
    """A create-only write found the document already there. The argument is the document's id."""


class NotFound(StoreError):
    """The record is not there for this viewer (missing, or walled: the two look the same)."""

    def __init__(self, message: str = "not found") -> None:
        super().__init__(message)


class BadCursor(StoreError):
    """A paging cursor that this store did not hand out."""

    def __init__(self, message: str = "the paging cursor is not valid") -> None:
        super().__init__(message)
