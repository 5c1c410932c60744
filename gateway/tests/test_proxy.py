"""The gateway forwarding requests to a real backend (``gateway.http_api``,
``gateway.proxy``): the backend is a small echo app served by uvicorn on a
loopback port; the gateway app is called through ``httpx.ASGITransport``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.http_api import create_app
from gateway.proxy import upstream_client
from govkit.http import add_probes
from govkit.nats_server import free_port

CALLER = ("198.51.100.7", 50123)


async def echo(request: Request) -> JSONResponse:
    """Say what arrived, with two cookies; ``/.../status/<code>`` answers that status,
    ``/.../slow`` answers after two seconds."""
    body = await request.body()
    path = request.url.path
    if path.endswith("/gzipped"):
        import gzip

        return Response(
            gzip.compress(b'{"gzipped": true}'),
            media_type="application/json",
            headers={"Content-Encoding": "gzip"},
        )
    if path.endswith("/slow"):
        await asyncio.sleep(2)
    status = int(path.rsplit("/", 1)[1]) if "/status/" in path else 200
    response = JSONResponse(
        {
            "method": request.method,
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "query": request.scope["query_string"].decode("latin-1"),
            "headers": [
                [name.decode("latin-1"), value.decode("latin-1")]
                for name, value in request.scope["headers"]
            ],
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body": body.decode("latin-1") if len(body) < 1000 else "",
        },
        status_code=status,
        headers={"X-Backend": "echo", "Keep-Alive": "timeout=5", "Cache-Control": "no-store"},
    )
    response.set_cookie("session", "abc", httponly=True)
    response.set_cookie("csrf", "xyz", samesite="strict")
    return response


class ThreadedServer:
    """A uvicorn server for ``app`` on a free loopback port, in a background thread."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the echo backend did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def backend() -> Iterator[ThreadedServer]:
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(routes=[Route("/{path:path}", echo, methods=methods)])
    with ThreadedServer(app) as server:
        yield server


def gateway_app(backends: dict[str, str], upstream: httpx.AsyncClient):
    app = create_app(backends, upstream)
    add_probes(app, component="gateway", checks={})
    return app


@pytest.fixture
async def gateway(backend: ThreadedServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway: payments, identity and registers are the echo
    backend; notify is a port where nothing listens."""
    backends = {
        "identity": backend.url,
        "payments": backend.url,
        "notify": f"http://127.0.0.1:{free_port()}",
        "registers": backend.url,
    }
    async with upstream_client(10) as upstream:
        transport = httpx.ASGITransport(app=gateway_app(backends, upstream), client=CALLER)
        async with httpx.AsyncClient(transport=transport, base_url="http://gov.example") as client:
            yield client


def received_headers(reply: httpx.Response) -> dict[str, list[str]]:
    """The headers the backend received, name → every value."""
    headers: dict[str, list[str]] = {}
    for name, value in reply.json()["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    return headers


# -- forwarding --------------------------------------------------------------------


async def test_a_payments_request_reaches_the_payments_backend_unchanged(
    gateway: httpx.AsyncClient,
) -> None:
    body = b'{"amount": 1000, "reference": "ref-1", "description": "caf\xc3\xa9"}'

    reply = await gateway.post(
        "/pay/payments?x=1",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer api-key",
            "X-Custom": "kept",
        },
    )

    assert reply.status_code == 200
    echoed = reply.json()
    assert echoed["method"] == "POST"
    assert echoed["raw_path"] == "/pay/payments"
    assert echoed["query"] == "x=1"
    assert echoed["body"] == body.decode("latin-1")
    headers = received_headers(reply)
    assert headers["content-type"] == ["application/json"]
    assert headers["authorization"] == ["Bearer api-key"]
    assert headers["x-custom"] == ["kept"]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_every_method_is_forwarded_as_is(gateway: httpx.AsyncClient, method: str) -> None:
    reply = await gateway.request(method, "/pay/payments/pay_1")

    assert reply.status_code == 200
    assert reply.json()["method"] == method


async def test_the_raw_path_and_query_are_forwarded_byte_for_byte(
    gateway: httpx.AsyncClient,
) -> None:
    reply = await gateway.get("/registers/country/records/a%7Eb%20c?x=1&reference=a%20b&x=2&empty=")

    assert reply.json()["raw_path"] == "/registers/country/records/a%7Eb%20c"
    assert reply.json()["query"] == "x=1&reference=a%20b&x=2&empty="


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/account/../metrics",
        b"/v2/../metrics",
        b"/registers/./country",
        b"/v1/%2e%2e/metrics",
        b"/v1/%2E%2e/openapi.json",
        b"/v1/payments%2F..%2Fadmin",
        b"/v1\\..\\metrics",
        b"/v1/payments%00",
    ],
)
async def test_dot_segments_and_encoded_separators_never_reach_a_backend(
    backend: ThreadedServer, raw_path: bytes
) -> None:
    """The gateway routes the path it was sent; a path a backend would normalise
    into another route is refused instead (it could escape its prefix). Sent as raw
    ASGI, because HTTP clients normalise dot segments before sending."""
    async with upstream_client(10) as upstream:
        app = gateway_app(
            {name: backend.url for name in ("identity", "payments", "notify", "registers")},
            upstream,
        )
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        path, _, query = raw_path.partition(b"?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path.decode("latin-1"),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": [(b"host", b"gov.example")],
            "client": ("203.0.113.9", 5000),
            "server": ("gov.example", 80),
        }
        await app(scope, receive, send)

    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 404
    answer = json.loads(body)
    # In the family's own 404 shape, and the path is never echoed back.
    if raw_path.startswith(b"/v1/"):
        assert answer == {"code": 404, "message": "HTTP 404 Not Found"}
    elif raw_path.startswith(b"/v2/"):
        assert answer["result"] == "error" and "not found" in answer["message"]
    else:
        assert answer == {"error": "not found"}
    assert b"metrics" not in body and b"admin" not in body


async def test_a_header_with_bytes_outside_ascii_is_forwarded_as_the_same_characters_not_a_500(
    gateway: httpx.AsyncClient,
) -> None:
    """UTF-8 arrives byte for byte; other bytes are read as ISO-8859-1 (RFC 2616's
    TEXT) and arrive as the same characters in UTF-8."""
    utf8 = await gateway.get("/pay/payments", headers={"X-Name": "caf\xe9".encode()})
    latin1 = await gateway.get("/pay/payments", headers={"X-Name": "caf\xe9".encode("latin-1")})

    assert utf8.status_code == 200 and latin1.status_code == 200
    # The echo backend reads header bytes as ISO-8859-1, as ASGI servers pass them.
    assert received_headers(utf8)["x-name"] == ["caf\xe9".encode().decode("latin-1")]
    assert received_headers(latin1)["x-name"] == ["caf\xe9".encode().decode("latin-1")]


async def test_an_over_long_url_gets_414(gateway: httpx.AsyncClient) -> None:
    reply = await gateway.get("/pay/payments", params={"q": "x" * 20000})

    assert reply.status_code == 414
    assert reply.json() == {"code": "P0920", "description": "request URI too long"}


async def test_a_body_under_the_limit_is_forwarded_intact(gateway: httpx.AsyncClient) -> None:
    body = bytes(range(256)) * 3900  # just under 1 MiB

    reply = await gateway.put("/pay/payments/pay_1/evidence", content=body)

    assert reply.json()["body_length"] == len(body)
    assert reply.json()["body_sha256"] == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "/pay/payments",
            {"code": "P0920", "description": "request body too large (at most 1048576 bytes)"},
        ),
        ("/admin/registers/upload", {"error": "request body too large (at most 1048576 bytes)"}),
    ],
)
async def test_a_2_mb_body_gets_413_in_the_familys_format(
    gateway: httpx.AsyncClient, path: str, expected: dict
) -> None:
    declared = await gateway.put(path, content=b"x" * (2 * 1024 * 1024))

    async def chunks():
        for _ in range(32):
            yield b"y" * 65536

    streamed = await gateway.put(path, content=chunks())

    assert declared.status_code == 413 and declared.json() == expected
    assert streamed.status_code == 413 and streamed.json() == expected


async def test_the_backend_status_and_end_to_end_headers_come_back(
    gateway: httpx.AsyncClient,
) -> None:
    reply = await gateway.post("/pay/payments/status/201", content=b"{}")

    assert reply.status_code == 201
    assert reply.headers["x-backend"] == "echo"
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["content-type"] == "application/json"


async def test_a_backend_error_status_is_passed_through(gateway: httpx.AsyncClient) -> None:
    reply = await gateway.get("/pay/payments/status/422")

    assert reply.status_code == 422
    assert reply.json()["method"] == "GET"


async def test_both_set_cookie_headers_come_back_separately(gateway: httpx.AsyncClient) -> None:
    reply = await gateway.get("/account")

    cookies = reply.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert any(c.startswith("session=abc") and "httponly" in c.lower() for c in cookies)
    assert any(c.startswith("csrf=xyz") and "samesite=strict" in c.lower() for c in cookies)
    assert reply.cookies["session"] == "abc"
    assert reply.cookies["csrf"] == "xyz"


@pytest.mark.parametrize(
    ("path", "backend_name"),
    [("/pay/payments", "payments"), ("/account", "identity"), ("/registers/country", "registers")],
)
async def test_each_backend_is_reached_through_its_own_prefix(
    gateway: httpx.AsyncClient, path: str, backend_name: str
) -> None:
    reply = await gateway.get(path)

    assert reply.status_code == 200
    assert reply.json()["raw_path"] == path


# -- forwarding headers ------------------------------------------------------------


async def test_a_cookie_one_caller_received_is_never_sent_with_another_callers_request(
    gateway: httpx.AsyncClient,
) -> None:
    first = await gateway.get("/pay/payments")
    assert "session=abc" in ",".join(first.headers.get_list("set-cookie"))
    gateway.cookies.clear()

    second = await gateway.get("/pay/payments")

    assert "cookie" not in received_headers(second)


async def test_a_principal_header_sent_by_a_caller_never_reaches_a_backend(
    gateway: httpx.AsyncClient,
) -> None:
    reply = await gateway.get("/pay/payments", headers={"X-Govplat-Principal": "forged"})

    assert "x-govplat-principal" not in received_headers(reply)


async def test_the_gateway_sets_x_forwarded_for_to_the_caller_it_saw(
    gateway: httpx.AsyncClient,
) -> None:
    reply = await gateway.get(
        "/pay/payments", headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil.example"}
    )

    headers = received_headers(reply)
    assert headers["x-forwarded-for"] == [CALLER[0]]
    assert "6.6.6.6" not in str(headers)
    assert headers["x-forwarded-proto"] == ["http"]
    assert headers["x-forwarded-host"] == ["gov.example"]


async def test_the_backend_gets_its_own_host_header(
    backend: ThreadedServer, gateway: httpx.AsyncClient
) -> None:
    reply = await gateway.get("/pay/payments")

    assert received_headers(reply)["host"] == [f"127.0.0.1:{backend.port}"]


async def test_hop_by_hop_request_headers_are_not_forwarded(gateway: httpx.AsyncClient) -> None:
    reply = await gateway.post(
        "/pay/payments",
        content=b"{}",
        headers={
            "Connection": "close, X-Private-Hop",
            "X-Private-Hop": "dropped because Connection names it",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Trailer": "X-Checksum",
            "Proxy-Authorization": "Basic c2VjcmV0",
            "Proxy-Authenticate": "Basic",
            "Upgrade": "h2c",
            "Expect": "100-continue",
            "X-End-To-End": "forwarded",
        },
    )

    headers = received_headers(reply)
    for name in (
        "x-private-hop",
        "keep-alive",
        "te",
        "trailer",
        "proxy-authorization",
        "proxy-authenticate",
        "upgrade",
        "expect",
    ):
        assert name not in headers, name
    # The gateway's own client manages its own connection to the backend.
    assert headers.get("connection", ["keep-alive"]) == ["keep-alive"]
    assert headers["x-end-to-end"] == ["forwarded"]


async def test_hop_by_hop_and_server_owned_response_headers_are_not_passed_back(
    gateway: httpx.AsyncClient,
) -> None:
    reply = await gateway.get("/pay/payments")

    assert "keep-alive" not in reply.headers
    assert "server" not in reply.headers
    assert "date" not in reply.headers
    assert reply.headers["x-backend"] == "echo"


# -- request ids -------------------------------------------------------------------


async def test_a_callers_safe_request_id_is_kept_and_forwarded(gateway: httpx.AsyncClient) -> None:
    reply = await gateway.get("/pay/payments", headers={"X-Request-Id": "req-123.abc:9_Z"})

    assert reply.headers["x-request-id"] == "req-123.abc:9_Z"
    assert received_headers(reply)["x-request-id"] == ["req-123.abc:9_Z"]


@pytest.mark.parametrize("unsafe", ["not safe!", "<script>alert(1)</script>", "x" * 129, "a;b"])
async def test_an_unsafe_request_id_is_replaced_by_a_new_one(
    gateway: httpx.AsyncClient, unsafe: str
) -> None:
    reply = await gateway.get("/pay/payments", headers={"X-Request-Id": unsafe})

    returned = reply.headers["x-request-id"]
    assert returned != unsafe
    assert uuid.UUID(returned).version == 4
    assert received_headers(reply)["x-request-id"] == [returned]


async def test_a_request_without_an_id_gets_one_that_the_backend_sees_too(
    gateway: httpx.AsyncClient,
) -> None:
    reply = await gateway.get("/pay/payments")

    returned = reply.headers["x-request-id"]
    assert uuid.UUID(returned)
    assert received_headers(reply)["x-request-id"] == [returned]


async def test_two_requests_without_ids_get_different_ids(gateway: httpx.AsyncClient) -> None:
    first = await gateway.get("/pay/payments")
    second = await gateway.get("/pay/payments")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


# -- the gateway's own answers -----------------------------------------------------


@pytest.mark.parametrize("path", ["/nothing/here", "/v10/payments", "/registersx", "/"])
async def test_an_unknown_path_is_a_json_404(gateway: httpx.AsyncClient, path: str) -> None:
    reply = await gateway.get(path)

    assert reply.status_code == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["error"] == "not found"
    assert "x-request-id" in reply.headers


async def test_a_backend_that_is_down_is_a_json_502_without_internal_detail(
    gateway: httpx.AsyncClient,
) -> None:
    reply = await gateway.post(
        "/admin/notify/notifications/email", json={"email_address": "someone@example.com"}
    )

    assert reply.status_code == 502
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"error": "service unavailable"}
    assert "127.0.0.1" not in reply.text
    assert "Error" not in reply.text
    assert "x-request-id" in reply.headers


async def test_a_backend_that_is_too_slow_is_a_json_504(backend: ThreadedServer) -> None:
    async with upstream_client(0.3) as upstream:
        app = gateway_app({"payments": backend.url}, upstream)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gov.example"
        ) as client:
            reply = await client.get("/pay/payments/slow")

    assert reply.status_code == 504
    assert reply.json() == {"code": "P0999", "description": "the service did not answer in time"}


async def test_healthz_is_answered_by_the_gateway_itself(gateway: httpx.AsyncClient) -> None:
    reply = await gateway.get("/healthz")

    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}
    assert "x-backend" not in reply.headers
    assert "x-request-id" in reply.headers


async def test_readyz_and_metrics_are_answered_by_the_gateway_itself(
    gateway: httpx.AsyncClient,
) -> None:
    ready = await gateway.get("/readyz")
    metrics = await gateway.get("/metrics")

    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "component": "gateway", "checks": {}}
    assert metrics.status_code == 200
    assert "govplat_http_requests_total" in metrics.text


async def test_a_backend_that_keeps_failing_gets_a_fast_503_once_its_breaker_opens(
    gateway: httpx.AsyncClient,
) -> None:
    """notify is a port where nothing listens: five failures open its circuit."""
    failures = [await gateway.get("/admin/notify/templates") for _ in range(5)]
    started = time.monotonic()
    refused = await gateway.get("/admin/notify/templates")
    elapsed = time.monotonic() - started

    assert [r.status_code for r in failures] == [502] * 5
    assert refused.status_code == 503 and refused.headers["retry-after"] == "10"
    assert refused.json() == {"error": "service temporarily unavailable"}
    assert elapsed < 0.5
    assert (await gateway.get("/pay/payments")).status_code == 200, (
        "other backends are not affected"
    )


async def test_a_compressed_answer_is_passed_on_still_compressed(backend: ThreadedServer) -> None:
    """Small answers are read whole; their bytes and Content-Encoding must stay as sent."""
    async with upstream_client(10) as upstream:
        app = gateway_app(
            {name: backend.url for name in ("identity", "payments", "notify", "registers")},
            upstream,
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gov.example") as client:
            reply = await client.get("/pay/gzipped")
    assert reply.headers["content-encoding"] == "gzip"
    assert reply.json()["gzipped"] is True


async def test_every_response_carries_security_headers(gateway: httpx.AsyncClient) -> None:
    for path in ("/pay/payments", "/nowhere", "/healthz"):
        reply = await gateway.get(path)
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.5", "6.6.6.6", (), "203.0.113.5"),
        ("203.0.113.5", "6.6.6.6", ("10.0.0.0/8",), "203.0.113.5"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.7", ("10.0.0.0/8",), "198.51.100.7"),
        ("10.0.0.2", "198.51.100.7, 10.0.0.9", ("10.0.0.0/8",), "198.51.100.7"),
        ("10.0.0.2", "not-an-address", ("10.0.0.0/8",), "10.0.0.2"),
    ],
    ids=["no-trusted-proxy", "untrusted-peer", "trusted-peer", "chain-of-proxies", "garbage"],
)
def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
    peer, forwarded, trusted, expected
) -> None:
    from gateway.http_api import client_address

    scope = {
        "type": "http",
        "headers": [(b"x-forwarded-for", forwarded.encode())],
        "client": (peer, 1234),
    }
    assert client_address(scope, trusted) == expected


async def test_the_access_log_has_no_query_string_or_credentials(
    gateway: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="govplat.access")
    await gateway.get(
        "/pay/payments",
        params={"token": "secret-token-value"},
        headers={"Authorization": "Bearer secret-key-value"},
    )
    records = [r for r in caplog.records if r.name == "govplat.access"]
    assert records and records[-1].route == "/pay" and records[-1].status == 200
    logged = " ".join(str(vars(r)) for r in records)
    assert "secret-token-value" not in logged and "secret-key-value" not in logged


async def test_a_route_with_a_short_timeout_gives_504_after_that_time(
    backend: ThreadedServer,
) -> None:
    from gateway.http_api import EdgeOptions

    async with upstream_client(10) as upstream:
        options = EdgeOptions(timeouts={"/pay": 0.3})
        app = create_app(
            {name: backend.url for name in ("identity", "payments", "notify", "registers")},
            upstream,
            options=options,
        )
        add_probes(app, component="gateway", checks={})
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gov.example"
        ) as client:
            started = time.monotonic()
            reply = await client.get("/pay/slow")
            elapsed = time.monotonic() - started
    assert reply.status_code == 504 and elapsed < 1.5


async def test_cors_answers_only_the_configured_origins(backend: ThreadedServer) -> None:
    from gateway.http_api import EdgeOptions

    async with upstream_client(10) as upstream:
        options = EdgeOptions(cors_origins=("https://portal.example",))
        app = create_app(
            {name: backend.url for name in ("identity", "payments", "notify", "registers")},
            upstream,
            options=options,
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gov.example"
        ) as client:
            allowed = await client.options(
                "/pay/payments",
                headers={
                    "Origin": "https://portal.example",
                    "Access-Control-Request-Method": "POST",
                },
            )
            other = await client.options(
                "/pay/payments",
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
            )
    assert allowed.headers["access-control-allow-origin"] == "https://portal.example"
    assert "access-control-allow-origin" not in other.headers


# -- retries and tracing -----------------------------------------------------------


class ClosingOnce:
    """A raw HTTP/1.1 server on a loopback port that closes its first connection after
    reading a request, without answering (a kept-alive connection the backend closed),
    and answers ``200 {"answered": true}`` on every later one."""

    def __init__(self) -> None:
        self.requests = 0
        self.server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            if self.requests > 1:
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b'content-length: 17\r\nconnection: close\r\n\r\n{"answered":true}'
                )
                await writer.drain()
            writer.close()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc_info) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.mark.parametrize(("method", "status", "requests"), [("GET", 200, 2), ("POST", 502, 1)])
async def test_only_an_idempotent_request_is_sent_again_when_the_backend_closed_the_connection(
    method: str, status: int, requests: int
) -> None:
    closing = ClosingOnce()
    async with closing as url, upstream_client(5) as upstream:
        app = gateway_app({"payments": url}, upstream)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gov.example"
        ) as client:
            reply = await client.request(method, "/pay/payments", content=b"{}")
    assert reply.status_code == status
    assert closing.requests == requests


async def test_without_a_trace_exporter_the_callers_trace_context_reaches_the_backend_unchanged(
    gateway: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from govkit import telemetry

    monkeypatch.setattr(telemetry, "_exporting", False)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    reply = await gateway.get("/pay/payments", headers={"traceparent": parent})

    assert received_headers(reply)["traceparent"] == [parent]


async def test_with_a_trace_exporter_the_gateways_server_span_is_the_backends_parent(
    gateway: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from govkit import telemetry

    exporter = InMemorySpanExporter()
    monkeypatch.setattr(telemetry, "_exporting", telemetry.exporting())  # restored afterwards
    telemetry.configure_telemetry("gateway", processors=[SimpleSpanProcessor(exporter)])
    trace_id, caller_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"

    reply = await gateway.get(
        "/pay/payments", headers={"traceparent": f"00-{trace_id}-{caller_span}-01"}
    )

    spans = [s for s in exporter.get_finished_spans() if s.name == "GET /pay"]
    assert len(spans) == 1
    span = spans[0]
    assert span.kind is SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == trace_id
    assert format(span.parent.span_id, "016x") == caller_span
    assert span.attributes["http.response.status_code"] == 200
    forwarded = received_headers(reply)["traceparent"]
    assert forwarded == [f"00-{trace_id}-{format(span.context.span_id, '016x')}-01"]
