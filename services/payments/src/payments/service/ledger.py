"""The ledger: every payment taken and every refund paid, as balanced double entries.

A payment taken (``success``) debits ``card_clearing`` (the acquirer owes the money)
and credits ``service:<service id>`` (the platform owes it to the service); a refund
paid does the reverse. Each transaction is written once (a unique line per
transaction and side), in the same database transaction as the state change, and
its debits and credits are equal. :func:`reconcile` turns one UTC day into a CSV.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import Database, utcnow
from payments import repository
from payments.models import LedgerLine, Payment, Refund

CLEARING = "card_clearing"


def service_account(service_id: str) -> str:
    """The ledger account of what the platform owes a service."""
    return f"service:{service_id}"


async def book(
    session: AsyncSession,
    *,
    transaction_id: str,
    transaction_type: str,
    payment_id: str,
    service_id: str,
    debit: str,
    credit: str,
    amount: int,
    when: datetime,
) -> None:
    """Write one transaction's two lines (``amount`` pence, positive)."""
    booked_on = when.strftime("%Y-%m-%d")
    for side, account in (("debit", debit), ("credit", credit)):
        session.add(
            LedgerLine(
                transaction_id=transaction_id,
                transaction_type=transaction_type,
                payment_id=payment_id,
                service_id=service_id,
                account=account,
                side=side,
                amount=amount,
                booked_on=booked_on,
                created_at=when,
            )
        )
    await session.flush()


async def book_payment(
    session: AsyncSession, payment: Payment, when: datetime | None = None
) -> None:
    """The lines of a payment taken."""
    await book(
        session,
        transaction_id=payment.id,
        transaction_type="payment",
        payment_id=payment.id,
        service_id=payment.service_id,
        debit=CLEARING,
        credit=service_account(payment.service_id),
        amount=payment.amount,
        when=when or utcnow(),
    )


async def book_refund(
    session: AsyncSession, refund: Refund, payment: Payment, when: datetime | None = None
) -> None:
    """The lines of a refund paid."""
    await book(
        session,
        transaction_id=refund.id,
        transaction_type="refund",
        payment_id=payment.id,
        service_id=payment.service_id,
        debit=service_account(payment.service_id),
        credit=CLEARING,
        amount=refund.amount,
        when=when or utcnow(),
    )


@dataclass(frozen=True)
class Reconciliation:
    """One day's ledger: the CSV and its totals (pence)."""

    csv: str
    payments: int
    refunds: int
    payment_count: int
    refund_count: int
    balanced: bool


COLUMNS = [
    "booked_on",
    "transaction_type",
    "transaction_id",
    "payment_id",
    "service_id",
    "account",
    "side",
    "amount",
]


async def reconcile(db: Database, day: date, service_id: str | None = None) -> Reconciliation:
    """The ledger lines booked on ``day`` (UTC) as CSV, then a totals section: payments
    taken, refunds paid, the net, and whether every transaction balances."""
    booked_on = day.strftime("%Y-%m-%d")
    async with db.read() as session:
        lines = await repository.ledger_lines(session, booked_on, service_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    payments = refunds = 0
    payment_ids: set[str] = set()
    refund_ids: set[str] = set()
    sums: dict[str, int] = {}
    for line in lines:
        service = (
            line.account.removeprefix("service:") if line.account.startswith("service:") else ""
        )
        writer.writerow(
            [
                line.booked_on,
                line.transaction_type,
                line.transaction_id,
                line.payment_id,
                service,
                line.account,
                line.side,
                line.amount,
            ]
        )
        signed = line.amount if line.side == "debit" else -line.amount
        sums[line.transaction_id] = sums.get(line.transaction_id, 0) + signed
        if line.side == "debit":
            if line.transaction_type == "payment":
                payments += line.amount
                payment_ids.add(line.transaction_id)
            else:
                refunds += line.amount
                refund_ids.add(line.transaction_id)
    balanced = all(total == 0 for total in sums.values())
    writer.writerow([])
    writer.writerow(["total", "payments", len(payment_ids), payments])
    writer.writerow(["total", "refunds", len(refund_ids), refunds])
    writer.writerow(["total", "net", "", payments - refunds])
    writer.writerow(["total", "balanced", "", "yes" if balanced else "NO"])
    return Reconciliation(
        out.getvalue(), payments, refunds, len(payment_ids), len(refund_ids), balanced
    )
