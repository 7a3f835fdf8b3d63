"""The follow-up approval card: recipients, subject, body, and the partner's choices.

Universal Actions (Adaptive Cards 1.5, `Action.Execute` only). Every action carries the draft id and
the version the partner is looking at, nothing else (never a tenant or user: the bot takes those
from the authenticated activity). The card is a pure function of the draft: the invoke answer, the
refresh for every viewer (`refresh.userIds`: the owner and their delegates) and the proactive
message are all built here, so they always agree.

States: drafted / snoozed (choices shown), editing (inline inputs), approved / sending, sent,
failed (reason + Retry), dismissed, superseded (replaced by one draft per company; no choices). Each
state has its own title and colour (`STATE_LOOK`), so a card updated after the send no longer asks
for an approval.

Fit: Teams gives a card about 450 px (320 px on a phone or in Outlook), and buttons in one row share
it, so a pending card shows two buttons only, "Approve and send" (the one primary action) and
"Edit"; Snooze, Skip and "One draft per company" are secondary actions (Adaptive Cards 1.5
`mode: "secondary"`), which Teams and the JS renderer put behind one overflow ("...") button. In edit
mode the message box is as tall as the draft needs (a Container's minHeight, the input stretched into
it) and "Save and approve" saves the text as a new version and approves exactly that version in one
click. Recipients: To is ticked among the meeting's outside attendees (code chose them,
rapport.followups.drafting), Cc is typed (the firm's colleagues); the server checks both again
(rapport.followups.approval), and a refused address comes back on the card with the text kept.

A draft to outsiders from several companies is neutral (it names no company's matters, enquiries or
opportunities); its card says so and offers "One draft per company" (rapport.followups.split).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from rapport.cards.common import card, card_time, card_when, execute, heading, line, plain, row, run, text
from rapport.records import Draft

VERB_APPROVE = "followup.approve"
VERB_EDIT = "followup.edit"
VERB_SAVE = "followup.save"
VERB_SAVE_APPROVE = "followup.saveApprove"
VERB_SNOOZE_LATER = "followup.snoozeLater"
VERB_SNOOZE_TOMORROW = "followup.snoozeTomorrow"
VERB_SKIP = "followup.skip"
VERB_RETRY = "followup.retry"
VERB_REFRESH = "followup.refresh"
VERB_SPLIT = "followup.split"
# Every verb the card may carry: bot/followups.py answers exactly these.
VERBS = (VERB_APPROVE, VERB_EDIT, VERB_SAVE, VERB_SAVE_APPROVE, VERB_SNOOZE_LATER, VERB_SNOOZE_TOMORROW, VERB_SKIP,
         VERB_RETRY, VERB_REFRESH, VERB_SPLIT)

SUBJECT_INPUT = "subject"
BODY_INPUT = "body"
TO_INPUT = "to"
CC_INPUT = "cc"
SUBJECT_MAX = 200
BODY_MAX = 5000
MAX_REFRESH_USERS = 60  # Teams refreshes a card for at most 60 listed users
# Companies a neutral draft may be split into: one draft and one card each. Beyond, no split is offered
# (a town hall is no client meeting, and Teams allows a handful of messages a second per chat).
MAX_SPLIT = 10
_COMPANIES = "companies:"  # a draft's flag: made neutral because its recipients are from N companies
# The message box in edit mode: tall enough for the draft's lines (about 20 px a line at Teams' 14 px
# text, wrapped at ~45 characters in 450 px), never less than ten lines nor more than a screen.
_BOX_LINE_PX, _BOX_CHARS_PER_LINE, _BOX_MIN_PX, _BOX_MAX_PX = 20, 45, 200, 480

# A title and a colour per state. The colour is the title band's container style (a tinted
# background under default-coloured text), not a text colour: Teams' light "good" and "warning" text
# is about 1.5:1 on white, too faint to read, while its tinted backgrounds keep the text's contrast.
STATE_LOOK: dict[str, tuple[str, str]] = {
    "drafted": ("Follow-up to approve", "accent"),
    "snoozed": ("Follow-up snoozed", "warning"),
    "approved": ("Follow-up sending", "emphasis"),
    "sending": ("Follow-up sending", "emphasis"),
    "sent": ("Follow-up sent", "good"),
    "failed": ("Follow-up not sent", "attention"),
    "dismissed": ("Follow-up skipped", "default"),
    "superseded": ("Follow-up replaced", "default"),
    "expired": ("Follow-up expired", "default"),
}

def title_for(draft: Draft) -> str:
    """The card's title for the draft's state; also the notification's and the outbox's subject line."""
    return STATE_LOOK.get(draft.state, STATE_LOOK["drafted"])[0]


FLAG_WORDS = {
    "untrusted_instructions": "An incoming email contained instructions; Rapport ignored them.",
    "hidden_characters": "Hidden characters were removed from the source text.",
    "hidden_text": "Hidden text in an incoming email was ignored.",
    "llm_unavailable": "Written from the template (the drafting model was unavailable).",
    "links_removed": "A link or address in a subject or name from outside the firm was left out.",
}


def companies_flag(count: int) -> str:
    """The flag a neutral draft carries: set when it is made, so the card says what the draft was
    made from (not what the records say later)."""
    return f"{_COMPANIES}{count}"


def companies_in(draft: Draft) -> int:
    """How many companies a neutral draft's recipients come from (0: not a neutral draft)."""
    for f in draft.flags:
        if f.startswith(_COMPANIES) and f[len(_COMPANIES):].isdigit():
            return int(f[len(_COMPANIES):])
    return 0


def _data(draft: Draft) -> dict[str, Any]:
    return {"draftId": draft.id, "version": draft.version}


def _body_blocks(body: str) -> list[dict[str, Any]]:
    """The body as the recipient will read it: one block per line, paragraphs spaced apart.

    Each line is a TextRun (never markdown), so a link-like or bold-like line shows as typed."""
    blocks: list[dict[str, Any]] = []
    gap = False
    for raw in body.splitlines():
        if not raw.strip():
            gap = True
            continue
        blocks.append(line(run(raw, limit=1000), spacing="Small" if gap else "None"))
        gap = False
    return blocks


def _status(draft: Draft, owner_name: str, now: datetime, tz: tzinfo) -> dict[str, Any] | None:
    s = draft.state
    if s in ("approved", "sending"):
        who = plain(owner_name) if draft.approvedBy == draft.ownerOid else "a delegate"
        return line(run("Approved", weight="Bolder"), run(f" by {who}; sending\u2026", subtle=True))
    if s == "sent":
        at = f" {card_when(draft.sentAt, now, tz)} at {card_time(draft.sentAt)}" if draft.sentAt else ""
        return line(run("Sent", weight="Bolder"), run(at, subtle=True))
    if s == "failed":
        # Default colour: Teams dark draws "Attention" text at 3.2:1; the band already says "not sent".
        return line(run("Not sent: ", weight="Bolder"),
                    run(draft.failureReason or "the mail service refused it", limit=300))
    if s == "dismissed":
        return line(run("Skipped", weight="Bolder", color="Default"), run("; nothing was sent.", subtle=True))
    if s == "superseded":
        return line(run("Replaced by one draft per company", weight="Bolder", color="Default"),
                    run("; this one will not be sent.", subtle=True))
    if s == "expired":
        return line(run("Expired", weight="Bolder", color="Default"),
                    run("; its owner no longer uses Rapport, nothing was sent.", subtle=True))
    if s == "snoozed" and draft.snoozedUntil:
        return line(run("Snoozed", weight="Bolder"),
                    run(f" until {card_when(draft.snoozedUntil, now, tz)} {card_time(draft.snoozedUntil)}", subtle=True))
    return None


def _secondary(action: dict[str, Any]) -> dict[str, Any]:
    """An action the host shows in its overflow menu, not as a button of its own."""
    return {**action, "mode": "secondary"}


def _actions(draft: Draft, editing: bool) -> list[dict[str, Any]]:
    d = _data(draft)
    if editing:
        return [execute("Save and approve", VERB_SAVE_APPROVE, d, style="positive", associated_inputs="auto"),
                execute("Save", VERB_SAVE, d, associated_inputs="auto"),
                execute("Cancel", VERB_REFRESH, d, associated_inputs="none")]
    if draft.state in ("drafted", "snoozed"):
        split = ([_secondary(execute("One draft per company", VERB_SPLIT, d, associated_inputs="none"))]
                 if 1 < companies_in(draft) <= MAX_SPLIT else [])
        return [
            execute("Approve and send", VERB_APPROVE, d, style="positive", associated_inputs="none"),
            *split,
            execute("Edit", VERB_EDIT, d, associated_inputs="none"),
            _secondary(execute("Snooze: later today", VERB_SNOOZE_LATER, d, associated_inputs="none")),
            _secondary(execute("Snooze: tomorrow", VERB_SNOOZE_TOMORROW, d, associated_inputs="none")),
            _secondary(execute("Skip", VERB_SKIP, d, style="destructive", associated_inputs="none")),
        ]
    if draft.state == "failed":
        return [execute("Retry", VERB_RETRY, d, style="positive", associated_inputs="none"),
                execute("Skip", VERB_SKIP, d, style="destructive", associated_inputs="none")]
    return []


def _box_height(body: str) -> int:
    """Pixels for the message box: every line of the draft, wrapped at the card's width, in view."""
    lines = sum(max(1, -(-len(raw) // _BOX_CHARS_PER_LINE)) for raw in body.splitlines() or [""])
    return min(_BOX_MAX_PX, max(_BOX_MIN_PX, (lines + 1) * _BOX_LINE_PX))


def _recipient_inputs(draft: Draft, choices: Sequence[str], typed: Mapping[str, str]) -> list[dict[str, Any]]:
    """To: ticks over the meeting's outside attendees (nobody else can be chosen; the server checks
    it again, rapport.followups.approval); Cc: the firm's colleagues, typed."""
    to_value = typed.get("to") if typed.get("to") is not None else ",".join(draft.to)
    cc_value = typed.get("cc") if typed.get("cc") is not None else ", ".join(draft.cc)
    return [
        {"type": "Input.ChoiceSet", "id": TO_INPUT, "label": "To (people at the meeting)", "isMultiSelect": True,
         "style": "expanded", "wrap": True, "isRequired": True,
         "errorMessage": "Choose at least one person from the meeting",
         "value": plain(to_value, 2000), "spacing": "Medium",
         "choices": [{"title": plain(a, 120), "value": plain(a, 320)} for a in choices]},
        {"type": "Input.Text", "id": CC_INPUT, "label": "Cc (colleagues at the firm)", "value": plain(cc_value, 2000),
         "placeholder": "colleague@yourfirm.example", "maxLength": 2000},
    ]


def followup_card(draft: Draft, *, owner_name: str, now: datetime, refresh_users: Sequence[str] = (),
                  notice: str | None = None, editing: bool = False, tz: tzinfo = UTC,
                  choices: Sequence[str] = (), typed: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The card for `draft` as it stands. `notice` is a one-line message on top (e.g. "this draft
    changed"); `editing` shows the inline inputs instead of the choices, with `choices` the addresses
    To may hold (the meeting's outside attendees) and `typed` what the partner typed before a refused
    save (shown again, so nothing is lost). `tz` is the owning partner's zone: "today"/"tomorrow" are
    decided there; times are left to the client."""
    typed = typed or {}
    editing = editing and draft.state in ("drafted", "snoozed", "failed")
    recipients = ", ".join(draft.to)
    title, style = STATE_LOOK.get(draft.state, STATE_LOOK["drafted"])
    body: list[dict[str, Any] | None] = [
        {"type": "Container", "style": style, "bleed": True, "items": [
            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True,
             "style": "heading"}]},
        row([run(f"For {plain(owner_name, 80)}", subtle=True)], [run(f"v{draft.version}", subtle=True)]),
    ]
    if notice:
        body.append(line(run(notice, weight="Bolder", limit=300), spacing="Small"))
    body.append(_status(draft, owner_name, now, tz))
    companies = companies_in(draft)
    if companies > 1 and draft.state not in ("superseded", "dismissed"):
        body.append(line(run(f"Attendees from {companies} companies: this draft mentions no company's matters.",
                             weight="Bolder"), spacing="Small"))
    if editing and choices:
        body += _recipient_inputs(draft, choices, typed)
    else:
        body.append(line(run("To: ", weight="Bolder"), run(recipients, limit=600), spacing="Medium"))
        if draft.cc:
            body.append(line(run("Cc: ", weight="Bolder"), run(", ".join(draft.cc), limit=600), spacing="None"))
    if editing:
        subject = typed.get("subject") or draft.subject
        message = typed.get("body") or draft.body
        body += [
            {"type": "Input.Text", "id": SUBJECT_INPUT, "label": "Subject", "value": plain(subject, SUBJECT_MAX),
             "maxLength": SUBJECT_MAX, "isRequired": True, "errorMessage": "A subject is needed", "spacing": "Medium"},
            {"type": "Container", "minHeight": f"{_box_height(message[:BODY_MAX])}px", "items": [
                {"type": "Input.Text", "id": BODY_INPUT, "label": "Message", "value": message[:BODY_MAX],
                 "isMultiline": True, "maxLength": BODY_MAX, "isRequired": True, "errorMessage": "A message is needed",
                 "height": "stretch"}]},
        ]
    else:
        body.append(line(run("Subject: ", weight="Bolder"), run(draft.subject, limit=SUBJECT_MAX), spacing="None"))
        body.append({"type": "Container", "separator": True, "spacing": "Medium", "items": _body_blocks(draft.body)})
        notes = [FLAG_WORDS[f] for f in draft.flags if f in FLAG_WORDS]
        if notes:
            body.append({"type": "Container", "spacing": "Small",
                         "items": [heading("Checks"), *(text(n, subtle=True, limit=300) for n in notes)]})
    refresh = {
        "action": execute("Refresh", VERB_REFRESH, _data(draft)),
        "userIds": list(dict.fromkeys(refresh_users))[:MAX_REFRESH_USERS],
    }
    return card(body, _actions(draft, editing), fallback=f"{title}: {draft.subject}", refresh=refresh)
