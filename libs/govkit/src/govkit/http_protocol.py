"""uvicorn's HTTP/1.1 protocol with read deadlines, against slow clients.

uvicorn closes a connection that is idle between requests (``timeout_keep_alive``)
but waits without limit for a request's headers and body, so a client that sends a
byte every second (Slowloris) holds a connection, and a few thousand such clients the
whole server. :class:`DeadlineHttpProtocol` gives each request two deadlines:

- **headers**: from the connection's first moment (or, on a kept-alive connection,
  the request's first byte) until its headers are complete: ``header_seconds``. When
  it passes, the client gets ``408 Request Timeout`` (``Connection: close``) and the
  connection is closed.
- **body**: from the end of the headers until the whole body has arrived:
  ``body_seconds``. When it passes, the connection is closed; the application, if it
  is waiting for the body, receives ``http.disconnect`` (uvicorn's own handling of a
  lost connection), and nothing it has not been given is processed.

Both are wall-clock totals, not idle times: trickling a byte now and then does not
reset them. ``GOVPLAT_HTTP_HEADER_TIMEOUT_SECONDS`` and
``GOVPLAT_HTTP_BODY_TIMEOUT_SECONDS`` (:class:`govkit.settings.ComponentSettings`)
set them. The defaults are 10 s and 30 s: a 1 MiB body then needs 0.3 Mbit/s, the
gateway's largest (an 8 MiB precompiled letter) 2.2 Mbit/s.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: 25\r\n\r\n"
    b"The request took too long"
)


def deadline_protocol(header_seconds: float, body_seconds: float) -> type[HttpToolsProtocol]:
    """A :class:`DeadlineHttpProtocol` subclass with these deadlines (seconds), to give
    ``uvicorn.Config(http=...)``.

    Raises:
        ValueError: for a deadline that is not positive.
    """
    if header_seconds <= 0 or body_seconds <= 0:
        raise ValueError("the header and body deadlines must be positive numbers of seconds")
    return type(
        "ConfiguredDeadlineHttpProtocol",
        (DeadlineHttpProtocol,),
        {"header_seconds": float(header_seconds), "body_seconds": float(body_seconds)},
    )


class DeadlineHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header and a body deadline (module docstring)."""

    header_seconds: float = 10.0
    body_seconds: float = 30.0
    _deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float, stage: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired, stage)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, stage: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if stage == "headers":
            self.transport.write(REQUEST_TIMEOUT_RESPONSE)
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_seconds, "headers")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a kept-alive connection's next request
            self._arm(self.header_seconds, "headers")

    def on_headers_complete(self) -> None:
        self._arm(self.body_seconds, "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
