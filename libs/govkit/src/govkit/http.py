"""The HTTP side every component shares: probes, metrics, request ids.

- ``GET /healthz``: 200 ``{"status": "ok"}`` while the process runs (liveness).
- ``GET /readyz``: 200 when every readiness check passes, else 503; the body
  lists each check as ``ok`` or the error's type (never a stack trace).
- ``GET /metrics``: Prometheus text format (the process's default registry).
- ``X-Request-Id``: kept from the request when it is a short safe token, created
  otherwise, and returned on every response.
- ``govplat_http_requests_total`` / ``govplat_http_request_duration_seconds`` by
  route template, method and status.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.routing import Match

ReadinessCheck = Callable[[], Awaitable[None]]

REQUESTS = Counter(
    "govplat_http_requests_total", "HTTP requests", ["component", "route", "method", "status"]
)
DURATION = Histogram(
    "govplat_http_request_duration_seconds",
    "HTTP request duration in seconds",
    ["component", "route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or '' when the header
    is missing, uses another scheme or has no token (the scheme is case-insensitive,
    RFC 6750 section 2.1)."""
    if not authorization or authorization[:7].lower() != "bearer ":
        return ""
    return authorization[7:].strip()


def pay_unauthorised() -> Response:
    """GOV.UK Pay's 401 for a missing or refused credential: plain text, no JSON
    envelope (pay-publicapi answers it before its ``code``/``description`` errors).
    The gateway sends it for a bad API key, payments for a bad principal."""
    return Response(
        "Credentials are required to access this resource.",
        status_code=401,
        media_type="text/plain",
        headers={"WWW-Authenticate": 'Bearer realm="govplat"'},
    )


def operator_authorized(authorization: str | None, admin_token: str | None) -> bool:
    """Whether an ``Authorization`` header carries the operator credential
    (``Bearer <GOVPLAT_ADMIN_TOKEN>``), compared in constant time. Always false when no
    admin token is configured."""
    token = bearer_token(authorization)
    if not token or not admin_token:
        return False
    return hmac.compare_digest(token.encode("utf-8", "surrogateescape"), admin_token.encode())


def request_id_from(value: str | None) -> str:
    """The caller's request id if it is a short safe token, else a new UUID4."""
    if value and _SAFE_REQUEST_ID.match(value):
        return value
    return str(uuid.uuid4())


def route_template(app: FastAPI, request: Request) -> str:
    """The matched route's path template (``/v1/payments/{payment_id}``), or ``unmatched``
    so that metrics never get one label per URL."""
    for route in app.router.routes:
        match, _ = route.matches(request.scope)
        if match is Match.FULL:
            return getattr(route, "path", "unmatched")
    return "unmatched"


def add_probes(
    app: FastAPI, *, component: str, checks: dict[str, ReadinessCheck], timeout: float = 2.0
) -> None:
    """Add ``/healthz``, ``/readyz`` and ``/metrics`` and the request-id and metrics middleware.

    Args:
        checks: name → async check that raises when not ready (e.g. ``database``, ``nats``).
        timeout: seconds each readiness check may take.
    """

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=timeout)
                results[name] = "ok"
            except Exception as exc:
                results[name] = type(exc).__name__ or "failed"
        ready = all(value == "ok" for value in results.values())
        return JSONResponse(
            {
                "status": "ready" if ready else "not ready",
                "component": component,
                "checks": results,
            },
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # Probes go first, so that a catch-all route (the gateway's) cannot shadow them.
    probes = [r for r in app.router.routes if getattr(r, "path", None) in PROBE_PATHS]
    others = [r for r in app.router.routes if r not in probes]
    app.router.routes[:] = probes + others

    app.add_middleware(ObserveMiddleware, app_ref=app, component=component)


class ObserveMiddleware:
    """Plain ASGI middleware (no extra task per request, unlike ``BaseHTTPMiddleware``):
    request id in and out (``request.state.request_id``, ``X-Request-Id``) and the
    request metrics by route template, method and status."""

    def __init__(self, app, app_ref: FastAPI, component: str) -> None:
        self.app = app
        self.app_ref = app_ref
        self.component = component

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                raw_id = value.decode("latin-1")
                break
        request_id = request_id_from(raw_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["path"] not in PROBE_PATHS:
                route = route_template(self.app_ref, Request(scope))
                REQUESTS.labels(self.component, route, scope["method"], str(status)).inc()
                DURATION.labels(self.component, route, scope["method"]).observe(
                    time.perf_counter() - started
                )


class ErrorBoundary:
    """The outermost ASGI layer of a component's HTTP app.

    Starlette answers an unhandled exception with the app's 500 (its
    ``ServerErrorMiddleware``) and then raises it again for the server, and uvicorn
    closes the connection without saying so. A client that keeps connections alive
    (the gateway) then sends its next request down a closed connection and gets an
    error for a request nobody saw. Here an exception that escapes *after* the
    response was sent is logged and goes no further, so the connection stays usable;
    one that escapes before any response is passed on as before.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answered = False

        async def tracking_send(message) -> None:
            nonlocal answered
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered = True

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if not answered:
                raise
            logging.getLogger(__name__).error(
                "unhandled error after the response to %s %s was sent",
                scope.get("method", ""),
                route_label(scope),
                exc_info=True,
            )


def route_label(scope) -> str:
    """The path of a request with ids left out (a log label: no personal data): a
    segment of 8 or more characters with a digit in it, or with an ``@``, is ``{id}``."""

    def label(segment: str) -> str:
        if "@" in segment or (len(segment) >= 8 and any(c.isdigit() for c in segment)):
            return "{id}"
        return segment

    return "/".join(label(part) for part in scope.get("path", "").split("/"))[:200]
