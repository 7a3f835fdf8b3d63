"""Telemetry (rapport/telemetry.py): spans per trigger, traceparent through HTTP, metrics, and no
personal data in any attribute. Exported to an in-memory exporter, the OpenTelemetry SDK's own."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rapport import telemetry
from rapport.settings import load_settings

EXPORTER = InMemorySpanExporter()
READER = InMemoryMetricReader()
CANARY = "canary-7f3a"


@pytest.fixture
def spans():
    assert telemetry.begin(load_settings({}), span_exporter=EXPORTER, metric_reader=READER) in ("test",), (
        "another test configured telemetry first")
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()


def _everything(exporter) -> str:
    """Every exported span as text: names, attributes, events, status."""
    out = []
    for s in exporter.get_finished_spans():
        out.append(s.to_json())
    data = READER.get_metrics_data()
    if data is not None:
        out.append(data.to_json())
    return "\n".join(out)


def test_modes_follow_the_settings():
    assert telemetry.mode(load_settings({})) == "off"
    assert telemetry.mode(load_settings({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"})) == "azure"
    assert telemetry.mode(load_settings({"RAPPORT_TELEMETRY": "console"})) == "console"
    assert telemetry.mode(load_settings({"RAPPORT_TELEMETRY": "off",
                                         "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"})) == "off"


def test_only_allowed_attributes_with_safe_values_are_kept(spans):
    with telemetry.span("work.send-mail", **{"rapport.tenant_id": "t-1", "rapport.verb": "approve",
                                              "subject": f"Merger {CANARY}", "rapport.outcome": f"{CANARY} x@y.com",
                                              "rapport.correlation_id": "abc-123"}):
        telemetry.annotate(**{"email": f"{CANARY}@client.com", "rapport.alert": "bad_client_state"})
    (s,) = spans.get_finished_spans()
    assert dict(s.attributes) == {"rapport.tenant_id": "t-1", "rapport.verb": "approve",
                                  "rapport.correlation_id": "abc-123", "rapport.alert": "bad_client_state"}
    assert CANARY not in _everything(spans)


def test_a_failed_block_marks_the_span_with_the_type_only(spans):
    with pytest.raises(ValueError), telemetry.span("work.sync"):
        raise ValueError(f"subject was {CANARY}")
    (s,) = spans.get_finished_spans()
    assert s.status.status_code.name == "ERROR" and s.attributes["rapport.outcome"] == "error"
    assert CANARY not in _everything(spans)


def test_traceparent_is_continued_and_can_be_passed_on(spans):
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with telemetry.span("http.in", traceparent=incoming):
        outgoing = telemetry.current_traceparent()
    (s,) = spans.get_finished_spans()
    assert format(s.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert format(s.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert outgoing is not None and outgoing.split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"
    with telemetry.span("work.item", traceparent=outgoing):  # a work item continues the same trace
        pass
    assert spans.get_finished_spans()[-1].context.trace_id == s.context.trace_id
    for bad in ("", "nonsense", "00-" + "0" * 32 + "-" + "0" * 16 + "-01", "x" * 500):
        assert telemetry.parent_from(bad) is None


def test_metrics_are_recorded(spans):
    telemetry.mail_sent.add(1, {"rapport.tenant_id": "t-1"})
    with telemetry.timed(telemetry.store_latency, **{"rapport.store.op": "find"}):
        pass
    names = {m.name for rm in READER.get_metrics_data().resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {"rapport.mail.sent", "rapport.store.latency"} <= names


def test_the_alert_rules_name_what_the_code_emits():
    from pathlib import Path

    import function_app
    from local.host import functions

    bicep = (Path(__file__).resolve().parents[1] / "infra" / "modules" / "alerts.bicep").read_text()
    assert f'name == "{telemetry.MAIL_FAILED}"' in bicep
    names = {f.get_function_name() for f in functions(function_app.app)}
    assert {"graph_notifications", "graph_lifecycle"} <= names and '"graph_notifications"' in bicep
    from rapport.capture import webhooks

    assert f'"{webhooks.notifications.__module__}.{webhooks.notifications.__name__}"' in bicep
    main = (Path(__file__).resolve().parents[1] / "infra" / "main.bicep").read_text()
    assert "modules/alerts.bicep" in main


async def test_http_spans_carry_ids_and_no_personal_data(spans, demo_pane, http):
    from local.demo import DEMO_TENANT_ID
    from tests.plugins.browser import SHARED_EMAIL
    from tests.test_notes import ELEANOR, post

    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    status, _ = await post(http, demo_pane, {"email": SHARED_EMAIL, "text": f"Lunch {CANARY} notes",
                                             "clientKey": "tel-1"})
    assert status == 201
    async with http.get(demo_pane.url("/api/addin/context"), params={"email": SHARED_EMAIL},
                        headers={**demo_pane.auth(ELEANOR), "traceparent": incoming}) as r:
        assert r.status == 200 and CANARY in await r.text()  # the canary really went through
    async with http.get(demo_pane.url("/api/addin/context"), params={"email": "not an address"},
                        headers=demo_pane.auth(ELEANOR)) as r:
        assert r.status == 400
    finished = spans.get_finished_spans()
    by_name = {s.name: s for s in finished}
    context = [s for s in finished if s.name.endswith(".context")]
    assert "addin.notes.add_note" in by_name and len(context) == 2
    ok, refused = context
    assert format(ok.context.trace_id, "032x") == incoming.split("-")[1]  # the caller's trace continues
    assert ok.attributes["rapport.tenant_id"] == DEMO_TENANT_ID
    assert ok.attributes["http.response.status_code"] == 200 and refused.attributes["http.response.status_code"] == 400
    assert ok.attributes["rapport.correlation_id"]
    text = _everything(spans)
    for secret in (CANARY, SHARED_EMAIL, SHARED_EMAIL.split("@")[0], "not an address", "Bearer"):
        assert secret not in text, secret


async def test_a_work_item_continues_the_trace_that_queued_it(spans, tmp_path):
    from rapport import work
    from rapport.records import Tenant
    from rapport.store import Store
    from rapport.store.sqlite import SqliteBackend

    store = await Store(SqliteBackend(str(tmp_path / "w.db"))).open()
    ran: list[str] = []

    async def handle(_store, item):
        ran.append(item.id)

    work.handler("telemetry-test")(handle)
    try:
        await store.put_tenant(Tenant(id="t-w", tenantId="t-w", name="W LLP"))
        incoming = "00-1af7651916cd43dd8448eb211c80319c-a7ad6b7169203331-01"
        with telemetry.span("http.in", traceparent=incoming):
            item, created = await work.enqueue(store, "t-w", "telemetry-test", f"k-{CANARY}", {"subject": CANARY})
        assert created and item.traceparent and item.traceparent.split("-")[1] == incoming.split("-")[1]
        spans.clear()
        report = await work.drain(store, tenant_ids=["t-w"])
        assert ran == [item.id] and report.done == [item.id]
        (s,) = [s for s in spans.get_finished_spans() if s.name == "work.telemetry-test"]
        assert format(s.context.trace_id, "032x") == incoming.split("-")[1]
        assert s.attributes["rapport.outcome"] == "done" and s.attributes["rapport.work.kind"] == "telemetry-test"
        assert CANARY not in _everything(spans)
    finally:
        work._handlers.pop("telemetry-test", None)
        await store.close()
