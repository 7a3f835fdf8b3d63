"""Every kind of Rapport card as Teams and Outlook lay it out (briefs, the welcome card, the sidebar's
contact cards with their enquiry buttons, follow-up drafts, the enquiry card in every kind and state): the official `adaptivecards` renderer in
headless Chromium with the official host configurations of the Adaptive Cards Designer (Teams light,
Teams dark, Outlook desktop), at Teams' width (450 px) and a phone's or Outlook's (320 px).

Fails on a parse or validation warning, an action title cut short, or text under WCAG AA contrast
(4.5:1; 3:1 for large text) on its own background. And the meeting brief, for the busiest meeting of
the demo firm, fits one screen: at most BRIEF_MAX_PX tall at 450 px (it was up to 1,342 px).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.handler import COMMANDS_HELP
from local.demo import DEMO_PARTNERS, DEMO_TENANT_ID
from rapport import briefs
from rapport.cards.brief import brief_card, unavailable_card
from rapport.cards.contact import context_card
from rapport.cards.welcome import welcome_card
from rapport.pipeline.cards import enquiry_card
from rapport.records import Attendee, Meeting, account_id, contact_id
from rapport.store import ScopedStore
from rapport.store.base import Store
from tests.card_render import HOST_CONFIGS, WIDTHS, open_renderer, render_cards
from tests.plugins.browser import save_screenshot, wants_screenshot
from tests.test_brief_card import FACTS
from tests.test_brief_card import NOW as BRIEF_NOW
from tests.test_cards import KNOWN, NOW, RESTRICTED, UNKNOWN
from tests.test_followup_card import fit_cases
from tests.test_pipeline_units import CASES as ENQUIRY_CASES
from tests.test_pipeline_units import MON as ENQUIRY_NOW

# One screen: Teams' chat pane on a laptop shows about 800 px of a card above the compose box.
BRIEF_MAX_PX = 800

# The sender's own enquiries as the sidebar shows them (rapport.sidebar: id, owner, clock, next stage).
_SENDER = {"kind": "enquiry", "title": "Enquiry: clearance for a new brand name in the EU", "stage": "needs_analysis",
           "since": "2026-02-27T00:00:00Z", "id": "eq_1", "sender": True, "owner": "Anna Weber-Longname",
           "dueAt": "2026-03-02T13:00:00Z", "answeredAt": None, "next": "proposal"}
SENDER_ENQUIRY = {**KNOWN, "pipeline": [_SENDER, *KNOWN["pipeline"]]}
TWO_ENQUIRIES = {**KNOWN, "pipeline": [_SENDER, {**_SENDER, "id": "eq_2", "stage": "enquiry", "next": "needs_analysis",
                                                  "dueAt": None, "answeredAt": "2026-03-01T10:00:00Z"}],
                 "duplicate": {"enquiryId": "eq_2", "otherId": "eq_1"}}


def every_card() -> dict[str, dict[str, Any]]:
    cards: dict[str, dict[str, Any]] = {
        "brief": brief_card(FACTS, BRIEF_NOW, user_ids=["29:user"]),
        "brief-cancelled": brief_card({**FACTS, "meeting": {**FACTS["meeting"], "isCancelled": True}}, BRIEF_NOW),
        "brief-internal": brief_card({**FACTS, "internal": True, "attendees": [], "accounts": [], "threads": [],
                                      "lastMeeting": None, "talkingPoints": []}, BRIEF_NOW),
        "brief-unavailable": unavailable_card("This meeting is no longer in your calendar."),
        "welcome": welcome_card("Hello! I'm Rapport.", COMMANDS_HELP),
        "contact-known": context_card(KNOWN, NOW),
        "contact-restricted": context_card(RESTRICTED, NOW),
        "contact-unknown": context_card(UNKNOWN, NOW),
    }
    cards.update({f"followup-{name}": c for name, c in fit_cases().items()})
    # The enquiry pipeline: every kind and state of the enquiry card (its "Log a call" and "Merge
    # into one" among them), and the sidebar's enquiry rows with their buttons.
    cards.update({f"enquiry-{name}": enquiry_card(f, kind=kind, now=ENQUIRY_NOW + timedelta(hours=1),
                                                  refresh_users=["8:orgid:o"])
                  for name, (f, kind) in ENQUIRY_CASES.items()})
    cards["contact-known-sender-enquiry"] = context_card(SENDER_ENQUIRY, NOW)
    cards["contact-known-two-enquiries"] = context_card(TWO_ENQUIRIES, NOW)
    return cards


@pytest.mark.browser
async def test_every_card_fits_and_reads_in_teams_and_outlook(page):
    await open_renderer(page)
    cases = [(f"{name}@{config}@{width}", c, config, width)
             for name, c in every_card().items() for config in HOST_CONFIGS for width in WIDTHS]
    out = await render_cards(page, cases)
    assert len(out) == len(cases) >= 100
    problems = {name: {k: r[k] for k in ("events", "cut", "faint") if r[k]} for name, r in out.items()}
    assert {n: p for n, p in problems.items() if p} == {}
    # The harness can fail: a long title in a row of buttons is cut, light green text is faint.
    control = {"type": "AdaptiveCard", "version": "1.5", "body": [
        {"type": "TextBlock", "text": "Sent", "color": "Good"}], "actions": [
        {"type": "Action.Execute", "title": f"Approve and send this {k} to everyone", "verb": "v"} for k in range(3)]}
    bad = (await render_cards(page, [("control", control, "teams-light", 320)]))["control"]
    assert bad["cut"] and bad["faint"]


async def coming_meetings(store: Store, now) -> list[tuple[str, Meeting]]:
    """Every demo partner's coming meetings with people from outside the firm."""
    found: list[tuple[str, Meeting]] = []
    for oid, *_ in DEMO_PARTNERS:
        for m in await ScopedStore(store, DEMO_TENANT_ID, oid).meetings_between(now, now + timedelta(days=7)):
            if m.external:
                found.append((oid, m))
    return found


@pytest.mark.browser
async def test_every_demo_brief_fits_one_screen(page, demo_store, demo_firm, demo_now):
    meetings = await coming_meetings(demo_store, demo_now)
    oid, busiest = max(meetings, key=lambda f: (len(briefs.external_attendees(f[1])), f[1].id))
    # And a four-attendee meeting: the busiest account's people, in the same partner's calendar.
    domain = briefs.external_attendees(busiest)[0][0].rpartition("@")[2]
    four = [c.email for c in demo_firm.contacts if c.domain == domain][:4]
    big = Meeting(id=Meeting.id_for(oid, "AAMkFOUR"), tenantId=DEMO_TENANT_ID, eventId="AAMkFOUR", organizerOid=oid,
                  subject="Portfolio review", start=demo_now + timedelta(hours=3), end=demo_now + timedelta(hours=4),
                  attendees=[Attendee(email=e, name=e) for e in four], contactIds=[contact_id(e) for e in four],
                  accountIds=[account_id(domain)])
    await demo_store.put(big)
    cases = []
    for n, (who, meeting) in enumerate([*meetings, (oid, big)]):
        facts = await briefs.build(ScopedStore(demo_store, DEMO_TENANT_ID, who), meeting.id, demo_now)
        assert facts is not None
        if meeting is big:
            assert len(facts["attendees"]) == 4 and facts["talkingPoints"]
        cases.append((f"{n}@{meeting.subject}", brief_card(facts, demo_now, user_ids=["29:x"]), "teams-light", 450))
    await open_renderer(page)
    out = await render_cards(page, cases)
    heights = sorted((r["height"], name) for name, r in out.items())
    print("brief heights at 450 px (px): max", heights[-1], "median", heights[len(heights) // 2])
    assert len(out) > 20
    for name, r in out.items():
        assert r["events"] == [] and r["cut"] == [] and r["faint"] == [], (name, r)
        if "To raise" in r["text"]:
            assert r["text"].index("To raise") < r["text"].index("Who is coming"), name
        assert r["height"] <= BRIEF_MAX_PX, (name, r["height"], BRIEF_MAX_PX)
    if wants_screenshot("brief-teams.png"):
        # README: the busiest demo brief as Teams lays it out at 450 px (official Teams light host config).
        busiest_name = next(name for name, _, _, _ in cases if name.startswith(f"{meetings.index((oid, busiest))}@"))
        card = next(c for name, c, _, _ in cases if name == busiest_name)
        await render_cards(page, [("shot", card, "teams-light", 450)])
        save_screenshot("brief-teams.png", await page.locator("#root").screenshot())
