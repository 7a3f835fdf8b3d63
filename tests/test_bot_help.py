"""The bot says what it can do (issue 14, item 6): `help` lists its commands, and the welcome card sent
on install offers "My follow-ups", a button the bot answers with the same messages as typing it.

Over HTTP: activities go through function_app's bot trigger with Bot Framework tokens from the
identity stand-in; the bot's replies land at the connector stand-in. The welcome card is parsed and
rendered by the official Adaptive Cards JS renderer in headless Chromium.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from bot import briefs, followups, pipeline, routes
from bot.handler import COMMANDS_HELP, HELP
from rapport import work
from rapport.cards.welcome import MY_FOLLOWUPS, VERB_MY_FOLLOWUPS, VERBS, welcome_card
from rapport.records import Draft, utcnow
from tests.test_bot_auth import bot  # noqa: F401 - `bot`: the fixture, used here
from tests.test_followup_card import RENDERER
from tests.test_followups import OWNER, TENANT, card_texts, meeting_for, settle
from tests.test_followups_e2e import Loop, loop  # noqa: F401 - `loop`: the fixture, used here

CARD = "application/vnd.microsoft.card.adaptive"
SAMPLE = {"name": "Rosa", "name or company": "Acme", "name instructed": "Rosa instructed",
          "email": "rosa@newco.example", "name or email": "rosa@newco.example"}


def typed(words: str, argument: str) -> str:
    return f"{words} {SAMPLE[argument]}" if argument else words


def parsed(text: str) -> Any:
    """Which command parser takes the text (None: the help answers it)."""
    for parser in (briefs.parse_command, followups.parse_command, pipeline.parse_command):
        if parser(text) is not None:
            return parser(text)
    return None


def welcome_cards(sent: list[Any]) -> list[dict[str, Any]]:
    return [att["content"] for s in sent for att in s.activity.get("attachments") or []
            if att.get("contentType") == CARD]


# --- help ----------------------------------------------------------------------------------------

def test_help_lists_every_command_and_each_is_one_the_bot_parses():
    for words, argument, what in COMMANDS_HELP:
        assert f"**{words}**" in HELP and what in HELP
        if argument:
            assert f"*{argument}*" in HELP
        if words != "help":  # help is what a message no command takes gets
            assert parsed(typed(words, argument)) is not None, words
    listed = {typed(w, a) for w, a, _ in COMMANDS_HELP}
    assert {"brief", "brief Acme", "my follow-ups", "follow up Rosa", "help"} <= listed


async def test_help_over_http_lists_the_commands_and_each_command_is_answered_by_its_own(bot):  # noqa: F811
    assert (await bot.post(bot.activity(text="help"))).status_code == 200
    answer = bot.connector.sent[-1].text
    assert answer == HELP
    for words in ("brief", "my follow-ups", "follow up"):
        assert f"**{words}**" in answer
    for words, argument, _ in COMMANDS_HELP:
        if words == "help":
            continue
        before = len(bot.connector.sent)
        assert (await bot.post(bot.activity(text=typed(words, argument)))).status_code == 200
        replies = bot.connector.sent[before:]
        assert replies and all(r.text != HELP for r in replies), words  # its command answered it


# --- the welcome card ----------------------------------------------------------------------------

async def test_install_sends_the_welcome_card_with_my_followups(bot):  # noqa: F811
    resp = await bot.post(bot.activity(kind="installationUpdate", action="add", text=None))
    assert resp.status_code == 200
    cards = welcome_cards(bot.connector.sent)
    assert len(cards) == 1
    card = cards[0]
    texts = " ".join(card_texts(card))
    assert "Hello!" in texts and all(words in texts for words, _, _ in COMMANDS_HELP)
    assert [(a["type"], a["title"], a["verb"]) for a in card["actions"]] == [
        ("Action.Execute", MY_FOLLOWUPS, VERB_MY_FOLLOWUPS)]
    assert VERB_MY_FOLLOWUPS in routes.VERBS  # a button the bot answers
    # with no drafts waiting, the button answers so, and leaves the card
    resp = await bot.post(bot.activity(kind="invoke", name="adaptiveCard/action", text=None,
                                       value={"action": {"type": "Action.Execute", "verb": VERB_MY_FOLLOWUPS,
                                                         "data": {}}, "trigger": "manual"}))
    body = json.loads(resp.get_body())
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.activity.message"
    assert bot.connector.sent[-1].text == followups.NONE_WAITING


async def test_my_followups_button_answers_as_typing_it(loop: Loop):  # noqa: F811
    await loop.post(loop.activity())
    for event in ("help-1", "help-2"):
        await loop.store.put(meeting_for(TENANT, OWNER, utcnow() - timedelta(hours=1), event=event))
    for event in ("help-1", "help-2"):
        await loop.post(loop.activity(text="follow up " + ("Jane" if event == "help-1" else "Bob")))
        await settle()
        await work.drain(loop.store)
    assert len([d for d in await loop.store.drafts_by_state(TENANT, "drafted") if d.ownerOid == OWNER]) >= 1

    def answer(since: int) -> list[tuple[str, list[dict[str, Any]]]]:
        return [(s.activity.get("text") or "", [a["content"] for a in s.activity.get("attachments") or []])
                for s in loop.connector.sent[since:]]

    before = len(loop.connector.sent)
    await loop.post(loop.activity(text="my follow-ups"))
    typed_answer = answer(before)
    before = len(loop.connector.sent)
    status, body = await loop.post(loop.invoke(VERB_MY_FOLLOWUPS, {}))
    assert status == 200 and body["statusCode"] == 200
    assert body["type"] == "application/vnd.microsoft.activity.message" and "below" in body["value"]
    pressed = answer(before)
    assert pressed == typed_answer  # the same messages, the same cards
    assert re.match(r"^\d+ follow-ups? waiting for you", pressed[0][0])
    assert any(cards for _, cards in pressed[1:])
    drafts = {d.id for d in await loop.store.find_all(Draft, TENANT)}
    shown = {a["data"]["draftId"] for _, cards in pressed for c in cards for a in c.get("actions", [])
             if "draftId" in a.get("data", {})}
    assert shown and shown <= drafts
    # someone who is not one of the firm's people gets the invoke's refusal, and no list
    before = len(loop.connector.sent)
    status, body = await loop.post(loop.invoke(VERB_MY_FOLLOWUPS, {}, oid="0f0f0f0f-1111-4222-8333-444444444444"))
    assert body["statusCode"] == 403 and len(loop.connector.sent) == before


# --- the official renderer ----------------------------------------------------------------------

RENDER_JS = """
([cardJson, hostConfig]) => {
  const card = new AdaptiveCards.AdaptiveCard();
  if (hostConfig === 'rapport') card.hostConfig = window.RapportCards.hostConfig(false);
  else card.hostConfig = new AdaptiveCards.HostConfig({ supportsInteractivity: true });
  const ctx = new AdaptiveCards.SerializationContext();
  card.parse(cardJson, ctx);
  const events = [];
  for (let i = 0; i < ctx.eventCount; i++) events.push(String(ctx.getEventAt(i).message));
  const validation = card.validateProperties();
  for (let i = 0; i < validation.eventCount; i++) events.push(String(validation.getEventAt(i).message));
  const root = document.getElementById('root');
  root.innerHTML = '';
  root.appendChild(card.render());
  const clipped = Array.from(root.querySelectorAll('button, .ac-textRun, .ac-textBlock'))
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.trim());
  const buttons = Array.from(root.querySelectorAll('button')).map(b => b.textContent.trim());
  return {events, text: root.innerText, buttons, clipped, height: root.getBoundingClientRect().height};
}
"""


async def test_welcome_card_renders_without_warnings_at_teams_and_outlook_widths(page):
    from tests.test_followup_card import CARDS_HOST

    card = welcome_card("Hello! I'm Rapport.", COMMANDS_HELP)
    for width in (450, 320):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.set_content(f"<!doctype html><html><body style='margin:0'><div id='root' style='width:{width}px'>"
                               "</div></body></html>")
        await page.add_script_tag(path=str(RENDERER))
        await page.add_script_tag(path=str(CARDS_HOST))
        for host in ("default", "rapport"):
            out = await page.evaluate(RENDER_JS, [card, host])
            assert out["events"] == [], (width, host, out["events"])
            assert out["buttons"] == [MY_FOLLOWUPS] and out["clipped"] == [], (width, host, out)
            for words, argument, _ in COMMANDS_HELP:
                assert words in out["text"] and argument in out["text"]
            assert out["height"] < 600, (width, host, out["height"])  # one screen in a chat
    assert set(VERBS) == {VERB_MY_FOLLOWUPS}
