"""Concurrent creates are written together (group commit), each exactly as a create on
its own: its payment, first event, idempotency key, ``next_url`` token and
``PaymentCreated`` outbox event, answered only once its transaction has committed."""

from __future__ import annotations

import asyncio
import json

import sqlalchemy as sa

from govkit.events import subject_for
from govplat.payments.v1 import events_pb2
from payments import models
from payments.service import payments as payments_service


async def test_concurrent_creates_are_each_complete_and_share_transactions(pay, payment_body):
    commits = []
    pay.db.after_commit(commits.append)
    async with pay.http(timeout=60) as api:
        answers = await asyncio.gather(
            *(
                api.post(
                    "/v1/payments",
                    json=payment_body(reference=f"REF-{n}", amount=100 + n),
                    headers={"Idempotency-Key": f"group-{n}"},
                )
                for n in range(40)
            )
        )
    assert [a.status_code for a in answers] == [201] * 40
    created = [a.json() for a in answers]
    ids = {c["payment_id"] for c in created}
    assert len(ids) == 40
    assert [c["amount"] for c in created] == [100 + n for n in range(40)]
    assert [c["reference"] for c in created] == [f"REF-{n}" for n in range(40)]
    assert len(commits) < 40
    async with pay.db.read() as session:
        events = (
            await session.execute(
                sa.select(models.PaymentEvent.payment_id, models.PaymentEvent.status).where(
                    models.PaymentEvent.payment_id.in_(ids)
                )
            )
        ).all()
        keys = dict(
            (
                await session.execute(
                    sa.select(models.IdempotencyKey.key, models.IdempotencyKey.resource_id).where(
                        models.IdempotencyKey.key.like("group-%")
                    )
                )
            ).all()
        )
        tokens = await session.scalar(
            sa.select(sa.func.count())
            .select_from(models.ChargeToken)
            .where(models.ChargeToken.payment_id.in_(ids))
        )
        outbox = (
            await session.execute(
                sa.select(models.messaging.outbox.c.payload, models.messaging.outbox.c.headers)
                .where(models.messaging.outbox.c.subject == subject_for(events_pb2.PaymentCreated))
                .order_by(models.messaging.outbox.c.position)
            )
        ).all()
    assert sorted(events) == sorted((i, "created") for i in ids)
    assert keys == {f"group-{n}": created[n]["payment_id"] for n in range(40)}
    assert tokens == 40
    announced = [events_pb2.PaymentCreated.FromString(row.payload) for row in outbox]
    assert {e.payment_id for e in announced} == ids
    assert {e.payment_id: e.amount for e in announced} == {
        c["payment_id"]: c["amount"] for c in created
    }
    assert all(json.loads(row.headers)["ce-subject"] in ids for row in outbox)


async def test_each_create_written_together_announces_its_payment_with_its_own_trace(
    pay, payment_body
):
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    commits = []
    pay.db.after_commit(commits.append)

    async def create(n: int) -> tuple[str, str]:
        with tracer.start_as_current_span(f"request {n}") as span:
            created = await payments_service.create_payment(
                pay.context.payments, pay.caller(), payment_body(reference=f"T-{n}")
            )
            return created.payment.id, format(span.get_span_context().trace_id, "032x")

    made = dict(await asyncio.gather(*(create(n) for n in range(10))))
    assert len(commits) < 10
    async with pay.db.read() as session:
        rows = (
            await session.execute(
                sa.select(models.messaging.outbox.c.headers).where(
                    models.messaging.outbox.c.subject == subject_for(events_pb2.PaymentCreated)
                )
            )
        ).scalars()
        announced = {
            headers["ce-subject"]: headers["traceparent"].split("-")[1]
            for headers in map(json.loads, rows)
        }
    assert announced == made


async def test_a_next_url_made_in_a_shared_transaction_opens_the_payment_pages(pay, payment_body):
    async with pay.http() as api:
        answers = await asyncio.gather(
            *(api.post("/v1/payments", json=payment_body(reference=f"P-{n}")) for n in range(5))
        )
    assert [a.status_code for a in answers] == [201] * 5
    for answer in answers:
        async with pay.browser() as browser:
            page = await pay.open_pages(browser, answer.json())
        assert page.status_code == 200


async def test_one_key_sent_several_times_at_once_makes_one_payment_and_replays_or_conflicts(
    pay, payment_body
):
    bodies = [payment_body(reference=r) for r in ("A", "A", "B", "A")]
    async with pay.http() as api:
        answers = await asyncio.gather(
            *(api.post("/v1/payments", json=b, headers={"Idempotency-Key": "k-a"}) for b in bodies),
            api.post("/v1/payments", json=payment_body(reference="C")),
        )
    keyed, other = answers[:4], answers[4]
    assert other.status_code == 201
    made = [n for n, a in enumerate(keyed) if a.status_code == 201]
    assert len(made) == 1
    original = keyed[made[0]].json()
    for n, answer in enumerate(keyed):
        if n == made[0]:
            continue
        if bodies[n] == bodies[made[0]]:
            assert answer.status_code == 200
            assert answer.json()["payment_id"] == original["payment_id"]
        else:
            assert answer.status_code == 409
            assert answer.json()["code"] == "P0191"
    assert other.json()["payment_id"] != original["payment_id"]
