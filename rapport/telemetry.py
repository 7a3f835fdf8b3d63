"""Telemetry: OpenTelemetry spans and metrics, exported to Application Insights in Azure.

Why not logging `extra`: the Azure Functions Python worker forwards a log record's message, not its
`extra` fields, so the tenant, the correlation id and the alert flags never reached Application
Insights. Spans carry them as attributes instead, and a `traceparent` ties an HTTP call to the work
it queued.

What a span may carry is one allow-list (ATTRIBUTES): ids (tenant, correlation, work item), fixed
words (verb, outcome, trigger, work kind), route templates and status codes. Never a subject, a
name, an address, a token or a body: `span()` and `annotate()` drop any other attribute, and
tests/test_telemetry.py plants canaries in every input of a scenario and searches every exported
span and metric for them.

Modes (setting RAPPORT_TELEMETRY): "auto" (the default) exports to Azure Monitor when
APPLICATIONINSIGHTS_CONNECTION_STRING is set (as the Bicep does) and is off otherwise; "azure";
"console" (spans printed, for local use); "off". The exporter authenticates with the app's managed
identity (the Application Insights component has local auth disabled).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger("rapport.telemetry")

# The only attribute names a span may carry; their values are ids, fixed words or numbers.
ATTRIBUTES = frozenset({
    "rapport.tenant_id", "rapport.correlation_id", "rapport.verb", "rapport.outcome", "rapport.trigger",
    "rapport.work.kind", "rapport.work.id", "rapport.work.attempt", "rapport.alert", "rapport.store.op",
    "http.route", "http.request.method", "http.response.status_code",
})
# Values: ids, words and route templates only (no spaces, no @, no query strings).
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:/{}*-]{0,128}$")
_propagator = TraceContextTextMapPropagator()
SERVER = trace.SpanKind.SERVER
CONSUMER = trace.SpanKind.CONSUMER
_tracer = trace.get_tracer("rapport")
_meter = metrics.get_meter("rapport")
_configured: str | None = None

# Metrics the issue names: sends, briefs delivered, webhook lag, store latency.
mail_sent = _meter.create_counter("rapport.mail.sent", unit="{mail}", description="follow-up mails sent")
MAIL_FAILED = "rapport.mail.failed"  # infra/modules/alerts.bicep alerts on it
mail_failed = _meter.create_counter(MAIL_FAILED, unit="{mail}", description="sends that failed for good")
briefs_delivered = _meter.create_counter("rapport.briefs.delivered", unit="{brief}",
                                         description="meeting briefs delivered to Teams or Outlook")
webhook_lag = _meter.create_histogram("rapport.webhook.lag", unit="s",
                                      description="notification received to its mailbox sync done")
store_latency = _meter.create_histogram("rapport.store.latency", unit="ms", description="one store call")
http_errors = _meter.create_counter("rapport.http.errors", unit="{response}", description="5xx answers")


def _safe(attrs: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if key not in ATTRIBUTES or value is None:
            continue
        if isinstance(value, bool | int | float):
            out[key] = value
        elif isinstance(value, str) and _SAFE_VALUE.match(value):
            out[key] = value
    return out


def mode(settings: Any) -> str:
    wanted = getattr(settings, "telemetry", "auto")
    if wanted == "auto":
        return "azure" if getattr(settings, "appinsights_connection_string", None) else "off"
    return wanted


def begin(settings: Any, *, span_exporter: Any = None, metric_reader: Any = None) -> str:
    """Install the providers once per process; returns the mode. Tests pass an in-memory exporter
    and reader (and then the mode is "test")."""
    global _configured
    if _configured is not None and not (span_exporter is not None and _configured == "off"):
        return _configured  # OpenTelemetry's providers are set once per process ("off" installs none)
    chosen = "test" if span_exporter is not None else mode(settings)
    if chosen == "off":  # decided before the SDK loads: an "off" process never imports it (cold start)
        _configured = chosen
        return chosen
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": "rapport"})
    readers: list[Any] = []
    tracer_provider = TracerProvider(resource=resource)
    if chosen == "test":
        tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        if metric_reader is not None:
            readers.append(metric_reader)
    elif chosen == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:  # azure
        from azure.identity import ManagedIdentityCredential
        from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter, AzureMonitorTraceExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        conn = settings.appinsights_connection_string
        client_id = getattr(settings, "managed_identity_client_id", None)
        credential = ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()
        tracer_provider.add_span_processor(BatchSpanProcessor(
            AzureMonitorTraceExporter(connection_string=conn, credential=credential)))
        readers.append(PeriodicExportingMetricReader(
            AzureMonitorMetricExporter(connection_string=conn, credential=credential), export_interval_millis=60000))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    _configured = chosen
    log.info("telemetry: %s", chosen)
    return chosen


def parent_from(traceparent: str | None) -> otel_context.Context | None:
    """The context a W3C `traceparent` names, or None when it is absent or malformed."""
    if not traceparent or len(traceparent) > 128:
        return None
    ctx = _propagator.extract({"traceparent": traceparent})
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def current_traceparent() -> str | None:
    """The `traceparent` of the span in progress (to store on a work item or a queue message)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span(name: str, *, traceparent: str | None = None, kind: trace.SpanKind = trace.SpanKind.INTERNAL,
         **attrs: Any) -> Iterator[trace.Span]:
    """A span named `name` (a route template or a fixed word: never outsider text), child of
    `traceparent` when given, with only the allowed attributes. An exception marks it as an error
    and goes on."""
    parent = parent_from(traceparent)
    with _tracer.start_as_current_span(name, context=parent, kind=kind, attributes=_safe(attrs),
                                       record_exception=False, set_status_on_exception=False) as s:
        try:
            yield s
        except BaseException as exc:
            s.set_status(Status(StatusCode.ERROR, type(exc).__name__))  # the type only: messages may quote input
            s.set_attribute("rapport.outcome", "error")
            raise


def in_span() -> bool:
    """True inside a recording span of ours (a work item run under its queue message's span)."""
    return trace.get_current_span().is_recording()


def annotate(**attrs: Any) -> None:
    """Add allowed attributes to the span in progress (e.g. the tenant, once the token is checked)."""
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(_safe(attrs))


@contextmanager
def timed(histogram: Any, **attrs: Any) -> Iterator[None]:
    """Record the milliseconds a block took on `histogram`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.record((time.perf_counter() - started) * 1000, _safe(attrs))
