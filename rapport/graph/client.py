"""The few Microsoft Graph calls Rapport makes, through msgraph-sdk, with Graph's limits honoured.

- msgraph-sdk is imported lazily (inside GraphClient), so a cold start that only answers a webhook
  handshake never pays for it.
- The SDK builds every request (URL templates, $select, Prefer headers, bodies); responses are read
  as raw JSON bytes, because capture consumes Graph-shaped dicts and a delta page of messages
  deserialised into SDK models and back would cost more than the whole capture.
- The SDK's own RetryHandler is left out of the pipeline: it sleeps inside the request (holding the
  mailbox's concurrency slot, with a clock tests cannot inject). Retries live here instead:
  429/503 wait for `Retry-After` (injectable sleep and clock), per mailbox, never at once.
- At most 4 requests in flight per mailbox (Outlook's concurrency limit), one semaphore and one
  "not before" gate per (tenant, mailbox): a throttled mailbox or tenant never slows another. There
  is no process-wide lock. One HTTP client per tenant, so each firm's tokens and pool stay apart.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlparse

# msgraph-sdk's generated builders define their old per-builder RequestConfiguration classes with a
# DeprecationWarning in the class body (kiota's GetQueryParameters too), so it fires when the SDK module is IMPORTED, whether or not
# the class is used. Rapport uses the generic RequestConfiguration the warning asks for; this hides
# only that import-time message from the SDK's own modules (tests turn deprecations raised at our
# call sites into errors: pyproject's filterwarnings).
warnings.filterwarnings("ignore", message="This class is deprecated. Please use the generic RequestConfiguration",
                        category=DeprecationWarning, module=r"msgraph\.generated\.")
warnings.filterwarnings("ignore", message="GetQueryParameters is deprecated", category=DeprecationWarning,
                        module=r"kiota_abstractions\.default_query_parameters")

log = logging.getLogger("rapport.graph")

MAILBOX_CONCURRENCY = 4  # Outlook: 4 concurrent requests per app and mailbox (the per-mailbox limit Graph documents for Outlook)
MAX_ATTEMPTS = 6
MAX_INLINE_WAIT = 120.0  # longer Retry-After: give the work item back to the queue instead of sleeping
PAGE_SIZE = 100

# The message fields capture keeps (metadata only; bodyPreview only when the firm turns excerpts on).
MESSAGE_SELECT = (
    "id", "subject", "from", "sender", "toRecipients", "ccRecipients", "receivedDateTime", "sentDateTime",
    "conversationId", "internetMessageId", "isDraft", "parentFolderId",
    # Metadata the enquiry intake reads (rapport.pipeline.intake): the thread position (22 bytes for a
    # thread's first mail) and Outlook's Focused/Other sorting (newsletters and bulk land in Other).
    "conversationIndex", "inferenceClassification",
)
EXCERPT_FIELD = "bodyPreview"
MAIL_FOLDERS = ("inbox", "sentitems")


class TokenProvider(Protocol):
    async def app_token(self, tenant_id: str) -> str: ...


class GraphError(Exception):
    """Graph answered with an error Rapport does not retry here. Carries status and Graph's code."""

    def __init__(self, status: int, code: str = "", message: str = "") -> None:
        super().__init__(f"graph {status} {code}".strip())
        self.status = status
        self.code = code
        self.message = message


class DeltaExpired(GraphError):
    """The stored delta link is no longer valid (410 Gone / SyncStateNotFound): start over cleanly."""


class GraphThrottled(GraphError):
    """Graph keeps throttling, or asks for a wait too long to sleep through: retry the work later."""

    def __init__(self, retry_after: float, status: int = 429) -> None:
        super().__init__(status, "throttled")
        self.retry_after = retry_after


@dataclass
class DeltaPage:
    items: list[dict[str, Any]]
    next_link: str | None
    delta_link: str | None


@dataclass
class _Gate:
    """One mailbox's share of Graph: a semaphore of 4 and the time before which no call may start."""

    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAILBOX_CONCURRENCY))
    not_before: float = 0.0


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def _graph_time(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GraphClient:
    """Graph for system jobs (sync, subscriptions), app-only tokens per tenant from `tokens`."""

    def __init__(
        self, base_url: str, tokens: TokenProvider, *, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic, max_attempts: int = MAX_ATTEMPTS,
        max_inline_wait: float = MAX_INLINE_WAIT, page_size: int = PAGE_SIZE, timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parsed = urlparse(self.base_url)
        self._origin = f"{parsed.scheme}://{parsed.netloc}"
        self._host = parsed.hostname or ""
        self.tokens = tokens
        self.sleep = sleep
        self.clock = clock
        self.max_attempts = max_attempts
        self.max_inline_wait = max_inline_wait
        self.page_size = page_size
        self.timeout = timeout
        self._clients: dict[str, Any] = {}  # tenant id -> GraphServiceClient
        self._built: set[Any] = set()  # request builders run once already (their SDK modules are loaded)
        self._http: list[Any] = []
        self._gates: dict[tuple[str, str], _Gate] = {}
        self.waited: list[float] = []  # every Retry-After/backoff wait taken (for logs and tests)

    async def close(self) -> None:
        for http in self._http:
            await http.aclose()
        self._http.clear()
        self._clients.clear()

    # --- the SDK, made lazily ---------------------------------------------------------------

    async def _client(self, tenant_id: str) -> Any:
        client = self._clients.get(tenant_id)
        if client is None:
            # The SDK's first import and a client's set-up take a few hundred ms of CPU: in a worker
            # thread, so the event loop (the sidebar, webhook answers) runs meanwhile.
            made = await asyncio.to_thread(self._make_client, tenant_id)
            client = self._clients.setdefault(tenant_id, made)
        return client

    async def _request(self, client: Any, build: Callable[[Any], Any]) -> Any:
        """`build(client)`; the first time a kind of request is built, in a worker thread (it imports
        that request's SDK modules)."""
        code = getattr(build, "__code__", build)
        if code in self._built:
            return build(client)
        info = await asyncio.to_thread(build, client)
        self._built.add(code)
        return info

    def _make_client(self, tenant_id: str) -> Any:
        import httpx
        from kiota_abstractions.api_error import APIError  # noqa: F401 - loaded here, off the event loop
        from kiota_abstractions.authentication import (
            AccessTokenProvider,
            AllowedHostsValidator,
            BaseBearerTokenAuthenticationProvider,
        )
        from kiota_http.kiota_client_factory import KiotaClientFactory
        from kiota_http.middleware import RetryHandler
        from msgraph import GraphServiceClient
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError  # noqa: F401 - as APIError
        from msgraph.graph_request_adapter import GraphRequestAdapter
        from msgraph.graph_request_adapter import options as graph_options
        from msgraph_core import GraphClientFactory
        from msgraph_core.middleware import GraphTelemetryHandler
        from msgraph_core.middleware.options import GraphTelemetryHandlerOption

        tokens, host = self.tokens, self._host

        class _AppTokens(AccessTokenProvider):
            """The tenant's app-only token, and only for the configured Graph host."""

            def __init__(self) -> None:
                self._hosts = AllowedHostsValidator([host])

            async def get_authorization_token(self, uri: str, additional_authentication_context: dict | None = None) -> str:
                if not self._hosts.is_url_host_valid(uri):
                    return ""  # never hand a token to another host (a tampered nextLink, say)
                return await tokens.app_token(tenant_id)

            def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
                return self._hosts

        middleware = [m for m in KiotaClientFactory.get_default_middleware(graph_options) if not isinstance(m, RetryHandler)]
        telemetry = graph_options.get(GraphTelemetryHandlerOption().get_key())  # the SDK's version header
        middleware.append(GraphTelemetryHandler(options=telemetry) if telemetry else GraphTelemetryHandler())
        http = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout, connect=10.0), base_url=self.base_url,
                                 limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
        http = GraphClientFactory.create_with_custom_middleware(middleware=middleware, client=http)
        self._http.append(http)
        adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(_AppTokens()), client=http)
        adapter.base_url = self.base_url
        return GraphServiceClient(request_adapter=adapter)

    # --- sending, with the mailbox's limits -------------------------------------------------

    def _gate(self, tenant_id: str, mailbox: str) -> _Gate:
        key = (tenant_id, mailbox.lower())
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _Gate()
        return gate

    async def _wait(self, seconds: float) -> None:
        self.waited.append(seconds)
        await self.sleep(seconds)

    async def send(self, tenant_id: str, mailbox: str, build: Callable[[Any], Any]) -> Any:
        """Send the request `build(client)` makes; JSON dict back (None for 204).

        429/503: wait Retry-After (or a jittered backoff), for this mailbox only, then retry.
        """
        client = await self._client(tenant_id)  # first: it loads the SDK off the event loop
        from kiota_abstractions.api_error import APIError
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        gate = self._gate(tenant_id, mailbox)
        for attempt in range(1, self.max_attempts + 1):
            pause = gate.not_before - self.clock()
            if pause > 0:
                await self._wait(pause)
            info = await self._request(client, build)
            # Immutable ids: a message keeps its id when it moves (Drafts -> Sent Items, a partner
            # filing mail), so capture and the follow-up sender name the same mail the same way.
            info.headers.add("Prefer", 'IdType="ImmutableId"')
            async with gate.slots:
                try:
                    raw = await client.request_adapter.send_primitive_async(info, "bytes", {"XXX": ODataError})
                except APIError as exc:
                    status = int(exc.response_status_code or 0)
                    headers = exc.response_headers or {}
                    code, message = _error_code(exc)
                    if status in (429, 503, 504):
                        hinted = retry_after_seconds(_header(headers, "retry-after"))
                        wait = hinted if hinted is not None else min(60.0, 2 ** attempt) * (0.5 + random.random() / 2)
                        if wait > self.max_inline_wait or attempt == self.max_attempts:
                            raise GraphThrottled(wait, status) from None
                        gate.not_before = max(gate.not_before, self.clock() + wait)
                        log.info("graph %s for tenant %s: waiting %.1fs (attempt %d)", status, tenant_id, wait, attempt)
                        continue
                    if status == 410 or code.lower() in ("syncstatenotfound", "resyncrequired", "syncstateinvalid"):
                        raise DeltaExpired(status, code, message) from None
                    raise GraphError(status, code, message) from None
            if not raw:
                return None
            return json.loads(raw)
        raise GraphThrottled(0.0)  # pragma: no cover - the loop always returns or raises

    def _own_link(self, link: str) -> str:
        # nextLink/deltaLink come from Graph's body: follow them only on Graph's own origin.
        if not link.startswith(self._origin + "/"):
            raise GraphError(0, "foreignLink", "a delta link points outside the configured Graph host")
        return link

    # --- delta ------------------------------------------------------------------------------

    async def message_delta(
        self, tenant_id: str, user: str, folder: str, *, link: str | None = None, excerpts: bool = False,
    ) -> AsyncIterator[DeltaPage]:
        """Pages of a mail folder's delta ("inbox" or "sentitems"), from `link` or from the start."""
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        select = [*MESSAGE_SELECT, EXCERPT_FIELD] if excerpts else list(MESSAGE_SELECT)

        def first(client: Any) -> Any:
            builder = client.users.by_user_id(user).mail_folders.by_mail_folder_id(folder).messages.delta
            qp = builder.DeltaRequestBuilderGetQueryParameters(select=select)
            config = RequestConfiguration(query_parameters=qp)
            config.headers.add("Prefer", f"odata.maxpagesize={self.page_size}")
            return builder.to_get_request_information(config)

        def follow(url: str) -> Callable[[Any], Any]:
            def build(client: Any) -> Any:
                builder = client.users.by_user_id(user).mail_folders.by_mail_folder_id(folder).messages.delta
                config = RequestConfiguration()
                config.headers.add("Prefer", f"odata.maxpagesize={self.page_size}")
                return builder.with_url(self._own_link(url)).to_get_request_information(config)
            return build

        async for page in self._pages(tenant_id, user, follow(link) if link else first, follow):
            yield page

    async def event_delta(
        self, tenant_id: str, user: str, *, start: datetime, end: datetime, link: str | None = None,
    ) -> AsyncIterator[DeltaPage]:
        """Pages of the calendarView delta over [start, end) (the window is encoded in the links)."""
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        def first(client: Any) -> Any:
            builder = client.users.by_user_id(user).calendar_view.delta
            qp = builder.DeltaRequestBuilderGetQueryParameters(start_date_time=_graph_time(start),
                                                               end_date_time=_graph_time(end))
            config = RequestConfiguration(query_parameters=qp)
            config.headers.add("Prefer", f"odata.maxpagesize={self.page_size}")
            config.headers.add("Prefer", 'outlook.timezone="UTC"')
            return builder.to_get_request_information(config)

        def follow(url: str) -> Callable[[Any], Any]:
            def build(client: Any) -> Any:
                builder = client.users.by_user_id(user).calendar_view.delta
                config = RequestConfiguration()
                config.headers.add("Prefer", f"odata.maxpagesize={self.page_size}")
                config.headers.add("Prefer", 'outlook.timezone="UTC"')
                return builder.with_url(self._own_link(url)).to_get_request_information(config)
            return build

        async for page in self._pages(tenant_id, user, follow(link) if link else first, follow):
            yield page

    async def _pages(
        self, tenant_id: str, mailbox: str, first: Callable[[Any], Any], follow: Callable[[str], Callable[[Any], Any]],
    ) -> AsyncIterator[DeltaPage]:
        build = first
        while True:
            body = await self.send(tenant_id, mailbox, build) or {}
            items = body.get("value")
            if not isinstance(items, list):
                raise GraphError(502, "badDeltaPage", "a delta page had no value array")
            page = DeltaPage([i for i in items if isinstance(i, dict)], body.get("@odata.nextLink"),
                             body.get("@odata.deltaLink"))
            yield page
            if page.next_link:
                build = follow(page.next_link)
                continue
            if not page.delta_link:
                raise GraphError(502, "badDeltaPage", "a delta round ended without a deltaLink")
            return

    # --- users and subscriptions ------------------------------------------------------------

    async def get_user(self, tenant_id: str, user: str) -> dict[str, Any]:
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        def build(client: Any) -> Any:
            builder = client.users.by_user_id(user)
            qp = builder.UserItemRequestBuilderGetQueryParameters(select=["id", "displayName", "userPrincipalName", "mail", "jobTitle"])
            return builder.to_get_request_information(RequestConfiguration(query_parameters=qp))

        return await self.send(tenant_id, user, build) or {}

    async def get_message(self, tenant_id: str, user: str, message_id: str, select: list[str], *,
                          text_body: bool = False) -> dict[str, Any]:
        """GET /users/{user}/messages/{id} with only the fields `select` names (Mail.Read: the
        targeted reads of rapport.capture.reads). `text_body`: bodies come as plain text
        (Prefer: outlook.body-content-type="text"), so no HTML reaches Rapport."""
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        def build(client: Any) -> Any:
            builder = client.users.by_user_id(user).messages.by_message_id(message_id)
            qp = builder.MessageItemRequestBuilderGetQueryParameters(select=list(select))
            config = RequestConfiguration(query_parameters=qp)
            if text_body:
                config.headers.add("Prefer", 'outlook.body-content-type="text"')
            return builder.to_get_request_information(config)

        return await self.send(tenant_id, user, build) or {}

    async def mailbox_settings(self, tenant_id: str, user: str) -> dict[str, Any]:
        """GET /users/{user}/mailboxSettings (needs MailboxSettings.Read); we read its timeZone."""
        return await self.send(tenant_id, user, lambda c: c.users.by_user_id(user).mailbox_settings.to_get_request_information()) or {}

    async def create_subscription(
        self, tenant_id: str, mailbox: str, *, resource: str, notification_url: str, lifecycle_url: str,
        expires: datetime, client_state: str, change_type: str = "created,updated,deleted",
    ) -> dict[str, Any]:
        from msgraph.generated.models.subscription import Subscription as GraphSubscription

        body = GraphSubscription(
            change_type=change_type, notification_url=notification_url, lifecycle_notification_url=lifecycle_url,
            resource=resource, expiration_date_time=expires, client_state=client_state,
        )
        return await self.send(tenant_id, mailbox, lambda c: c.subscriptions.to_post_request_information(body)) or {}

    async def renew_subscription(self, tenant_id: str, mailbox: str, subscription_id: str, expires: datetime) -> dict[str, Any]:
        from msgraph.generated.models.subscription import Subscription as GraphSubscription

        body = GraphSubscription(expiration_date_time=expires)
        return await self.send(
            tenant_id, mailbox, lambda c: c.subscriptions.by_subscription_id(subscription_id).to_patch_request_information(body)
        ) or {}

    async def reauthorize_subscription(self, tenant_id: str, mailbox: str, subscription_id: str) -> None:
        await self.send(
            tenant_id, mailbox,
            lambda c: c.subscriptions.by_subscription_id(subscription_id).reauthorize.to_post_request_information(),
        )

    async def delete_subscription(self, tenant_id: str, mailbox: str, subscription_id: str) -> None:
        try:
            await self.send(tenant_id, mailbox,
                             lambda c: c.subscriptions.by_subscription_id(subscription_id).to_delete_request_information())
        except GraphError as exc:
            if exc.status != 404:
                raise


def _header(headers: Any, name: str) -> str | None:
    try:
        value = headers.get(name)
    except AttributeError:
        return None
    if value is None and isinstance(headers, dict):
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    if isinstance(value, (list, tuple, set)):
        value = next(iter(value), None)
    return value


def _error_code(exc: Exception) -> tuple[str, str]:
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None) or ""
    message = getattr(err, "message", None) or ""
    return str(code), str(message)[:200]
