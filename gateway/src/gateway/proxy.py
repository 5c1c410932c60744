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


def forward_headers(request: Request, request_id: str) -> list[tuple[str, str]]:
    """The request's headers for the backend: end-to-end ones plus forwarding headers."""
    connection_tokens = {
        t.strip().lower() for t in request.headers.get("connection", "").split(",") if t.strip()
    }
    headers = [
        (name, value)
        for name, value in request.headers.items()
        if name.lower() not in HOP_BY_HOP
        and name.lower() not in connection_tokens
        and not name.lower().startswith("x-forwarded-")
        and name.lower() != "x-request-id"
    ]
    client = request.client.host if request.client else ""
    headers += [
        ("x-forwarded-for", client),
        ("x-forwarded-proto", request.url.scheme),
        ("x-forwarded-host", request.headers.get("host", "")),
        ("x-request-id", request_id),
    ]
    return headers


async def forward(
    client: httpx.AsyncClient, base_url: str, request: Request, request_id: str
) -> Response:
    """Send ``request`` to ``base_url`` + its raw path and query, and stream the answer back."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    url = base_url + raw_path.decode("latin-1")
    if request.url.query:
        url += "?" + request.url.query
    upstream_request = client.build_request(
        request.method,
        url,
        headers=forward_headers(request, request_id),
        content=request.stream() if request.method not in ("GET", "HEAD", "OPTIONS") else None,
    )
    try:
        upstream = await client.send(upstream_request, stream=True)
    except httpx.TimeoutException:
        log.warning("backend timed out", extra={"backend_url": base_url})
        return JSONResponse({"error": "upstream timeout"}, status_code=504)
    except httpx.TransportError as exc:
        log.warning("backend unreachable: %s", type(exc).__name__, extra={"backend_url": base_url})
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
