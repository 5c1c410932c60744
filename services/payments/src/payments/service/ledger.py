"""The ledger: every payment taken and every refund paid, as balanced double entries.

A payment taken (``success``) debits ``card_clearing:<mode>`` (the acquirer owes the
money) and credits ``service:<service id>:<mode>`` (the platform owes it to the
service); a refund paid does the reverse. ``mode`` is ``live`` or ``test``: test
payments (sandbox cards) are booked apart from real money and totalled apart. Each
transaction is written once (a unique line per transaction and side), in the same
database transaction as the state change, and its debits and credits are equal.
:func:`reconcile` turns one UTC day into a CSV.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import Database, utcnow
from payments import repository
from payments.models import LedgerLine, Payment, Refund

MODES = ("live", "test")


def mode_of(payment: Payment) -> str:
    """``live`` or ``test``: the kind of money a payment is."""
    return "live" if payment.live else "test"


def clearing_account(mode: str) -> str:
    """The ledger account of what the acquirer owes the platform."""
    return f"card_clearing:{mode}"


def service_account(service_id: str, mode: str) -> str:
    """The ledger account of what the platform owes a service."""
    return f"service:{service_id}:{mode}"


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
        debit=clearing_account(mode_of(payment)),
        credit=service_account(payment.service_id, mode_of(payment)),
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
        debit=service_account(payment.service_id, mode_of(payment)),
        credit=clearing_account(mode_of(payment)),
        amount=refund.amount,
        when=when or utcnow(),
    )


@dataclass
class Totals:
    """What one kind of money (``live`` or ``test``) came to on a day (pence)."""

    payments: int = 0
    refunds: int = 0
    payment_count: int = 0
    refund_count: int = 0

    @property
    def net(self) -> int:
        """Payments taken less refunds paid."""
        return self.payments - self.refunds


@dataclass(frozen=True)
class Reconciliation:
    """One day's ledger: the CSV, its totals per mode and whether it balances."""

    csv: str
    totals: dict[str, Totals] = field(default_factory=dict)
    balanced: bool = True


COLUMNS = [
    "booked_on",
    "mode",
    "transaction_type",
    "transaction_id",
    "payment_id",
    "service_id",
    "account",
    "side",
    "amount",
]


async def reconcile(db: Database, day: date, service_id: str | None = None) -> Reconciliation:
    """The ledger lines booked on ``day`` (UTC), of every service or of ``service_id``,
    as CSV (``COLUMNS``; amounts in pence), then the totals: for each mode the payments
    taken and refunds paid (``total,<payments|refunds>,<mode>,<count>,<pence>``) and
    the net (``total,net,<mode>,,<pence>``); last ``total,balanced,,,yes|NO`` (every
    transaction's debits equal its credits)."""
    booked_on = day.strftime("%Y-%m-%d")
    async with db.read() as session:
        lines = await repository.ledger_lines(session, booked_on, service_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    totals = {mode: Totals() for mode in MODES}
    sums: dict[str, int] = {}
    for line in lines:
        mode = line.account.rsplit(":", 1)[-1]
        writer.writerow(
            [
                line.booked_on,
                mode,
                line.transaction_type,
                line.transaction_id,
                line.payment_id,
                line.service_id,
                line.account,
                line.side,
                line.amount,
            ]
        )
        signed = line.amount if line.side == "debit" else -line.amount
        sums[line.transaction_id] = sums.get(line.transaction_id, 0) + signed
        if line.side == "debit" and mode in totals:
            total = totals[mode]
            if line.transaction_type == "payment":
                total.payments += line.amount
                total.payment_count += 1
            else:
                total.refunds += line.amount
                total.refund_count += 1
    balanced = all(value == 0 for value in sums.values())
    writer.writerow([])
    for mode, total in totals.items():
        writer.writerow(["total", "payments", mode, total.payment_count, total.payments])
        writer.writerow(["total", "refunds", mode, total.refund_count, total.refunds])
        writer.writerow(["total", "net", mode, "", total.net])
    writer.writerow(["total", "balanced", "", "", "yes" if balanced else "NO"])
    return Reconciliation(out.getvalue(), totals, balanced)
