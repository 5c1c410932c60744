"""Spans are recorded only while the process exports them (govkit.telemetry.ExportingSampler),
and the trace context travels either way."""

from __future__ import annotations

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from govkit import telemetry

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}


@pytest.fixture
def traced(monkeypatch):
    """A tracer of a provider with the exporting sampler and an in-memory exporter."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=telemetry.ExportingSampler())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(telemetry, "_exporting", telemetry.exporting())  # restored afterwards
    return provider.get_tracer("sampling-test"), exporter


def test_nothing_is_recorded_while_nothing_exports_but_the_trace_id_travels_on(traced, monkeypatch):
    tracer, exporter = traced
    monkeypatch.setattr(telemetry, "_exporting", False)
    with tracer.start_as_current_span("work", context=propagate.extract(INCOMING)) as span:
        assert not span.is_recording()
        span.set_attribute("ignored", "yes")
        assert telemetry.current_trace_id() == TRACE_ID
        outgoing: dict[str, str] = {}
        propagate.inject(outgoing)
    assert outgoing["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert outgoing["traceparent"] != INCOMING["traceparent"]  # a span of its own
    assert exporter.get_finished_spans() == ()


def test_a_root_span_gets_a_trace_id_of_its_own_while_nothing_exports(traced, monkeypatch):
    tracer, exporter = traced
    monkeypatch.setattr(telemetry, "_exporting", False)
    with tracer.start_as_current_span("root"):
        first = telemetry.current_trace_id()
    with tracer.start_as_current_span("root"):
        second = telemetry.current_trace_id()
    assert len(first) == 32 and len(second) == 32 and first != second
    assert exporter.get_finished_spans() == ()


def test_spans_are_recorded_with_their_parent_once_the_process_exports(traced, monkeypatch):
    tracer, exporter = traced
    monkeypatch.setattr(telemetry, "_exporting", True)
    with tracer.start_as_current_span("work", context=propagate.extract(INCOMING)) as span:
        assert span.is_recording()
        span.set_attribute("kept", "yes")
    (finished,) = exporter.get_finished_spans()
    assert format(finished.context.trace_id, "032x") == TRACE_ID
    assert finished.attributes["kept"] == "yes"


def test_an_exporting_process_records_a_callers_work_though_the_caller_exports_nothing(
    traced, monkeypatch
):
    tracer, exporter = traced
    monkeypatch.setattr(telemetry, "_exporting", True)
    unsampled = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-00"}
    with tracer.start_as_current_span("work", context=propagate.extract(unsampled)):
        pass
    (finished,) = exporter.get_finished_spans()
    assert format(finished.context.trace_id, "032x") == TRACE_ID


def test_otel_traces_sampler_is_honoured_when_set(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    assert "AlwaysOff" in telemetry.ExportingSampler().get_description()
    monkeypatch.delenv("OTEL_TRACES_SAMPLER")
    assert "AlwaysOn" in telemetry.ExportingSampler().get_description()


def test_the_sampler_chosen_for_exporting_decides_once_the_process_exports(monkeypatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=telemetry.ExportingSampler(ALWAYS_OFF))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(telemetry, "_exporting", True)
    with provider.get_tracer("sampling-test").start_as_current_span("work") as span:
        assert not span.is_recording()
    assert exporter.get_finished_spans() == ()
    assert "AlwaysOff" in telemetry.ExportingSampler(ALWAYS_OFF).get_description()


def test_the_process_provider_uses_the_exporting_sampler():
    provider = telemetry.configure_telemetry("sampling-test")
    assert isinstance(provider.sampler, telemetry.ExportingSampler)
    assert trace.get_tracer_provider() is provider


async def test_a_request_carries_its_callers_trace_id_while_nothing_exports(monkeypatch):
    import httpx
    from fastapi import FastAPI

    telemetry.configure_telemetry("sampling-test")
    monkeypatch.setattr(telemetry, "_exporting", False)
    app = FastAPI(telemetry=telemetry.FASTAPI_TELEMETRY)

    @app.get("/trace")
    async def trace_id() -> dict:
        tracer = trace.get_tracer("sampling-test")
        with tracer.start_as_current_span("inner") as span:
            recording = span.is_recording()
        return {"trace_id": telemetry.current_trace_id(), "recording": recording}

    telemetry.trace_requests(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        carried = (await client.get("/trace", headers=INCOMING)).json()
        alone = (await client.get("/trace")).json()
    assert carried == {"trace_id": TRACE_ID, "recording": False}
    assert alone == {"trace_id": "", "recording": False}


def test_a_hot_path_makes_no_span_while_nothing_exports_but_keeps_the_trace_id(traced, monkeypatch):
    tracer, exporter = traced
    parent = propagate.extract(INCOMING)
    monkeypatch.setattr(telemetry, "_exporting", False)
    with telemetry.current_span(tracer, "event process", parent=parent, kind=None) as span:
        assert span is trace.INVALID_SPAN
        assert telemetry.current_trace_id() == TRACE_ID
    assert telemetry.current_trace_id() == ""
    monkeypatch.setattr(telemetry, "_exporting", True)
    with telemetry.current_span(
        tracer, "event process", parent=parent, kind=trace.SpanKind.CONSUMER, attributes={"a": 1}
    ) as span:
        assert span.is_recording()
    (finished,) = exporter.get_finished_spans()
    assert finished.name == "event process" and finished.attributes["a"] == 1
    assert format(finished.context.trace_id, "032x") == TRACE_ID
