"""Queue triggers on asyncio: function_app's queueTrigger functions, fed from the real Storage queue.

When a work queue is configured (RAPPORT_WORK_QUEUE: Azurite locally), the local host (local/host.py)
polls it with azure-storage-queue's own client and hands each message to the trigger the way the
Functions host does (its QueueProcessor), with host.json's `extensions.queues` options:
- receive up to batchSize messages, invisible while they run;
- success: the message is deleted;
- failure: visible again after visibilityTimeout, unless it has been delivered maxDequeueCount times:
  then it is copied to `<queue>-poison` and deleted (a message already past the count on receipt
  goes there without running);
- an empty queue is polled less and less often, up to maxPollingInterval; a message found resets it.
So the trigger code Azure runs (function_app.work_message) is exercised locally against a real queue.
Without a configured queue nothing polls: the in-process kick does the work (the embedded default).
Local only: Azure runs its own queue listener.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.functions.queue import QueueMessage

from local.timers import Sleep, call
from rapport import work_queue
from rapport.settings import Settings

log = logging.getLogger("rapport.devhost")

MIN_POLL = 0.1  # seconds: the Functions host's shortest wait between polls of an empty queue
RUNNING_VISIBILITY = 300  # seconds a received message stays invisible while its function runs


class QueueUnavailable(RuntimeError):
    """The configured work queue cannot be reached at start (Azurite not running, a wrong connection)."""


@dataclass
class QueueTrigger:
    name: str
    queue_name: str
    connection: str
    fn: Callable[..., Any]
    arg: str


def _seconds(value: Any, default: float) -> float:
    """host.json's TimeSpan ("00:00:30", "1.00:00:00") in seconds."""
    if not isinstance(value, str):
        return default
    try:
        head, _, rest = value.strip().partition(":")
        days = 0
        if "." in head:
            d, head = head.split(".", 1)
            days = int(d)
        m, s = rest.split(":")
        return days * 86400 + int(head) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        return default


@dataclass(frozen=True)
class QueueOptions:
    """host.json's extensions.queues, with the Functions host's defaults for what is not set."""

    batch_size: int = 16
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0  # seconds before a failed message is delivered again
    max_polling_interval: float = 60.0

    @classmethod
    def from_host_json(cls, root: Path) -> QueueOptions:
        try:
            cfg = json.loads((root / "host.json").read_text(encoding="utf-8"))["extensions"]["queues"]
        except (OSError, ValueError, KeyError, TypeError):
            return cls()
        return cls(batch_size=int(cfg.get("batchSize", cls.batch_size)),
                   max_dequeue_count=int(cfg.get("maxDequeueCount", cls.max_dequeue_count)),
                   visibility_timeout=_seconds(cfg.get("visibilityTimeout"), cls.visibility_timeout),
                   max_polling_interval=_seconds(cfg.get("maxPollingInterval"), cls.max_polling_interval))


class QueueRunner:
    """Polls each queue trigger's queue and runs its function per message, as the Functions host does."""

    def __init__(self, triggers: list[QueueTrigger], settings: Settings, options: QueueOptions, *,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.triggers = [t for t in triggers if self._runnable(t)]
        self.settings = settings
        self.options = options
        self.sleep = sleep
        self._tasks: list[asyncio.Task] = []
        self.wake = asyncio.Event()  # set to poll at once (tests, the bench: no wait for the backoff)

    @staticmethod
    def _runnable(t: QueueTrigger) -> bool:
        if t.connection != work_queue.CONNECTION:
            log.warning("queue trigger %s reads connection %s, which the local host does not know", t.name,
                        t.connection)
            return False
        return True

    async def start(self) -> None:
        for t in self.triggers:
            client = work_queue.queue_client(self.settings, t.queue_name)
            try:
                await work_queue.ensure_queues(client, self.settings)
            except Exception as exc:
                await client.close()
                raise QueueUnavailable(f"the work queue ({work_queue.CONNECTION}) is unreachable: "
                                       f"{type(exc).__name__}") from exc
            self._tasks.append(asyncio.get_running_loop().create_task(self._poll(t, client), name=f"queue-{t.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _idle(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self.wake.wait()
        except TimeoutError:
            pass
        self.wake.clear()

    async def _poll(self, t: QueueTrigger, client: Any) -> None:
        poison = work_queue.queue_client(self.settings, f"{t.queue_name}-poison")
        wait = MIN_POLL
        try:
            while True:
                try:
                    got = [m async for m in client.receive_messages(
                        messages_per_page=self.options.batch_size, max_messages=self.options.batch_size,
                        visibility_timeout=RUNNING_VISIBILITY)]
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the queue is away: poll again later
                    log.warning("queue %s: receive failed (%s)", t.queue_name, type(exc).__name__)
                    got = []
                if not got:
                    await self._idle(wait)
                    wait = min(wait * 2, self.options.max_polling_interval)
                    continue
                wait = MIN_POLL
                await asyncio.gather(*(self._one(t, client, poison, m) for m in got))
        finally:
            await poison.close()
            await client.close()

    async def _one(self, t: QueueTrigger, client: Any, poison: Any, m: Any) -> None:
        if m.dequeue_count > self.options.max_dequeue_count:
            await self._to_poison(t, client, poison, m)
            return
        message = QueueMessage(id=m.id, body=m.content.encode("utf-8"), dequeue_count=m.dequeue_count,
                               insertion_time=m.inserted_on, expiration_time=m.expires_on,
                               time_next_visible=m.next_visible_on, pop_receipt=m.pop_receipt)
        try:
            await call(t.fn, **{t.arg: message})
        except Exception as exc:  # noqa: BLE001 - a failed message is retried or poisoned, never lost
            log.warning("queue trigger %s failed on delivery %d of message %s: %s", t.name, m.dequeue_count, m.id,
                        type(exc).__name__)
            try:
                if m.dequeue_count >= self.options.max_dequeue_count:
                    await self._to_poison(t, client, poison, m)
                else:
                    await client.update_message(m, visibility_timeout=int(self.options.visibility_timeout))
            except Exception as exc2:  # noqa: BLE001 - it comes back when its invisibility ends anyway
                log.warning("queue %s: could not release message %s (%s)", t.queue_name, m.id, type(exc2).__name__)
            return
        try:
            await client.delete_message(m)
        except Exception as exc:  # noqa: BLE001 - delivered again later: the trigger is idempotent
            log.warning("queue %s: could not delete message %s (%s)", t.queue_name, m.id, type(exc).__name__)

    async def _to_poison(self, t: QueueTrigger, client: Any, poison: Any, m: Any) -> None:
        await poison.send_message(m.content)
        await client.delete_message(m)
        log.error("ALERT queue trigger %s: message %s moved to %s-poison after %d deliveries", t.name, m.id,
                  t.queue_name, m.dequeue_count)
