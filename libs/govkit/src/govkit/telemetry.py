"""OpenTelemetry set-up: one tracer provider per process, instrumentation helpers.

Traces are exported with OTLP/HTTP when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``
(or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) variable is set, to a file of JSON lines
when ``GOVPLAT_TRACE_FILE`` names one (:class:`JsonLinesSpanExporter`: for tests and
for reading a trace on one machine without a collector), and not exported otherwise;
``OTEL_SDK_DISABLED=true`` turns tracing off. The service name is
``govplat-<component>`` unless ``OTEL_SERVICE_NAME`` says otherwise.
Trace context crosses HTTP (W3C ``traceparent``), gRPC metadata and NATS headers
(:mod:`govkit.events`); a consumer's span is a *child* of the producer's, so one
request and everything it causes share one trace id (docs/architecture.md).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

#: Names a file every process of the platform appends its finished spans to.
TRACE_FILE_ENV = "GOVPLAT_TRACE_FILE"

_provider: TracerProvider | None = None
_exporting = False


def configure_telemetry(
    component: str, *, processors: list[SpanProcessor] | None = None
) -> TracerProvider:
    """Install the process's tracer provider (once) and return it.

    Args:
        component: e.g. ``payments``; the resource's ``service.name`` is ``govplat-payments``.
        processors: extra span processors (tests pass an in-memory exporter's).

    Calling it again returns the same provider and only adds the new processors:
    OpenTelemetry allows one global provider per process.
    """
    global _provider, _exporting
    if _provider is None:
        resource = Resource.create(
            {
                "service.name": os.environ.get("OTEL_SERVICE_NAME", f"govplat-{component}"),
                "service.namespace": "govplat",
            }
        )
        _provider = TracerProvider(resource=resource)
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        ):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            _exporting = True
        if os.environ.get(TRACE_FILE_ENV):
            _provider.add_span_processor(
                BatchSpanProcessor(
                    JsonLinesSpanExporter(os.environ[TRACE_FILE_ENV]), schedule_delay_millis=100
                )
            )
            _exporting = True
        trace.set_tracer_provider(_provider)
    for processor in processors or []:
        _provider.add_span_processor(processor)
        _exporting = True
    return _provider


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span to a file as one JSON object per line.

    Several processes may share the file (``govplat up`` gives every component the
    same ``GOVPLAT_TRACE_FILE``): it is opened with ``O_APPEND`` and each batch is one
    ``write``, so lines never interleave. Spans reach it within about 0.1 s of ending
    (a :class:`BatchSpanProcessor` with a 100 ms delay).

    A line: ``{"trace_id": 32 hex digits, "span_id": 16, "parent_span_id": 16 or
    null, "name", "kind": "SERVER" | "CLIENT" | "PRODUCER" | "CONSUMER" | "INTERNAL",
    "service": the resource's service.name, "start_time_unix_nano",
    "end_time_unix_nano", "status": "UNSET" | "OK" | "ERROR", "attributes": {...},
    "events": [{"name", "attributes"}], "links": [{"trace_id", "span_id"}]}``.

    Args:
        path: the file (created with mode 600 if missing).

    Raises:
        OSError: when the file cannot be opened.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = b"".join(
            json.dumps(span_record(span), separators=(",", ":"), default=str).encode() + b"\n"
            for span in spans
        )
        with self._lock:
            if self._fd < 0:
                return SpanExportResult.FAILURE
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_record(span: ReadableSpan) -> dict:
    """A finished span as :class:`JsonLinesSpanExporter` writes it (see there)."""
    context = span.get_span_context()
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_span_id": format(span.parent.span_id, "016x") if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": span.resource.attributes.get("service.name", ""),
        "start_time_unix_nano": span.start_time,
        "end_time_unix_nano": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "events": [
            {"name": event.name, "attributes": dict(event.attributes or {})}
            for event in span.events
        ],
        "links": [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
            }
            for link in span.links
        ],
    }


def read_spans(path: str | os.PathLike, trace_id: str | None = None) -> list[dict]:
    """The spans a :class:`JsonLinesSpanExporter` wrote to ``path`` (every process's),
    oldest line first, only those of ``trace_id`` (32 hex digits) when given; ``[]``
    when the file does not exist. A line still being written is skipped."""
    try:
        lines = Path(path).read_bytes().splitlines()
    except FileNotFoundError:
        return []
    spans = []
    for line in lines:
        if trace_id is not None and trace_id.encode() not in line:
            continue
        try:
            span = json.loads(line)
        except ValueError:
            continue
        if trace_id is None or span.get("trace_id") == trace_id:
            spans.append(span)
    return spans


def exporting() -> bool:
    """Whether this process's spans go anywhere (an exporter or a span processor was
    configured). Without one, a component may skip making spans on a hot path (the
    gateway then passes the caller's ``traceparent`` on unchanged)."""
    return _exporting


#: Span attributes that carry a request's own path or query string.
_URL_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.full")


def redact_request_url(span, scope: dict) -> None:
    """A server span's path and query as the route's template, never the request's own:
    paths carry tokens (the payment page's ``/pay/secure/{token}``) and query strings
    personal data (``?reference=...``). ``http.target``, ``http.url``, ``url.path`` and
    ``url.full`` become the route (``/pay/secure/{token}``, or ``unmatched`` when no
    route matched); ``url.query`` is dropped to ``""``. (The FastAPI instrumentation's
    ``server_request_hook``.)"""
    if span is None or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    route = attributes.get("http.route") or "unmatched"
    for key in _URL_ATTRIBUTES:
        if key in attributes:
            span.set_attribute(key, route)
    if "url.query" in attributes:
        span.set_attribute("url.query", "")


def instrument_fastapi(app) -> None:
    """Trace every request of a FastAPI app except health and metrics probes, with
    the request's path and query redacted to its route (:func:`redact_request_url`)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="healthz,readyz,metrics", server_request_hook=redact_request_url
    )


def instrument_httpx(client) -> None:
    """Trace an ``httpx.AsyncClient``'s calls and propagate the trace context."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client)


def instrument_sqlalchemy(engine) -> None:
    """Trace the SQL statements of an async engine."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, enable_commenter=False)


def grpc_client_interceptors() -> list:
    """Interceptors for ``grpc.aio`` channels that trace calls and carry the context."""
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors())


def current_trace_id() -> str:
    """The current trace id as 32 hex digits, or '' outside a span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""
