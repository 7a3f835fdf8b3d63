"""The relationship cards (rapport.cards.relationships) and the sidebar's new buttons: Adaptive Card 1.5,
Action.Execute with one id, outsider and colleague text only in TextRuns; rendered by the official
`adaptivecards` JS renderer in headless Chromium with Teams' own light host config
(adaptivecards-designer's microsoft-teams-light.json), without a parse warning, nothing clipped at
Teams' 450 px nor Outlook's 320 px, and at most three buttons in view.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rapport.cards.contact import context_card
from rapport.cards.relationships import (
    INTRO_VERBS,
    MOVE_VERBS,
    VERB_ASK_INTRO,
    VERB_SET_VISIBILITY,
    intro_outcome_card,
    intro_request_card,
    move_card,
)
from tests.test_cards import KNOWN, NOW, RESTRICTED, nodes

ROOT = Path(__file__).resolve().parents[1]
RENDERER = ROOT / "node_modules/adaptivecards/dist/adaptivecards.min.js"
TEAMS_LIGHT = ROOT / "node_modules/adaptivecards-designer/lib/hostConfigs/microsoft-teams-light.json"
EVIL = "[click me](https://evil.example) **bold** <b>x</b>\u202eevil\u200b"
LONG = "We are asked about oppositions in Japan and Korea for their new range, and they mentioned this person " * 3

REQUEST = {"requestId": "ir_1", "state": "open", "askerName": "Anna Weber", "reason": f"Japan filing {EVIL}",
           "contactLabel": f"Sam {EVIL}", "ownerNames": ["Ben Ode"], "forLeaver": False, "reminder": False,
           "answeredByName": "", "answer": "", "answerReason": ""}
MOVE = {"alertId": "ma_1", "state": "raised", "name": f"Jane {EVIL}", "fromCompany": "Oldco AG", "toCompany": "Newco",
        "fromDomain": "oldco.test", "toDomain": "newco.test", "drafted": True,
        "othersAtOld": [{"name": "Al Partner", "count": 3}, {"name": "Ben Ode", "count": 1}], "contactedAt": None}


def cases() -> dict[str, dict[str, Any]]:
    return {
        "intro-open": intro_request_card(REQUEST, refresh_users=["29:ben", "29:carl"]),
        "intro-long": intro_request_card({**REQUEST, "reason": LONG, "contactLabel": "Dr. Samantha Longname-Example"}),
        "intro-reminder-leaver": intro_request_card({**REQUEST, "reminder": True, "forLeaver": True,
                                                     "ownerNames": ["Leo Gone"]}),
        "intro-invalid": intro_request_card(REQUEST, notice="Say why you decline: your colleague sees the reason."),
        "intro-accepted": intro_request_card({**REQUEST, "state": "accepted", "answer": "share",
                                              "answeredByName": "Ben Ode"}),
        "intro-declined": intro_request_card({**REQUEST, "state": "declined", "answeredByName": "Ben Ode",
                                              "answerReason": f"sensitive {EVIL}"}),
        "outcome-share": intro_outcome_card({"state": "accepted", "answer": "share", "answeredByName": "Ben Ode",
                                             "email": "sam@acme.example", "contactName": "Sam Example"}),
        "outcome-introduce": intro_outcome_card({"state": "accepted", "answer": "introduce",
                                                 "answeredByName": "Ben Ode", "email": "sam@acme.example"}),
        "outcome-declined": intro_outcome_card({"state": "declined", "answeredByName": "Ben Ode",
                                                "email": "sam@acme.example", "answerReason": "sensitive"}),
        "move-raised": move_card(MOVE, refresh_users=["29:ann"]),
        "move-nobody-else": move_card({**MOVE, "othersAtOld": [], "drafted": False}),
        "move-dismissed": move_card({**MOVE, "state": "dismissed"}),
        "move-signature": move_card({**MOVE, "via": "signature", "fromCompany": f"Oldco {EVIL}",
                                     "toCompany": f"Newco Therapeutics {EVIL}", "fromDomain": "", "toDomain": ""}),
        "move-bounce": move_card({**MOVE, "via": "bounce", "toCompany": "", "toDomain": "", "drafted": False,
                                  "address": "jane@oldco.test"}),
        "sidebar-restricted": context_card({**RESTRICTED, "canAskIntro": True}, NOW),
        "sidebar-owner": context_card({**KNOWN, "yourVisibility": "team"}, NOW),
    }


BUTTONS = {  # what is in view (the rest behind "More options")
    "intro-open": ["Share the contact", "I'll introduce them", "More options"],
    "intro-accepted": [], "intro-declined": [], "outcome-share": [], "outcome-declined": [],
    "move-raised": ["Not a move"], "move-dismissed": [], "move-signature": ["Not a move"],
    "move-bounce": ["Not a move"],
    "sidebar-restricted": ["Ask for an introduction", "Refresh"],
    "sidebar-owner": ["Add note", "Refresh", "More options"],
}


@pytest.mark.parametrize("name", list(cases()))
def test_cards_are_1_5_execute_only_with_one_id(name):
    c = cases()[name]
    assert c["type"] == "AdaptiveCard" and c["version"] == "1.5" and c["fallbackText"]
    actions = [n for n in nodes(c) if str(n.get("type", "")).startswith("Action.")]
    assert all(a["type"] == "Action.Execute" for a in actions)
    for a in actions:
        if a["verb"] in INTRO_VERBS:
            assert set(a["data"]) == {"requestId"}
        elif a["verb"] in MOVE_VERBS:
            assert set(a["data"]) == {"alertId"}
        elif a["verb"] == VERB_SET_VISIBILITY:
            assert set(a["data"]) == {"email", "visibility"}
        elif a["verb"] == VERB_ASK_INTRO:
            assert set(a["data"]) == {"email"}
        dumped = json.dumps(a["data"])
        assert "tenant" not in dumped.lower() and "oid" not in dumped.lower()
    # outsider and colleague text: TextRuns only, cleaned
    blocks = " ".join(n["text"] for n in nodes(c) if n.get("type") == "TextBlock")
    assert "evil" not in blocks and "Anna" not in blocks and "Jane" not in blocks
    assert "\u202e" not in json.dumps(c, ensure_ascii=False) and "\u200b" not in json.dumps(c, ensure_ascii=False)
    pale = [n.get("text") for n in nodes(c) if n.get("type") in ("TextBlock", "TextRun")
            and str(n.get("color", "")).lower() in ("good", "warning")]
    assert pale == []


def test_states_and_choices():
    c = cases()
    assert [a["verb"] for a in c["intro-open"]["actions"]] == ["intro.share", "intro.introduce", "intro.decline"]
    assert c["intro-open"]["actions"][2]["mode"] == "secondary"
    assert any(n.get("id") == "reason" for n in nodes(c["intro-open"]))
    assert "actions" not in c["intro-accepted"] and "actions" not in c["intro-declined"]
    assert c["intro-open"]["refresh"]["userIds"] == ["29:ben", "29:carl"]
    assert "who has left the firm" in json.dumps(c["intro-reminder-leaver"])
    assert "Reminder" in json.dumps(c["intro-reminder-leaver"])
    assert "Sam Example" in json.dumps(c["outcome-share"]) and "Sam" not in json.dumps(c["outcome-declined"])
    owner = c["sidebar-owner"]
    vis = [a for a in owner["actions"] if a["verb"] == VERB_SET_VISIBILITY]
    assert sorted(a["data"]["visibility"] for a in vis) == ["firm", "private"]  # the two other choices
    assert all(a["mode"] == "secondary" for a in vis)
    assert VERB_SET_VISIBILITY not in json.dumps(context_card(KNOWN, NOW))  # not an owner: no control
    assert VERB_ASK_INTRO not in json.dumps(context_card(RESTRICTED, NOW))  # no flag (e.g. walled): no button
    bounce = json.dumps(c["move-bounce"])
    assert "A contact's address bounced" in bounce and "may have left" in bounce and "jane@oldco.test" in bounce
    assert "not known yet" in bounce and "drafted for you" not in bounce and " to " not in bounce.split("may have")[0]
    assert "email signature" in json.dumps(c["move-signature"]) and "email signature" not in json.dumps(c["move-raised"])


FIT_JS = """
([cardJson, hostConfig, width]) => {
  const card = new AdaptiveCards.AdaptiveCard();
  card.hostConfig = new AdaptiveCards.HostConfig(hostConfig);
  const ctx = new AdaptiveCards.SerializationContext();
  card.parse(cardJson, ctx);
  const events = [];
  for (let i = 0; i < ctx.eventCount; i++) events.push(String(ctx.getEventAt(i).message));
  const validation = card.validateProperties();
  for (let i = 0; i < validation.eventCount; i++) events.push(String(validation.getEventAt(i).message));
  const root = document.getElementById('root');
  root.style.width = width + 'px';
  root.innerHTML = '';
  root.appendChild(card.render());
  const box = root.getBoundingClientRect();
  const clipped = [];
  for (const el of root.querySelectorAll('*')) {
    if (el.tagName === 'TEXTAREA' || el.tagName === 'INPUT') continue;
    const s = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    const label = (el.textContent || '').trim().slice(0, 40);
    if (r.width > 0 && (r.right > box.right + 1 || r.left < box.left - 1)) clipped.push('outside: ' + label);
    const hidesX = s.overflowX === 'hidden' || s.overflowX === 'clip' || s.textOverflow === 'ellipsis';
    if (hidesX && el.scrollWidth > el.clientWidth + 1) clipped.push('width: ' + label);
  }
  const buttons = Array.from(root.querySelectorAll('button'))
    .map(b => b.getAttribute('aria-label') || b.textContent.trim());
  return {events, clipped, buttons, text: root.innerText, links: root.querySelectorAll('a').length};
}
"""


@pytest.mark.parametrize("width", [450, 320])
async def test_cards_render_in_teams_host_config_and_fit(page, width):
    host = json.loads(TEAMS_LIGHT.read_text())
    await page.set_viewport_size({"width": width + 40, "height": 1200})
    await page.set_content("<!doctype html><html><body style='margin:0'><div id='root'></div></body></html>")
    await page.add_script_tag(path=str(RENDERER))
    for name, c in cases().items():
        out = await page.evaluate(FIT_JS, [c, host, width])
        assert out["events"] == [], (name, width, out["events"])
        assert out["clipped"] == [], (name, width, out["clipped"])
        assert out["links"] == 0, name  # the markdown-looking text stayed text
        if name in BUTTONS:
            assert out["buttons"] == BUTTONS[name], (name, width, out["buttons"])
        assert len([b for b in out["buttons"] if b != "More options"]) <= 3, name
    rendered = await page.evaluate(FIT_JS, [cases()["move-raised"], host, width])
    assert "Who replaces them?\nColleagues who know others at Oldco AG:" in rendered["text"]
    assert "Al Partner knows 3 others there" in rendered["text"]
    bounce = (await page.evaluate(FIT_JS, [cases()["move-bounce"], host, width]))["text"]
    assert "may have left Oldco AG" in bounce and "Mail to jane@oldco.test bounced" in bounce
    signature = (await page.evaluate(FIT_JS, [cases()["move-signature"], host, width]))["text"]
    assert "Colleagues who know others at Oldco [click me](https://evil.example)" in signature  # text, not a link
    assert "[click me](https://evil.example)" in rendered["text"]
