"""An acquirer that does not answer never loses what the platform accepted: the payer's
confirmed payment is ``success`` and captured later, a refund is ``submitted`` and
paid later, an authorisation without an answer is Pay's ``error``; nothing is taken
or returned twice."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from payments import models
from payments.acquirer import SandboxAcquirer
from payments.service import settlement
from payments.service.payments import sweep_forever


class UnansweringAcquirer(SandboxAcquirer):
    """The sandbox, except that the calls named in ``down`` raise (a timeout, say);
    records every call that got an answer."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.answered: list[tuple[str, str]] = []

    def _call(self, name: str, key: str) -> None:
        if name in self.down:
            raise TimeoutError(f"{name} timed out")
        self.answered.append((name, key))

    async def authorise(self, payment_id, card_number, amount):
        self._call("authorise", payment_id)
        return await super().authorise(payment_id, card_number, amount)

    async def capture(self, payment_id, provider_id):
        self._call("capture", payment_id)
        return True

    async def cancel(self, payment_id, provider_id):
        self._call("cancel", payment_id)
        return True

    async def refund(self, refund_id, provider_id, amount):
        self._call("refund", refund_id)
        return True


def unanswering(pay) -> UnansweringAcquirer:
    acquirer = UnansweringAcquirer()
    pay.context.acquirer = pay.context.payments.acquirer = acquirer
    return acquirer


async def count(pay, model, **where) -> int:
    async with pay.db.read() as session:
        query = sa.select(sa.func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(await session.scalar(query))


async def test_a_confirmed_payment_is_success_at_once_and_captured_when_the_acquirer_answers(pay):
    acquirer = unanswering(pay)
    created = await pay.create()
    payment_id = created["payment_id"]
    acquirer.down = {"capture"}
    done = await pay.take(created)
    assert done.headers["location"] == created["return_url"]
    payment = await pay.read(payment_id)
    assert payment["state"] == {"status": "success", "finished": True}
    assert "capture_submit_time" not in payment["settlement_summary"]

    assert await settlement.retry_due(pay.context.payments, grace_seconds=0) == 0
    acquirer.down = set()
    assert await settlement.retry_due(pay.context.payments, grace_seconds=3600) == 0
    assert await settlement.retry_due(pay.context.payments, grace_seconds=0) == 1
    assert await settlement.retry_due(pay.context.payments, grace_seconds=0) == 0
    payment = await pay.read(payment_id)
    assert "capture_submit_time" in payment["settlement_summary"]
    assert payment["settlement_summary"]["captured_date"]
    assert acquirer.answered.count(("capture", payment_id)) == 1
    assert await count(pay, models.LedgerLine, payment_id=payment_id) == 2


async def test_a_refund_the_acquirer_does_not_answer_is_submitted_counted_and_paid_later(pay):
    acquirer = unanswering(pay)
    created = await pay.create(amount=1000)
    await pay.take(created)
    path = f"/v1/payments/{created['payment_id']}/refunds"
    acquirer.down = {"refund"}
    async with pay.http() as api:
        first = await api.post(path, json={"amount": 600})
        assert first.status_code == 202
        assert first.json()["status"] == "submitted"
        more = await api.post(path, json={"amount": 500})
        assert more.status_code == 400 and more.json()["code"] == "P0603"
        summary = (await api.get(f"/v1/payments/{created['payment_id']}")).json()
        assert summary["refund_summary"]["amount_available"] == 400
        assert summary["refund_summary"]["amount_submitted"] == 600

        acquirer.down = set()
        assert await settlement.retry_due(pay.context.payments, grace_seconds=0) == 1
        refund_id = first.json()["refund_id"]
        settled = (await api.get(f"{path}/{refund_id}")).json()
        assert settled["status"] == "success"
    assert await settlement.retry_due(pay.context.payments, grace_seconds=0) == 0
    assert acquirer.answered.count(("refund", refund_id)) == 1
    assert await count(pay, models.LedgerLine, transaction_id=refund_id) == 2


async def test_an_authorisation_without_an_answer_is_pays_error_p0050(pay):
    acquirer = unanswering(pay)
    acquirer.down = {"authorise"}
    created = await pay.create()
    answer = await pay.take(created)
    assert answer.headers["location"] == f"/pay/result/{created['payment_id']}"
    state = (await pay.read(created["payment_id"]))["state"]
    assert (state["status"], state["code"]) == ("error", "P0050")


async def test_a_service_capture_or_cancel_succeeds_while_the_acquirer_is_down(pay):
    acquirer = unanswering(pay)
    delayed = await pay.create(delayed_capture=True)
    await pay.take(delayed)
    other = await pay.create()
    async with pay.browser() as browser:
        await pay.pay_with(browser, other)  # submitted: authorised, not confirmed
    acquirer.down = {"capture", "cancel"}
    async with pay.http() as api:
        captured = await api.post(f"/v1/payments/{delayed['payment_id']}/capture")
        cancelled = await api.post(f"/v1/payments/{other['payment_id']}/cancel")
    assert captured.status_code == 204 and cancelled.status_code == 204
    assert (await pay.read(delayed["payment_id"]))["state"]["status"] == "success"
    assert (await pay.read(other["payment_id"]))["state"]["code"] == "P0040"
    acquirer.down = set()
    assert await settlement.retry_due(pay.context.payments, grace_seconds=0) == 1
    assert ("capture", delayed["payment_id"]) in acquirer.answered


async def test_the_sweeper_settles_what_the_acquirer_left_unanswered(pay):
    acquirer = unanswering(pay)
    created = await pay.create()
    acquirer.down = {"capture"}
    await pay.take(created)
    acquirer.down = set()
    pay.context.payments.settle_grace_seconds = 0
    stop = asyncio.Event()
    sweeper = asyncio.create_task(sweep_forever(pay.context.payments, stop, every=0.05))
    try:
        for _ in range(100):
            if (
                "capture_submit_time"
                in (await pay.read(created["payment_id"]))["settlement_summary"]
            ):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(sweeper, 5)
    assert ("capture", created["payment_id"]) in acquirer.answered
