"""Reading one request's trace from the platform's trace file, for the journey tests.

Every component writes its finished spans to ``GOVPLAT_TRACE_FILE``
(:class:`govkit.telemetry.JsonLinesSpanExporter`, one JSON object per line). A request
through the gateway is found by the ``X-Request-Id`` it was answered with: the
gateway's server span carries it (``http.request.header.x-request-id``), as its access
log line does. Spans reach the file about 0.1 s after they end, and a parent ends
after its children, so a trace is read again until it is *complete*: every span's
parent is in it and the spans looked for are there.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from govkit.telemetry import read_spans

#: How a span is named in these helpers: ``(service, kind, name)``, e.g.
#: ``("govplat-notify", "CLIENT", "email send")``.
SpanKey = tuple[str, str, str]


def span_key(span: dict) -> SpanKey:
    """A span's ``(service, kind, name)``."""
    return (span["service"], span["kind"], span["name"])


def gateway_span_of_request(trace_file: Path, request_id: str, timeout: float = 10) -> dict:
    """The gateway's server span of the request answered with ``X-Request-Id:
    request_id``, waiting up to ``timeout`` seconds for it to reach the file.

    Raises:
        AssertionError: no such span within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        for span in read_spans(trace_file):
            header = (span.get("attributes") or {}).get("http.request.header.x-request-id")
            if span["service"] == "govplat-gateway" and span["kind"] == "SERVER":
                if header == [request_id] or header == request_id:
                    return span
        if time.monotonic() > deadline:
            raise AssertionError(f"no gateway span for request {request_id} in {trace_file}")
        time.sleep(0.1)


def orphans(spans: list[dict]) -> list[dict]:
    """The spans whose parent is not among ``spans`` (a trace's root has no parent
    and is not one)."""
    known = {span["span_id"] for span in spans}
    return [s for s in spans if s.get("parent_span_id") and s["parent_span_id"] not in known]


def complete_trace(
    trace_file: Path, trace_id: str, wanted: Iterable[SpanKey], timeout: float = 15
) -> list[dict]:
    """The spans of ``trace_id`` once each of ``wanted`` is among them and no span's
    parent is missing, waiting up to ``timeout`` seconds.

    Raises:
        AssertionError: not complete within ``timeout``; the message lists what was
            missing and the spans whose parent never came.
    """
    wanted = set(wanted)
    deadline = time.monotonic() + timeout
    while True:
        spans = read_spans(trace_file, trace_id)
        missing = wanted - {span_key(s) for s in spans}
        lost = orphans(spans)
        if not missing and not lost:
            return spans
        if time.monotonic() > deadline:
            raise AssertionError(
                f"trace {trace_id} incomplete after {timeout} s: missing {sorted(missing)}; "
                f"parents never seen for {[span_key(s) for s in lost]}"
            )
        time.sleep(0.1)


def ancestry(spans: list[dict], span: dict) -> list[SpanKey]:
    """The keys of ``span`` and its ancestors up to the root, root first, leaving out
    SQL statements and ASGI send/receive spans."""
    by_id = {s["span_id"]: s for s in spans}
    chain: list[SpanKey] = []
    current: dict | None = span
    while current is not None:
        attributes = current.get("attributes") or {}
        if "db.system" not in attributes and "asgi.event.type" not in attributes:
            chain.append(span_key(current))
        current = by_id.get(current.get("parent_span_id") or "")
    return chain[::-1]
