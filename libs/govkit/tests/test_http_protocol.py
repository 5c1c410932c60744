"""Slow clients are cut off: a request's headers and its body each have a deadline."""

from __future__ import annotations

import http.client
import socket
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI, Request

from govkit.http_protocol import deadline_protocol
from govkit.nats_server import free_port

HEADERS = 0.6
BODY = 0.9


def echo_app() -> FastAPI:
    app = FastAPI()
    seen: list[bytes] = []
    app.state.seen = seen

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        body = await request.body()
        seen.append(body)
        return {"length": len(body)}

    @app.get("/fine")
    async def fine() -> dict:
        return {"ok": True}

    return app


@pytest.fixture
def server():
    app = echo_app()
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="critical",
        http=deadline_protocol(HEADERS, BODY),
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield port, app
    running.should_exit = True
    thread.join(10)


def read_until_closed(connection: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and when it closed (seconds)."""
    started = time.monotonic()
    connection.settimeout(limit)
    received = b""
    while True:
        chunk = connection.recv(4096)
        if not chunk:
            return received, time.monotonic() - started
        received += chunk


def test_headers_sent_too_slowly_get_408_and_the_connection_closed(server):
    port, _app = server
    with socket.create_connection(("127.0.0.1", port)) as connection:
        started = time.monotonic()
        connection.sendall(b"GET /fine HTTP/1.1\r\nHost: x\r\n")  # and never the end
        received, _ = read_until_closed(connection, 5)
        took = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408 ")
    assert HEADERS - 0.05 <= took < HEADERS + 1.0  # the deadline began at the connection


def test_a_connection_that_sends_nothing_is_closed_after_the_header_deadline(server):
    port, _app = server
    with socket.create_connection(("127.0.0.1", port)) as connection:
        _, took = read_until_closed(connection, 5)
    assert HEADERS - 0.05 <= took < HEADERS + 1.0


def test_trickling_the_body_does_not_reset_its_deadline_and_nothing_partial_is_processed(server):
    port, app = server
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        started = time.monotonic()
        connection.settimeout(0.1)
        closed = None
        while time.monotonic() - started < 5 and closed is None:
            try:
                connection.send(b"a")
                if connection.recv(100) == b"":
                    closed = time.monotonic() - started
            except TimeoutError:
                continue
            except OSError:
                closed = time.monotonic() - started
    # The deadline starts when the server has the headers, a moment before `started`.
    assert closed is not None and BODY - 0.05 <= closed < BODY + 1.0
    assert app.state.seen == []


def test_a_prompt_request_on_a_kept_alive_connection_is_answered_each_time(server):
    port, app = server
    body = b'{"x": 1}'
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        for _ in range(3):
            connection.request("POST", "/echo", body, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            assert (answer.status, answer.read()) == (200, b'{"length":8}')
            time.sleep(HEADERS / 2)  # idle between requests, each under a deadline
    finally:
        connection.close()
    assert app.state.seen == [body] * 3


def test_a_deadline_that_is_not_positive_is_refused():
    with pytest.raises(ValueError):
        deadline_protocol(0, 10)
