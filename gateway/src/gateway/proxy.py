"""Forwarding a public request to its backend, unchanged, over pooled HTTP/1.1 (aiohttp).

Hop-by-hop headers (RFC 9110 section 7.6.1) are not forwarded in either direction;
``X-Forwarded-For``/``-Proto``/``-Host`` and ``X-Request-Id`` are set for the backend.
Request bodies are read whole, up to the route's limit, before the backend is asked
(as nginx buffers them), so a body over the limit never reaches a backend and an
idempotent request can be sent again. A backend that cannot be reached gives 502,
one that times out 504, both as a small body in the path's API family format
without internal detail.

The client is aiohttp's: its C parser and connection pool cost about a quarter of
httpx's per request (docs/benchmarks.md). It keeps no cookies, follows no redirects,
adds no headers of its own but ``Host``, and sends a GET, HEAD, OPTIONS, PUT or DELETE
once more when a kept-alive connection turns out to be closed (RFC 9112 section 9.3.1).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
from starlette.responses import Response
from yarl import URL

from gateway.breaker import CircuitBreaker
from gateway.errors import refusal

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
#: Response headers the gateway's own server sets (uvicorn's ``date`` and ``server``),
#: and the request id, which the gateway sets itself.
GATEWAY_OWNED = frozenset({b"date", b"server", b"x-request-id"})
#: Request headers not passed on: the gateway sets its own request id and principal,
#: and ``Expect: 100-continue`` was answered by the gateway's server before the body
#: was read (the body is sent whole, so the backend need not be asked again).
GATEWAY_SET = frozenset({b"x-request-id", b"x-govplat-principal", b"expect"})
#: Answers up to this size (bytes, by Content-Length) are read whole, larger ones streamed.
WHOLE_BODY_BYTES = 64 * 1024
#: The longest path and query forwarded (bytes); longer gets 414.
MAX_URL_BYTES = 16384
#: Seconds to open a connection to a backend.
CONNECT_SECONDS = 2.0
#: Seconds an idle pooled connection is kept: under the backends' own keep-alive
#: (uvicorn closes idle connections after 5 s), so that the gateway seldom sends on a
#: connection the backend is closing.
KEEPALIVE_SECONDS = 4.0


class UpstreamClient:
    """The pooled HTTP client the gateway reaches backends with.

    The aiohttp session is made on first use, inside the event loop that serves
    requests (a session belongs to one loop). It keeps no cookies: a shared cookie
    jar would store one caller's ``Set-Cookie`` (a session) and send it with another
    caller's request. Answers are passed on as sent (no decompression).

    Args:
        timeout_seconds: how long a backend may be silent while answering (seconds),
            unless a route sets its own.
        max_connections: connections open at once across backends.
    """

    def __init__(self, timeout_seconds: float = 30.0, max_connections: int = 500) -> None:
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_SECONDS, sock_read=timeout_seconds
        )
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session (made on first use)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.max_connections,
                    keepalive_timeout=KEEPALIVE_SECONDS,
                    ttl_dns_cache=60,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=self.timeout,
                auto_decompress=False,
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            )
        return self._session

    def timeout_for(self, seconds: float | None) -> aiohttp.ClientTimeout:
        """The timeout of one request: ``seconds`` of silence (a route's own), else the default."""
        if seconds is None:
            return self.timeout
        return aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_SECONDS, sock_read=seconds)

    async def get_json(self, url: str, timeout: float) -> tuple[int, object]:
        """``GET url``: (status, parsed JSON body, or ``None`` when it is not JSON).

        Raises:
            aiohttp.ClientError, TimeoutError: the backend could not be reached in ``timeout`` s.
        """
        async with self.session.get(
            url, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
        ) as response:
            body = await response.read()
        try:
            return response.status, json.loads(body)
        except ValueError:
            return response.status, None

    async def close(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()


def upstream_client(timeout_seconds: float = 30.0) -> UpstreamClient:
    """The gateway's pooled client of its backends (see :class:`UpstreamClient`)."""
    return UpstreamClient(timeout_seconds)


@dataclass
class Incoming:
    """What the gateway needs of a request, read from its ASGI scope in one pass.

    Attributes:
        headers: the end-to-end headers to forward, as (name, value) text; bytes
            outside ASCII are kept as UTF-8 when they are UTF-8, else read as
            ISO-8859-1 (RFC 2616's ``TEXT``), so each arrives as the same characters.
        authorization / content_length / host: those headers' values ('' when absent).
    """

    headers: list[tuple[str, str]] = field(default_factory=list)
    authorization: str = ""
    content_length: str = ""
    host: str = ""


def _text(value: bytes) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")


def read_headers(
    raw_headers: list[tuple[bytes, bytes]], *, replaced: frozenset[bytes] = frozenset()
) -> Incoming:
    """The end-to-end request headers in ``raw_headers`` (an ASGI scope's) and the ones
    the gateway reads. Dropped: hop-by-hop headers and those the ``Connection`` header
    names, ``X-Forwarded-*``, ``X-Request-Id`` and ``X-Govplat-Principal`` (the gateway
    sets its own), ``Expect`` (already answered), and every name in ``replaced`` (e.g.
    ``authorization`` once a principal stands for it, ``traceparent`` when the
    gateway's own span is the parent)."""
    incoming = Incoming()
    connection_tokens: set[bytes] = set()
    kept: list[tuple[bytes, bytes]] = []
    for raw_name, raw_value in raw_headers:
        name = raw_name.lower()
        if name == b"authorization":
            incoming.authorization = raw_value.decode("latin-1")
        elif name == b"content-length":
            incoming.content_length = raw_value.decode("latin-1")
        elif name == b"host":
            incoming.host = raw_value.decode("latin-1")
        elif name == b"connection":
            connection_tokens.update(t.strip() for t in raw_value.lower().split(b","))
        if (
            name in HOP_BY_HOP
            or name in GATEWAY_SET
            or name in replaced
            or name.startswith(b"x-forwarded-")
        ):
            continue
        kept.append((name, raw_value))
    incoming.headers = [
        (name.decode("latin-1"), _text(value))
        for name, value in kept
        if name not in connection_tokens
    ]
    return incoming


def path_is_safe(raw_path: bytes) -> bool:
    """Whether a raw request path has no dot segments and no encoded ``/``, ``\\`` or ``.``:
    the path that is routed is then the path every backend sees."""
    lowered = raw_path.lower()
    if any(marker in lowered for marker in (b"%2e", b"%2f", b"%5c", b"\\", b"%00")):
        return False
    return not any(segment in (b".", b"..") for segment in raw_path.split(b"/"))


class BodyTooLarge(Exception):
    """The request body went past the limit while being read."""


class CallerGone(Exception):
    """The caller disconnected before its request body arrived."""


async def read_body(receive, limit: int) -> bytes:
    """The whole request body from ASGI ``receive``.

    Raises:
        BodyTooLarge: past ``limit`` bytes.
        CallerGone: the caller disconnected first.
    """
    chunks: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise CallerGone
        chunk = message.get("body", b"")
        if chunk:
            seen += len(chunk)
            if seen > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


@dataclass
class Answer:
    """A backend's answer, ready to send: status, headers (raw, filtered) and either
    the whole ``body`` or a ``stream`` of chunks, then ``release`` to call once sent."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    release: Callable[[], None] | None = None


def too_large(path: str, limit: int) -> Response:
    """The 413 for a body over ``limit`` bytes, in ``path``'s family format."""
    return refusal(path, 413, f"request body too large (at most {limit} bytes)")


async def forward(
    client: UpstreamClient,
    base_url: str,
    scope: dict,
    incoming: Incoming,
    body: bytes | None,
    *,
    extra_headers: list[tuple[str, str]],
    breaker: CircuitBreaker | None = None,
    timeout_seconds: float | None = None,
) -> Answer | Response:
    """Send the request in ``scope`` to ``base_url`` + its raw path and query.

    Args:
        incoming: its headers (:func:`read_headers`).
        body: its whole body (``None`` for none).
        extra_headers: the gateway's own headers for the backend (forwarding headers,
            request id, principal, trace context).
        breaker: the backend's circuit breaker.
        timeout_seconds: the route's own timeout (seconds of silence), or the default.

    Returns:
        The backend's :class:`Answer`, or a refusal in the path's family format: 414
        for an over-long URL, 503 at once while the breaker is open, 502 when the
        backend cannot be reached (after one more try of an idempotent request on a
        closed kept-alive connection), 504 after the timeout.
    """
    path = scope["path"]
    raw_path = scope.get("raw_path") or path.encode()
    query = scope.get("query_string") or b""
    target = raw_path + (b"?" + query if query else b"")
    if len(target) > MAX_URL_BYTES:
        return refusal(path, 414, "request URI too long")
    try:
        url = URL(base_url + target.decode("latin-1"), encoded=True)
    except ValueError:
        return refusal(path, 414, "request URI not valid")
    if breaker is not None and not breaker.allow():
        return refusal(path, 503, "service temporarily unavailable")
    try:
        upstream = await client.session.request(
            scope["method"],
            url,
            headers=incoming.headers + extra_headers,
            data=body,
            allow_redirects=False,
            timeout=client.timeout_for(timeout_seconds),
        )
    except TimeoutError:
        _failed(breaker)
        log.warning("backend timed out", extra={"backend_url": base_url})
        return refusal(path, 504, "the service did not answer in time")
    except (aiohttp.ClientError, OSError) as exc:
        _failed(breaker)
        log.warning("backend unreachable: %s", type(exc).__name__, extra={"backend_url": base_url})
        return refusal(path, 502, "service unavailable")
    except ValueError:  # a header aiohttp will not send (e.g. a control character)
        return refusal(path, 400, "request header not valid")
    if breaker is not None:
        breaker.succeeded()
    headers = [
        (name, value)
        for name, value in upstream.raw_headers
        if (lowered := name.lower()) not in HOP_BY_HOP and lowered not in GATEWAY_OWNED
    ]
    length = upstream.headers.get("content-length", "")
    if length.isdigit():
        headers.append((b"content-length", length.encode()))
    if scope["method"] == "HEAD" or (length.isdigit() and int(length) <= WHOLE_BODY_BYTES):
        # Small answers (most API responses) are passed on whole: cheaper than streaming.
        try:
            whole = await upstream.read()  # still encoded (no decompression)
        except (aiohttp.ClientError, OSError, TimeoutError):
            _failed(breaker)
            return refusal(path, 502, "service unavailable")
        finally:
            upstream.release()
        return Answer(upstream.status, headers, body=whole)
    return Answer(
        upstream.status,
        headers,
        stream=upstream.content.iter_chunked(WHOLE_BODY_BYTES),
        release=upstream.release,
    )


def _failed(breaker: CircuitBreaker | None) -> None:
    if breaker is not None:
        breaker.failed()
