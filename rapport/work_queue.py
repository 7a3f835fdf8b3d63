"""Work items as Azure Storage queue messages: what a message holds, and the queue it goes on.

Why a queue (docs/architecture.md, "Work after the answer"): Azure Functions may freeze or recycle an
instance once it has answered, so a drain started after the answer (`work.kick`) can be cut off and
the work waits for the minute timer. A message on a Storage queue is the platform's way to say "run
this now": the queue trigger in function_app.py (`work_message`) is given it by the Functions host,
on whichever instance, and drains exactly that item (`work.drain_message`).

The work item stays the record of truth. A message only points at it, and is sent after the item
is written (`work.enqueue` / `work.requeue`), so a message always finds its item. A message that is
lost (the process dies between the write and the send, or the queue is unreachable) costs at most
a minute: the `drain_work` timer still finds the item. A message that arrives twice, or after the
timer ran the item, finds it done and does nothing.

A message holds the tenant id, the work item id and the W3C `traceparent` if there is one: never a
payload, an address or a body. Work item ids are hashes (WorkItem.id_for), so not even the kind's
key (a mailbox id, a draft id) is on the queue.

Encoding: Base64 text, the Functions host's default (host.json `messageEncoding`), so the host can
read what Rapport sends. The poison queue is `<queue>-poison`, the name the Functions host moves a
message to after `maxDequeueCount` failed deliveries; the local host (local/queues.py) does the same.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rapport import runtime, telemetry
from rapport.settings import Settings

log = logging.getLogger("rapport.work")

QUEUE_NAME = "rapport-work"  # function_app's queue trigger reads this queue
POISON_QUEUE_NAME = f"{QUEUE_NAME}-poison"  # the Functions host's name for it: <queue>-poison
CONNECTION = "RAPPORT_WORK_QUEUE"  # the trigger's `connection`: the app settings named so (rapport.settings)
SETTING_NAMES = (CONNECTION, f"{CONNECTION}__queueServiceUri")  # rapport.settings reads these two
MAX_DELAY = timedelta(days=7)  # the longest a Storage queue message may stay invisible
SEND_TIMEOUT = 3.0  # seconds; a send that takes longer is given up (the timer runs the item)
PEEK_LIMIT = 32  # Storage answers at most 32 messages per peek

# Azurite's well-known development account (public, in Microsoft's docs): what the Functions tooling
# means by "UseDevelopmentStorage=true", which the Storage SDK itself does not read.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def dev_connection_string(host: str = "127.0.0.1", port: int = 10001) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"QueueEndpoint=http://{host}:{port}/{DEV_ACCOUNT};")


_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class BadMessage(ValueError):
    """A message that is not one of Rapport's (it can never succeed: the host retries, then poisons it)."""


@dataclass(frozen=True)
class WorkMessage:
    tenant_id: str
    item_id: str
    traceparent: str | None = None

    def encoded(self) -> str:
        body: dict[str, str] = {"tenantId": self.tenant_id, "workItemId": self.item_id}
        if self.traceparent:
            body["traceparent"] = self.traceparent
        return json.dumps(body, separators=(",", ":"))


def message_for(item: Any) -> WorkMessage:
    """The message that points at a work item (rapport.records.WorkItem), with the `traceparent` the item
    carries or else the one of the span in progress (the request that queued it), so the trigger's span
    continues the caller's trace."""
    trace = (getattr(item, "traceparent", None) or item.payload.get("traceparent")
             or telemetry.current_traceparent())
    trace = trace if isinstance(trace, str) and _TRACEPARENT.match(trace) else None
    return WorkMessage(item.tenantId, item.id, trace)


def parse(body: bytes | str) -> WorkMessage:
    """A message's text (as the trigger is given it) -> WorkMessage; BadMessage if it is not one."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadMessage("not JSON") from None
    if not isinstance(doc, dict):
        raise BadMessage("not a JSON object")
    tid, iid, trace = doc.get("tenantId"), doc.get("workItemId"), doc.get("traceparent")
    if not (isinstance(tid, str) and _ID.match(tid) and isinstance(iid, str) and _ID.match(iid)):
        raise BadMessage("no tenantId and workItemId")
    return WorkMessage(tid, iid, trace if isinstance(trace, str) and _TRACEPARENT.match(trace) else None)


# --- the Storage queue ------------------------------------------------------------------------------

def queue_client(settings: Settings, name: str = QUEUE_NAME, *, credential: Any = None) -> Any:
    """An async azure.storage.queue QueueClient for `name` on the configured account (Base64 text, as
    the Functions host reads and writes). The caller closes it. Raises LookupError if no queue is set."""
    from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy
    from azure.storage.queue.aio import QueueClient

    # Short retries (the client's own exponential retry, configured by keywords): a send happens
    # before an answer, and a lost message costs only a minute (the timer); the SDK's default waits
    # 15 s and more between tries.
    policies = {"message_encode_policy": TextBase64EncodePolicy(), "message_decode_policy": TextBase64DecodePolicy(),
                "initial_backoff": 0.3, "increment_base": 2, "retry_total": 1, "random_jitter_range": 0.2,
                "connection_timeout": 3, "read_timeout": 10}
    conn = settings.work_queue_connection
    if conn:
        if conn.replace(" ", "").lower().rstrip(";") == "usedevelopmentstorage=true":
            conn = dev_connection_string()
        return QueueClient.from_connection_string(conn, name, **policies)
    if settings.work_queue_service_uri:
        if credential is None:
            from azure.identity.aio import DefaultAzureCredential  # the managed identity (AZURE_CLIENT_ID)

            credential = DefaultAzureCredential()
        return QueueClient(settings.work_queue_service_uri, name, credential=credential, **policies)
    raise LookupError("no work queue is configured (RAPPORT_WORK_QUEUE)")


class StorageWorkQueue:
    """Sends work messages to the Storage queue; one client per event loop (the SDK's aiohttp session
    belongs to the loop it was opened on)."""

    def __init__(self, settings: Settings, name: str = QUEUE_NAME) -> None:
        self.settings = settings
        self.name = name
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._credential: Any = None
        self._created = False

    def _current(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            if self.settings.work_queue_service_uri and not self.settings.work_queue_connection:
                from azure.identity.aio import DefaultAzureCredential

                # The managed identity (AZURE_CLIENT_ID), kept with the client: it caches the token.
                self._credential = DefaultAzureCredential()
            self._client = queue_client(self.settings, self.name, credential=self._credential)
            self._loop = loop
        return self._client

    async def send(self, message: WorkMessage, *, delay: timedelta | None = None) -> None:
        """Put `message` on the queue, invisible for `delay` (a work item due later). Raises on failure."""
        from azure.core.exceptions import ResourceNotFoundError

        client = self._current()
        seconds = max(0, min(int((delay or timedelta(0)).total_seconds()), int(MAX_DELAY.total_seconds()) - 1))
        try:
            await client.send_message(message.encoded(), visibility_timeout=seconds or None)
        except ResourceNotFoundError:
            if self._created:
                raise
            # A fresh account (Azurite, a new deployment before the host made it): make the queue once.
            await ensure_queues(client, self.settings)
            self._created = True
            await client.send_message(message.encoded(), visibility_timeout=seconds or None)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.close()
        cred, self._credential = self._credential, None
        if cred is not None and self._loop is asyncio.get_running_loop():
            await cred.close()


async def ensure_queues(client: Any, settings: Settings) -> None:
    """Create the work queue and its poison queue if missing (the Functions host creates the poison
    queue itself when it first needs it; the local host and the listing want it to exist)."""
    from azure.core.exceptions import ResourceExistsError

    for name in (QUEUE_NAME, POISON_QUEUE_NAME):
        q = client if client is not None and client.queue_name == name else queue_client(settings, name)
        try:
            await q.create_queue()
        except ResourceExistsError:
            pass
        finally:
            if q is not client:
                await q.close()


def current() -> StorageWorkQueue | None:
    """The process's work queue: the one provided, else one from the settings, else None (no queue:
    the in-process kick and the minute timer, the embedded default)."""
    svc = runtime.services()
    if svc.work_queue is not None:
        return svc.work_queue
    if svc.settings is None and not any(os.environ.get(n, "").strip() for n in SETTING_NAMES):
        return None  # nothing names a queue: no need to read (and keep) every setting for this
    settings = runtime.settings()
    if not settings.work_queue:
        return None
    return svc.once("work_queue", lambda: StorageWorkQueue(settings))


async def send_for(item: Any, *, delay: timedelta | None = None) -> bool:
    """Send the message for a work item just written, if a queue is configured. Never raises: the item
    is written, and the minute timer runs it whatever happens to its message. True if sent."""
    try:
        queue = current()
        if queue is None:
            return False
        if delay is not None and delay >= MAX_DELAY:
            return False  # beyond a message's reach: the timer finds it when it is due
        async with asyncio.timeout(SEND_TIMEOUT):
            await queue.send(message_for(item), delay=delay)
        return True
    except Exception as exc:  # noqa: BLE001 - the record is written; the timer is the safety net
        log.warning("work item %s (%s): queue message not sent (%s); the drain timer will run it",
                    item.id, item.kind, type(exc).__name__, extra={"tenant_id": item.tenantId})
        return False


@dataclass(frozen=True)
class PoisonMessage:
    message_id: str
    tenant_id: str | None
    item_id: str | None
    dequeue_count: int | None
    inserted_on: Any


async def poison_messages(settings: Settings, limit: int = PEEK_LIMIT) -> list[PoisonMessage]:
    """The messages on the poison queue (peeked: left there), at most `limit` (Storage's cap is 32)."""
    from azure.core.exceptions import ResourceNotFoundError

    async with queue_client(settings, POISON_QUEUE_NAME) as q:
        try:
            peeked = await q.peek_messages(max_messages=max(1, min(limit, PEEK_LIMIT)))
        except ResourceNotFoundError:
            return []  # no message ever failed for good: the host has not made the queue
    out = []
    for m in peeked:
        try:
            msg: WorkMessage | None = parse(m.content)
        except BadMessage:
            msg = None
        out.append(PoisonMessage(m.id, msg.tenant_id if msg else None, msg.item_id if msg else None,
                                 m.dequeue_count, m.inserted_on))
    return out
