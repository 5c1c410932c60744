"""Concurrent sends, and concurrent sandbox deliveries, are written together (group
commit, :mod:`govkit.group_commit`), each exactly as it would be on its own."""

from __future__ import annotations

import asyncio
import json

import sqlalchemy as sa

from govkit.events import subject_for
from govplat.notify.v1 import events_pb2
from notify import repository
from notify.models import Notification, SandboxMessage, messaging
from notify.service import notifications


def sms(notify, n: int, **fields) -> dict:
    return {
        "phone_number": f"07700900{300 + n:03d}",
        "template_id": notify.templates["sms"],
        "personalisation": {"name": f"Person {n}", "code": str(n)},
        "reference": f"REF-{n}",
        **fields,
    }


async def outbox_of(notify, event_type) -> list[tuple[bytes, dict]]:
    async with notify.db.read() as session:
        rows = (
            await session.execute(
                sa.select(messaging.outbox.c.payload, messaging.outbox.c.headers)
                .where(messaging.outbox.c.subject == subject_for(event_type))
                .order_by(messaging.outbox.c.position)
            )
        ).all()
    return [(row.payload, json.loads(row.headers)) for row in rows]


async def test_concurrent_sends_are_each_complete_share_transactions_and_keep_their_errors(
    notify,
):
    async with notify.http() as api:
        first = await api.post("/v2/notifications/sms", json=sms(notify, 99))
        assert first.status_code == 201
        commits = []
        notify.db.after_commit(commits.append)
        bodies = [sms(notify, n) for n in range(30)]
        bodies[7] = {**bodies[7], "personalisation": {"name": "No code"}}
        bodies[12] = {**bodies[12], "phone_number": "07700900000"}  # smoke test: not stored
        answers = await asyncio.gather(
            *(api.post("/v2/notifications/sms", json=body) for body in bodies)
        )
    assert answers[7].status_code == 400
    assert answers[7].json()["errors"] == [
        {"error": "BadRequestError", "message": "Missing personalisation: code"}
    ]
    assert [a.status_code for n, a in enumerate(answers) if n != 7] == [201] * 29
    sent = {n: a.json() for n, a in enumerate(answers) if n != 7}
    assert all(sent[n]["reference"] == f"REF-{n}" for n in sent)
    assert all(sent[n]["content"]["body"].endswith(f"your code is {n}.") for n in sent)
    assert len(commits) < 29
    stored = {n: s["id"] for n, s in sent.items() if n != 12}
    async with notify.db.read() as session:
        rows = {
            row.id: row
            for row in await repository.notifications_by_id(
                session, set(stored.values()) | {sent[12]["id"]}
            )
        }
    assert set(rows) == set(stored.values())
    assert all(rows[stored[n]].reference == f"REF-{n}" for n in stored)
    assert all(rows[i].status == "created" for i in stored.values())
    created = [
        events_pb2.NotificationCreated.FromString(payload)
        for payload, _headers in await outbox_of(notify, events_pb2.NotificationCreated)
    ]
    assert {e.notification_id for e in created} == set(stored.values()) | {first.json()["id"]}


async def test_each_send_written_together_announces_its_notification_with_its_own_trace(notify):
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    await notifications.send(
        notify.db, notify.caller(), "sms", sms(notify, 99), email_domain="n.test"
    )

    async def send(n: int) -> tuple[str, str]:
        with tracer.start_as_current_span(f"request {n}") as span:
            sent = await notifications.send(
                notify.db, notify.caller(), "sms", sms(notify, n), email_domain="n.test"
            )
            return sent.id, format(span.get_span_context().trace_id, "032x")

    made = dict(await asyncio.gather(*(send(n) for n in range(10))))
    announced = {
        headers["ce-subject"]: headers["traceparent"].split("-")[1]
        for _payload, headers in await outbox_of(notify, events_pb2.NotificationCreated)
        if headers["ce-subject"] in made
    }
    assert announced == made


async def test_concurrent_sandbox_deliveries_each_land_once_with_their_status_events(notify):
    ids = [
        (
            await notifications.send(
                notify.db, notify.caller("test"), "sms", sms(notify, n), email_domain="n.test"
            )
        ).id
        for n in range(12)
    ]
    delivery = notify.delivery()
    commits = []
    notify.db.after_commit(commits.append)
    statuses = await asyncio.gather(*(delivery.deliver(i) for i in ids), delivery.deliver(ids[0]))
    assert statuses == ["delivered"] * 13
    assert len(commits) < 12
    async with notify.db.read() as session:
        inbox = (
            await session.scalars(
                sa.select(SandboxMessage.notification_id).where(
                    SandboxMessage.notification_id.in_(ids)
                )
            )
        ).all()
        attempts = dict(
            (
                await session.execute(
                    sa.select(Notification.id, Notification.delivery_attempts).where(
                        Notification.id.in_(ids)
                    )
                )
            ).all()
        )
    assert sorted(inbox) == sorted(ids)
    assert attempts == {i: 1 for i in ids}
    changes = [
        events_pb2.NotificationStatusChanged.FromString(payload)
        for payload, _headers in await outbox_of(notify, events_pb2.NotificationStatusChanged)
    ]
    assert sorted((c.notification_id, c.status) for c in changes) == sorted(
        [(i, "sending") for i in ids] + [(i, "delivered") for i in ids]
    )
