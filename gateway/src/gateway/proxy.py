"""Forwarding a public request to its backend, unchanged, with streaming bodies.

Hop-by-hop headers (RFC 9110 section 7.6.1) are not forwarded in either direction;
``X-Forwarded-For``/``-Proto``/``-Host`` and ``X-Request-Id`` are set for the backend.
A backend that cannot be reached gives 502, one that times out 504, both as a
small JSON body without internal detail.
"""

from __future__ import annotations

import logging
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
from fastapi import Request
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from gateway.breaker import CircuitBreaker
from gateway.errors import refusal

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def upstream_client(timeout_seconds: float = 30.0) -> httpx.AsyncClient:
    """The pooled client the gateway reaches backends with.

    It keeps no cookies: a shared cookie jar would store one caller's
    ``Set-Cookie`` (a session) and send it with another caller's request.
    Redirects are passed back to the caller, never followed.
    """
    return httpx.AsyncClient(
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        timeout=httpx.Timeout(timeout_seconds, connect=2.0),
        limits=httpx.Limits(max_connections=500, max_keepalive_connections=100),
        follow_redirects=False,
    )


#: Response headers the gateway's own server sets (uvicorn's ``date`` and ``server``).
GATEWAY_OWNED = frozenset({"date", "server"})


def forward_headers(
    request: Request,
    request_id: str,
    principal: str | None = None,
    client_address: str | None = None,
) -> list[tuple[bytes, bytes]]:
    """The request's headers for the backend, as raw bytes (a header may carry any
    byte, not only ASCII): end-to-end ones plus forwarding headers. A caller's
    ``X-Govplat-Principal`` is always dropped; with ``principal`` (the gateway's own,
    signed), the caller's ``Authorization`` is dropped too: the backend needs only the principal."""
    connection_tokens = {
        t.strip().lower() for t in request.headers.get("connection", "").split(",") if t.strip()
    }
    headers = []
    for raw_name, raw_value in request.scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if (
            name in HOP_BY_HOP
            or name in connection_tokens
            or name.startswith("x-forwarded-")
            or name == "x-request-id"
            or name == "x-govplat-principal"
            or (principal is not None and name == "authorization")
        ):
            continue
        headers.append((raw_name, raw_value))
    client = client_address or (request.client.host if request.client else "")
    headers += [
        (b"x-forwarded-for", client.encode("latin-1")),
        (b"x-forwarded-proto", request.url.scheme.encode("latin-1")),
        (b"x-forwarded-host", request.headers.get("host", "").encode("latin-1", "replace")),
        (b"x-request-id", request_id.encode("latin-1")),
    ]
    if principal is not None:
        headers.append((b"x-govplat-principal", principal.encode("ascii")))
    return headers


#: Methods that may be sent again when a pooled connection turned out to be dead.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Answers up to this size (bytes, by Content-Length) are read whole, larger ones streamed.
WHOLE_BODY_BYTES = 64 * 1024
#: The longest path and query forwarded (bytes); longer gets 414.
MAX_URL_BYTES = 16384


def path_is_safe(raw_path: bytes) -> bool:
    """Whether a raw request path has no dot segments and no encoded ``/``, ``\\`` or ``.``:
    the path that is routed is then the path every backend sees."""
    lowered = raw_path.lower()
    if any(marker in lowered for marker in (b"%2e", b"%2f", b"%5c", b"\\", b"%00")):
        return False
    return not any(segment in (b".", b"..") for segment in raw_path.split(b"/"))


class BodyTooLarge(Exception):
    """The request body went past the limit while being streamed."""


async def _limited(stream, limit: int):
    """Pass a request body through, raising :class:`BodyTooLarge` past ``limit`` bytes."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLarge
        yield chunk


async def forward(
    client: httpx.AsyncClient,
    base_url: str,
    request: Request,
    request_id: str,
    principal: str | None = None,
    *,
    breaker: CircuitBreaker | None = None,
    max_body_bytes: int = 1024 * 1024,
    timeout_seconds: float | None = None,
    client_address: str | None = None,
) -> Response:
    """Send ``request`` to ``base_url`` + its raw path and query, and stream the answer back.

    Refusals are in the path's API family format (:mod:`gateway.errors`): 413 for a
    body over ``max_body_bytes`` (declared or streamed), 414 for an over-long URL,
    503 at once while the backend's circuit ``breaker`` is open, 502 when it cannot
    be reached, 504 after ``timeout_seconds``. A GET, HEAD, OPTIONS, PUT or DELETE
    that fails because a kept-alive connection was closed under it is sent once
    more on a new connection.
    """
    path = request.url.path
    raw_path = request.scope.get("raw_path") or path.encode()
    query = request.scope.get("query_string") or b""
    target = raw_path + (b"?" + query if query else b"")
    if len(target) > MAX_URL_BYTES:
        return refusal(path, 414, "request URI too long")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body_bytes:
        return refusal(path, 413, f"request body too large (at most {max_body_bytes} bytes)")
    try:
        url = httpx.URL(base_url + target.decode("latin-1"))
    except httpx.InvalidURL:
        return refusal(path, 414, "request URI not valid")
    if breaker is not None and not breaker.allow():
        return refusal(path, 503, "service temporarily unavailable")
    body = (
        _limited(request.stream(), max_body_bytes)
        if request.method not in ("GET", "HEAD", "OPTIONS")
        else None
    )
    timeout = (
        httpx.Timeout(timeout_seconds, connect=2.0) if timeout_seconds else httpx.USE_CLIENT_DEFAULT
    )
    attempts = 2 if request.method in IDEMPOTENT else 1
    for attempt in range(attempts):
        upstream_request = client.build_request(
            request.method,
            url,
            headers=forward_headers(request, request_id, principal, client_address),
            content=body,
            timeout=timeout,
        )
        try:
            upstream = await client.send(upstream_request, stream=True)
            break
        except BodyTooLarge:
            return refusal(path, 413, f"request body too large (at most {max_body_bytes} bytes)")
        except httpx.TimeoutException:
            _failed(breaker)
            log.warning("backend timed out", extra={"backend_url": base_url})
            return refusal(path, 504, "the service did not answer in time")
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if attempt + 1 < attempts:
                continue
            _failed(breaker)
            log.warning(
                "backend connection failed: %s", type(exc).__name__, extra={"backend_url": base_url}
            )
            return refusal(path, 502, "service unavailable")
        except httpx.TransportError as exc:
            _failed(breaker)
            log.warning(
                "backend unreachable: %s", type(exc).__name__, extra={"backend_url": base_url}
            )
            return refusal(path, 502, "service unavailable")
    if breaker is not None:
        breaker.succeeded()
    headers = [
        (k, v)
        for k, v in upstream.headers.multi_items()
        if k.lower() not in HOP_BY_HOP | GATEWAY_OWNED
    ]
    length = upstream.headers.get("content-length", "")
    if length.isdigit() and int(length) <= WHOLE_BODY_BYTES:
        # Small answers (most API responses) are passed on whole: cheaper than streaming.
        try:
            body_bytes = b"".join([chunk async for chunk in upstream.aiter_raw()])  # still encoded
        except httpx.HTTPError:
            _failed(breaker)
            return refusal(path, 502, "service unavailable")
        finally:
            await upstream.aclose()
        response: Response = Response(
            body_bytes, status_code=upstream.status_code, headers=_merge(headers)
        )
    else:
        response = StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            headers=_merge(headers),
            background=BackgroundTask(upstream.aclose),
        )
    for name, value in headers:
        if name.lower() == "set-cookie":
            response.raw_headers.append((b"set-cookie", value.encode("latin-1")))
    return response


def _failed(breaker: CircuitBreaker | None) -> None:
    if breaker is not None:
        breaker.failed()


def _merge(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Collapse repeated headers into one, except ``set-cookie`` (added one by one)."""
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key == "set-cookie":
            continue
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged
