"""Transitional name of rapport.local_outbox (issue 13), for the three modules that still import it.

rapport/followups.py, rapport/sender.py and rapport/brief_delivery.py are being moved by other
branches of the same re-packaging; once they import `rapport.local_outbox`, delete this module.
"""

from __future__ import annotations

from rapport.local_outbox import deliver, find, list_items

__all__ = ["deliver", "find", "list_items"]
