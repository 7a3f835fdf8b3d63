"""The paging cursor, one format for both backends: a page starts strictly after the (at, id) of
the previous page's last row, so the same cursor means the same thing on SQLite and Cosmos DB."""

from __future__ import annotations

import base64
import json

from rapport.store.errors import BadCursor


def cursor_out(at: str, doc_id: str) -> str:
    """The opaque cursor of the page that follows the row (at, doc_id)."""
    return base64.urlsafe_b64encode(json.dumps([at, doc_id]).encode()).decode()


def cursor_in(cursor: str) -> tuple[str, str]:
    """The (at, id) a cursor stands for, or BadCursor."""
    try:
        at, doc_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(at), str(doc_id)
    except (ValueError, TypeError):
        raise BadCursor() from None
