"""Briefs popped up before the meeting: the 5-minute timer and the delivery work it queues.

The timer (`brief_timer`, "0 */5 * * * *" in function_app.py) looks, per onboarded firm, at the
meetings starting within the firm's lead time (Tenant.settings.briefLeadMinutes, default 60) and
queues one work item per (meeting, partner, start time shown) for each onboarded partner's meeting
with people outside the firm. The drain (rapport.work) delivers it. Exactly once, by construction:

- the work key is `meeting:partner:start`, so a timer pass that sees the meeting again before the
  drain ran queues nothing new, and `Meeting.briefsSent[partner] = start` after delivery makes every
  later pass skip it;
- a meeting moved after its brief went out has another start: a new key, delivered as an *updated*
  brief (it names the old time), never a second copy of the first;
- cancelled, already started, internal-only (no external contacts) or walled meetings get none; a
  recurring meeting's occurrences are separate events, so each gets its own brief;
- each channel the item delivered is written into the item before the next, so a retry after a
  crash repeats only what had not gone out. The local outbox and the Outlook mail are idempotent
  on the key themselves; Teams' POST is not, which is why the item remembers it first.

Channels: a proactive Teams message through botbuilder (bot/briefs.py, provided by function_app's
wiring as runtime.services().teams_briefs so rapport/ never imports bot/; bot/ paces it within
Teams' limits); and where the firm
turned Outlook briefs on (Tenant.settings.outlookBriefs), an Outlook actionable message through Graph (the card in a
<script type="application/adaptivecard+json"> with `originator`; created with the idempotency key,
then sent, the key looked up before every send, as rapport.followups.sending does for follow-ups). On the embedded default (no bot
identity / no Graph app configured) both land in the local outbox shown at /dev/outbox.

Imports from rapport: records, store, work, runtime (the process's senders and drafter), cards, identity.membership, the local outbox, drafting
and (lazily) rapport.followups.sending, whose Graph mail transport it reuses; from this package
compose. Never bot/: the Teams sender is handed in (runtime.services().teams_briefs).
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from rapport import local_outbox, runtime, telemetry, work
from rapport.briefs.compose import build
from rapport.cards.brief import brief_card
from rapport.cards.common import plain
from rapport.identity.membership import partners as firm_partners
from rapport.identity.membership import teams_user_id
from rapport.records import Meeting, Person, Tenant, WorkItem, aware, iso, utcnow
from rapport.store import ScopedStore, Store

log = logging.getLogger("rapport.briefs")

KIND = "brief-delivery"
DEFAULT_LEAD = 60
SNOOZE_MINUTES = 15
SNOOZE_BEFORE_START = timedelta(minutes=5)


def work_key(meeting_id: str, partner_oid: str, start: str, *, snooze: bool = False) -> str:
    return f"{meeting_id}:{partner_oid}:{start}" + (":snooze" if snooze else "")


def lead_time(tenant: Tenant) -> timedelta:
    minutes = tenant.settings.briefLeadMinutes or DEFAULT_LEAD
    return timedelta(minutes=max(5, min(24 * 60, minutes)))


def user_ids_for(person: Person) -> list[str]:
    """Who the card auto-refreshes for: the partner, as Teams names them (rapport.identity.membership)."""
    return [teams_user_id(person, person.oid)]


def _onboarded_partners(tenant: Tenant, people: list[Person]) -> dict[str, Person]:
    return {p.oid: p for p in firm_partners(tenant, people)}  # who is a partner: rapport.identity.membership


# --- the timer ---------------------------------------------------------------------------------

@dataclass
class PassReport:
    tenants: int = 0
    considered: int = 0
    queued: list[str] = field(default_factory=list)
    queued_tenants: set[str] = field(default_factory=set)

    def summary(self) -> str:
        return f"{self.tenants} firms, {self.considered} meetings in the lead time, {len(self.queued)} briefs queued"


async def timer_pass(store: Store, now: datetime | None = None, *, tenant_ids: list[str] | None = None) -> PassReport:
    """Queue the briefs due now. Cheap: one meetings query per firm (not per partner)."""
    now = aware(now or utcnow())
    report = PassReport()
    tenants = await store.list_tenants() if tenant_ids is None else [
        t for t in [await store.get_tenant(tid) for tid in tenant_ids] if t is not None]
    for tenant in tenants:
        if not tenant.allowed or tenant.consentState != "ok":
            continue
        report.tenants += 1
        tid = tenant.tenantId
        partners = _onboarded_partners(tenant, await store.people(tid))
        if not partners:
            continue
        for m in await store.meetings_between(tid, now, now + lead_time(tenant)):
            partner = partners.get(m.organizerOid)
            if partner is None or m.isCancelled or not m.external or aware(m.start) < now:
                continue
            report.considered += 1
            start = iso(m.start)
            shown = m.briefsSent.get(partner.oid)
            if shown == start:
                continue
            key = work_key(m.id, partner.oid, start)
            payload = {"meetingId": m.id, "partnerOid": partner.oid, "start": start, "previousStart": shown}
            if (await work.enqueue(store, tid, KIND, key, payload, not_before=now))[1]:
                report.queued.append(key)
                report.queued_tenants.add(tid)
    return report


async def brief_timer(store: Store, *, past_due: bool = False, now: datetime | None = None) -> PassReport:
    """What the `meeting_briefs` timer trigger does: queue, then drain the queued firms at once
    (the minute drain would also get them; briefs are worth the head start)."""
    report = await timer_pass(store, now)
    if report.queued or past_due:
        log.info("brief timer%s: %s", " (past due)" if past_due else "", report.summary())
    if report.queued:
        await work.drain(store, now=now, tenant_ids=sorted(report.queued_tenants))
    return report


# --- snooze ------------------------------------------------------------------------------------

async def snooze(store: Store, tenant_id: str, meeting: Meeting, partner_oid: str, now: datetime,
                 minutes: int = SNOOZE_MINUTES) -> datetime | None:
    """Send the brief again later (never after the meeting has begun). Returns when, or None if too late."""
    start = aware(meeting.start)
    at = min(now + timedelta(minutes=max(1, min(240, minutes))), start - SNOOZE_BEFORE_START)
    if at <= now:
        return None
    key = work_key(meeting.id, partner_oid, iso(meeting.start), snooze=True) + f":{iso(at)}"
    payload = {"meetingId": meeting.id, "partnerOid": partner_oid, "start": iso(meeting.start), "snooze": True}
    await work.enqueue(store, tenant_id, KIND, key, payload, not_before=at)
    return at


# --- channels ----------------------------------------------------------------------------------

class TeamsSender(Protocol):
    async def send_card(self, tenant_id: str, person: Person, card: dict[str, Any], summary: str) -> None: ...


class MailSender(Protocol):
    async def send_actionable(self, tenant_id: str, person: Person, subject: str, html_body: str, key: str) -> None: ...


def _teams_sender(settings: Any) -> TeamsSender | None:
    """None on the embedded default (no bot identity): the local outbox takes the message."""
    if not settings.bot_app_id:
        return None
    services = runtime.services()
    make = services.teams_briefs
    if make is None:
        raise RuntimeError("the bot is configured but no Teams sender is provided (function_app's wiring)")
    return services.once("teams_briefs", lambda: make(settings))


def _mail_sender(settings: Any) -> MailSender | None:
    services = runtime.services()
    if services.brief_mail is not None:
        return services.brief_mail
    if not settings.client_id:
        return None
    from rapport.followups.sending import GraphMailTransport, mail_transport

    # The follow-up sender's Graph client: one set of per-mailbox limits for all mail Rapport sends,
    # and one attempt per request (a 503 on /send is ambiguous: the key lookup decides next time).
    transport = mail_transport()
    if not isinstance(transport, GraphMailTransport):
        return None
    return services.once("brief_mail", lambda: GraphActionableMail(transport.client))


def _brief_drafter(settings: Any) -> Any:
    services = runtime.services()
    if services.brief_drafter is not None:
        return services.brief_drafter

    def make() -> Any:
        from rapport.drafting import make_drafter

        return make_drafter(settings)

    return services.once("brief_drafter", make)


def actionable_html(card: dict[str, Any], summary: str) -> str:
    """The mail body Outlook turns into an actionable message: the card in a script element (JSON
    with '<' escaped, so no text in it can close the element), a plain fallback for other clients."""
    payload = json.dumps(card, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return ("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">"
            f"<script type=\"application/adaptivecard+json\">{payload}</script></head>"
            f"<body><p>{html.escape(summary)}</p><p>Open this message in Outlook to see the brief.</p></body></html>")


class GraphActionableMail:
    """An actionable message from the partner's own mailbox to the partner, through Graph.

    The follow-up sender's exactly-once scheme, reused (rapport.followups.sending): the message is
    created carrying the idempotency key as a filterable extended property and an `x-rapport-key` header,
    then sent with POST .../messages/{id}/send (never sendMail, which answers 202 before delivery).
    Before any send, so before every retry, the key is looked up: found and sent means done; found
    as a draft is sent as is (never a second message).
    """

    def __init__(self, graph: Any) -> None:
        from rapport.followups.sending import GraphMailTransport

        self.graph = graph
        self.lookup = GraphMailTransport(graph)

    async def send_actionable(self, tenant_id: str, person: Person, subject: str, html_body: str, key: str) -> None:
        from msgraph.generated.models.body_type import BodyType
        from msgraph.generated.models.email_address import EmailAddress
        from msgraph.generated.models.internet_message_header import InternetMessageHeader
        from msgraph.generated.models.item_body import ItemBody
        from msgraph.generated.models.message import Message
        from msgraph.generated.models.recipient import Recipient
        from msgraph.generated.models.single_value_legacy_extended_property import (
            SingleValueLegacyExtendedProperty,
        )

        from rapport.followups.sending import KEY_HEADER, KEY_PROPERTY

        mailbox = person.oid
        found = await self.lookup.find(tenant_id, mailbox, key)
        if found is not None and found.sent:
            log.info("brief mail already sent (key found): not resent", extra={"tenant_id": tenant_id})
            return
        message_id = found.message_id if found is not None else None
        if message_id is None:
            msg = Message(
                subject=subject, body=ItemBody(content_type=BodyType.Html, content=html_body),
                to_recipients=[Recipient(email_address=EmailAddress(address=person.upn, name=person.name))],
                single_value_extended_properties=[SingleValueLegacyExtendedProperty(id=KEY_PROPERTY, value=key)],
                internet_message_headers=[InternetMessageHeader(name=KEY_HEADER, value=key)],
            )
            created = await self.graph.send(  # GraphClient's per-mailbox limits, as rapport.followups.sending
                tenant_id, mailbox, lambda c: c.users.by_user_id(mailbox).messages.to_post_request_information(msg))
            message_id = (created or {}).get("id")
            if not message_id:
                raise RuntimeError("Graph created the message but returned no id")
        await self.graph.send(
            tenant_id, mailbox,
            lambda c: c.users.by_user_id(mailbox).messages.by_message_id(message_id).send.to_post_request_information())


# --- the work handler --------------------------------------------------------------------------

@work.handler(KIND)
async def deliver_work(store: Store, item: WorkItem) -> None:
    # The drain claimed the item at its own `now` (injectable) and leased it until now + LEASE: that
    # is the clock this delivery runs at, so a test's or a past-due run's time is kept throughout.
    await deliver(store, item, now=item.notBefore - work.LEASE)


async def deliver(store: Store, item: WorkItem, *, now: datetime | None = None) -> str:
    """Deliver one queued brief. Returns what happened (for logs and tests)."""
    p = item.payload
    tid = item.tenantId
    now = aware(now or utcnow())
    snoozed = bool(p.get("snooze"))
    tenant = await store.get_tenant(tid)
    person = await store.get_person(tid, p["partnerOid"])
    meeting = await store.get(Meeting, tid, p["meetingId"])
    if tenant is None or person is None or meeting is None or not tenant.allowed:
        return "gone"
    if meeting.isCancelled or iso(meeting.start) != p["start"] or aware(meeting.start) <= now - timedelta(minutes=5):
        return "stale"  # cancelled or moved since it was queued: the next pass queues the new time
    if not snoozed and meeting.briefsSent.get(person.oid) == p["start"]:
        return "already"
    settings = runtime.settings()
    scoped = ScopedStore(store, tid, person.oid)
    facts = await build(scoped, meeting.id, now, drafter=_brief_drafter(settings),
                               previous_start=p.get("previousStart"), partner_name=person.name)
    if facts is None:
        return "hidden"  # walled for this partner since: nothing to show, same as no meeting
    subject = f"Brief: {plain(meeting.subject, 120) or 'your next meeting'}"  # no control/bidi characters
    if facts.get("updated"):
        subject = "Updated " + subject[0].lower() + subject[1:]
    key = item.key
    done: list[str] = list(p.get("done", []))

    async def remember(extra: dict[str, Any]) -> None:
        def change(w: WorkItem) -> WorkItem:
            w.payload = {**w.payload, **extra}
            return w

        updated = await store.update(WorkItem, tid, item.id, change)
        if updated is not None:
            item.payload = updated.payload

    if person.channels.get("teams", True) and "teams" not in done:
        card = brief_card(facts, now, user_ids=user_ids_for(person))
        teams = _teams_sender(settings)
        done.append("teams")
        if teams is None:  # idempotent on the key itself: nothing to remember
            await local_outbox.deliver(store, tid, "teams", key, to=[person.upn], subject=subject, card=card, at=now)
        elif person.conversationRef:
            await teams.send_card(tid, person, card, subject)
            await remember({"done": done})  # Teams' POST is not idempotent: never repeat it on a retry
        else:
            log.info("no Teams conversation with a partner yet (app not installed); brief not sent there",
                     extra={"tenant_id": tid})
    if tenant.settings.outlookBriefs and "mail" not in done:
        originator = tenant.settings.amOriginator or settings.am_originator  # the firm's own provider id first
        card = brief_card(facts, now, user_ids=user_ids_for(person), originator=originator)
        body = actionable_html(card, subject)
        mail = _mail_sender(settings)
        if mail is None:
            await local_outbox.deliver(store, tid, "actionable-mail", key, to=[person.upn], subject=subject,
                                       body=body, card=card, at=now)
        elif not originator:
            log.error("ALERT Outlook briefs are on but no originator is set (rapport tenant set amOriginator=..., or "
                      "RAPPORT_AM_ORIGINATOR); brief mail skipped",
                      extra={"tenant_id": tid, "alert": True})
        else:
            await mail.send_actionable(tid, person, subject, body, key)
        done.append("mail")
        if mail is not None:
            await remember({"done": done})
    if not snoozed:
        def mark(m: Meeting) -> Meeting | None:
            if m.briefsSent.get(person.oid) == p["start"]:
                return None
            m.briefsSent = {**m.briefsSent, person.oid: p["start"]}
            return m

        await store.update(Meeting, tid, meeting.id, mark)
    log.info("brief delivered (%s)", ",".join(done) or "no channel", extra={"tenant_id": tid})
    if done:
        telemetry.briefs_delivered.add(1, {"rapport.tenant_id": tid})
    return "delivered"


__all__ = [
    "DEFAULT_LEAD", "KIND", "SNOOZE_MINUTES", "GraphActionableMail", "MailSender", "PassReport", "TeamsSender",
    "actionable_html", "brief_timer", "deliver", "lead_time", "snooze", "timer_pass",
    "user_ids_for", "work_key",
]
