"""Running Rapport for a real firm: its people and roles (people.py) and its settings (settings.py).

One domain function per operation, called by both surfaces: the `rapport` CLI (local/commands/
people.py, tenant.py) and the admin HTTP API (admin/people.py, admin/settings.py). Bad input raises
FirmInputError (CLI exit 2, HTTP 400) before anything is written; an unknown firm or person raises
rapport.store.errors.NotFound (exit 2, HTTP 404).
"""

from __future__ import annotations


class FirmInputError(ValueError):
    """Bad input to a firm operation; the message says which value and why (shown to the caller)."""
