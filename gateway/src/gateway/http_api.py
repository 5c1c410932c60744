"""The gateway's HTTP side: authenticate, apply quotas and limits, forward by path.

For each request: refuse an unsafe path (dot segments, encoded separators), find
the backend (:mod:`gateway.routing`), authenticate the credential its API family
needs (:mod:`gateway.auth`), count it against its quotas (:mod:`gateway.quotas`),
then forward it with a principal signed for that backend (:mod:`gateway.proxy`),
subject to a body-size limit, a per-route timeout and the backend's circuit breaker.
Every response carries security headers and ``X-Request-Id``; every request is
written to the JSON access log (method, route prefix, status, duration, backend,
request id; never the query string, headers or body, which may hold credentials or
personal data) and counted in ``govplat_gateway_requests_total``.

Forwarded requests are the hot path: :class:`GatewayApp` serves them as plain ASGI
before FastAPI's routing and middleware, which serve only the gateway's own pages
(the portal, the probes, the 404 for unknown paths). When traces are exported
(:func:`govkit.telemetry.exporting`) a forwarded request gets one server span, the
parent of the backend's, with the request id (``http.request.header.x-request-id``, as
in the access log); otherwise the caller's ``traceparent`` goes on unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import time
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from opentelemetry import propagate, trace
from prometheus_client import Counter, Histogram

from gateway import errors, portal, proxy, routing
from gateway.auth import Authenticator, Refusal
from gateway.breaker import CircuitBreaker
from gateway.errors import refusal
from gateway.quotas import Quotas
from govkit import telemetry
from govkit.http import request_id_from
from govkit.principal import PrincipalSigner

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
access_log = logging.getLogger("govplat.access")
log = logging.getLogger(__name__)

GATEWAY_REQUESTS = Counter(
    "govplat_gateway_requests_total",
    "Requests through the gateway",
    ["backend", "route", "method", "status"],
)
GATEWAY_DURATION = Histogram(
    "govplat_gateway_request_duration_seconds",
    "Time from a request's arrival to its last byte sent, seconds",
    ["backend", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

#: Headers added to every response unless the backend set its own.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}
_SECURITY_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
#: Methods whose body is not forwarded.
BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Statuses that never have a body (nor a Content-Length), RFC 9110 sections 8.6 and 15.
NO_BODY_STATUSES = frozenset({204, 304})
#: The trace-context headers the gateway's own span replaces when traces are exported.
TRACE_HEADERS = frozenset({b"traceparent", b"tracestate"})
_tracer = trace.get_tracer("govplat.gateway")


@dataclass
class EdgeOptions:
    """Limits and trust at the edge.

    Attributes:
        max_body_bytes: largest request body (bytes) by default: 1 MiB.
        large_body_routes: path prefix → larger limit (bytes), e.g. precompiled letters.
        timeouts: path prefix → seconds the backend may be silent (default: the client's).
        trusted_proxies: addresses or networks of proxies in front of the gateway whose
            ``X-Forwarded-For`` is believed; from anyone else it is ignored.
        breaker_threshold / breaker_cooldown: consecutive failures to open a backend's
            circuit, and seconds it stays open.
        cors_origins: browser origins allowed to call the APIs (the portal's own pages
            are same-origin and need none); none by default.
    """

    max_body_bytes: int = 1024 * 1024
    large_body_routes: dict[str, int] = field(
        default_factory=lambda: {"/v2/notifications/letter": 8 * 1024 * 1024}
    )
    timeouts: dict[str, float] = field(
        default_factory=lambda: {
            "/authorize": 10.0,
            "/token": 10.0,
            "/userinfo": 10.0,
            "/introspect": 10.0,
            "/revoke": 10.0,
            "/registers": 120.0,  # whole-register downloads
        }
    )
    cors_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    breaker_threshold: int = 5
    breaker_cooldown: float = 10.0

    def body_limit(self, path: str) -> int:
        """The body limit for ``path`` (bytes)."""
        for prefix, limit in self.large_body_routes.items():
            if path == prefix or path.startswith(prefix + "/"):
                return limit
        return self.max_body_bytes

    def timeout(self, path: str) -> float | None:
        """The per-route timeout for ``path`` (seconds), or ``None`` for the default."""
        for prefix, seconds in self.timeouts.items():
            if path == prefix or path.startswith(prefix + "/"):
                return seconds
        return None


@functools.lru_cache(maxsize=8)
def _networks(
    trusted: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The trusted proxies as networks, parsed once per configuration (not per request)."""
    return tuple(ipaddress.ip_network(t, strict=False) for t in trusted)


def client_address(scope: dict, trusted: tuple[str, ...]) -> str:
    """The caller's address (an ASGI ``scope``'s): the peer, unless the peer is a
    trusted proxy, in which case the right-most ``X-Forwarded-For`` entry that is not
    itself a trusted proxy."""
    client = scope.get("client")
    peer = client[0] if client else ""
    networks = _networks(trusted)
    if not networks:
        return peer

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in networks)

    if not is_trusted(peer):
        return peer
    forwarded = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-for")
    chain = [a.strip() for a in forwarded.decode("latin-1").split(",") if a.strip()]
    for address in reversed(chain):
        if not is_trusted(address):
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return peer
    return peer


def _request_id_header(scope: dict) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value.decode("latin-1")
    return None


class GatewayApp(FastAPI):
    """The gateway: forwarded paths are served here as plain ASGI (the hot path);
    everything else goes to FastAPI (portal, probes, 404). Both get security headers,
    the access log and the metrics. Configured by :func:`create_app`."""

    backend_urls: dict[str, str]
    client: proxy.UpstreamClient
    authenticator: Authenticator | None = None
    signer: PrincipalSigner | None = None
    quotas: Quotas | None = None
    options: EdgeOptions
    breakers: dict[str, CircuitBreaker]
    _forward_app = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        address = client_address(scope, self.options.trusted_proxies)
        state["client_address"] = address
        status = 500

        async def send_with_headers(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in _SECURITY_HEADERS if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        path = scope["path"]
        backend = routing.backend_for(path)
        route = routing.route_prefix(path) if backend else "other"
        try:
            if backend is None:
                await super().__call__(scope, receive, send_with_headers)
            else:
                state["request_id"] = request_id_from(_request_id_header(scope))
                state["backend"], state["route"] = backend, route
                await self._forward_app(scope, receive, send_with_headers)
        finally:
            backend_label = state.get("backend", "gateway")
            route = state.get("route", route)
            elapsed = time.perf_counter() - started
            GATEWAY_REQUESTS.labels(backend_label, route, scope["method"], str(status)).inc()
            GATEWAY_DURATION.labels(backend_label, route).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "backend": backend_label,
                    "request_id": state.get("request_id", ""),
                    "client": address,
                },
            )

    async def forward(self, scope, receive, send) -> None:
        """Serve one forwarded request (plain ASGI; ``scope["state"]`` holds its backend,
        route, request id and client address)."""
        state = scope["state"]
        request_id = state["request_id"]
        try:
            if telemetry.exporting():
                carrier = {
                    k.decode("latin-1"): v.decode("latin-1")
                    for k, v in scope["headers"]
                    if k in TRACE_HEADERS
                }
                span_scope = _tracer.start_as_current_span(
                    f"{scope['method']} {state['route']}",
                    context=propagate.extract(carrier),
                    kind=trace.SpanKind.SERVER,
                    attributes={
                        "http.request.method": scope["method"],
                        "http.route": state["route"],
                        "govplat.backend": state["backend"],
                        # As the access log has it, so that a log line finds its trace.
                        "http.request.header.x-request-id": (request_id,),
                    },
                )
            else:
                span_scope = contextlib.nullcontext()
            with span_scope as span:
                answer = await self._answer(scope, receive, request_id)
                if span is not None:
                    span.set_attribute(
                        "http.response.status_code",
                        answer.status if isinstance(answer, proxy.Answer) else answer.status_code,
                    )
        except Exception:
            log.exception("forwarding failed", extra={"request_id": request_id})
            answer = refusal(scope["path"], 500, "internal error")
        await _send_answer(answer, scope, receive, send, request_id)

    async def _answer(self, scope, receive, request_id: str) -> proxy.Answer | Response:
        path = scope["path"]
        method = scope["method"]
        raw_path = scope.get("raw_path") or path.encode()
        if not proxy.path_is_safe(raw_path):
            return errors.not_found(path)
        backend = scope["state"]["backend"]
        principal_token = None
        mode = routing.auth_for(path, method)
        exporting = telemetry.exporting()
        replaced = (frozenset({b"authorization"}) if mode else frozenset()) | (
            TRACE_HEADERS if exporting else frozenset()
        )
        incoming = proxy.read_headers(scope["headers"], replaced=replaced)
        if mode is not None:
            if self.authenticator is None or self.signer is None:
                return JSONResponse({"error": "authentication unavailable"}, status_code=503)
            outcome = await self.authenticator.check(mode, incoming.authorization or None)
            if isinstance(outcome, Refusal):
                return outcome.response
            if self.quotas is not None:
                over = await self.quotas.check(mode, outcome, method, path)
                if over is not None:
                    return over
            principal_token = self.signer.sign(outcome, backend)
        limit = self.options.body_limit(path)
        body = None
        if method not in BODYLESS:
            declared = incoming.content_length
            if declared.isdigit() and int(declared) > limit:
                return proxy.too_large(path, limit)
            try:
                body = await proxy.read_body(receive, limit)
            except proxy.BodyTooLarge:
                return proxy.too_large(path, limit)
            except proxy.CallerGone:
                return refusal(path, 400, "request body incomplete")
        extra = [
            ("x-forwarded-for", scope["state"]["client_address"]),
            ("x-forwarded-proto", scope.get("scheme", "http")),
            ("x-forwarded-host", incoming.host),
            ("x-request-id", request_id),
        ]
        if principal_token is not None:
            extra.append(("x-govplat-principal", principal_token))
        if exporting:
            context: dict[str, str] = {}
            propagate.inject(context)
            extra += context.items()
        return await proxy.forward(
            self.client,
            self.backend_urls[backend],
            scope,
            incoming,
            body,
            extra_headers=extra,
            breaker=self.breakers.get(backend),
            timeout_seconds=self.options.timeout(path),
        )


async def _send_answer(answer, scope, receive, send, request_id: str) -> None:
    """Send a backend's :class:`proxy.Answer` (or a refusal) with the request id."""
    id_header = (b"x-request-id", request_id.encode("latin-1"))
    if not isinstance(answer, proxy.Answer):
        # A refusal may be shared (the authenticator caches them): add the id to a copy.
        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), id_header]}
            await send(message)

        await answer(scope, receive, send_with_id)
        return
    headers = answer.headers
    headers.append(id_header)
    if answer.stream is None:
        if answer.status not in NO_BODY_STATUSES and not any(
            name == b"content-length" for name, _ in headers
        ):
            headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
        return
    try:
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        async for chunk in answer.stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except Exception as exc:  # the backend or the caller went away mid-answer
        log.warning("streaming an answer stopped: %s", type(exc).__name__)
    finally:
        if answer.release is not None:
            answer.release()


def create_app(
    backend_urls: dict[str, str],
    client: proxy.UpstreamClient,
    authenticator: Authenticator | None = None,
    signer: PrincipalSigner | None = None,
    quotas: Quotas | None = None,
    options: EdgeOptions | None = None,
    portal_options: portal.PortalOptions | None = None,
) -> GatewayApp:
    """The gateway app.

    Args:
        backend_urls: backend name → base URL (see :mod:`gateway.routing`).
        client: the pooled HTTP client used to reach backends (closed by the caller).
        authenticator / signer: check credentials and sign the principal; without
            them (tests of forwarding alone) requests that need a credential get 503.
        quotas: the quotas; none are applied without them.
        options: limits and trust at the edge (:class:`EdgeOptions`).
        portal_options: what the portal's pages need (:class:`gateway.portal.PortalOptions`).
    """
    options = options or EdgeOptions()
    app = GatewayApp(
        title="govplat gateway", version="1.0.0", openapi_url=None, docs_url=None, redoc_url=None
    )
    app.backend_urls = backend_urls
    app.client = client
    app.authenticator = authenticator
    app.signer = signer
    app.quotas = quotas
    app.options = options
    app.breakers = {
        name: CircuitBreaker(options.breaker_threshold, options.breaker_cooldown)
        for name in backend_urls
    }
    app.state.breakers = app.breakers
    app._forward_app = app.forward
    if options.cors_origins:
        cors = {
            "allow_origins": list(options.cors_origins),
            "allow_methods": METHODS,
            "allow_headers": ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"],
            "expose_headers": ["X-Request-Id"],
            "max_age": 600,
        }
        app.add_middleware(CORSMiddleware, **cors)
        app._forward_app = CORSMiddleware(app.forward, **cors)

    portal.mount_assets(app)
    app.include_router(portal.create_router(backend_urls, client, portal_options))

    @app.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
    async def not_found(request: Request, path: str) -> Response:
        return errors.not_found(request.url.path)

    return app
