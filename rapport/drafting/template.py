"""The template drafter: deterministic plain-English text from the record facts, and nothing else.

It is the embedded default and the fallback whenever the model is unavailable or its output fails
the checks, so it must be fast (well under a millisecond), never invent a fact, and never fail on
odd record text (empty names, bidi characters in a subject, a meeting with no open items).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from .context import (
    BriefContext,
    DraftingRefused,
    DraftText,
    ExternalAttendee,
    FollowupContext,
    OpenItem,
    TalkingPoints,
)
from .safety import clean_field, contains_forbidden, links_in, outsider_field, strip_links

_HONORIFICS = {"dr", "prof", "professor", "mr", "mrs", "ms", "mx", "miss", "sir", "dame", "herr", "frau", "mag", "dipl", "ing"}
MAX_GREETED = 4  # more attendees than this and "Dear all" reads better than a list of names
# "Dr.Anna" would read as a host name to the link rule: give the honorific its space first.
_HONORIFIC_DOT = re.compile(r"\b(" + "|".join(sorted(_HONORIFICS)) + r")\.(?=[^\W\d_])", re.IGNORECASE)


def _spaced_honorific(name: str) -> str:
    return _HONORIFIC_DOT.sub(r"\1. ", name)


def first_name(display_name: str) -> str:
    """'Dr. Anna Schmidt' -> 'Anna'; 'Schmidt, Anna' -> 'Anna'; '' -> ''. A display name is written
    outside the firm: links and addresses in it are never a name."""
    name = strip_links(_spaced_honorific(clean_field(display_name, 120)[0]))
    name = re.sub(r"\s*[(\[].*?[)\]]\s*", " ", name).strip()  # "Anna Schmidt (Acme)"
    if "," in name:
        last, _, rest = name.partition(",")
        name = rest.strip() or last.strip()
    words = [w for w in name.split() if w.rstrip(".").lower() not in _HONORIFICS]
    if not words or "@" in words[0]:
        return ""
    return words[0]


def join_names(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def day(dt: datetime) -> str:
    """'24 November 2026' (no platform-specific strftime flags)."""
    return f"{dt.day} {dt:%B %Y}"


def weekday_and_day(dt: datetime) -> str:
    return f"{dt:%A} {dt.day} {dt:%B}"


def describe_item(item: OpenItem) -> str:
    title, _ = outsider_field(item.title, 160)
    ref, _ = outsider_field(item.reference, 80)
    detail, _ = outsider_field(item.detail, 60)
    named = f"{title} ({ref})" if ref and ref.lower() not in title.lower() else title or ref
    due = f", due {day(item.due)}" if item.due else ""
    if item.kind == "enquiry":
        return f"your enquiry about {named}" if named else "your enquiry"
    if item.kind == "opportunity":
        return f"{named} ({detail})" if detail else named
    if item.kind == "renewal":
        return f"the renewal of {named}{due}"
    return f"the opposition deadline for {named}{due}"


def greeting(attendees: Iterable[ExternalAttendee]) -> str:
    people = list(attendees)
    names = list(dict.fromkeys(n for n in (first_name(a.name) for a in people) if n))
    if not names:
        return "Hello,"
    if len(people) > MAX_GREETED:
        return "Dear all,"
    return f"Dear {join_names(names)},"


def refuse_if_forbidden(texts: Iterable[str], forbidden: frozenset[str]) -> None:
    """Fail closed when the caller's scoping let a forbidden value (canary, walled id) through."""
    if forbidden and any(contains_forbidden(t, forbidden) for t in texts):
        raise DraftingRefused("the drafting context holds data marked forbidden for this viewer")


class TemplateDrafter:
    """Deterministic drafts. `compose_*` are synchronous for callers that must stay fast and pure."""

    name = "template"

    def compose_followup(self, ctx: FollowupContext) -> DraftText:
        subject_text, hidden = outsider_field(ctx.meeting_subject, 120)
        when = weekday_and_day(ctx.meeting_start)
        subject = f"Following our meeting: {subject_text}" if subject_text else f"Following our meeting on {day(ctx.meeting_start)}"
        about = f" to discuss {subject_text}" if subject_text else ""
        lines = [greeting(ctx.attendees), "", f"Thank you for taking the time to meet on {when}{about}."]
        items = [describe_item(i) for i in ctx.open_items][:6]
        if items:
            lines += ["", "For completeness, these are the points we have open with you:"]
            lines += [f"- {item[0].upper()}{item[1:]}" for item in items]
            lines += ["", "Please let me know if anything has changed on your side."]
        lines += ["", "Do get in touch if there is anything else we can help with.", "", "Kind regards,"]
        signer, _ = outsider_field(ctx.partner_name, 80)
        if signer:
            lines.append(signer)
        body = "\n".join(lines)
        hidden = hidden or any(clean_field(f)[1] for f in followup_fields(ctx))
        # The whole context, not only what the template used: a forbidden value here is a scoping bug.
        refuse_if_forbidden([subject, body, *followup_fields(ctx), *ctx.email_excerpts], ctx.forbidden)
        return DraftText(subject=subject, body=body, drafter="template",
                         flags=_flags(hidden, outsider_followup_fields(ctx)))

    def compose_talking_points(self, ctx: BriefContext, limit: int = 3) -> TalkingPoints:
        points: list[str] = []
        for item in sorted(ctx.deadlines, key=lambda i: (i.due is None, i.due or ctx.meeting_start)):
            points.append(f"Check instructions on {describe_item(item)}.")
        for sig in ctx.signals:
            name, _ = outsider_field(sig.name, 80)
            summary = outsider_field(sig.summary, 160)[0].rstrip(". ")
            if summary:
                points.append(f"Acknowledge the news about {name}: {summary}." if name else f"Acknowledge: {summary}.")
        for item in ctx.open_items:
            text = describe_item(item)
            if item.kind == "enquiry":
                points.append(f"Ask how things stand with {text}.")
            else:
                points.append(f"Discuss next steps on {text}.")
        if ctx.last_interactions:
            last = max(ctx.last_interactions, key=lambda n: n.at)
            subject, _ = outsider_field(last.subject, 120)
            if subject:
                points.append(f"Pick up from the last exchange, \"{subject}\" on {day(last.at)}.")
        if len(points) < 2:
            points.append("Ask about their priorities for the coming months.")
        points = list(dict.fromkeys(points))[:limit]
        hidden = any(clean_field(f)[1] for f in brief_fields(ctx))
        refuse_if_forbidden([*points, *brief_fields(ctx), *ctx.email_excerpts], ctx.forbidden)
        return TalkingPoints(points=points, drafter="template", flags=_flags(hidden, outsider_brief_fields(ctx)))

    async def draft_followup(self, ctx: FollowupContext) -> DraftText:
        return self.compose_followup(ctx)

    async def draft_talking_points(self, ctx: BriefContext) -> TalkingPoints:
        return self.compose_talking_points(ctx)

    async def aclose(self) -> None:
        return None


def _flags(hidden: bool, outsider: Iterable[str]) -> list[str]:
    return (["hidden_characters"] if hidden else []) + (["links_removed"] if links_removed(outsider) else [])


def links_removed(outsider: Iterable[str]) -> bool:
    """Outsider text held a link or an address, which the draft (and the prompt) left out."""
    return any(map(links_in, outsider))


def outsider_followup_fields(ctx: FollowupContext) -> list[str]:
    """The record texts written outside the firm that a draft or prompt may show (not the attendees'
    addresses: those are the recipients, chosen by code)."""
    return [ctx.meeting_subject, *ctx.recent_subjects, *_item_fields(ctx.open_items),
            *(f for a in ctx.attendees for f in (_spaced_honorific(a.name), a.account, a.role))]


def outsider_brief_fields(ctx: BriefContext) -> list[str]:
    return [ctx.meeting_subject, *(n.subject for n in ctx.last_interactions), *_item_fields(ctx.open_items),
            *_item_fields(ctx.deadlines), *(f for s in ctx.signals for f in (_spaced_honorific(s.name), s.summary)),
            *(f for a in ctx.attendees for f in (_spaced_honorific(a.name), a.account, a.role))]


def _attendee_fields(attendees: Iterable[ExternalAttendee]) -> list[str]:
    return [f for a in attendees for f in (a.name, a.email, a.account, a.role, a.account_kind)]


def _item_fields(items: Iterable[OpenItem]) -> list[str]:
    return [f for i in items for f in (i.title, i.reference, i.detail)]


def followup_fields(ctx: FollowupContext) -> list[str]:
    """Every record text of the context (not the untrusted excerpts)."""
    return [ctx.meeting_subject, ctx.partner_name, ctx.partner_email, *ctx.recent_subjects,
            *_attendee_fields(ctx.attendees), *_item_fields(ctx.open_items)]


def brief_fields(ctx: BriefContext) -> list[str]:
    return [
        ctx.meeting_subject, ctx.partner_name, *_attendee_fields(ctx.attendees),
        *(f for n in ctx.last_interactions for f in (n.subject, n.with_name)),
        *_item_fields(ctx.open_items), *_item_fields(ctx.deadlines),
        *(f for s in ctx.signals for f in (s.name, s.summary)),
    ]
