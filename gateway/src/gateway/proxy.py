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
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

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
    request: Request, request_id: str, principal: str | None = None
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
    client = request.client.host if request.client else ""
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
#: The longest path and query forwarded (bytes); longer gets 414.
MAX_URL_BYTES = 16384


def path_is_safe(raw_path: bytes) -> bool:
    """Whether a raw request path has no dot segments and no encoded ``/``, ``\\`` or ``.``:
    the path that is routed is then the path every backend sees."""
    lowered = raw_path.lower()
    if any(marker in lowered for marker in (b"%2e", b"%2f", b"%5c", b"\\", b"%00")):
        return False
    return not any(segment in (b".", b"..") for segment in raw_path.split(b"/"))


async def forward(
    client: httpx.AsyncClient,
    base_url: str,
    request: Request,
    request_id: str,
    principal: str | None = None,
) -> Response:
    """Send ``request`` to ``base_url`` + its raw path and query, and stream the answer back.

    A GET, HEAD, OPTIONS, PUT or DELETE that fails because a kept-alive connection
    was closed under it is sent once more on a new connection.
    """
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    target = raw_path + (
        b"?" + request.scope["query_string"] if request.scope.get("query_string") else b""
    )
    if len(target) > MAX_URL_BYTES:
        return JSONResponse({"error": "request URI too long"}, status_code=414)
    try:
        url = httpx.URL(base_url + target.decode("latin-1"))
    except httpx.InvalidURL:
        return JSONResponse({"error": "request URI not valid"}, status_code=400)
    body = request.stream() if request.method not in ("GET", "HEAD", "OPTIONS") else None
    attempts = 2 if request.method in IDEMPOTENT else 1
    for attempt in range(attempts):
        upstream_request = client.build_request(
            request.method,
            url,
            headers=forward_headers(request, request_id, principal),
            content=body,
        )
        try:
            upstream = await client.send(upstream_request, stream=True)
            break
        except httpx.TimeoutException:
            log.warning("backend timed out", extra={"backend_url": base_url})
            return JSONResponse({"error": "upstream timeout"}, status_code=504)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if attempt + 1 < attempts:
                continue
            log.warning(
                "backend connection failed: %s", type(exc).__name__, extra={"backend_url": base_url}
            )
            return JSONResponse({"error": "service unavailable"}, status_code=502)
        except httpx.TransportError as exc:
            log.warning(
                "backend unreachable: %s", type(exc).__name__, extra={"backend_url": base_url}
            )
            return JSONResponse({"error": "service unavailable"}, status_code=502)
    headers = [
        (k, v)
        for k, v in upstream.headers.multi_items()
        if k.lower() not in HOP_BY_HOP | GATEWAY_OWNED
    ]
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


def _merge(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Collapse repeated headers into one, except ``set-cookie`` (added one by one)."""
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key == "set-cookie":
            continue
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged
