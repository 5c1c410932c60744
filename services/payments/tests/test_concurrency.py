"""Concurrent requests against one payments process and database (SQLite and, with
GOVPLAT_TEST_DATABASE_URL, PostgreSQL): idempotency keys make one payment each, and
refunds never add up to more than was paid."""

from __future__ import annotations

import asyncio
from collections import Counter

import sqlalchemy as sa

from govkit.events import subject_for
from govplat.payments.v1 import events_pb2
from payments import models


async def test_a_hundred_concurrent_creates_sharing_ten_idempotency_keys_make_ten_payments(
    pay, payment_body
):
    keys = [f"key-{n}" for n in range(10)]
    async with pay.http(timeout=60) as api:

        async def create(n: int):
            key = keys[n % 10]
            return key, await api.post(
                "/v1/payments",
                json=payment_body(reference=f"ref-{key}"),
                headers={"Idempotency-Key": key},
            )

        answers = await asyncio.gather(*(create(n) for n in range(100)))
    statuses = Counter(answer.status_code for _key, answer in answers)
    assert set(statuses) <= {200, 201}, statuses
    assert statuses[201] == 10
    by_key: dict[str, set[str]] = {}
    for key, answer in answers:
        by_key.setdefault(key, set()).add(answer.json()["payment_id"])
    assert all(len(ids) == 1 for ids in by_key.values()), by_key
    assert len({next(iter(ids)) for ids in by_key.values()}) == 10
    async with pay.db.read() as session:
        made = await session.scalar(
            sa.select(sa.func.count())
            .select_from(models.Payment)
            .where(models.Payment.service_id == pay.service_id)
        )
        announced = await session.scalar(
            sa.select(sa.func.count())
            .select_from(models.messaging.outbox)
            .where(models.messaging.outbox.c.subject == subject_for(events_pb2.PaymentCreated))
        )
    assert made == 10
    assert announced == 10


async def test_fifty_concurrent_refunds_of_100_against_1000_pence_make_exactly_ten(pay):
    created = await pay.create(amount=1000)
    await pay.take(created)
    path = f"/v1/payments/{created['payment_id']}/refunds"
    async with pay.http(timeout=60) as api:
        answers = await asyncio.gather(*(api.post(path, json={"amount": 100}) for _ in range(50)))
        statuses = Counter(answer.status_code for answer in answers)
        assert statuses == {202: 10, 400: 40}, statuses
        refused = {answer.json()["code"] for answer in answers if answer.status_code == 400}
        assert refused == {"P0603"}
        listed = (await api.get(path)).json()["_embedded"]["refunds"]
        payment = (await api.get(f"/v1/payments/{created['payment_id']}")).json()
    assert len(listed) == 10 and sum(refund["amount"] for refund in listed) == 1000
    assert all(refund["status"] == "success" for refund in listed)
    assert payment["refund_summary"] == {
        "status": "full",
        "amount_available": 0,
        "amount_submitted": 1000,
    }
    async with pay.db.read() as session:
        lines = (
            await session.execute(
                sa.select(models.LedgerLine.side, sa.func.sum(models.LedgerLine.amount))
                .where(
                    models.LedgerLine.payment_id == created["payment_id"],
                    models.LedgerLine.transaction_type == "refund",
                )
                .group_by(models.LedgerLine.side)
            )
        ).all()
    assert dict(lines) == {"debit": 1000, "credit": 1000}


async def test_concurrent_refunds_with_refund_amount_available_let_exactly_one_through(pay):
    created = await pay.create(amount=1000)
    await pay.take(created)
    path = f"/v1/payments/{created['payment_id']}/refunds"
    async with pay.http(timeout=60) as api:
        answers = await asyncio.gather(
            *(
                api.post(path, json={"amount": 100, "refund_amount_available": 1000})
                for _ in range(20)
            )
        )
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {202: 1, 412: 19}, statuses
