"""Slow clients at the gateway (the public edge): a client that sends its request
headers a byte at a time, or its body slower than a timeout, is cut off in bounded
time, so that a few such connections cannot hold the edge's capacity.

uvicorn alone has no header or body read deadline (``timeout_keep_alive`` only applies
between requests: a client sending a header byte every 0.5 s was kept 25 s and more);
every component now serves HTTP with :mod:`govkit.http_protocol`'s deadlines
(``GOVPLAT_HTTP_HEADER_TIMEOUT_SECONDS``, 10 s, and ``GOVPLAT_HTTP_BODY_TIMEOUT_SECONDS``,
30 s, their defaults here).
"""

from __future__ import annotations

import socket
import time

#: The longest a client may take to send its headers, then its body, before the
#: gateway closes the connection (seconds): the settings' defaults.
HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0


def dribble(port: int, data: bytes, interval: float, give_up_after: float) -> float | None:
    """Send ``data`` a byte every ``interval`` seconds; return the seconds until the
    server closed the connection or answered, or ``None`` if it did neither within
    ``give_up_after`` seconds."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.settimeout(interval)
        for byte in data:
            if time.monotonic() - started > give_up_after:
                return None
            try:
                connection.send(bytes([byte]))
            except OSError:
                return time.monotonic() - started
            try:
                if connection.recv(100) is not None:  # b"" (closed) or an answer
                    return time.monotonic() - started
            except TimeoutError:
                continue
    return None


def test_a_client_sending_its_headers_byte_by_byte_is_cut_off(running_platform):
    headers = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Padding: " + b"a" * 200
    cut_after = dribble(running_platform.http["gateway"], headers, 0.5, HEADER_TIMEOUT + 3)
    assert cut_after is not None and HEADER_TIMEOUT - 1 <= cut_after <= HEADER_TIMEOUT + 1


def test_a_client_sending_its_body_slower_than_the_timeout_is_cut_off(running_platform):
    head = (
        b"POST /token HTTP/1.1\r\nHost: gateway\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 400\r\n\r\n"
    )
    port = running_platform.http["gateway"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(head)
        started = time.monotonic()
        connection.settimeout(0.5)
        while time.monotonic() - started < BODY_TIMEOUT + 3:
            try:
                connection.send(b" ")
                if connection.recv(100) is not None:
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        cut_after = time.monotonic() - started
    assert BODY_TIMEOUT - 1 <= cut_after <= BODY_TIMEOUT + 1
