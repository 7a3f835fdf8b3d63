"""Status words on Rapport's contact and brief cards stay readable in Teams and Outlook.

Teams draws "Good" and "Warning" text in light green and yellow, about 1.5:1 on white; Teams dark
draws "Attention" at 3.2:1 and Outlook "Accent" at 3.4:1 (measured with the official host configs in
tests/test_card_hosts.py). So no colour may carry a card's words: weight and the default colour
(or a band) do.
"""

from __future__ import annotations

import pytest

from rapport.cards.contact import context_card
from rapport.cards.followup import followup_card
from tests.test_brief_card import variants
from tests.test_cards import KNOWN, NOW, nodes

UNREADABLE = {"good", "warning", "attention", "accent"}


def cards():
    from tests.test_followup_card import draft

    yield "contact-known", context_card(KNOWN, NOW)
    yield from variants().items()
    for state in ("drafted", "approved", "sent", "snoozed", "failed", "dismissed", "superseded"):
        yield f"followup-{state}", followup_card(draft(state), owner_name="Ada Partner", now=NOW,
                                                 notice="This draft changed since that card")


@pytest.mark.parametrize(("name", "card"), list(cards()), ids=[n for n, _ in cards()])
def test_no_text_in_light_green_or_yellow(name, card):
    pale = [n.get("text") for n in nodes(card)
            if n.get("type") in ("TextBlock", "TextRun") and str(n.get("color", "")).lower() in UNREADABLE]
    assert pale == [], f"{name}: text in a colour under 4.5:1 in Teams or Outlook: {pale}"
