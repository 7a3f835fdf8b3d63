"""Sending an approved follow-up exactly once, as the partner, after the approval's answer.

The "send-draft" work item (keyed draftId:version, written by rapport.followups.approval) runs here:
1. the draft must still be that approved version, and its owner must still see it (walls are
   re-checked at send: docs/reliability.md, section 3, Visibility and ethical walls);
2. a per-partner rate limit (30 sends a minute, Exchange's own limit) holds runaway sending back;
3. the mail carries Rapport's idempotency key `draftId:vN`:
   - embedded default: the local outbox (rapport.local_outbox), create-only on the key;
   - production: Graph as the partner, from the partner's own mailbox (app permission Mail.Send,
     limited to the onboarded partners' mailboxes by Exchange RBAC for Applications). The message
     is created in the partner's mailbox carrying the key as a single-value extended property
     (filterable) and as an `x-rapport-key` internet header, then `POST .../messages/{id}/send`.
     `sendMail` is never used: it answers 202 before delivery and cannot be checked. Before ANY
     send, and so before every retry, the key is looked up: found and no longer a draft means it
     was sent (an "accepted, then connection reset" answer: docs/reliability.md, section 6) and is
     only recorded; found as a draft is sent as is (never a second message).
4. success records `sent`, an outbound email Interaction and the send time on the approval's audit
   event, and queues the card update. Failures are retried by the work drain with backoff; the
   last attempt, or a refusal that a retry cannot fix (403, a bad recipient), ends in `failed` with
   the reason shown on the card beside a Retry verb.

The Graph client here makes one attempt per request (no inline retry), because a 503 or a timeout
on /send is ambiguous: only the key lookup on the next attempt may decide whether to send again.

Imports from rapport: records, store, work, runtime (the process's transport and limiter), the
local outbox and (lazily) the Graph client and tokens; from this package approval (SEND_WORK, the audit's send time) and cards (the card update),
one way: neither imports this module, which registers its handler through work.HANDLER_MODULES.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from rapport import runtime, telemetry, work
from rapport.followups.approval import SEND_WORK, record_send_time
from rapport.followups.cards import queue_card
from rapport.records import Draft, Interaction, Person, contact_id, utcnow
from rapport.store import ScopedStore, Store

log = logging.getLogger("rapport.sender")

KEY_HEADER = "x-rapport-key"
# A single-value extended property in Rapport's own namespace: Graph can $filter on it.
KEY_PROPERTY = "String {6f1c7a2e-3d5b-4c8e-9a41-2b7d5e0c9f13} Name RapportKey"
SENDS_PER_MINUTE = 30


def idempotency_key(draft: Draft) -> str:
    return f"{draft.id}:v{draft.version}"


class SendRefused(Exception):
    """The mail service refused in a way a retry cannot fix. The message is shown on the card."""


# --- the per-partner rate limit ---------------------------------------------------------------------

class RateLimiter:
    """At most `per_minute` sends per partner in any 60 s; the next one waits (queued, not dropped)."""

    def __init__(self, per_minute: int = SENDS_PER_MINUTE, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.sleep = sleep
        self._sent: dict[tuple[str, str], deque[float]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.waited: list[float] = []

    async def acquire(self, tenant_id: str, owner_oid: str) -> None:
        key = (tenant_id, owner_oid)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            window = self._sent.setdefault(key, deque())
            while True:
                now = self.clock()
                while window and window[0] <= now - 60.0:
                    window.popleft()
                if len(window) < self.per_minute:
                    window.append(now)
                    return
                wait = window[0] + 60.0 - now
                self.waited.append(wait)
                await self.sleep(wait)


def send_limiter() -> RateLimiter:
    """The process's limiter (runtime.services().send_limiter), else one kept for these services."""
    services = runtime.services()
    return services.send_limiter or services.once("send_limiter", RateLimiter)


# --- transports --------------------------------------------------------------------------------------

@dataclass
class Found:
    message_id: str
    sent: bool


class MailTransport(Protocol):
    name: str

    async def send(self, store: Store, owner: Person, draft: Draft, key: str) -> str:
        """Send once under `key` (checking the key first); returns the message id."""


class LocalOutboxTransport:
    """Embedded default: the local outbox. Create-only on the key, so a retry finds the first one."""

    name = "local"

    async def send(self, store: Store, owner: Person, draft: Draft, key: str) -> str:
        from rapport import local_outbox

        item, created = await local_outbox.deliver(store, draft.tenantId, "mail", key, fromOid=owner.oid,
                                                   to=list(draft.to), cc=list(draft.cc), subject=draft.subject,
                                                   body=draft.body)
        if not created:
            log.info("follow-up %s was already in the outbox: not sent again", draft.id,
                     extra={"tenant_id": draft.tenantId})
        return item.id


class GraphMailTransport:
    """Graph as the partner: create with the key, send, and look the key up before any send."""

    name = "graph"

    def __init__(self, client: Any) -> None:
        self.client = client  # rapport.graph.GraphClient (per-mailbox limits, Retry-After)

    async def find(self, tenant_id: str, mailbox: str, key: str) -> Found | None:
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        flt = (f"singleValueExtendedProperties/Any(ep: ep/id eq '{KEY_PROPERTY}' and ep/value eq '{key}')")

        def build(client: Any) -> Any:
            builder = client.users.by_user_id(mailbox).messages
            qp = builder.MessagesRequestBuilderGetQueryParameters(filter=flt, select=["id", "isDraft", "sentDateTime"],
                                                                  top=5)
            return builder.to_get_request_information(RequestConfiguration(query_parameters=qp))

        body = await self.client.send(tenant_id, mailbox, build) or {}
        items = [m for m in body.get("value") or [] if isinstance(m, dict) and m.get("id")]
        if not items:
            return None
        sent = [m for m in items if m.get("isDraft") is False]
        if sent:
            return Found(str(sent[0]["id"]), True)
        return Found(str(items[0]["id"]), False)

    async def create(self, tenant_id: str, mailbox: str, draft: Draft, key: str) -> str:
        from msgraph.generated.models.body_type import BodyType
        from msgraph.generated.models.email_address import EmailAddress
        from msgraph.generated.models.internet_message_header import InternetMessageHeader
        from msgraph.generated.models.item_body import ItemBody
        from msgraph.generated.models.message import Message
        from msgraph.generated.models.recipient import Recipient
        from msgraph.generated.models.single_value_legacy_extended_property import (
            SingleValueLegacyExtendedProperty,
        )

        message = Message(
            subject=draft.subject,
            body=ItemBody(content_type=BodyType.Text, content=draft.body),  # plain text, as approved
            to_recipients=[Recipient(email_address=EmailAddress(address=a)) for a in draft.to],
            cc_recipients=[Recipient(email_address=EmailAddress(address=a)) for a in draft.cc],
            single_value_extended_properties=[SingleValueLegacyExtendedProperty(id=KEY_PROPERTY, value=key)],
            internet_message_headers=[InternetMessageHeader(name=KEY_HEADER, value=key)],
        )
        created = await self.client.send(
            tenant_id, mailbox, lambda c: c.users.by_user_id(mailbox).messages.to_post_request_information(message))
        mid = (created or {}).get("id")
        if not mid:
            raise RuntimeError("Graph created the message but returned no id")
        return str(mid)

    async def send(self, store: Store, owner: Person, draft: Draft, key: str) -> str:
        from rapport.graph import GraphError, GraphThrottled
        from rapport.identity.errors import ConsentRequired, TenantRevoked

        mailbox = owner.oid
        try:
            found = await self.find(draft.tenantId, mailbox, key)
            if found is not None and found.sent:
                log.info("follow-up %s already sent (key found): recorded, not resent", draft.id,
                         extra={"tenant_id": draft.tenantId})
                return found.message_id
            mid = found.message_id if found is not None else await self.create(draft.tenantId, mailbox, draft, key)
            await self.client.send(
                draft.tenantId, mailbox,
                lambda c: c.users.by_user_id(mailbox).messages.by_message_id(mid).send.to_post_request_information())
            return mid
        except GraphThrottled:
            raise  # 429/503/504: back off, then the key decides
        except GraphError as exc:
            if exc.status in (400, 401, 403) or exc.code in ("ErrorInvalidRecipients", "ErrorAccessDenied"):
                raise SendRefused(_refusal(exc)) from None
            raise
        except (ConsentRequired, TenantRevoked):
            raise SendRefused("Rapport may not send from this mailbox: the firm's admin must grant Mail.Send") from None


def _refusal(exc: Any) -> str:
    if exc.status in (401, 403):
        return "Rapport may not send from this mailbox (Mail.Send is not granted for it)"
    return f"the mail service refused the message ({exc.code or exc.status})"


def mail_transport() -> MailTransport:
    """The process's transport (runtime.services().mail_transport); else Graph when Rapport has an
    Entra app (production), made once for these services; else the local outbox (embedded default)."""
    services = runtime.services()
    if services.mail_transport is not None:
        return services.mail_transport
    settings = runtime.settings()
    if not settings.client_id:
        return LocalOutboxTransport()
    return services.once("mail_transport", lambda: _graph_transport(settings))


def _graph_transport(settings: Any) -> GraphMailTransport:
    from rapport.graph import GraphClient
    from rapport.identity.graph_tokens import GraphTokens

    return GraphMailTransport(GraphClient(settings.graph_base_url, GraphTokens(settings), max_attempts=1))


# --- the work item -----------------------------------------------------------------------------------

def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


async def send_approved(store: Store, tenant_id: str, draft_id: str, version: int, *, attempt: int = 1,
                        max_attempts: int = work.MAX_ATTEMPTS, now: datetime | None = None) -> str:
    """Send one approved draft version. Returns what happened ("sent", "skipped", "failed");
    raises to have the drain retry with backoff."""
    draft = await store.get(Draft, tenant_id, draft_id)
    if draft is None or draft.version != version or draft.state not in ("approved", "sending"):
        return "skipped"  # sent already, edited (a new version needs a new approval), dismissed, failed
    owner = await store.get_person(tenant_id, draft.ownerOid)
    if owner is None or await ScopedStore(store, tenant_id, draft.ownerOid).draft(draft_id) is None:
        await _fail(store, draft, "the partner can no longer see this client (a wall or a removed account)")
        return "failed"
    if not draft.to:
        await _fail(store, draft, "the draft has no recipients")
        return "failed"
    await send_limiter().acquire(tenant_id, draft.ownerOid)

    def sending(d: Draft) -> Draft | None:
        if d.version != version or d.state not in ("approved", "sending"):
            return None
        if d.state == "sending":
            return None
        d.state = "sending"
        return d

    await store.update(Draft, tenant_id, draft_id, sending)
    key = idempotency_key(draft)
    try:
        message_id = await mail_transport().send(store, owner, draft, key)
    except SendRefused as exc:
        await _fail(store, draft, str(exc))
        return "failed"
    except Exception as exc:  # noqa: BLE001 - ambiguous or transient: the key decides on the next attempt
        if attempt >= max_attempts:
            await _fail(store, draft, f"the mail service kept failing ({_short(exc)})")
            log.error("ALERT follow-up %s failed after %d attempts: %s", draft_id, attempt, type(exc).__name__,
                      extra={"tenant_id": tenant_id})
            return "failed"
        raise
    sent_at = now or utcnow()

    def mark(d: Draft) -> Draft | None:
        if d.state == "sent":
            return None
        d.state, d.sentAt, d.failureReason, d.updatedAt = "sent", sent_at, None, sent_at
        return d

    updated = await store.update(Draft, tenant_id, draft_id, mark) or await store.get(Draft, tenant_id, draft_id)
    if updated is None:
        return "sent"
    await _record_interaction(store, updated, key, message_id, sent_at, via_graph=mail_transport().name == "graph")
    await record_send_time(store, updated, sent_at)
    await queue_card(store, updated)
    log.info("follow-up %s sent (%s)", draft_id, mail_transport().name, extra={"tenant_id": tenant_id})
    telemetry.mail_sent.add(1, {"rapport.tenant_id": tenant_id})
    return "sent"


async def _fail(store: Store, draft: Draft, reason: str) -> None:
    def change(d: Draft) -> Draft | None:
        if d.state not in ("approved", "sending"):
            return None
        d.state, d.failureReason, d.updatedAt = "failed", reason[:300], utcnow()
        return d

    updated = await store.update(Draft, draft.tenantId, draft.id, change)
    if updated is not None:
        telemetry.mail_failed.add(1, {"rapport.tenant_id": draft.tenantId})
        await queue_card(store, updated)


async def _record_interaction(store: Store, draft: Draft, key: str, message_id: str, at: datetime, *,
                              via_graph: bool) -> None:
    people = [*draft.to, *draft.cc]
    cids = []
    for a in people:
        try:
            cids.append(contact_id(a))
        except ValueError:
            continue
    # Sent through Graph, the mail will also come back through Sent Items delta: recorded under the id
    # capture gives it (immutable Graph ids survive the move from Drafts), so it is one interaction.
    ix_id = (Interaction.id_for("graph-mail", f"{draft.ownerOid}:{message_id}") if via_graph
             else Interaction.id_for("rapport-followup", key))
    ix = Interaction(id=ix_id, tenantId=draft.tenantId, channel="email",
                     at=at, subject=draft.subject, direction="outbound", ownerOid=draft.ownerOid, contactIds=cids,
                     accountIds=list(draft.accountIds), participants=people, source="rapport-followup",
                     sourceId=message_id)
    await store.put(ix)


@work.handler(SEND_WORK)
async def _send_work(store: Store, item: Any) -> None:
    await send_approved(store, item.tenantId, item.payload["draftId"], int(item.payload["version"]),
                        attempt=item.attempts + 1)


__all__ = [
    "KEY_HEADER", "KEY_PROPERTY", "SEND_WORK", "SENDS_PER_MINUTE", "Found", "GraphMailTransport", "LocalOutboxTransport",
    "MailTransport", "RateLimiter", "SendRefused", "idempotency_key", "mail_transport", "send_approved",
    "send_limiter",
]
