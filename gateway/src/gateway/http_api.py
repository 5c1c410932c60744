"""The gateway's HTTP side: authenticate, apply quotas and limits, forward by path.

For each request: refuse an unsafe path (dot segments, encoded separators), find
the backend (:mod:`gateway.routing`), authenticate the credential its API family
needs (:mod:`gateway.auth`), count it against its quotas (:mod:`gateway.quotas`),
then forward it with a principal signed for that backend (:mod:`gateway.proxy`),
subject to a body-size limit, a per-route timeout and the backend's circuit breaker.
Every response carries security headers; every request is written to the JSON
access log (method, route prefix, status, duration, backend, request id; never the
query string, headers or body, which may hold credentials or personal data) and
counted in ``govplat_gateway_requests_total``.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import Counter, Histogram

from gateway import portal, proxy, routing
from gateway.auth import Authenticator, Refusal
from gateway.breaker import CircuitBreaker
from gateway.quotas import Quotas
from govkit.http import request_id_from
from govkit.principal import PrincipalSigner
from govkit.telemetry import instrument_httpx

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
access_log = logging.getLogger("govplat.access")

GATEWAY_REQUESTS = Counter(
    "govplat_gateway_requests_total",
    "Requests through the gateway",
    ["backend", "route", "method", "status"],
)
GATEWAY_DURATION = Histogram(
    "govplat_gateway_request_duration_seconds",
    "Time to the backend's response headers, seconds",
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


@dataclass
class EdgeOptions:
    """Limits and trust at the edge.

    Attributes:
        max_body_bytes: largest request body (bytes) by default: 1 MiB.
        large_body_routes: path prefix → larger limit (bytes), e.g. precompiled letters.
        timeouts: path prefix → seconds the backend may take (default: the client's).
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


def client_address(request: Request, trusted: tuple[str, ...]) -> str:
    """The caller's address: the peer, unless the peer is a trusted proxy, in which case
    the right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy."""
    networks = _networks(trusted)

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in networks)

    peer = request.client.host if request.client else ""
    if not networks or not is_trusted(peer):
        return peer
    chain = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()]
    for address in reversed(chain):
        if not is_trusted(address):
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return peer
    return peer


class EdgeMiddleware:
    """Plain ASGI middleware around every gateway request: the caller's address (see
    :func:`client_address`), security headers, the access log and the metrics."""

    def __init__(self, app, trusted_proxies: tuple[str, ...]) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies
        self.security_headers = [
            (k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
        ]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        state["client_address"] = client_address(Request(scope), self.trusted_proxies)
        status = 500

        async def send_with_headers(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [
                    (name, value) for name, value in self.security_headers if name not in present
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            backend = state.get("backend", "gateway")
            route = state.get("route", "other")
            elapsed = time.perf_counter() - started
            GATEWAY_REQUESTS.labels(backend, route, scope["method"], str(status)).inc()
            GATEWAY_DURATION.labels(backend, route).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "backend": backend,
                    "request_id": state.get("request_id", ""),
                    "client": state["client_address"],
                },
            )


def create_app(
    backend_urls: dict[str, str],
    client: httpx.AsyncClient,
    authenticator: Authenticator | None = None,
    signer: PrincipalSigner | None = None,
    quotas: Quotas | None = None,
    options: EdgeOptions | None = None,
) -> FastAPI:
    """The gateway app.

    Args:
        backend_urls: backend name → base URL (see :mod:`gateway.routing`).
        client: the pooled HTTP client used to reach backends (closed by the caller).
        authenticator / signer: check credentials and sign the principal; without
            them (tests of forwarding alone) requests that need a credential get 503.
        quotas: the quotas; none are applied without them.
        options: limits and trust at the edge (:class:`EdgeOptions`).
    """
    options = options or EdgeOptions()
    app = FastAPI(
        title="govplat gateway", version="1.0.0", openapi_url=None, docs_url=None, redoc_url=None
    )
    instrument_httpx(client)
    breakers = {
        name: CircuitBreaker(options.breaker_threshold, options.breaker_cooldown)
        for name in backend_urls
    }
    app.state.breakers = breakers

    app.add_middleware(EdgeMiddleware, trusted_proxies=options.trusted_proxies)
    if options.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(options.cors_origins),
            allow_methods=METHODS,
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"],
            expose_headers=["X-Request-Id"],
            max_age=600,
        )

    portal.mount_assets(app)
    app.include_router(portal.create_router(backend_urls, client))

    @app.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
    async def forward(request: Request, path: str) -> Response:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        backend = routing.backend_for(request.url.path) if proxy.path_is_safe(raw_path) else None
        if backend is None:
            return JSONResponse(
                {"error": "not found", "path": request.url.path[:200]}, status_code=404
            )
        request.state.backend = backend
        request.state.route = routing.route_prefix(request.url.path)
        request_id = getattr(request.state, "request_id", None) or request_id_from(None)
        principal_token = None
        mode = routing.auth_for(request.url.path, request.method)
        if mode is not None:
            if authenticator is None or signer is None:
                return JSONResponse({"error": "authentication unavailable"}, status_code=503)
            authorization = request.headers.get("authorization")
            if mode == "notify":
                outcome = await authenticator.notify(authorization)
            elif mode == "payments":
                outcome = await authenticator.payments(authorization)
            else:
                outcome = await authenticator.bearer_access_token(authorization)
            if isinstance(outcome, Refusal):
                return outcome.response
            if quotas is not None:
                over = await quotas.check(mode, outcome, request.method, request.url.path)
                if over is not None:
                    return over
            principal_token = signer.sign(outcome, backend)
        return await proxy.forward(
            client,
            backend_urls[backend],
            request,
            request_id,
            principal_token,
            breaker=breakers.get(backend),
            max_body_bytes=options.body_limit(request.url.path),
            timeout_seconds=options.timeout(request.url.path),
            client_address=request.state.client_address,
        )

    return app
