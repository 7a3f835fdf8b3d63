"""The bot's welcome card, sent once when a partner installs Rapport in Teams: who Rapport is, what
one can type, and a "My follow-ups" button (the same answer as typing "my follow-ups").

The greeting and the command list are handed in by the bot (bot/handler.py keeps the one list, which
its `help` text shows too); this module only lays them out. All of it is Rapport's own fixed text.
Imports: rapport.cards.common only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rapport.cards.common import card, execute, heading, line, run

VERB_MY_FOLLOWUPS = "followups.mine"  # the bot answers it as "my follow-ups" (bot/followups.py)
VERBS = (VERB_MY_FOLLOWUPS,)  # every verb the welcome card shows
MY_FOLLOWUPS = "My follow-ups"


def welcome_card(greeting: str, commands: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
    """`commands`: (words, what follows them or "", what it does), in the order to show them."""
    rows = []
    for words, argument, what in commands:
        rows.append(line(run(words, weight="Bolder"), *([run(" " + argument, italic=True)] if argument else []),
                         run(": " + what), spacing="Small"))
    body = [
        {"type": "TextBlock", "text": greeting, "wrap": True},
        {"type": "Container", "spacing": "Medium", "items": [heading("What you can type"), *rows]},
    ]
    return card(body, [execute(MY_FOLLOWUPS, VERB_MY_FOLLOWUPS, style="positive")], fallback=greeting)


__all__ = ["MY_FOLLOWUPS", "VERBS", "VERB_MY_FOLLOWUPS", "welcome_card"]
