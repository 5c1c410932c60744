"""Settlement: the acquirer's part after the platform has decided, done until it is done.

What the platform accepted is never lost to an acquirer that is slow, down, or a
process that dies mid-call:

- A payment is ``success`` as soon as the payer confirms (or the service captures a
  delayed-capture payment): GOV.UK Pay's charge is then "capture approved", which it
  reports as ``success``, and captures afterwards. :func:`capture` asks the acquirer
  at once; until it has answered, ``capture_submitted_at`` stays empty.
- A refund is ``submitted`` (and counted against the payment) before the acquirer is
  asked; :func:`settle_refund` records its answer.
- :func:`retry_due`, run by the sweeper, asks again for every capture and refund left
  unanswered for longer than a grace period. Acquirer calls are keyed by the payment's
  or refund's id, so asking twice never takes or returns money twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from govkit.db import Database, utcnow
from govkit.outbox import add_event
from govplat.payments.v1 import events_pb2
from payments import repository
from payments.acquirer import Acquirer
from payments.models import Refund, messaging
from payments.service import ledger, webhooks

if TYPE_CHECKING:
    from payments.service.payments import Payments

log = logging.getLogger(__name__)
SOURCE = "//govplat/payments"
T = TypeVar("T")


class AcquirerUnavailable(Exception):
    """The acquirer did not answer (timed out, refused, failed): the outcome is unknown."""


async def ask(call: Awaitable[T]) -> T:
    """The acquirer's answer to ``call``.

    Raises:
        AcquirerUnavailable: for whatever the adapter raised (logged by type only: an
            adapter's error may carry request data).
    """
    try:
        return await call
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("the acquirer did not answer: %s", type(exc).__name__)
        raise AcquirerUnavailable(type(exc).__name__) from None


async def capture(db: Database, acquirer: Acquirer, payment_id: str) -> bool:
    """Ask the acquirer to capture a ``success`` payment not captured yet, and record
    when (``capture_submitted_at``, ``captured_at``). Whether it is captured now."""
    async with db.read() as session:
        payment = await repository.payment(session, payment_id)
        if payment is None or payment.status != "success":
            return False
        if payment.capture_submitted_at is not None:
            return True
        provider_id = payment.provider_id or ""
    try:
        captured = await ask(acquirer.capture(payment_id, provider_id))
    except AcquirerUnavailable:
        return False
    if not captured:
        log.warning("the acquirer refused to capture payment %s", payment_id)
        return False
    async with db.write() as session:
        payment = await repository.payment(session, payment_id, lock=True)
        if payment is not None and payment.capture_submitted_at is None:
            now = utcnow()
            payment.capture_submitted_at = now
            payment.captured_at = now
    return True


async def release(acquirer: Acquirer, payment_id: str, provider_id: str | None) -> None:
    """Release the authorisation of a payment that will not be taken (best effort: an
    authorisation not released lapses at the acquirer)."""
    if not provider_id:
        return
    try:
        await ask(acquirer.cancel(payment_id, provider_id))
    except AcquirerUnavailable:
        pass


async def settle_refund(db: Database, acquirer: Acquirer, refund_id: str, origin: str) -> Refund:
    """Ask the acquirer to pay a ``submitted`` refund and record the answer: ``success``
    (ledger lines, ``RefundSucceeded``, webhook ``card_payment_refunded``) or ``error``
    (the money is available again). A refund already settled is returned as it is; one
    the acquirer did not answer stays ``submitted`` for :func:`retry_due`."""
    async with db.read() as session:
        refund = await repository.refund(session, refund_id)
        assert refund is not None
        if refund.status != "submitted":
            return refund
        payment = await repository.payment(session, refund.payment_id)
        assert payment is not None
        provider_id, amount = payment.provider_id or "", refund.amount
    try:
        paid = await ask(acquirer.refund(refund_id, provider_id, amount))
    except AcquirerUnavailable:
        return refund
    async with db.write() as session:
        refund = await repository.refund(session, refund_id)
        payment = await repository.payment(session, refund.payment_id, lock=True)
        assert refund is not None and payment is not None
        if refund.status != "submitted":
            return refund
        refund.settled_at = utcnow()
        if paid:
            refund.status = "success"
            await ledger.book_refund(session, refund, payment, refund.settled_at)
            await add_event(
                session,
                messaging,
                events_pb2.RefundSucceeded(
                    refund_id=refund.id, payment_id=payment.id, amount=refund.amount
                ),
                source=SOURCE,
                subject=refund.id,
            )
            await webhooks.queue_for_payment(session, payment, ["card_payment_refunded"], origin)
        else:
            refund.status = "error"
        await session.flush()
        return refund


async def retry_due(payments: Payments, grace_seconds: float) -> int:
    """Ask the acquirer again for captures and refunds unanswered for longer than
    ``grace_seconds``; how many are settled now."""
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    async with payments.db.read() as session:
        uncaptured = await repository.uncaptured(session, before=cutoff)
        unsettled = await repository.unsettled_refunds(session, before=cutoff)
    done = 0
    for payment_id in uncaptured:
        done += await capture(payments.db, payments.acquirer, payment_id)
    for refund_id in unsettled:
        refund = await settle_refund(payments.db, payments.acquirer, refund_id, payments.origin)
        done += refund.status != "submitted"
    return done
