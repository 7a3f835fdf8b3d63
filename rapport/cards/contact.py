"""The sidebar's cards: who the sender is to the firm.

Each builder takes the plain facts rapport.sidebar composes (the same dict the API returns beside
the card), so the card and the JSON can never disagree. Three shapes, chosen by `facts["status"]`:
- known: everything the viewer may see;
- restricted: a colleague keeps the contact private: only who knows them, to ask for an intro;
- unknown: not yet known to the firm (also what a walled or other-tenant contact looks like).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rapport.cards.common import (
    KIND_LABELS,
    VERB_ADD_NOTE,
    VERB_REFRESH,
    card,
    card_time,
    day,
    execute,
    heading,
    line,
    note_input,
    parse_time,
    plain,
    row,
    run,
    section,
    signal_label,
    text,
    when,
)
from rapport.cards.relationships import (
    INTRO_REASON_INPUT,
    VERB_ASK_INTRO,
    VERB_SET_VISIBILITY,
    VISIBILITY_ACTIONS,
    VISIBILITY_WORDS,
    reason_input,
)

CHANNEL_WORDS = {
    ("email", "inbound"): "Mail from them",
    ("email", "outbound"): "Mail to them",
    ("email", "internal"): "Mail",
    ("meeting", None): "Meeting",
    ("call", None): "Call",
    ("note", None): "Note",
}
STAGE_WORDS = {"new": "new", "responded": "responded", "qualified": "qualified", "identified": "identified",
               "pitching": "pitching", "proposal": "proposal sent", "enquiry": "enquiry",
               "needs_analysis": "needs analysis", "negotiation": "negotiation", "instructed": "instructed"}
VERB_LOG_ENQUIRY = "logEnquiry"  # the task pane posts these to /api/addin/enquiry (addin/enquiry.py)
VERB_ENQUIRY_STAGE = "enquiryStage"
VERB_ENQUIRY_CALL = "enquiryCall"  # "Log a call" with the sender (rapport.pipeline.calls)
VERB_ENQUIRY_MERGE = "enquiryMerge"  # the sender's two open enquiries into one (the older is kept)
DATE_WORDS = {"renewal": "Renewal", "opposition": "Opposition deadline", "office_action": "Office action due",
              "annuity": "Annuity due"}


def _channel(i: dict[str, Any]) -> str:
    return CHANNEL_WORDS.get((i.get("channel"), i.get("direction"))) or CHANNEL_WORDS.get(
        (i.get("channel"), None), "Contact")


def _account_line(account: dict[str, Any] | None) -> dict[str, Any] | None:
    if not account:
        return None
    kind = KIND_LABELS.get(account.get("kind") or "", "")
    runs = [run(account.get("name") or account.get("domain"), weight="Bolder")]
    if kind:
        runs.append(run(f"  {kind}", subtle=True))
    return line(*runs, spacing="None")


def _refresh_action(email: str) -> dict[str, Any]:
    return execute("Refresh", VERB_REFRESH, {"email": email})


def known_contact_card(facts: dict[str, Any], now: datetime) -> dict[str, Any]:
    email = facts["email"]
    contact = facts.get("contact") or {}
    name = contact.get("name") or email
    head: list[dict[str, Any] | None] = [
        text(name, weight="Bolder", size="Large"),
        text(contact.get("title"), subtle=True, spacing="None") if contact.get("title") else None,
        _account_line(facts.get("account")),
    ]
    signals = [
        line(run(signal_label(s), weight="Bolder"),
             run(s.get("summary"), limit=160), run(f"  {when(s.get('at'), now)}", subtle=True))
        for s in facts.get("signals", [])
    ]
    knowers = []
    for k in facts.get("knownBy", []):
        who = run(k.get("name") or "A colleague", weight="Bolder")
        you = run(" (you)", subtle=True) if k.get("you") else run("")
        if k.get("private"):
            knowers.append(row([who, you], [run("private", subtle=True)]))
            continue
        aside = [run((k.get("label") or "cold").capitalize())]
        if k.get("lastTouch"):
            aside.append(run(f" \u00b7 {when(k['lastTouch'], now)}", subtle=True))
        knowers.append(row([who, you], aside))
    recent = [
        row([run(_channel(i), weight="Bolder"), run(": "),
             run(i.get("text") or i.get("subject") or "(no subject)", limit=120),
             run(f" \u2014 {i['by']}", subtle=True) if i.get("by") else run("")],
            [run(when(i.get("at"), now), subtle=True)])
        for i in facts.get("interactions", [])
    ]
    pipeline = []
    for p in facts.get("pipeline", []):
        pipeline.append(row([run("Enquiry: " if p.get("kind") == "enquiry" else "Opportunity: ", weight="Bolder"),
                             run(_without_prefix(p.get("title") or "(untitled)", p.get("kind") or ""), limit=120)],
                            [run(STAGE_WORDS.get(p.get("stage") or "", p.get("stage") or ""), subtle=True)]))
        if p.get("sender"):
            pipeline += _enquiry_detail(p, email, now)
    dup = facts.get("duplicate")
    if dup:
        pipeline += [
            line(run("Two open enquiries for this person: ", weight="Bolder"),
                 run("merging keeps the older one.", subtle=True), spacing="Small"),
            {"type": "ActionSet", "spacing": "Small", "actions": [execute(
                "Merge into one", VERB_ENQUIRY_MERGE,
                {"email": email, "enquiryId": dup["enquiryId"], "otherId": dup["otherId"]})]},
        ]
    coming = [
        row([run("Meeting: ", weight="Bolder"), run(m.get("subject") or "(no subject)", limit=120)],
            [run(when(m.get("start"), now), subtle=True)])
        for m in facts.get("meetings", [])
    ] + [
        row([run(f"{DATE_WORDS.get(d.get('kind') or '', 'Date')}: ", weight="Bolder"),
             run(d.get("matter") or d.get("reference") or "a matter", limit=120)],
            [run(day(d.get("date")), weight="Bolder" if d.get("soon") else None)])
        for d in facts.get("keyDates", [])
    ]
    body = [
        {"type": "Container", "items": [b for b in head if b is not None]},
        section("Signals", signals),
        section("Who at the firm knows them", knowers),
        section("Latest contact", recent),
        section("Open enquiries and opportunities", pipeline),
        section("Coming up", coming),
        note_input(),
    ]
    actions = [execute("Add note", VERB_ADD_NOTE, {"email": email}, style="positive"), _refresh_action(email)]
    mine = facts.get("yourVisibility")
    if mine in VISIBILITY_WORDS:
        # An owner's control over who sees their relationship: the current choice in words, the
        # other two as secondary actions (the overflow menu), so the card keeps two buttons in view.
        body.append(line(run("Who sees your relationship: ", subtle=True),
                         run(VISIBILITY_WORDS[mine], weight="Bolder"), spacing="Medium"))
        actions += [{**execute(VISIBILITY_ACTIONS[v], VERB_SET_VISIBILITY, {"email": email, "visibility": v}),
                     "mode": "secondary"} for v in VISIBILITY_ACTIONS if v != mine]
    return card(body, actions, fallback=f"{plain(name)}: who they are to the firm")


def _enquiry_detail(p: dict[str, Any], email: str, now: datetime) -> list[dict[str, Any]]:
    """The sender's own enquiry: owner and clock, its next stage and "Log a call" as buttons."""
    clock = (run(" \u00b7 answered", subtle=True) if p.get("answeredAt") else
             run(f" \u00b7 reply due {when(p['dueAt'], now)} {card_time(p['dueAt'])}",
                 color="Attention" if (parse_time(p["dueAt"]) or now) <= now else None) if p.get("dueAt") else run(""))
    out = [line(run("Owner: ", subtle=True), run(p.get("owner") or "nobody yet", limit=80), clock, spacing="None")]
    nxt = p.get("next")
    buttons = []
    if nxt and p.get("id"):
        label = STAGE_WORDS.get(nxt, nxt)
        buttons.append(execute(f"Move to {label}", VERB_ENQUIRY_STAGE, {"email": email, "enquiryId": p["id"], "stage": nxt}))
    if p.get("id"):
        buttons.append(execute("Log a call", VERB_ENQUIRY_CALL, {"email": email, "enquiryId": p["id"]}))
    if buttons:
        out.append({"type": "ActionSet", "spacing": "Small", "actions": buttons})
    return out


def _without_prefix(title: str, kind: str) -> str:
    """'Enquiry: clearance' under an 'Enquiry:' label reads twice; drop the repeated word."""
    head, sep, rest = title.partition(":")
    return rest.strip() if sep and head.strip().lower() == kind.lower() and rest.strip() else title


def _names(names: list[str]) -> str:
    names = [plain(n, 60) or "a colleague" for n in names][:3]
    if len(names) <= 1:
        return names[0] if names else "a colleague"
    return ", ".join(names[:-1]) + " and " + names[-1]


def restricted_contact_card(facts: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Only that the contact is known, and to whom. No name, title, account or history."""
    who = _names(facts.get("knownTo") or [])
    body = [
        heading("Known to the firm"),
        line(run("Known to "), run(who, weight="Bolder"), run(" - ask for an introduction.")),
        text("They keep this relationship private, so the details are theirs to share.", subtle=True,
             spacing="Small"),
    ]
    actions = [_refresh_action(facts["email"])]
    if facts.get("canAskIntro"):
        body.append(reason_input(INTRO_REASON_INPUT, "Why you would like an introduction",
                                 "e.g. they asked us about a filing in Japan"))
        actions.insert(0, execute("Ask for an introduction", VERB_ASK_INTRO, {"email": facts["email"]},
                                  style="positive"))
    return card(body, actions, fallback=f"Known to {who} - ask for an introduction")


def unknown_sender_card(facts: dict[str, Any], now: datetime) -> dict[str, Any]:
    email = facts["email"]
    account = facts.get("account")
    body: list[dict[str, Any] | None] = [
        heading("Not yet known to the firm"),
        text(email, weight="Bolder", spacing="Small"),
        text("Rapport has no record of this sender. If you reply or meet, they are added on their own.",
             subtle=True, spacing="Small"),
    ]
    if account:
        kind = KIND_LABELS.get(account.get("kind") or "", "")
        body.append(line(run("Their organisation is known: "), run(account.get("name"), weight="Bolder"),
                         run(f" ({kind.lower()})" if kind else ""), spacing="Medium"))
    # A new person writing about new work: one click starts the enquiry (owner, 4-hour clock, stages).
    return card(body, [execute("Log as enquiry", VERB_LOG_ENQUIRY, {"email": email}, style="positive"),
                       _refresh_action(email)], fallback="Not yet known to the firm")


def colleague_card(facts: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Internal mail: the sender works at the firm. Nothing to look up about them here."""
    person = facts.get("person") or {}
    body: list[dict[str, Any] | None] = [
        heading("A colleague at the firm"),
        text(person.get("name") or facts["email"], weight="Bolder", size="Medium", spacing="Small"),
        text(person.get("title"), subtle=True, spacing="None") if person.get("title") else None,
    ]
    return card(body, [_refresh_action(facts["email"])], fallback="A colleague at the firm")


def context_card(facts: dict[str, Any], now: datetime) -> dict[str, Any]:
    status = facts.get("status")
    if status == "colleague":
        return colleague_card(facts, now)
    if status == "known":
        return known_contact_card(facts, now)
    if status == "restricted":
        return restricted_contact_card(facts, now)
    return unknown_sender_card(facts, now)
