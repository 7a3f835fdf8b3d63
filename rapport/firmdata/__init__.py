"""A firm's data as a whole: export and import (`portability`), purge (`purge`), and the erasure of
one outside person (`forget`).

Everything here reads a firm's records through Store.scan (every document of one tenant's family,
page by page), so memory stays constant whatever the firm's size, and every read names its tenant.
The CLI (local/commands/firmdata.py) and the admin HTTP API (admin/firmdata.py) call these functions.

May import: rapport.records, rapport.text, rapport.store, rapport.capture (subscriptions, names).
"""

from __future__ import annotations


class Refused(ValueError):
    """An operation refused before anything was written, with a sentence safe to show (exit 2, a 400)."""
