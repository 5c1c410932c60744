"""Queries of the payments service. Functions take the caller's session and flush, never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.models import (
    Agreement,
    ChargeToken,
    IdempotencyKey,
    LedgerLine,
    Payment,
    PaymentEvent,
    Refund,
    Webhook,
    WebhookMessage,
)


async def payment(
    session: AsyncSession, payment_id: str, *, account: str | None = None, lock: bool = False
) -> Payment | None:
    """A payment (of ``account`` when given), or ``None``; ``lock``: ``FOR UPDATE``."""
    query = select(Payment).where(Payment.id == payment_id)
    if account is not None:
        query = query.where(Payment.account == account)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def events(session: AsyncSession, payment_id: str) -> list[PaymentEvent]:
    """A payment's states, oldest first."""
    query = (
        select(PaymentEvent).where(PaymentEvent.payment_id == payment_id).order_by(PaymentEvent.id)
    )
    return list((await session.execute(query)).scalars())


async def add_events(session: AsyncSession, states: list[dict]) -> None:
    """Add payment events (``PaymentEvent`` columns but ``id``) in one statement, as
    ORM objects cannot (each would wait for its id)."""
    if states:
        await session.execute(insert(PaymentEvent), states)


async def refunds_of(session: AsyncSession, payment_id: str) -> list[Refund]:
    """A payment's refunds, oldest first."""
    query = (
        select(Refund).where(Refund.payment_id == payment_id).order_by(Refund.created_at, Refund.id)
    )
    return list((await session.execute(query)).scalars())


async def refunded(session: AsyncSession, payment_id: str) -> int:
    """Pence refunded or being refunded (``submitted`` and ``success``; errors do not count)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment_id, Refund.status.in_(("submitted", "success"))
        )
    )
    return int(total or 0)


async def refund(
    session: AsyncSession,
    refund_id: str,
    *,
    payment_id: str | None = None,
    account: str | None = None,
) -> Refund | None:
    """A refund, or ``None``."""
    query = select(Refund).where(Refund.id == refund_id)
    if payment_id is not None:
        query = query.where(Refund.payment_id == payment_id)
    if account is not None:
        query = query.where(Refund.account == account)
    return (await session.execute(query)).scalar_one_or_none()


async def page(
    session: AsyncSession, query, order, *, page_number: int, size: int
) -> tuple[int, list]:
    """(total, the rows of page ``page_number`` of ``size``) of a filtered select."""
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = (
        await session.execute(query.order_by(*order).offset((page_number - 1) * size).limit(size))
    ).scalars()
    return int(total or 0), list(rows)


def payments_query(account: str, conditions: list):
    """Payments of ``account`` matching ``conditions``."""
    return select(Payment).where(Payment.account == account, *conditions)


def refunds_query(account: str, conditions: list):
    """Refunds of ``account`` matching ``conditions``."""
    return select(Refund).where(Refund.account == account, *conditions)


def agreements_query(account: str, conditions: list):
    """Agreements of ``account`` matching ``conditions``."""
    return select(Agreement).where(Agreement.account == account, *conditions)


async def charge_token(
    session: AsyncSession, token_hash: str, *, lock: bool = False
) -> ChargeToken | None:
    """A ``next_url`` token by its hash, or ``None``."""
    query = select(ChargeToken).where(ChargeToken.token_hash == token_hash)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def idempotency_key(
    session: AsyncSession, account: str, resource: str, key: str
) -> IdempotencyKey | None:
    """A remembered ``Idempotency-Key``, or ``None``."""
    return await session.get(IdempotencyKey, (account, resource, key))


async def idempotency_keys_taken(
    session: AsyncSession, resource: str, keys: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of ``keys`` (``(account, key)`` pairs) are remembered for ``resource``, in
    one query (expired ones too: they are forgotten by whoever reuses them)."""
    if not keys:
        return set()
    query = select(IdempotencyKey.account, IdempotencyKey.key).where(
        IdempotencyKey.account.in_({account for account, _key in keys}),
        IdempotencyKey.resource == resource,
        IdempotencyKey.key.in_({key for _account, key in keys}),
    )
    return {(account, key) for account, key in await session.execute(query)} & keys


async def forget_idempotency_keys(session: AsyncSession, before: datetime) -> int:
    """Forget the keys created before ``before``; how many."""
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < before))
    return int(result.rowcount or 0)


async def agreement(
    session: AsyncSession, agreement_id: str, *, account: str | None = None, lock: bool = False
) -> Agreement | None:
    """An agreement, or ``None``."""
    query = select(Agreement).where(Agreement.id == agreement_id)
    if account is not None:
        query = query.where(Agreement.account == account)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def expirable(
    session: AsyncSession, *, created_before: datetime, statuses: tuple[str, ...], limit: int = 500
) -> list[str]:
    """Ids of unfinished payments in ``statuses`` created before ``created_before``."""
    query = (
        select(Payment.id)
        .where(
            Payment.finished.is_(False),
            Payment.status.in_(statuses),
            Payment.created_at < created_before,
        )
        .order_by(Payment.created_at)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def uncaptured(session: AsyncSession, *, before: datetime, limit: int = 500) -> list[str]:
    """Ids of ``success`` payments the acquirer has not captured, last changed before
    ``before``."""
    query = (
        select(Payment.id)
        .where(
            Payment.status == "success",
            Payment.capture_submitted_at.is_(None),
            Payment.updated_at < before,
        )
        .order_by(Payment.updated_at)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def unsettled_refunds(
    session: AsyncSession, *, before: datetime, limit: int = 500
) -> list[str]:
    """Ids of refunds still ``submitted``, created before ``before``."""
    query = (
        select(Refund.id)
        .where(Refund.status == "submitted", Refund.created_at < before)
        .order_by(Refund.created_at)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def webhooks_for(session: AsyncSession, account: str) -> list[Webhook]:
    """The active webhooks of an account."""
    query = select(Webhook).where(Webhook.account == account, Webhook.status == "active")
    return list((await session.execute(query)).scalars())


async def webhooks_of_service(session: AsyncSession, service_id: str) -> list[Webhook]:
    """Every webhook of a service (live and test), newest first."""
    query = (
        select(Webhook).where(Webhook.service_id == service_id).order_by(Webhook.created_at.desc())
    )
    return list((await session.execute(query)).scalars())


async def webhook_message(session: AsyncSession, message_id: str) -> WebhookMessage | None:
    """A webhook message, or ``None``."""
    return await session.get(WebhookMessage, message_id)


async def webhook_messages(
    session: AsyncSession, webhook_id: str, limit: int = 100
) -> list[WebhookMessage]:
    """A webhook's latest messages, newest first."""
    query = (
        select(WebhookMessage)
        .where(WebhookMessage.webhook_id == webhook_id)
        .order_by(WebhookMessage.created_at.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def ledger_lines(
    session: AsyncSession, booked_on: str, service_id: str | None = None
) -> list[LedgerLine]:
    """The ledger lines booked on a UTC date (``YYYY-MM-DD``) (of one service), in order."""
    query = select(LedgerLine).where(LedgerLine.booked_on == booked_on)
    if service_id is not None:
        query = query.where(LedgerLine.service_id == service_id)
    return list((await session.execute(query.order_by(LedgerLine.id))).scalars())
