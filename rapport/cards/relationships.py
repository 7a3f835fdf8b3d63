"""Cards about relationships: an introduction asked for, its outcome, a counsel move.

Pure functions of plain facts (rapport.relationships builds them), Adaptive Cards 1.5 with
`Action.Execute` only, each action carrying one record id (never a tenant or user: the bot takes
those from the authenticated activity). Text from outside the firm (a contact's name) and text a
colleague typed (a reason) are TextRuns, never markdown.

- the introduction request, to the owner(s) who may answer: who asks, why, for whom; "Share the
  contact" (primary), "I'll introduce them", and "Decline" with a reason box. Once answered, no
  choices: who answered and how. A reminder is the same card with a line saying so.
- the outcome, to the asker: accepted (shared, or an introduction is coming) or declined with the
  reason given. Nothing about the contact beyond what the asker already typed or saw (the address)
  unless the owner accepted.
- the counsel move, to each partner who knows the person: who moved, from where to where (from
  their signature, when that is how it was seen), "who replaces them?" (who at the firm knows others
  at the old company), and "Not a move". A bounced address is the same card saying the address no
  longer exists and that where they went is not known (no note is drafted for it).
"""

from __future__ import annotations

from typing import Any

from rapport.cards.common import card, execute, heading, line, plain, run, section, text

# Introductions (bot/relationships.py answers these)
VERB_INTRO_SHARE = "intro.share"
VERB_INTRO_INTRODUCE = "intro.introduce"
VERB_INTRO_DECLINE = "intro.decline"
VERB_INTRO_REFRESH = "intro.refresh"
INTRO_VERBS = (VERB_INTRO_SHARE, VERB_INTRO_INTRODUCE, VERB_INTRO_DECLINE, VERB_INTRO_REFRESH)
# Counsel moves
VERB_MOVE_DISMISS = "move.dismiss"
VERB_MOVE_REFRESH = "move.refresh"
MOVE_VERBS = (VERB_MOVE_DISMISS, VERB_MOVE_REFRESH)
# The sidebar's and the brief's own buttons (the task pane and the bot answer them)
VERB_ASK_INTRO = "askIntro"
VERB_SET_VISIBILITY = "setVisibility"

REASON_INPUT = "reason"
INTRO_REASON_INPUT = "introReason"
REASON_MAX = 300

VISIBILITY_WORDS = {"private": "only you", "team": "your team", "firm": "the whole firm"}
VISIBILITY_ACTIONS = {"private": "Keep it private", "team": "Share with my team", "firm": "Share with the firm"}


def _title_band(title: str, style: str) -> dict[str, Any]:
    return {"type": "Container", "style": style, "bleed": True,
            "items": [{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True}]}


def _refresh(verb: str, data: dict[str, Any], users: list[str]) -> dict[str, Any] | None:
    if not users:
        return None
    return {"action": execute("Refresh", verb, data), "userIds": users[:60]}


def reason_input(input_id: str, label: str, placeholder: str) -> dict[str, Any]:
    return {"type": "Input.Text", "id": input_id, "isMultiline": True, "maxLength": REASON_MAX,
            "placeholder": placeholder, "label": label, "spacing": "Small"}


# --- introductions ---------------------------------------------------------------------------------

INTRO_LOOK = {
    "open": ("Introduction requested", "accent"),
    "accepted": ("Introduction accepted", "good"),
    "declined": ("Introduction declined", "default"),
}


def intro_request_card(f: dict[str, Any], *, refresh_users: list[str] | None = None,
                       notice: str | None = None) -> dict[str, Any]:
    """The card to whoever may answer. `f`: requestId, state, askerName, reason, contactLabel,
    ownerNames, forLeaver (answering for someone who left), reminder, answeredByName, answer,
    answerReason."""
    state = f.get("state") or "open"
    title, style = INTRO_LOOK.get(state, INTRO_LOOK["open"])
    data = {"requestId": f["requestId"]}
    body: list[dict[str, Any] | None] = [_title_band(title, style)]
    if notice:
        body.append(text(notice, weight="Bolder", spacing="Small"))
    if f.get("reminder") and state == "open":
        body.append(text("Reminder: this request has waited three working days.", color="Attention", spacing="Small"))
    body.append(line(run(f.get("askerName") or "A colleague", weight="Bolder"),
                     run(" asks to be introduced to "), run(f.get("contactLabel") or "a contact", weight="Bolder"),
                     spacing="Small"))
    if f.get("forLeaver"):
        body.append(text(f"Known to {plain(', '.join(f.get('ownerNames') or []), 120) or 'a former colleague'}, "
                         "who has left the firm: you answer in their place.", subtle=True, spacing="Small"))
    reason = f.get("reason") or ""
    body.append(section("Why", [line(run(reason or "No reason given.", limit=REASON_MAX, italic=not reason))]))
    actions: list[dict[str, Any]] = []
    if state == "open":
        body.append(reason_input(REASON_INPUT, "If you decline, say why (the colleague sees it)",
                                 "e.g. the matter is sensitive right now"))
        actions = [
            execute("Share the contact", VERB_INTRO_SHARE, data, style="positive"),
            execute("I'll introduce them", VERB_INTRO_INTRODUCE, data),
            {**execute("Decline", VERB_INTRO_DECLINE, data, associated_inputs="auto"), "mode": "secondary"},
        ]
    else:
        how = {"share": "shared the contact", "introduce": "will make the introduction"}.get(
            f.get("answer") or "", "declined")
        body.append(line(run(f.get("answeredByName") or "A colleague", weight="Bolder"), run(f" {how}."),
                         spacing="Medium"))
        if state == "declined" and f.get("answerReason"):
            body.append(line(run("Reason: ", weight="Bolder"), run(f["answerReason"], limit=REASON_MAX)))
    return card(body, actions, fallback=f"{title}: {plain(f.get('askerName'), 60)}",
                refresh=_refresh(VERB_INTRO_REFRESH, data, refresh_users or []))


def intro_outcome_card(f: dict[str, Any]) -> dict[str, Any]:
    """The card to the asker. `f`: state, answer, answeredByName, answerReason, email, and, only when
    accepted, contactName."""
    state = f.get("state") or "declined"
    title, style = INTRO_LOOK.get(state, INTRO_LOOK["declined"])
    who = f.get("answeredByName") or "Your colleague"
    body: list[dict[str, Any] | None] = [_title_band(title, style)]
    if state == "accepted" and f.get("answer") == "share":
        body.append(line(run(who, weight="Bolder"), run(" shared "),
                         run(f.get("contactName") or f.get("email") or "the contact", weight="Bolder"),
                         run(" with you: the sidebar now shows them.")))
    elif state == "accepted":
        body.append(line(run(who, weight="Bolder"), run(" will introduce you to "),
                         run(f.get("contactName") or f.get("email") or "the contact", weight="Bolder"), run(".")))
    else:
        body.append(line(run(who, weight="Bolder"), run(" declined your request about "),
                         run(f.get("email") or "the contact", weight="Bolder"), run(".")))
        if f.get("answerReason"):
            body.append(line(run("Reason: ", weight="Bolder"), run(f["answerReason"], limit=REASON_MAX)))
    return card(body, [], fallback=title)


# --- counsel moves ---------------------------------------------------------------------------------

MOVE_LOOK = {"raised": ("Counsel move", "accent"), "dismissed": ("Not a move", "default")}
BOUNCE_TITLE = "A contact's address bounced"


def move_card(f: dict[str, Any], *, refresh_users: list[str] | None = None, notice: str | None = None) -> dict[str, Any]:
    """The card to a partner who knows the person. `f`: alertId, state, via ("domain", "signature" or
    "bounce"), name, fromCompany, toCompany, fromDomain, toDomain, address (a bounce's), drafted (a
    congratulations note waits on its own card), othersAtOld: list of {name, count} (colleagues who
    know others at the old company), contactedAt."""
    state = f.get("state") or "raised"
    via = f.get("via") or "domain"
    title, style = MOVE_LOOK.get(state, MOVE_LOOK["raised"])
    if via == "bounce" and state == "raised":
        title = BOUNCE_TITLE
    data = {"alertId": f["alertId"]}
    body: list[dict[str, Any] | None] = [_title_band(title, style)]
    if notice:
        body.append(text(notice, weight="Bolder", spacing="Small"))
    old = f.get("fromCompany") or f.get("fromDomain") or "their company"
    if via == "bounce":
        body.append(line(run(f.get("name") or "A contact", weight="Bolder"), run(" may have left "),
                         run(old, weight="Bolder"), spacing="Small"))
        body.append(line(run("Mail to "), run(f.get("address") or "their address", weight="Bolder"),
                         run(" bounced: that address no longer exists."), spacing="Small"))
    else:
        body.append(line(run(f.get("name") or "A contact", weight="Bolder"), run(" moved from "),
                         run(old, weight="Bolder"),
                         run(" to "), run(f.get("toCompany") or f.get("toDomain") or "a new company", weight="Bolder"),
                         spacing="Small"))
        if via == "signature":
            body.append(text("Seen in their email signature (they still write from the same address).",
                             subtle=True, spacing="None"))
    actions: list[dict[str, Any]] = []
    if state == "raised":
        if via == "bounce":
            body.append(text("Where they went is not known yet, so nothing is drafted. When they write from a new "
                             "address, you will get a card and a congratulations note to approve.",
                             subtle=True, spacing="Small", limit=300))
        if f.get("drafted"):
            body.append(text("A congratulations note is drafted for you: approve it on its own card.",
                             subtle=True, spacing="Small"))
        if f.get("contactedAt"):
            body.append(text("Contacted since the move.", subtle=True, spacing="Small"))
        others = f.get("othersAtOld") or []
        where = f.get("fromCompany") or f.get("fromDomain") or "their old company"
        items = [line(run(o.get("name") or "A colleague", weight="Bolder"),
                      run(f" knows {o.get('count', 0)} other{'s' if o.get('count', 0) != 1 else ''} there"))
                 for o in others[:6]]
        # The company's name may be outsider text (a signature's): a text run, never the heading's markdown.
        intro = (line(run("Colleagues who know others at "), run(where, weight="Bolder", limit=60), run(":"))
                 if items else line(run("Nobody at the firm knows anyone else at "), run(where, limit=60),
                                    run(" yet."), spacing="Small"))
        body.append({"type": "Container", "separator": True, "spacing": "Medium",
                     "items": [heading("Who replaces them?"), intro, *items]})
        actions = [execute("Not a move", VERB_MOVE_DISMISS, data)]
    else:
        body.append(text("Dismissed: Rapport will not raise this move again.", subtle=True, spacing="Small"))
    return card(body, actions, fallback=f"{title}: {plain(f.get('name'), 60)}",
                refresh=_refresh(VERB_MOVE_REFRESH, data, refresh_users or []))
