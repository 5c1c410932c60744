"""The outbox and consumers against a real NATS server and a real database."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nats.js.errors
import pytest
import sqlalchemy as sa
from nats.js.api import ConsumerConfig, DeliverPolicy

from govkit.consumer import ConsumerSpec, EventConsumer
from govkit.db import Database
from govkit.events import DEADLETTER_STREAM, connect, ensure_streams, stream_name
from govkit.outbox import OutboxRelay, add_rows, outbox_row
from govplat.payments.v1 import events_pb2

WORKER_PATH = Path(__file__).with_name("outbox_worker.py")
_spec = importlib.util.spec_from_file_location("outbox_worker", WORKER_PATH)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)

SUBJECT = "govplat.payments.v1.payment_created"


async def wait_for(condition, timeout: float = 20.0, interval: float = 0.05) -> None:
    """Wait until the async ``condition()`` is true, or fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def stream_count(js, stream: str) -> int:
    return (await js.stream_info(stream)).state.messages


@pytest.fixture
async def db(database_url):
    database = Database(database_url)
    await worker.create_schema(database)
    yield database
    await database.dispose()


@pytest.fixture
async def js(nats_server):
    nc = await connect(nats_server.url, name="test")
    context = nc.jetstream()
    await ensure_streams(context)
    yield context
    await nc.close()


def consumer_spec(handler=worker.record_effect, **overrides) -> ConsumerSpec:
    values = dict(
        durable="test-effects", stream=stream_name("payments"), subjects=[SUBJECT], handler=handler
    )
    values.update(overrides)
    return ConsumerSpec(**values)


async def run_until(tasks_factory, condition, timeout: float = 20.0) -> None:
    """Run relay/consumer loops until ``condition()`` holds, then stop them."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(loop(stop)) for loop in tasks_factory()]
    try:
        await wait_for(condition, timeout)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)


async def test_an_event_is_consumed_once_when_the_relay_is_killed_between_publishing_and_marking_sent(
    db, js, nats_server, database_url
):
    event_ids = await worker.write_events(db, 20)

    crashed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(WORKER_PATH), "crash-after-publish", database_url, nats_server.url],
        capture_output=True,
        timeout=60,
    )

    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    relay = OutboxRelay(db, worker.tables, js, component="test")
    assert await relay.pending() == 20, "the killed relay must not have marked anything sent"
    assert await stream_count(js, stream_name("payments")) == 20, "it did publish the whole batch"

    consumer = EventConsumer(consumer_spec(), db=db, tables=worker.tables, js=js)

    async def all_handled() -> bool:
        return len(await worker.effect_counts(db)) == 20 and await relay.pending() == 0

    await run_until(lambda: [relay.run, consumer.run], all_handled)

    assert await stream_count(js, stream_name("payments")) == 20, (
        "JetStream dropped the re-published events"
    )
    assert await worker.effect_counts(db) == {event_id: 1 for event_id in event_ids}


async def test_events_written_while_nats_is_down_flow_once_when_it_is_back(db, js, nats_server):
    relay = OutboxRelay(db, worker.tables, js, component="test", poll_interval=0.2)
    consumer = EventConsumer(consumer_spec(), db=db, tables=worker.tables, js=js)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
    try:
        before = await worker.write_events(db, 10)
        await wait_for(lambda: _handled(db, 10))

        nats_server.stop()
        during = await worker.write_events(db, 10, start=10)
        await asyncio.sleep(1.0)
        assert await relay.pending() == 10, "events written while NATS is down wait in the outbox"

        nats_server.start()
        await wait_for(lambda: _handled(db, 20), timeout=30)
        await wait_for(lambda: _pending_is(relay, 0))
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)

    assert await worker.effect_counts(db) == {event_id: 1 for event_id in before + during}
    assert await stream_count(js, stream_name("payments")) == 20


async def test_a_redelivered_event_has_no_second_effect(db, js):
    event_ids = await worker.write_events(db, 3)
    relay = OutboxRelay(db, worker.tables, js, component="test")
    assert await relay.relay_once() == 3
    consumer = EventConsumer(consumer_spec(), db=db, tables=worker.tables, js=js)
    await run_until(lambda: [consumer.run], lambda: _handled(db, 3))

    # The same events again under new message ids (past JetStream's duplicate
    # window, as after a long outage): only the inbox stands between them and a second effect.
    reader = await js.pull_subscribe(
        SUBJECT, durable="test-replayer", stream=stream_name("payments")
    )
    for message in await reader.fetch(3, timeout=5):
        headers = dict(message.headers)
        headers["Nats-Msg-Id"] = headers["ce-id"] + "-again"
        await js.publish(message.subject, message.data, headers=headers)
    assert await stream_count(js, stream_name("payments")) == 6

    outcomes: list[str] = []
    sub = await js.pull_subscribe_bind(durable="test-effects", stream=stream_name("payments"))
    for message in await sub.fetch(3, timeout=5):
        outcomes.append(await consumer.handle(message))

    assert outcomes == ["duplicate"] * 3
    assert await worker.effect_counts(db) == {event_id: 1 for event_id in event_ids}


async def test_a_message_that_always_fails_ends_on_the_dead_letter_subject(db, js):
    attempts: list[str] = []

    async def always_fails(session, event) -> None:
        attempts.append(event.id)
        raise RuntimeError("the handler cannot cope")

    [event_id] = await worker.write_events(db, 1)
    relay = OutboxRelay(db, worker.tables, js, component="test")
    await relay.relay_once()
    consumer = EventConsumer(
        consumer_spec(always_fails, max_deliver=3, retry_delays=(0.05,)),
        db=db,
        tables=worker.tables,
        js=js,
    )

    async def dead_lettered() -> bool:
        return await stream_count(js, DEADLETTER_STREAM) == 1

    await run_until(lambda: [consumer.run], dead_lettered)

    assert attempts == [event_id] * 3
    dead = await js.pull_subscribe(
        "govplat.deadletter.>",
        durable="test-dlq-reader",
        stream=DEADLETTER_STREAM,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    [message] = await dead.fetch(1, timeout=5)
    assert message.subject == f"govplat.deadletter.test-effects.{SUBJECT}"
    assert message.headers["ce-id"] == event_id
    assert message.headers["govplat-original-subject"] == SUBJECT
    assert "RuntimeError" in message.headers["govplat-deadletter-reason"]
    assert await worker.effect_counts(db) == {}
    await asyncio.sleep(0.5)
    assert attempts == [event_id] * 3, "a dead-lettered message is not delivered again"


async def _handled(db: Database, count: int) -> bool:
    return sum((await worker.effect_counts(db)).values()) >= count


async def _pending_is(relay: OutboxRelay, count: int) -> bool:
    return await relay.pending() == count


async def test_a_published_event_carries_the_cloudevents_headers_and_its_trace_context(db, js):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("use case") as span:
        [event_id] = await worker.write_events(db, 1)
        trace_id = format(span.get_span_context().trace_id, "032x")
    assert trace.get_current_span().get_span_context().is_valid is False

    await OutboxRelay(db, worker.tables, js, component="test").relay_once()

    reader = await js.pull_subscribe(
        SUBJECT, durable="test-envelope", stream=stream_name("payments")
    )
    [message] = await reader.fetch(1, timeout=5)
    headers = message.headers
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-id"] == event_id == headers["Nats-Msg-Id"]
    assert headers["ce-type"] == "govplat.payments.v1.PaymentCreated"
    assert headers["ce-source"] == worker.SOURCE
    assert headers["ce-subject"] == "pay-0"
    assert headers["ce-time"].endswith("Z")
    assert headers["content-type"] == "application/protobuf"
    assert headers["traceparent"].split("-")[1] == trace_id


async def test_an_effect_runs_outside_any_transaction_once_per_event_and_concurrently(db, js):
    """``effect`` consumers (calls to the outside world) hold no write transaction while
    they run, see each event once, and handle a batch ``concurrency`` at a time."""
    relay = OutboxRelay(db, worker.tables, js, component="test")
    seen: list[str] = []
    running = 0
    most_at_once = 0

    async def effect(event) -> None:
        nonlocal running, most_at_once
        running += 1
        most_at_once = max(most_at_once, running)
        async with db.write() as session:  # would wait for ever if a write were held
            await worker.record_effect(session, event)
        await asyncio.sleep(0.05)
        seen.append(event.id)
        running -= 1

    spec = ConsumerSpec(
        durable="test-outside-effects",
        stream=stream_name("payments"),
        subjects=[SUBJECT],
        effect=effect,
        concurrency=4,
    )
    consumer = EventConsumer(spec, db=db, tables=worker.tables, js=js)
    event_ids = await worker.write_events(db, 12)

    async def all_seen() -> bool:
        return len(seen) == 12

    await run_until(lambda: [relay.run, consumer.run], all_seen)
    assert sorted(seen) == sorted(event_ids)
    assert 1 < most_at_once <= 4
    again = await js.pull_subscribe(SUBJECT, durable="replay", stream=stream_name("payments"))
    for message in await again.fetch(12, timeout=5):
        assert await consumer.handle(message) == "duplicate", "the inbox remembers each effect"
    assert await worker.effect_counts(db) == {event_id: 1 for event_id in event_ids}


async def test_an_event_the_consumer_does_not_accept_is_acknowledged_without_the_inbox(db, js):
    """``accepts`` lets a consumer pass over the events of its subject it never acts on
    without a transaction each: they are acknowledged, not run, not remembered."""
    relay = OutboxRelay(db, worker.tables, js, component="test")
    seen: list[str] = []

    async def effect(event) -> None:
        seen.append(event.subject)

    def accepts(event) -> bool:
        return event.parse(events_pb2.PaymentCreated).amount % 2 == 0

    spec = ConsumerSpec(
        durable="test-accepts",
        stream=stream_name("payments"),
        subjects=[SUBJECT],
        effect=effect,
        accepts=accepts,
    )
    consumer = EventConsumer(spec, db=db, tables=worker.tables, js=js)
    await worker.write_events(db, 6)

    async def all_passed() -> bool:
        try:
            info = await js.consumer_info(stream_name("payments"), "test-accepts")
        except nats.js.errors.NotFoundError:  # not made yet
            return False
        return info.num_pending == 0 and info.num_ack_pending == 0 and len(seen) == 3

    await run_until(lambda: [relay.run, consumer.run], all_passed)
    assert seen == ["pay-0", "pay-2", "pay-4"]
    async with db.read() as session:
        remembered = await session.scalar(
            sa.select(sa.func.count())
            .select_from(worker.tables.inbox)
            .where(worker.tables.inbox.c.consumer == "test-accepts")
        )
    assert remembered == 3


async def test_outbox_rows_written_together_keep_each_operations_trace_and_order(db):
    """Rows made by ``outbox_row`` in each operation's own context and written by
    another task in one statement carry their own operation's trace, in order."""
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    rows, trace_ids = [], []
    for number in range(3):
        with tracer.start_as_current_span(f"operation {number}") as span:
            message = events_pb2.PaymentCreated(payment_id=f"pay-{number}")
            rows.append(outbox_row(message, source=worker.SOURCE, subject=f"pay-{number}"))
            trace_ids.append(format(span.get_span_context().trace_id, "032x"))
    async with db.write() as session:
        await add_rows(session, worker.tables, rows)
    async with db.read() as session:
        written = (
            await session.execute(
                sa.select(worker.tables.outbox.c.id, worker.tables.outbox.c.headers).order_by(
                    worker.tables.outbox.c.position
                )
            )
        ).all()
    assert [row.id for row in written] == [row["id"] for row in rows]
    assert [json.loads(row.headers)["traceparent"].split("-")[1] for row in written] == trace_ids


def test_a_consumer_needs_exactly_one_of_handler_and_effect():
    async def noop(*_args) -> None:
        return None

    with pytest.raises(ValueError):
        ConsumerSpec(durable="x", stream="s", subjects=["a"])
    with pytest.raises(ValueError):
        ConsumerSpec(durable="x", stream="s", subjects=["a"], handler=noop, effect=noop)
    with pytest.raises(ValueError):
        ConsumerSpec(durable="x", stream="s", subjects=["a"], effect=noop, concurrency=0)
