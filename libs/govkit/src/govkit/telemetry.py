"""OpenTelemetry set-up: one tracer provider per process, instrumentation helpers.

Traces are exported with OTLP/HTTP when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``
(or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) variable is set, to a file of JSON lines
when ``GOVPLAT_TRACE_FILE`` names one (:class:`JsonLinesSpanExporter`: for tests and
for reading a trace on one machine without a collector), and not exported otherwise;
``OTEL_SDK_DISABLED=true`` turns tracing off. While nothing exports, spans are not
recorded (:class:`ExportingSampler`): the trace context still travels, at the cost of
a few object allocations per span instead of a recorded span's attributes, events and
hand-over to a processor. The service name is
``govplat-<component>`` unless ``OTEL_SERVICE_NAME`` says otherwise.
Trace context crosses HTTP (W3C ``traceparent``), gRPC metadata and NATS headers
(:mod:`govkit.events`); a consumer's span is a *child* of the producer's, so one
request and everything it causes share one trace id (docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)

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
        _provider = TracerProvider(resource=resource, sampler=ExportingSampler())
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


class ExportingSampler(Sampler):
    """Records spans only while this process exports them (:func:`exporting`).

    While nothing exports, every span is dropped: it is a non-recording span that
    keeps its parent's trace id (or a new one) and passes it on (W3C ``traceparent``
    with the sampled flag clear, as OpenTelemetry's ``DROP`` decision does), so trace
    ids still reach logs, events and other components, but no attributes are set and
    nothing is handed to a span processor. Once an exporter or a span processor is
    configured, ``delegate`` decides: the standard ``OTEL_TRACES_SAMPLER`` choice when
    it is set, else every span is recorded, whatever the caller's sampled flag says
    (a caller's flag is clear when it exports nothing, as a govplat process without an
    exporter, so honouring it would lose the spans of every exporting process behind it).

    Args:
        delegate: the sampler used while exporting (default: from the environment).
    """

    def __init__(self, delegate: Sampler | None = None) -> None:
        self.delegate = delegate or _environment_sampler()

    def should_sample(
        self,
        parent_context,
        trace_id,
        name,
        kind=None,
        attributes=None,
        links=None,
        trace_state=None,
    ) -> SamplingResult:
        if not _exporting:
            parent = trace.get_current_span(parent_context).get_span_context()
            return SamplingResult(
                Decision.DROP, trace_state=parent.trace_state if parent.is_valid else None
            )
        return self.delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"ExportingSampler{{{self.delegate.get_description()}}}"


def _environment_sampler() -> Sampler:
    """The sampler ``OTEL_TRACES_SAMPLER`` names; without it, every span is recorded
    (a remote parent's clear sampled flag included)."""
    if os.environ.get("OTEL_TRACES_SAMPLER"):
        try:
            from opentelemetry.sdk.trace.sampling import _get_from_env_or_default

            return _get_from_env_or_default()
        except ImportError:  # a later SDK without the helper
            pass
    return ParentBased(ALWAYS_ON, remote_parent_not_sampled=ALWAYS_ON)


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


@contextlib.contextmanager
def current_span(tracer, name: str, *, parent, kind, attributes: dict | None = None):
    """``tracer.start_as_current_span(name, context=parent, kind=kind, attributes=...)``
    while this process exports (:func:`exporting`); otherwise no span at all: the
    ``parent`` context (e.g. extracted from a message's headers) is made current, so
    that what the block writes or calls still carries its trace id, and the block gets
    ``opentelemetry.trace.INVALID_SPAN``, whose methods do nothing. For the hot paths
    that run once per event (the outbox relay's publish, a consumer's handling)."""
    if _exporting:
        with tracer.start_as_current_span(
            name, context=parent, kind=kind, attributes=attributes
        ) as span:
            yield span
        return
    token = context.attach(parent)
    try:
        yield trace.INVALID_SPAN
    finally:
        context.detach(token)


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


#: ``FastAPI(telemetry=...)`` for every component's app: FastAPI's own telemetry off.
#: The platform traces requests itself (:func:`trace_requests`): spans only while
#: exporting, and with the route in place of the request's own path and query
#: (:func:`redact_request_url`), which FastAPI's native spans would record as sent.
FASTAPI_TELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


class TraceContextMiddleware:
    """Plain ASGI middleware that makes a request's W3C ``traceparent``/``tracestate``
    (and ``baggage``) the current context, without a span: what a component runs
    instead of the FastAPI instrumentation while nothing exports (:func:`exporting`),
    so that the events and calls a request causes still carry its trace id. Requests
    without a ``traceparent`` pass through untouched."""

    _HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in self._HEADERS
        }
        if "traceparent" not in carrier:
            await self.app(scope, receive, send)
            return
        token = context.attach(propagate.extract(carrier))
        try:
            await self.app(scope, receive, send)
        finally:
            context.detach(token)


def trace_requests(app) -> None:
    """Trace a FastAPI app's requests: spans (:func:`instrument_fastapi`) while this
    process exports, else only the incoming trace context
    (:class:`TraceContextMiddleware`). Call before the app serves its first request."""
    if exporting():
        instrument_fastapi(app)
    else:
        app.add_middleware(TraceContextMiddleware)


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
    """Trace the SQL statements of an async engine, while this process exports
    (:func:`exporting`; otherwise statements have no spans and no hooks)."""
    if not exporting():
        return
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
