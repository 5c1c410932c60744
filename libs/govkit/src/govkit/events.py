"""Events on NATS JetStream: subjects, streams, the CloudEvents envelope and trace headers.

Envelope: the CloudEvents NATS protocol binding (binary mode). The payload is the
protobuf message; the attributes are NATS headers:

    ce-specversion: 1.0
    ce-id:          event id (UUID); also ``Nats-Msg-Id`` so JetStream drops duplicates
    ce-type:        protobuf full name, e.g. ``govplat.payments.v1.PaymentSucceeded``
    ce-source:      ``//govplat/<component>``
    ce-time:        RFC 3339 UTC time the event was created
    ce-subject:     the resource the event is about (e.g. a payment id)
    content-type:   application/protobuf
    traceparent:    W3C trace context of the operation that caused the event

Subjects are ``govplat.<domain>.v1.<event_name>`` with ``event_name`` the snake_case
of the message name (``PaymentSucceeded`` → ``payment_succeeded``). One stream per
domain (``GOVPLAT_PAYMENTS`` holds ``govplat.payments.v1.>``) and one stream for
dead letters (``GOVPLAT_DEADLETTER`` holds ``govplat.deadletter.>``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

import nats
import nats.errors
from google.protobuf.message import Message
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from opentelemetry import context as otel_context
from opentelemetry import propagate

log = logging.getLogger(__name__)

#: The platform's event domains, each with its own stream.
DOMAINS = ("identity", "payments", "notify", "registers")
DEADLETTER_STREAM = "GOVPLAT_DEADLETTER"
DEADLETTER_PREFIX = "govplat.deadletter"
#: JetStream de-duplicates a re-published ``Nats-Msg-Id`` within this window (seconds).
DUPLICATE_WINDOW_SECONDS = 600.0
CONTENT_TYPE = "application/protobuf"

_EVENT_NAME = re.compile(r"^govplat\.([a-z]+)\.v(\d+)\.([A-Z][A-Za-z0-9]*)$")


def stream_name(domain: str) -> str:
    """The JetStream stream of a domain: ``payments`` → ``GOVPLAT_PAYMENTS``."""
    return f"GOVPLAT_{domain.upper()}"


def snake_case(name: str) -> str:
    """``PaymentSucceeded`` → ``payment_succeeded``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def subject_for(message: Message | type[Message]) -> str:
    """The subject of an event message: ``govplat.payments.v1.PaymentSucceeded`` →
    ``govplat.payments.v1.payment_succeeded``.

    Raises:
        ValueError: when the message is not in a ``govplat.<domain>.v<N>`` package.
    """
    full_name = message.DESCRIPTOR.full_name
    match = _EVENT_NAME.match(full_name)
    if not match:
        raise ValueError(f"{full_name} is not a govplat event message")
    domain, version, name = match.groups()
    return f"govplat.{domain}.v{version}.{snake_case(name)}"


def domain_of(subject: str) -> str:
    """``govplat.payments.v1.payment_succeeded`` → ``payments``."""
    return subject.split(".")[1]


def deadletter_subject(durable: str, subject: str) -> str:
    """Where a consumer puts a message it gave up on:
    ``govplat.deadletter.<durable>.<original subject>``."""
    return f"{DEADLETTER_PREFIX}.{durable}.{subject}"


def inject_trace_headers() -> dict[str, str]:
    """The current W3C trace context (``traceparent``, ``tracestate``) as headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract_trace_context(headers: dict[str, str] | None) -> otel_context.Context:
    """The trace context carried in message headers (the empty context if none)."""
    return propagate.extract(headers or {})


@dataclass(frozen=True)
class Event:
    """A received event: the CloudEvents attributes and the protobuf payload.

    Attributes:
        id: ``ce-id`` (UUID string).
        type: ``ce-type``, the protobuf full name.
        source: ``ce-source``.
        subject: ``ce-subject``, the resource id the event is about ('' if none).
        time: ``ce-time`` as an aware datetime, or ``None`` if absent.
        nats_subject: the NATS subject it arrived on.
        data: the serialised protobuf payload (bytes).
        headers: every header as received.
        delivery: how many times JetStream has delivered it (1 on the first try).
    """

    id: str
    type: str
    source: str
    subject: str
    time: datetime | None
    nats_subject: str
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delivery: int = 1

    def parse(self, message_type: type[Message]) -> Message:
        """Decode the payload as ``message_type``.

        Raises:
            ValueError: if ``ce-type`` names a different message.
        """
        expected = message_type.DESCRIPTOR.full_name
        if self.type != expected:
            raise ValueError(f"event {self.id} is a {self.type}, not a {expected}")
        message = message_type()
        message.ParseFromString(self.data)
        return message

    @classmethod
    def from_headers(
        cls, nats_subject: str, data: bytes, headers: dict[str, str] | None, delivery: int = 1
    ) -> Event:
        """Build from a NATS message's subject, payload and headers.

        Raises:
            ValueError: when ``ce-id`` or ``ce-type`` is missing.
        """
        headers = dict(headers or {})
        if not headers.get("ce-id") or not headers.get("ce-type"):
            raise ValueError("not a CloudEvents message: ce-id and ce-type are required")
        raw_time = headers.get("ce-time")
        return cls(
            id=headers["ce-id"],
            type=headers["ce-type"],
            source=headers.get("ce-source", ""),
            subject=headers.get("ce-subject", ""),
            time=datetime.fromisoformat(raw_time) if raw_time else None,
            nats_subject=nats_subject,
            data=data,
            headers=headers,
            delivery=delivery,
        )


def cloudevent_headers(
    *, event_id: str, message: Message, source: str, subject: str, time: datetime
) -> dict[str, str]:
    """The CloudEvents NATS headers for an event (see the module docstring)."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-type": message.DESCRIPTOR.full_name,
        "ce-source": source,
        "ce-time": time.isoformat().replace("+00:00", "Z"),
        "content-type": CONTENT_TYPE,
    }
    if subject:
        headers["ce-subject"] = subject
    return headers


async def connect(url: str, *, name: str, wait_for_server: bool = True) -> NATS:
    """Connect to NATS and keep reconnecting for ever.

    With ``wait_for_server`` the first connection is retried too, so a component
    may start before NATS and become ready when NATS arrives.
    """

    client: list[NATS] = []

    async def _disconnected() -> None:
        if client and not client[0].is_closed:
            log.warning("nats disconnected", extra={"nats_url": url})

    async def _reconnected() -> None:
        log.info("nats reconnected", extra={"nats_url": url})

    async def _error(exc: Exception) -> None:
        log.debug("nats error: %s", type(exc).__name__)

    while True:
        try:
            connection = await nats.connect(
                url,
                name=name,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.25,
                connect_timeout=2,
                disconnected_cb=_disconnected,
                reconnected_cb=_reconnected,
                error_cb=_error,
            )
            client.append(connection)
            return connection
        except (nats.errors.NoServersError, OSError, TimeoutError):
            if not wait_for_server:
                raise
            await asyncio.sleep(0.5)


async def ensure_streams(
    js: JetStreamContext, domains: tuple[str, ...] | list[str] = DOMAINS
) -> None:
    """Create (or update) the stream of each domain and the dead-letter stream.

    Idempotent: running it on every start is safe. Streams keep messages on disk
    (file storage) for 7 days; duplicates within :data:`DUPLICATE_WINDOW_SECONDS`
    are dropped by ``Nats-Msg-Id``.
    """
    configs = [
        StreamConfig(name=stream_name(d), subjects=[f"govplat.{d}.v1.>"]) for d in domains
    ] + [StreamConfig(name=DEADLETTER_STREAM, subjects=[f"{DEADLETTER_PREFIX}.>"])]
    for config in configs:
        config.storage = StorageType.FILE
        config.retention = RetentionPolicy.LIMITS
        config.discard = DiscardPolicy.OLD
        config.max_age = 7 * 24 * 3600.0
        config.duplicate_window = DUPLICATE_WINDOW_SECONDS
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)
