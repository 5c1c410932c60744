"""Durable JetStream consumers with an inbox for exactly-once effects.

For each message: extract the trace context and start a CONSUMER span; open a
write transaction; if the (consumer, event id) pair is already in the inbox, do
nothing; otherwise record it and call the handler in the same transaction;
commit; then acknowledge. A crash before the commit redelivers the message; a
crash after the commit but before the ack redelivers it too, and the inbox turns
that redelivery into a no-op. A handler that keeps failing is retried with
back-off and, on its ``max_deliver``-th delivery, published to the dead-letter
subject ``govplat.deadletter.<durable>.<subject>`` and terminated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import Database, utcnow
from govkit.events import Event, deadletter_subject, extract_trace_context
from govkit.group_commit import GroupCommit
from govkit.outbox import MessagingTables
from govkit.telemetry import current_span

log = logging.getLogger(__name__)
tracer = trace.get_tracer("govkit.consumer")

Handler = Callable[[AsyncSession, Event], Awaitable[None]]

EVENTS_HANDLED = Counter(
    "govplat_events_handled_total", "Events handled by a consumer", ["consumer", "outcome"]
)
DEAD_LETTERS = Counter(
    "govplat_dead_letters_total", "Events sent to the dead-letter subject", ["consumer"]
)


@dataclass
class ConsumerSpec:
    """What a component consumes.

    Attributes:
        durable: the durable consumer name, unique per component and purpose,
            e.g. ``notify-payment-receipts``.
        stream: the stream to read, e.g. ``GOVPLAT_PAYMENTS``.
        subjects: the subjects to receive from that stream.
        handler: ``async (session, event) -> None``; runs inside the write
            transaction that also records the event in the inbox. Raise to retry.
        effect: instead of ``handler``, ``async (event) -> None`` for work that calls
            the outside world (a mail server, a callback URL) and must not hold a
            database transaction meanwhile. It runs with no transaction open and must
            be idempotent itself (keyed by the event or the resource it is about): a
            crash after it acted but before the inbox row was written runs it again.
            The inbox row is written after it returns, so a later redelivery is skipped.
        max_deliver: deliveries before the message goes to the dead-letter subject.
        ack_wait: seconds JetStream waits for an ack before redelivering.
        retry_delays: seconds to wait before each retry (the last one repeats).
        concurrency: how many messages of one fetched batch are handled at once
            (1: in order). Only for events that do not depend on each other's order.
        accepts: ``(event) -> bool``, a quick look at the event (no I/O) for a consumer
            that acts on few of its subject's events: one it refuses is acknowledged
            at once, without the handler or effect and without the inbox (nothing was
            done, so there is nothing to remember). If it raises, the event is handled.
    """

    durable: str
    stream: str
    subjects: Sequence[str]
    handler: Handler | None = None
    max_deliver: int = 5
    ack_wait: float = 30.0
    retry_delays: Sequence[float] = (0.2, 1.0, 5.0, 15.0)
    effect: Callable[[Event], Awaitable[None]] | None = None
    concurrency: int = 1
    accepts: Callable[[Event], bool] | None = None

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.effect is None):
            raise ValueError(f"consumer {self.durable}: give exactly one of handler and effect")
        if self.concurrency < 1:
            raise ValueError(f"consumer {self.durable}: concurrency must be at least 1")


class EventConsumer:
    """Runs one :class:`ConsumerSpec` against JetStream and the component's database."""

    def __init__(
        self,
        spec: ConsumerSpec,
        *,
        db: Database,
        tables: MessagingTables,
        js: JetStreamContext,
        batch_size: int = 50,
    ) -> None:
        self.spec = spec
        self.db = db
        self.tables = tables
        self.js = js
        self.batch_size = batch_size
        self._subscription = None
        # An effect's inbox look-up and its inbox row, each shared with the other
        # messages of the batch handled at the same time (one statement for all).
        self._seen = GroupCommit(self._seen_together)
        self._record = GroupCommit(self._record_together)

    async def ensure(self) -> None:
        """Create or update the durable pull consumer (idempotent)."""
        config = ConsumerConfig(
            durable_name=self.spec.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.spec.ack_wait,
            # JetStream's own limit is a backstop for a process that dies on a message.
            max_deliver=self.spec.max_deliver + 2,
            filter_subjects=list(self.spec.subjects),
        )
        await self.js.add_consumer(self.spec.stream, config)
        self._subscription = await self.js.pull_subscribe_bind(
            durable=self.spec.durable, stream=self.spec.stream
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and handle messages until ``stop`` is set; survives NATS outages."""
        while not stop.is_set():
            try:
                if self._subscription is None:
                    await self.ensure()
                messages = await self._subscription.fetch(self.batch_size, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer %s cannot fetch: %s", self.spec.durable, type(exc).__name__)
                self._subscription = None
                try:
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
                except TimeoutError:
                    pass
                continue
            if self.spec.concurrency == 1:
                for message in messages:
                    await self._handle_quietly(message)
            else:
                await self._handle_concurrently(messages)

    async def _handle_concurrently(self, messages: list[Msg]) -> None:
        limit = asyncio.Semaphore(self.spec.concurrency)

        async def bounded(message: Msg) -> None:
            async with limit:
                await self._handle_quietly(message)

        await asyncio.gather(*(bounded(m) for m in messages))

    async def _handle_quietly(self, message: Msg) -> None:
        try:
            await self.handle(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # e.g. NATS gone while dead-lettering: redelivered later
            log.warning(
                "consumer %s left a message for redelivery: %s",
                self.spec.durable,
                type(exc).__name__,
            )

    async def handle(self, message: Msg) -> str:
        """Handle one message; returns the outcome: ``handled``, ``duplicate``,
        ``retry``, ``dead_letter``, ``invalid`` or ``skipped`` (not ``accepts``)."""
        delivery = message.metadata.num_delivered if message.metadata else 1
        try:
            event = Event.from_headers(message.subject, message.data, message.headers, delivery)
        except ValueError as exc:
            log.error("consumer %s got a message that is not an event: %s", self.spec.durable, exc)
            await self._dead_letter(message, f"invalid envelope: {exc}")
            return self._count("invalid")
        if not self._accepts(event):
            await _quietly(message.ack())
            return self._count("skipped")
        parent = extract_trace_context(message.headers)
        with current_span(
            tracer,
            f"{message.subject} process",
            parent=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": message.subject,
                "messaging.message.id": event.id,
                "messaging.consumer.group.name": self.spec.durable,
            },
        ) as span:
            try:
                duplicate = await self._handle_once(event)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                if delivery >= self.spec.max_deliver:
                    log.error(
                        "consumer %s gave up on event %s after %d deliveries: %s",
                        self.spec.durable,
                        event.id,
                        delivery,
                        type(exc).__name__,
                    )
                    await self._dead_letter(message, f"{type(exc).__name__}: {exc}")
                    return self._count("dead_letter")
                delays = self.spec.retry_delays or (1.0,)
                delay = delays[min(delivery - 1, len(delays) - 1)]
                log.warning(
                    "consumer %s failed on event %s (delivery %d), retrying in %.1fs: %s",
                    self.spec.durable,
                    event.id,
                    delivery,
                    delay,
                    type(exc).__name__,
                )
                await _quietly(message.nak(delay=delay))
                return self._count("retry")
        await _quietly(message.ack())
        return self._count("duplicate" if duplicate else "handled")

    def _accepts(self, event: Event) -> bool:
        if self.spec.accepts is None:
            return True
        try:
            return bool(self.spec.accepts(event))
        except Exception:  # the handler or effect meets the problem, and retries
            return True

    async def _handle_once(self, event: Event) -> bool:
        """Run the handler unless the inbox already has the event; True if it had."""
        if self.spec.effect is not None:
            return await self._effect_once(event)
        inbox = self.tables.inbox
        async with self.db.write() as session:
            seen = await session.scalar(
                select(inbox.c.event_id).where(
                    inbox.c.consumer == self.spec.durable, inbox.c.event_id == event.id
                )
            )
            if seen is not None:
                return True
            await session.execute(
                inbox.insert().values(
                    consumer=self.spec.durable,
                    event_id=event.id,
                    subject=event.nats_subject,
                    processed_at=utcnow(),
                )
            )
            await self.spec.handler(session, event)
        return False

    async def _effect_once(self, event: Event) -> bool:
        """Run the effect (no transaction open) unless the inbox has the event, then
        record it; True if it was already there. Concurrent messages' look-ups share
        one read and their inbox rows one write transaction (:mod:`govkit.group_commit`);
        each goes on only once its own has finished."""
        if await self._seen.submit(event.id):
            return True
        await self.spec.effect(event)
        await self._record.submit(event)
        return False

    async def _in_inbox(self, session: AsyncSession, event_ids: set[str]) -> set[str]:
        inbox = self.tables.inbox
        found = await session.scalars(
            select(inbox.c.event_id).where(
                inbox.c.consumer == self.spec.durable, inbox.c.event_id.in_(event_ids)
            )
        )
        return set(found)

    async def _seen_together(self, event_ids: list[str]) -> list[bool]:
        """Which of these events the inbox has (one read)."""
        async with self.db.read() as session:
            found = await self._in_inbox(session, set(event_ids))
        return [event_id in found for event_id in event_ids]

    async def _record_together(self, events: list[Event]) -> list[None]:
        """The inbox rows of these events, those not there yet (one write)."""
        inbox = self.tables.inbox
        async with self.db.write() as session:
            found = await self._in_inbox(session, {event.id for event in events})
            rows = []
            for event in events:
                if event.id not in found:
                    found.add(event.id)
                    rows.append(
                        {
                            "consumer": self.spec.durable,
                            "event_id": event.id,
                            "subject": event.nats_subject,
                            "processed_at": utcnow(),
                        }
                    )
            if rows:
                await session.execute(inbox.insert(), rows)
        return [None] * len(events)

    async def _dead_letter(self, message: Msg, reason: str) -> None:
        headers = dict(message.headers or {})
        event_id = headers.get("ce-id", "")
        headers["govplat-deadletter-reason"] = reason[:500]
        headers["govplat-original-subject"] = message.subject
        headers["govplat-consumer"] = self.spec.durable
        if event_id:
            headers["Nats-Msg-Id"] = f"{self.spec.durable}:{event_id}"
        else:
            headers.pop("Nats-Msg-Id", None)
        await self.js.publish(
            deadletter_subject(self.spec.durable, message.subject), message.data, headers=headers
        )
        DEAD_LETTERS.labels(self.spec.durable).inc()
        await _quietly(message.term())

    def _count(self, outcome: str) -> str:
        EVENTS_HANDLED.labels(self.spec.durable, outcome).inc()
        return outcome


async def _quietly(awaitable: Awaitable[None]) -> None:
    """Ack/nak/term may fail when the connection drops; redelivery covers that."""
    try:
        await awaitable
    except Exception as exc:
        log.debug("ack failed: %s", type(exc).__name__)
