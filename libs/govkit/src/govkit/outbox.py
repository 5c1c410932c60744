"""The transactional outbox and its relay to JetStream, and the consumers' inbox.

Writing side: a use case calls :func:`add_event` inside its own write transaction,
so the state change and the event commit together or not at all. The row keeps
the CloudEvents headers and the trace context of the operation.

Relaying side: :class:`OutboxRelay` publishes unsent rows in order, each with
``Nats-Msg-Id`` = event id, and marks them sent only after JetStream's PubAck.
If the relay dies between the PubAck and the mark, the rows are published again
and JetStream drops them as duplicates (within its duplicate window); consumers
also de-duplicate by event id in their inbox (:class:`MessagingTables.inbox`).
While NATS is unreachable, rows wait in the table and flow when it is back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import datetime

from google.protobuf.message import Message
from nats.js import JetStreamContext
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import Database, UTCDateTime, utcnow
from govkit.events import (
    cloudevent_headers,
    extract_trace_context,
    inject_trace_headers,
    subject_for,
)
from govkit.telemetry import exporting

log = logging.getLogger(__name__)
tracer = trace.get_tracer("govkit.outbox")

OUTBOX_PUBLISHED = Counter(
    "govplat_outbox_published_total", "Events published from the outbox", ["component"]
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "govplat_outbox_publish_failures_total",
    "Failed attempts to publish an outbox batch",
    ["component"],
)
OUTBOX_LAG = Gauge(
    "govplat_outbox_pending", "Outbox events not yet acknowledged by JetStream", ["component"]
)


class MessagingTables:
    """The ``outbox_message`` and ``inbox_message`` tables, added to a service's metadata.

    ``outbox_message``: one row per event to publish (``id`` = event id, ``subject``,
    ``payload`` protobuf bytes, ``headers`` JSON, ``created_at``, ``sent_at`` null
    until JetStream acknowledged it, ``attempts``).

    ``inbox_message``: one row per (``consumer``, ``event_id``) handled, written in
    the same transaction as the handler's effects, so a redelivered event is skipped.
    """

    def __init__(self, metadata: MetaData) -> None:
        self.outbox = Table(
            "outbox_message",
            metadata,
            Column("position", Integer, primary_key=True, autoincrement=True),
            Column("id", String(36), nullable=False, unique=True),
            Column("subject", String(255), nullable=False),
            Column("payload", LargeBinary, nullable=False),
            Column("headers", Text, nullable=False),
            Column("created_at", UTCDateTime, nullable=False),
            Column("sent_at", UTCDateTime, nullable=True),
            Column("attempts", Integer, nullable=False, default=0),
            Index("ix_outbox_message_unsent", "sent_at", "position"),
        )
        self.inbox = Table(
            "inbox_message",
            metadata,
            Column("consumer", String(100), primary_key=True),
            Column("event_id", String(36), primary_key=True),
            Column("subject", String(255), nullable=False),
            Column("processed_at", UTCDateTime, nullable=False),
        )


def create_messaging_tables(op) -> None:
    """Create ``outbox_message`` and ``inbox_message`` in an Alembic migration (``op``)."""
    import sqlalchemy as sa

    op.create_table(
        "outbox_message",
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_outbox_message"),
        sa.UniqueConstraint("id", name="uq_outbox_message_id"),
    )
    op.create_index("ix_outbox_message_unsent", "outbox_message", ["sent_at", "position"])
    op.create_table(
        "inbox_message",
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("processed_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox_message"),
    )


def drop_messaging_tables(op) -> None:
    """Drop the tables made by :func:`create_messaging_tables` (Alembic downgrade)."""
    op.drop_table("inbox_message")
    op.drop_index("ix_outbox_message_unsent", table_name="outbox_message")
    op.drop_table("outbox_message")


async def add_event(
    session: AsyncSession,
    tables: MessagingTables,
    message: Message,
    *,
    source: str,
    subject: str = "",
    event_id: str | None = None,
    time: datetime | None = None,
) -> str:
    """Queue ``message`` for publication in the caller's open write transaction.

    Args:
        session: the use case's session; the row commits with its changes.
        tables: the service's :class:`MessagingTables`.
        message: a protobuf message from a ``govplat.<domain>.v1`` ``events.proto``.
        source: ``ce-source``, e.g. ``//govplat/payments``.
        subject: ``ce-subject``: the id of the resource the event is about.
        event_id: the event id (a new UUID4 when omitted).
        time: ``ce-time`` (now, UTC, when omitted).

    Returns:
        The event id.
    """
    row = outbox_row(message, source=source, subject=subject, event_id=event_id, time=time)
    await add_rows(session, tables, [row])
    return row["id"]


def outbox_row(
    message: Message,
    *,
    source: str,
    subject: str = "",
    event_id: str | None = None,
    time: datetime | None = None,
    trace_headers: dict[str, str] | None = None,
) -> dict:
    """The outbox row of an event (the arguments as for :func:`add_event`), for
    :func:`add_rows`. ``trace_headers``: the operation's trace context, from
    :func:`govkit.events.inject_trace_headers` in the operation's own task (default:
    the current one), so that a row written on another task's behalf keeps its
    request's trace."""
    event_id = event_id or str(uuid.uuid4())
    now = time or utcnow()
    headers = cloudevent_headers(
        event_id=event_id, message=message, source=source, subject=subject, time=now
    )
    headers.update(inject_trace_headers() if trace_headers is None else trace_headers)
    return {
        "id": event_id,
        "subject": subject_for(message),
        "payload": message.SerializeToString(),
        "headers": json.dumps(headers, sort_keys=True),
        "created_at": now,
        "attempts": 0,
    }


async def add_rows(session: AsyncSession, tables: MessagingTables, rows: list[dict]) -> None:
    """Queue outbox rows made by :func:`outbox_row` in the caller's open write
    transaction, in one statement (many events of one transaction, in order)."""
    if not rows:
        return
    await session.execute(tables.outbox.insert(), rows)
    session.info["govplat_outbox_added"] = True


class OutboxRelay:
    """Publishes a service's outbox to JetStream.

    Args:
        db: the service's database.
        tables: its :class:`MessagingTables`.
        js: a JetStream context.
        component: component name, for metrics and logs.
        batch_size: rows read per round.
        poll_interval: seconds between looks at the table when nothing woke it.
        publish_timeout: seconds to wait for each PubAck.

    :meth:`run` loops until its ``stop`` event is set; committed writes that added
    events wake it at once (through :meth:`Database.after_commit`).
    """

    def __init__(
        self,
        db: Database,
        tables: MessagingTables,
        js: JetStreamContext,
        *,
        component: str,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        publish_timeout: float = 2.0,
    ) -> None:
        self.db = db
        self.tables = tables
        self.js = js
        self.component = component
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self._wake = asyncio.Event()
        db.after_commit(self._on_commit)

    def _on_commit(self, session: AsyncSession) -> None:
        if session.info.pop("govplat_outbox_added", False):
            self._wake.set()

    def wake(self) -> None:
        """Make the relay look at the table now."""
        self._wake.set()

    async def pending(self) -> int:
        """How many events are not yet acknowledged by JetStream."""
        async with self.db.read() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(self.tables.outbox)
                .where(self.tables.outbox.c.sent_at.is_(None))
            )
        return int(count or 0)

    async def relay_once(self) -> int:
        """Publish one batch of unsent events in order and mark them sent.

        Returns:
            How many events were published and marked.

        Raises:
            Whatever the NATS client raises when a publish fails (timeout, no
            stream, connection closed); rows already acknowledged are marked first.
        """
        outbox = self.tables.outbox
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(
                        outbox.c.position,
                        outbox.c.id,
                        outbox.c.subject,
                        outbox.c.payload,
                        outbox.c.headers,
                    )
                    .where(outbox.c.sent_at.is_(None))
                    .order_by(outbox.c.position)
                    .limit(self.batch_size)
                )
            ).all()
        acknowledged: list[int] = []
        try:
            for row in rows:
                await self._publish(row.id, row.subject, row.payload, json.loads(row.headers))
                acknowledged.append(row.position)
        except Exception:
            OUTBOX_PUBLISH_FAILURES.labels(self.component).inc()
            if acknowledged:
                await self._mark_sent(acknowledged)
            if rows:
                await self._count_attempt(rows[len(acknowledged)].position)
            raise
        if acknowledged:
            await self._mark_sent(acknowledged)
        return len(acknowledged)

    async def _publish(
        self, event_id: str, subject: str, payload: bytes, headers: dict[str, str]
    ) -> None:
        out = dict(headers)
        out["Nats-Msg-Id"] = event_id
        if exporting():
            parent = extract_trace_context(headers)
            with tracer.start_as_current_span(
                f"{subject} publish", context=parent, kind=SpanKind.PRODUCER
            ) as span:
                span.set_attribute("messaging.system", "nats")
                span.set_attribute("messaging.destination.name", subject)
                span.set_attribute("messaging.message.id", event_id)
                out.update(inject_trace_headers())
                await self.js.publish(subject, payload, timeout=self.publish_timeout, headers=out)
        else:  # no span to make: the writer's trace context goes on as it was stored
            await self.js.publish(subject, payload, timeout=self.publish_timeout, headers=out)
        OUTBOX_PUBLISHED.labels(self.component).inc()

    async def _mark_sent(self, positions: list[int]) -> None:
        """Record JetStream's acknowledgement of these rows."""
        async with self.db.write() as session:
            await session.execute(
                update(self.tables.outbox)
                .where(self.tables.outbox.c.position.in_(positions))
                .values(sent_at=utcnow())
            )

    async def _count_attempt(self, position: int) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(self.tables.outbox)
                .where(self.tables.outbox.c.position == position)
                .values(attempts=self.tables.outbox.c.attempts + 1)
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; back off (up to 5 s) while NATS fails."""
        backoff = 0.1
        while not stop.is_set():
            # Clear before reading: a commit during relay_once sets it again.
            self._wake.clear()
            try:
                published = await self.relay_once()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox publish failed, will retry: %s", type(exc).__name__)
                published = 0
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            try:
                OUTBOX_LAG.labels(self.component).set(await self.pending())
            except Exception:  # metrics must never stop the relay
                pass
            if published >= self.batch_size:
                continue
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            stopper.cancel()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
