"""The template drafter: deterministic plain-English text from the record facts, and nothing else.

It is the embedded default and the fallback whenever the model is unavailable or its output fails
the checks, so it must be fast (well under a millisecond), never invent a fact, and never fail on
odd record text (empty names, bidi characters in a subject, a meeting with no open items).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from rapport import timezones

from .context import (
    BriefContext,
    DraftingRefused,
    DraftText,
    ExternalAttendee,
    FollowupContext,
    OpenItem,
    SignalNote,
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


# Prefixes a mail client or a calendar adds in front of the words a person chose: "Re:", "Fwd:",
# "Video call:", "Updated invitation:". Taken off (repeatedly) so a draft never reads "to discuss
# Video call: ..." or "Following our meeting: Re: ...".
_PREFIX = re.compile(
    r"^(?:(?:re|fw|fwd|aw|wg|sv|tr|antw|enquiry|inquiry|question|request)\s*:\s*"
    r"|(?:(?:video|teams|zoom|phone|conference|intro(?:duction)?)\s+)?call\s*:\s*"
    r"|(?:teams\s+)?meeting\s*:\s*|(?:updated\s+)?invitation\s*:\s*|cancel+ed\s*:\s*)+",
    re.IGNORECASE)
# Subjects that are a greeting or a question, not a topic: quoted as written rather than put after
# "about" ("your enquiry about Catch up at INTA?" is what a form would write).
_CHATTY = re.compile(r"^(?:following up|catch(?:ing)?[- ]up|quick|hello|hi|hey|checking|thanks|thank you|"
                     r"just|any news|update)\b", re.IGNORECASE)
# Leading words that are ordinary nouns in a sentence-case subject, lower-cased after "about".
_COMMON_FIRST = {"clearance", "trade", "brand", "fee", "filing", "renewal", "renewals", "opposition", "search",
                 "advice", "new", "our", "your", "the", "a", "an", "portfolio", "strategy", "pricing", "quote",
                 "proposal", "invoice", "assignment", "watch", "evidence", "domain", "coexistence", "customs"}


def topic(subject: str) -> str:
    """A subject as a person would refer to it: mail and calendar prefixes off, white space tidied."""
    return _PREFIX.sub("", " ".join(subject.split())).strip(" -\u2013\u2014:")


def _lower_first(text: str) -> str:
    first, _, rest = text.partition(" ")
    if first.lower() in _COMMON_FIRST and first[:1].isupper() and first[1:].islower():
        return first.lower() + (" " + rest if rest else "")
    return text


def enquiry_words(title: str, *, their: bool = False) -> str:
    """'your enquiry about clearance for a new product name'; a chatty or question subject is quoted
    as written: 'your email “Catch up at INTA?”'."""
    owner = "their" if their else "your"
    about = topic(title)
    if not about:
        return f"{owner} enquiry"
    if about.endswith("?") or _CHATTY.match(about):
        return f"{owner} email \u201c{about}\u201d"
    return f"{owner} enquiry about {_lower_first(about)}"


def _without_kind(title: str, kind: str) -> str:
    """'THESSALY – US trade mark – opposition' for an opposition date: the last part says the kind again."""
    head, sep, tail = title.rpartition(" \u2013 ")
    return head if sep and tail.strip().lower() == kind else title


def describe_item(item: OpenItem) -> str:
    title, _ = outsider_field(item.title, 160)
    ref, _ = outsider_field(item.reference, 80)
    detail, _ = outsider_field(item.detail, 60)
    title = _without_kind(title, item.kind)
    named = f"{title} ({ref})" if ref and ref.lower() not in title.lower() else title or ref
    due = f", due {day(item.due)}" if item.due else ""
    if item.kind == "enquiry":
        return enquiry_words(title)
    if item.kind == "opportunity":
        return f"{named} ({detail})" if detail else named
    if item.kind == "renewal":
        return f"the renewal of {named}{due}"
    return f"the opposition deadline for {named}{due}"


def meeting_opening(subject: str, when: str) -> str:
    """The thank-you line: 'Thank you for lunch on Tuesday 1 December.' for a lunch, else a plain
    thanks for the meeting (its subject is in the mail's subject line, not forced into a sentence)."""
    about = topic(subject).lower()
    for meal in ("lunch", "dinner", "breakfast", "coffee", "drinks"):
        if about.startswith(meal):
            return f"Thank you for {meal} on {when}; it was good to see you."
    if _CHATTY.match(about) and about.startswith("catch"):
        return f"Thank you for catching up on {when}."
    return f"Thank you for taking the time to meet on {when}."


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
        subject_text = topic(subject_text)
        when = weekday_and_day(ctx.meeting_start)
        subject = f"Following our meeting: {subject_text}" if subject_text else f"Following our meeting on {day(ctx.meeting_start)}"
        lines = [greeting(ctx.attendees), "", meeting_opening(subject_text, when)]
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
        """At most `limit` points, one per kind of fact, in the order a partner raises them: the
        next deadline on the account's matters, a counsel move, the open enquiry (else an
        opportunity), the last mail thread. Dates in the partner's zone, one style ("Tue 1 Dec")."""
        tz = timezones.zone(ctx.time_zone)
        points: list[str] = []
        dated = [i for i in ctx.deadlines if i.due is not None]
        if dated:
            points.append(_deadline_point(min(dated, key=lambda i: i.due or ctx.meeting_start), ctx.meeting_start))
        for sig in ctx.signals[:1]:
            point = _signal_point(sig)
            if point:
                points.append(point)
        enquiry = next((i for i in ctx.open_items if i.kind == "enquiry"), None)
        other = next((i for i in ctx.open_items if i.kind != "enquiry"), None)
        if enquiry is not None:
            points.append(f"Ask where things stand on {enquiry_words(outsider_field(enquiry.title, 160)[0], their=True)}.")
        elif other is not None:
            points.append(f"See whether they are ready to go ahead with {describe_item(other)}.")
        mail = [n for n in ctx.last_interactions if n.channel == "email"]  # a meeting or a note is no thread
        if mail:
            last = max(mail, key=lambda n: n.at)
            about = topic(outsider_field(last.subject, 120)[0])
            if about:
                on = timezones.short_day(last.at, ctx.meeting_start, tz)
                points.append(
                    f"We last wrote to them about \u201c{about}\u201d ({on}): ask whether they have what they need."
                    if last.direction == "outbound" else
                    f"Their last email, \u201c{about}\u201d ({on}), may still be waiting on a reply from us.")
        if len(points) < 2:
            points.append("Ask what they have coming up over the next few months.")
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


def _deadline_point(item: OpenItem, now: datetime) -> str:
    title, _ = outsider_field(item.title, 160)
    title = _without_kind(title, item.kind) or outsider_field(item.reference, 80)[0] or "their matter"
    due = timezones.short_day(item.due, now, calendar_date=True) if item.due else ""
    if item.kind == "renewal":
        return f"{title} is due for renewal on {due}: confirm they want to renew."
    return f"The opposition deadline for {title} is {due}: confirm we have their instructions."


def _signal_point(sig: SignalNote) -> str:
    name, _ = outsider_field(sig.name, 80)
    summary = outsider_field(sig.summary, 160)[0].rstrip(". ")
    if not summary:
        return ""
    if name and not summary.lower().startswith(name.lower()):
        summary = f"{name} {summary}" if summary[:1].islower() else f"{name}: {summary}"
    who = first_name(name) or "them"
    return f"{summary}. Congratulate {who} and ask what the move changes for their trade mark work."


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
