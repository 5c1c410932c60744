"""Refunds: full or partial, as many as wanted, never more than was paid.

Creating a refund is serialised per payment: the payment's row is locked (``FOR
UPDATE`` on PostgreSQL; SQLite's writers queue on ``BEGIN IMMEDIATE``) while the
refunds so far are read and the new one is written, so concurrent refunds can never
add up to more than the payment. Pay's checks, in Pay's order
(pay-connector ``RefundService``):

1. the payment can be refunded (``success``, money left), else 400 ``P0603`` with its
   refund status (``pending``, ``unavailable``, ``full``);
2. ``refund_amount_available``, when given, equals what is left, else 412 ``P0604``
   (so a blind retry of a refund whose answer was lost is refused, not paid twice);
3. the amount is at most what is left, else 400 ``P0603`` ``amount_not_available``.

The sandbox acquirer pays a refund at once: it is ``success`` (test accounts skip
``submitted`` in Pay too), with its ledger lines and a ``RefundSucceeded`` event, and
the payment's webhooks get ``card_payment_refunded``; a refund the acquirer has not
answered is ``submitted`` (202, as Pay answers live refunds) and is settled later
(:mod:`payments.service.settlement`).
"""

from __future__ import annotations

from govkit.db import Database, utcnow
from payments import repository
from payments.acquirer import Acquirer
from payments.errors import PayError, invalid, missing, not_found, unparseable
from payments.models import Refund
from payments.service import Caller, new_id
from payments.service.settlement import settle_refund
from payments.validation import MAX_AMOUNT, is_integer


def refund_request(data: object) -> tuple[int, int | None]:
    """(``amount``, ``refund_amount_available``) of a create-refund body.

    Raises:
        PayError: 400 ``P0697`` not an object; 400 ``P0601`` no amount; 422 ``P0602`` a
            value that is not an integer in 1..10,000,000.
    """
    if not isinstance(data, dict):
        raise unparseable("P0697")
    if data.get("amount") is None:
        raise missing("amount", "P0601")
    values = []
    for field in ("amount", "refund_amount_available"):
        value = data.get(field)
        if value is None:
            values.append(None)
            continue
        if not is_integer(value):
            raise invalid(field, "Must be a valid numeric format", code="P0602")
        if value > MAX_AMOUNT:
            raise invalid(field, f"Must be less than or equal to {MAX_AMOUNT}", code="P0602")
        if value < 1:
            raise invalid(field, "Must be greater than or equal to 1", code="P0602")
        values.append(value)
    return values[0], values[1]


def refund_status(payment, refunded: int) -> str:
    """The payment's refund status (``refund_summary.status``)."""
    if payment.status == "success":
        return "available" if payment.amount - refunded > 0 else "full"
    return "unavailable" if payment.finished else "pending"


async def create_refund(
    db: Database, acquirer: Acquirer, caller: Caller, payment_id: str, data: object, origin: str
) -> Refund:
    """Refund part or all of a payment (see the module docstring for the checks).

    Raises:
        PayError: 404 ``P0600``; the body's 400/422; 400 ``P0603``; 412 ``P0604``.
    """
    amount, expected = refund_request(data)
    async with db.write() as session:
        payment = await repository.payment(session, payment_id, account=caller.account, lock=True)
        if payment is None:
            raise not_found("P0600")
        refunded = await repository.refunded(session, payment.id)
        status = refund_status(payment, refunded)
        if status != "available":
            raise PayError(
                "P0603",
                f"The payment is not available for refund. Payment refund status: {status}",
                status=400,
            )
        available = payment.amount - refunded
        if expected is not None and expected != available:
            raise PayError("P0604", "Refund amount available mismatch.", status=412)
        if amount > available:
            raise PayError(
                "P0603",
                "The payment is not available for refund. Payment refund status: amount_not_available",
                status=400,
            )
        now = utcnow()
        refund = Refund(
            id=new_id(),
            payment_id=payment.id,
            account=payment.account,
            amount=amount,
            status="submitted",
            created_at=now,
        )
        session.add(refund)
    # The acquirer is asked once the refund is counted (``submitted``, committed), so
    # a concurrent refund cannot take the same money, and one it does not answer is
    # asked again by the sweeper.
    return await settle_refund(db, acquirer, refund.id, origin)


async def get_refund(db: Database, caller: Caller, payment_id: str, refund_id: str) -> Refund:
    """One refund of one of the account's payments.

    Raises:
        PayError: 404 ``P0700``.
    """
    async with db.read() as session:
        found = await repository.refund(
            session, refund_id, payment_id=payment_id, account=caller.account
        )
    if found is None:
        raise not_found("P0700")
    return found


async def list_refunds(db: Database, caller: Caller, payment_id: str) -> list[Refund]:
    """A payment's refunds, oldest first.

    Raises:
        PayError: 404 ``P0800``.
    """
    async with db.read() as session:
        payment = await repository.payment(session, payment_id, account=caller.account)
        if payment is None:
            raise not_found("P0800")
        return await repository.refunds_of(session, payment.id)
