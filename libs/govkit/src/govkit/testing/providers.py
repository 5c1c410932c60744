"""Real outside providers for notify's tests, over real sockets: a mail server
(aiosmtpd) and a text message provider's HTTP API (uvicorn), each recording what it
received and when (``time.monotonic()`` seconds)."""

from __future__ import annotations

import asyncio
import email as email_parser
import threading
import time
from collections import Counter
from email import policy

import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request

from govkit.nats_server import free_port
from govkit.telemetry import FASTAPI_TELEMETRY


def wait_until(check, timeout: float = 30.0, interval: float = 0.1):
    """Call ``check()`` every ``interval`` seconds until it returns something true or
    ``timeout`` seconds pass; its last result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    return check()


class Mailbox:
    """What a real SMTP server received: ``message_ids`` counts each Message-ID,
    ``messages`` the parsed messages in order, ``received`` (Message-ID, monotonic
    time) per message. An aiosmtpd handler."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.message_ids: Counter[str] = Counter()
        self.messages: list = []
        self.received: list[tuple[str, float]] = []

    async def handle_DATA(self, server, session, envelope):
        message = email_parser.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.message_ids[message["Message-ID"]] += 1
            self.messages.append(message)
            self.received.append((message["Message-ID"], time.monotonic()))
        return "250 OK"


class SmtpServer:
    """An aiosmtpd server on a free loopback port with a :class:`Mailbox`; a context
    manager (started on enter, stopped on exit)."""

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    def notify_env(self) -> dict[str, str]:
        """``govplat up``'s settings that send notify's email here (plain SMTP)."""
        return {
            "GOVPLAT_NOTIFY_SMTP_HOST": "127.0.0.1",
            "GOVPLAT_NOTIFY_SMTP_PORT": str(self.port),
            "GOVPLAT_NOTIFY_SMTP_SECURITY": "none",
        }

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


class SmsProvider:
    """A text message provider's API (``POST /messages``, JSON ``to`` and ``body``)
    over a real socket: it takes ``Idempotency-Key`` (a repeated key answers the first
    result and sends nothing). ``sent``: key → the message sent; ``calls``: how many
    requests came with each key; ``first_call``: key → monotonic time of its first.
    It sends a message the moment it receives it, but holds its answers while
    :attr:`holding` is set, so that a test can catch notify with messages in flight.
    A context manager (serving on enter)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: dict[str, dict] = {}
        self.calls: Counter[str] = Counter()
        self.first_call: dict[str, float] = {}
        self.holding = threading.Event()
        self.port = free_port()
        app = FastAPI(telemetry=FASTAPI_TELEMETRY)

        @app.post("/messages")
        async def messages(request: Request):
            key = request.headers["idempotency-key"]
            body = await request.json()
            with self.lock:
                self.calls[key] += 1
                if key not in self.sent:
                    self.first_call[key] = time.monotonic()
                    self.sent[key] = {
                        "id": f"sms-{len(self.sent)}",
                        "status": "delivered",
                        "to": body["to"],
                    }
                answer = self.sent[key]
            while self.holding.is_set():
                await asyncio.sleep(0.01)
            return answer

        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        """The messages endpoint, for ``GOVPLAT_SMS_PROVIDER_URL``."""
        return f"http://127.0.0.1:{self.port}/messages"

    def __enter__(self) -> SmsProvider:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=10, interval=0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(5)
