"""The enquiry pipeline in Teams: the enquiry card's verbs and the commands "pipeline" / "my pipeline",
"mark <name> <stage> [because <reason>]", "new enquiry from <name or email>" and "called <name or
email>" (a phone call with the enquirer: rapport.pipeline.calls).

Every verb and command acts as the activity's user in its proven tenant (bot/verbs.py); the card's
data carries only enquiry ids and a stage ({enquiryId, stage}; "Merge into one" adds otherId). The
changes live in rapport.pipeline.stages and .calls; an enquiry the user may not see (a wall,
privacy, another tenant, a bad id) answers 404, the same as none at all; a missing id, 400.
Replies are plain text; names and subjects from outside the firm go through bot.text.outsider.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from botbuilder.core import InvokeResponse, TurnContext

from bot import verbs
from bot.text import NEUTRAL, outsider, reply
from rapport import runtime
from rapport.pipeline import calls, notify, stages
from rapport.pipeline.cards import (
    LABELS,
    REASON_INPUT,
    VERB_CALL,
    VERB_CONFLICTS,
    VERB_KEEP_OPEN,
    VERB_MERGE,
    VERB_REFRESH,
    VERB_STAGE,
)
from rapport.pipeline.timer import is_overdue
from rapport.records import Enquiry, contact_id, utcnow
from rapport.store.base import Store

NOT_FOUND = "This enquiry was not found."
REFUSED = stages.REFUSED
LIST_LIMIT = 15
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_PIPELINE = re.compile(r"^(?:show\s+)?(?:my\s+)?pipeline\W*$", re.IGNORECASE)
_NEW = re.compile(r"^(?:log\s+(?:a\s+)?)?new\s+enquiry\s+from\s+(.+)$", re.IGNORECASE | re.DOTALL)
_STAGE_WORDS = {"instructed": "instructed", "won": "instructed", "lost": "lost", "proposal": "proposal",
                "negotiation": "negotiation", "needs analysis": "needs_analysis", "analysis": "needs_analysis"}
_MARK = re.compile(r"^mark\s+(.+?)\s+(?:as\s+)?(instructed|won|lost|proposal|negotiation|needs analysis|analysis)"
                   r"(?:\s+(?:because|reason:?)\s+(.+))?\W*$", re.IGNORECASE | re.DOTALL)
_CALLED = re.compile(r"^(?:i\s+)?(?:called|phoned|rang|spoke\s+(?:to|with)|log(?:ged)?\s+(?:a\s+)?call\s+(?:with|to))"
                     r"\s+(.+)$", re.IGNORECASE | re.DOTALL)
_EMAIL = re.compile(r"[^\s<>()]+@[^\s<>()]+\.[^\s<>()]+")


def parse_command(text: str | None) -> tuple[str, ...] | None:
    t = " ".join(_MENTION.sub(" ", text or "").split())
    if _PIPELINE.match(t):
        return ("pipeline",)
    m = _NEW.match(t)
    if m:
        return ("new", m.group(1).strip().rstrip(".!?")[:200])
    m = _MARK.match(t)
    if m:
        return ("mark", m.group(1).strip()[:100], _STAGE_WORDS[m.group(2).lower()], (m.group(3) or "").strip()[:300])
    m = _CALLED.match(t)
    if m:
        return ("called", m.group(1).strip().rstrip(".!?")[:200])
    return None


async def _overdue_check(store: Store, tenant_id: str):
    firm = await store.get_tenant(tenant_id)
    now = utcnow()
    return (lambda e: is_overdue(firm, e, now)) if firm else (lambda e: False)


async def pipeline_lines(store: Store, tenant_id: str, oid: str, now: datetime | None = None) -> list[str]:
    """ "my pipeline": the viewer's open enquiries, overdue first, then by stage."""
    overdue = await _overdue_check(store, tenant_id)
    items = await stages.my_pipeline(store, tenant_id, oid, overdue=overdue)
    out = []
    for e in items[:LIST_LIMIT]:
        late = "OVERDUE " if overdue(e) else ""
        out.append(f"- {late}{LABELS.get(e.stage, e.stage)}: {outsider(e.subject, 80, empty=NEUTRAL)}")
    return out


async def on_text(turn_context: TurnContext, tenant_id: str) -> bool:
    command = parse_command(turn_context.activity.text)
    if command is None:
        return False
    oid = await verbs.viewer_or_explain(turn_context, "the pipeline")
    if oid is None:
        return True
    store = await runtime.store()
    if command[0] == "pipeline":
        lines = await pipeline_lines(store, tenant_id, oid)
        await turn_context.send_activity(reply(
            "Your open enquiries (overdue first):\n" + "\n".join(lines) if lines else "You have no open enquiries."))
        return True
    if command[0] == "new":
        who = command[1]
        found = _EMAIL.search(who)
        if found is None:
            await turn_context.send_activity("Say the person's email address, e.g. \u201cnew enquiry from "
                                             "jane@example.com\u201d.")
            return True
        name = who.replace(found.group(0), "").strip(" <>()\"',")
        out = await stages.log_by_hand(store, tenant_id, oid, found.group(0), name)
        if out.status in ("ok", "already") and out.enquiry is not None:
            await notify.queue(store, tenant_id, out.enquiry.id, "new" if out.status == "ok" else "status", oid,
                               stamp=utcnow().isoformat())
        await turn_context.send_activity(reply(out.message or "I couldn't log that enquiry."))
        return True
    if command[0] == "called":
        await turn_context.send_activity(reply(await _called(store, tenant_id, oid, command[1])))
        return True
    _, name, stage, reason = command
    matches = await stages.find_by_name(store, tenant_id, oid, name)
    if len(matches) != 1:
        await turn_context.send_activity(reply(
            f"I found no open enquiry of yours for \u201c{outsider(name, 60)}\u201d." if not matches else
            f"Several of your enquiries match \u201c{outsider(name, 60)}\u201d; use the card's buttons."))
        return True
    out = await stages.change_stage(store, tenant_id, oid, matches[0].id, stage, reason=reason)
    await turn_context.send_activity(reply(out.message or ("Already so." if out.status == "already" else REFUSED)))
    return True


async def _called(store: Store, tenant_id: str, oid: str, who: str) -> str:
    """ "called NAME or EMAIL": the call logged on that person's open enquiry, in words. By address,
    any open enquiry of theirs the user may act on; by name, the user's own (as "mark X")."""
    found = _EMAIL.search(who)
    matches: list[Enquiry] = []
    if found is not None:
        try:
            matches = await stages.open_enquiries_of(store, tenant_id, oid, contact_id(found.group(0)))
        except ValueError:
            return "That is not an email address."
    else:
        matches = await stages.find_by_name(store, tenant_id, oid, who)
    shown = outsider(who, 60)  # a name as typed (an address never shows: Teams would make it a link)
    if not matches:
        return ("I found no open enquiry for that address." if found else
                f"I found no open enquiry of yours for \u201c{shown}\u201d; say their email address.")
    if len(matches) > 1:
        return (f"That address has {len(matches)} open enquiries: merge them from the enquiry card or the "
                "Outlook sidebar first." if found else
                f"Several of your enquiries match \u201c{shown}\u201d; say their email address.")
    out = await calls.log_call(store, tenant_id, oid, matches[0].id)
    if out.status == "not_found":
        return NOT_FOUND
    return out.message or REFUSED


async def _answer(store: Store, tenant_id: str, oid: str, out: stages.Outcome) -> InvokeResponse:
    if out.status == "not_found" or out.enquiry is None:
        return verbs.error_response(404, NOT_FOUND, "NotFound")
    if out.status == "refused":
        return verbs.error_response(403, REFUSED, "Forbidden")
    firm = await store.get_tenant(tenant_id)
    viewer = await store.get_person(tenant_id, oid)
    card = await notify.card_for(store, firm, out.enquiry, viewer, notice=out.message or None) if firm and viewer \
        else None
    if card is None:
        return verbs.error_response(404, NOT_FOUND, "NotFound")
    return verbs.card_response(card)


def _act(verb: str):
    async def handle(turn_context: TurnContext, tenant_id: str, data: dict[str, Any]) -> InvokeResponse:
        oid = verbs.viewer(turn_context)
        if oid is None:
            return verbs.error_response(403, REFUSED, "Forbidden")
        store = await runtime.store()
        eid = data.get("enquiryId")
        if verb == VERB_STAGE:
            out = await stages.change_stage(store, tenant_id, oid, eid, data.get("stage"), reason=data.get(REASON_INPUT))
            if out.status == "invalid":
                e = await stages.visible_enquiry(store, tenant_id, oid, eid)
                out = stages.Outcome("ok" if e else "not_found", e, out.message)
        elif verb == VERB_CONFLICTS:
            out = await stages.set_conflicts_cleared(store, tenant_id, oid, eid)
        elif verb == VERB_KEEP_OPEN:
            out = await stages.keep_open(store, tenant_id, oid, eid)
        elif verb in (VERB_CALL, VERB_MERGE):
            out = (await calls.log_call(store, tenant_id, oid, eid) if verb == VERB_CALL else
                   await stages.merge_duplicate(store, tenant_id, oid, eid, data.get("otherId")))
            if out.status == "invalid":
                return verbs.error_response(400, out.message or "This action needs an enquiry.", "BadRequest")
        else:  # refresh
            e = await stages.visible_enquiry(store, tenant_id, oid, eid)
            out = stages.Outcome("ok" if e else "not_found", e)
        return await _answer(store, tenant_id, oid, out)

    return handle


VERBS: dict[str, verbs.VerbHandler] = {v: _act(v) for v in (VERB_STAGE, VERB_CONFLICTS, VERB_KEEP_OPEN, VERB_REFRESH,
                                                                VERB_CALL, VERB_MERGE)}
