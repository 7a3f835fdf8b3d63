"""Running Rapport for a real firm: its people and roles (people.py) and its settings (settings.py),
and what it loads from its own systems (docs/firm-data.md):

- `rows`      CSV / JSON Lines rows streamed one at a time, each bad row by its line and a reason;
- `accounts`  the firm's accounts looked up by mail domain, then by name (for an import's lifetime);
- `walls`     ethical walls from the walls system: parse, check, sync (full or partial), the record
              of the sync (Tenant.wallsSyncedAt) and the watch that alerts on a stale one; the rule
              that applies walls is rapport.store.scope, not here;
- `matters`   matters from the IP management system: idempotent by reference, matched to accounts.

One domain function per operation, called by both surfaces: the `rapport` CLI (local/commands/
people.py, tenant.py, walls.py, matters.py) and the admin HTTP API (admin/people.py, admin/settings.py,
admin/walls.py). Bad input raises FirmInputError (CLI exit 2, HTTP 400) before anything is written; an
unknown firm or person raises rapport.store.errors.NotFound (exit 2, HTTP 404). The importers report
bad rows by line instead (rapport.firm.rows). Nothing is imported here: rapport.records reads
firm.hours while it loads, and the importers read rapport.records.
"""

from __future__ import annotations


class FirmInputError(ValueError):
    """Bad input to a firm operation; the message says which value and why (shown to the caller)."""
