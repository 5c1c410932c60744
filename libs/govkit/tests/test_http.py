"""govkit.http's error boundary keeps a kept-alive connection usable after a 500."""

from __future__ import annotations

import asyncio
import http.client
import threading
import time

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from govkit.http import ErrorBoundary, route_label
from govkit.nats_server import free_port


def app_that_fails_once() -> FastAPI:
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("a bug")

    @app.get("/fine")
    async def fine() -> dict:
        return {"ok": True}

    @app.exception_handler(Exception)
    async def answer(_request, _error) -> JSONResponse:
        return JSONResponse({"error": "internal"}, status_code=500)

    return app


def serve(app) -> tuple[uvicorn.Server, int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, port


def two_requests_on_one_connection(port: int) -> tuple[int, int | str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/boom")
        first = connection.getresponse()
        first.read()
        try:
            connection.request("GET", "/fine")
            second = connection.getresponse()
            second.read()
            return first.status, second.status
        except (http.client.HTTPException, ConnectionError) as exc:
            return first.status, type(exc).__name__
    finally:
        connection.close()


def test_a_500_answered_by_the_app_leaves_the_connection_open_for_the_next_request():
    server, port = serve(ErrorBoundary(app_that_fails_once()))
    try:
        assert two_requests_on_one_connection(port) == (500, 200)
    finally:
        server.should_exit = True


def test_without_the_boundary_the_server_drops_the_connection_after_a_500():
    """What the boundary is for: uvicorn closes the connection when the exception
    reaches it, without telling the client (so the client's next request fails)."""
    server, port = serve(app_that_fails_once())
    try:
        first, second = two_requests_on_one_connection(port)
        assert first == 500 and second != 200
    finally:
        server.should_exit = True


def test_an_exception_before_any_answer_still_reaches_the_server():
    async def broken(scope, receive, send):
        raise RuntimeError("no answer")

    async def run() -> None:
        await ErrorBoundary(broken)({"type": "http", "path": "/x"}, None, None)

    try:
        asyncio.run(run())
    except RuntimeError as exc:
        assert str(exc) == "no answer"
    else:
        raise AssertionError("the exception was swallowed")


def test_route_labels_leave_ids_out():
    assert route_label({"path": "/v2/notifications/1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed"}) == (
        "/v2/notifications/{id}"
    )
