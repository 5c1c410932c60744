"""OpenTelemetry set-up: one tracer provider per process, instrumentation helpers.

Traces are exported with OTLP/HTTP when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT``
(or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) variable is set, and not exported
otherwise; ``OTEL_SDK_DISABLED=true`` turns tracing off. The service name is
``govplat-<component>`` unless ``OTEL_SERVICE_NAME`` says otherwise.
Trace context crosses HTTP (W3C ``traceparent``), gRPC metadata and NATS headers
(:mod:`govkit.events`); a consumer's span is a *child* of the producer's, so one
request and everything it causes share one trace id (docs/architecture.md).
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

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
        trace.set_tracer_provider(_provider)
    for processor in processors or []:
        _provider.add_span_processor(processor)
        _exporting = True
    return _provider


def exporting() -> bool:
    """Whether this process's spans go anywhere (an exporter or a span processor was
    configured). Without one, a component may skip making spans on a hot path (the
    gateway then passes the caller's ``traceparent`` on unchanged)."""
    return _exporting


def instrument_fastapi(app) -> None:
    """Trace every request of a FastAPI app except health and metrics probes."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")


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
