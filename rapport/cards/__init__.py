"""Adaptive Card builders (1.5, Action.Execute only): pure functions from facts to card dicts.

One definition serves Teams, Outlook actionable messages and the task pane. `common` holds the
layout pieces every card uses (safe text, sections, fact rows, actions, dates); each card family
has its own module (contact.py: the sidebar's contact, restricted and unknown-sender cards).
"""

from rapport.cards.common import CARD_VERSION, VERB_ADD_NOTE, VERB_REFRESH
from rapport.cards.contact import (
    context_card,
    known_contact_card,
    restricted_contact_card,
    unknown_sender_card,
)

__all__ = [
    "CARD_VERSION", "VERB_ADD_NOTE", "VERB_REFRESH", "context_card", "known_contact_card",
    "restricted_contact_card", "unknown_sender_card",
]
