"""A small event-driven app for the outbox tests, also run as a separate process.

``python outbox_worker.py crash-after-publish DB_URL NATS_URL`` publishes one
outbox batch, then kills itself with SIGKILL before marking it sent: a relay
crash at the worst moment.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from govkit.db import Database, new_metadata
from govkit.events import Event, connect, ensure_streams
from govkit.outbox import MessagingTables, OutboxRelay, add_event
from govplat.payments.v1 import events_pb2

metadata: MetaData = new_metadata()
tables = MessagingTables(metadata)
#: One row per handler run: a second run for the same event would show as a duplicate.
effects = Table(
    "effect",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("payment_id", String(64), nullable=False),
)
SOURCE = "//govplat/test"


async def create_schema(db: Database) -> None:
    """Create the tables of this test app."""
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


async def write_events(db: Database, count: int, start: int = 0) -> list[str]:
    """Write ``count`` PaymentCreated events, each in its own transaction; return their ids."""
    ids = []
    for number in range(start, start + count):
        async with db.write() as session:
            event = events_pb2.PaymentCreated(payment_id=f"pay-{number}", amount=100 + number)
            ids.append(
                await add_event(session, tables, event, source=SOURCE, subject=f"pay-{number}")
            )
    return ids


async def record_effect(session, event: Event) -> None:
    """The consumer's handler: one ``effect`` row per handled event."""
    payment = event.parse(events_pb2.PaymentCreated)
    await session.execute(effects.insert().values(event_id=event.id, payment_id=payment.payment_id))


async def effect_counts(db: Database) -> dict[str, int]:
    """Event id → how many times the handler's effect was committed."""
    async with db.read() as session:
        rows = (
            await session.execute(
                select(effects.c.event_id, func.count()).group_by(effects.c.event_id)
            )
        ).all()
    return {event_id: count for event_id, count in rows}


class CrashingRelay(OutboxRelay):
    """A relay that dies (SIGKILL) after JetStream acknowledged, before marking sent."""

    async def _mark_sent(self, positions: list[int]) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


async def crash_after_publish(db_url: str, nats_url: str) -> None:
    db = Database(db_url)
    nc = await connect(nats_url, name="crashing-relay", wait_for_server=False)
    js = nc.jetstream()
    await ensure_streams(js)
    await CrashingRelay(db, tables, js, component="test").relay_once()
    raise SystemExit("the relay was expected to kill itself")


if __name__ == "__main__":
    if sys.argv[1] == "crash-after-publish":
        asyncio.run(crash_after_publish(sys.argv[2], sys.argv[3]))
