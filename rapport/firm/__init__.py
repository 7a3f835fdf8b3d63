"""What a firm loads into Rapport from its own systems (docs/firm-data.md).

- `rows`      CSV / JSON Lines rows streamed one at a time, each bad row by its line and a reason;
- `accounts`  the firm's accounts looked up by mail domain, then by name (for an import's lifetime);
- `walls`     ethical walls from the walls system: parse, check, sync (full or partial), the record
              of the sync (Tenant.wallsSyncedAt) and the watch that alerts on a stale one; the rule
              that applies walls is rapport.store.scope, not here;
- `matters`   matters from the IP management system: idempotent by reference, matched to accounts.

Imports rapport.records, rapport.store, rapport.text and rapport.onboarding (its domain check), nothing above.
"""

from rapport.firm.matters import import_matters
from rapport.firm.rows import BadRow, ImportFileError, Problem
from rapport.firm.walls import import_walls, walls_watch

__all__ = ["BadRow", "ImportFileError", "Problem", "import_matters", "import_walls", "walls_watch"]
