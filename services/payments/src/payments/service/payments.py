"""Payments: created by a service, paid by the payer, captured, cancelled or expired
(GOV.UK Pay's lifecycle).

created → started (the payer opened the pages) → submitted (the acquirer authorised)
→ success, or capturable (delayed capture) → success when the service captures;
failed (``P0010`` rejected, ``P0020`` expired, ``P0030`` cancelled by the payer),
cancelled (``P0040``, by the service) or error (``P0050``) otherwise. A finished
payment never changes again. Every change records an event (``GET .../events``),
and in the same transaction: the outbox event (``PaymentSucceeded``, ``PaymentFailed``),
the webhook messages, and, for a payment taken, its ledger lines.

``Idempotency-Key`` works on every create (GOV.UK Pay honours it for agreement
payments only): the same key with the same body returns the payment first made
(200), with another body it is refused (409 ``P0191``); keys are remembered 24 hours.
Unfinished payments expire after 90 minutes, capturable ones after 120 hours.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import Database, utcnow
from govkit.events import inject_trace_headers
from govkit.group_commit import GroupCommit
from govkit.outbox import add_event, add_rows, outbox_row
from govplat.payments.v1 import events_pb2
from payments import repository
from payments.acquirer import Acquirer
from payments.errors import PayError, invalid, not_found
from payments.models import ChargeToken, IdempotencyKey, Payment, PaymentEvent, messaging
from payments.service import (
    EXPIRED,
    FINISHED,
    SERVICE_CANCELLED,
    TRANSITIONS,
    Caller,
    ledger,
    new_id,
    settlement,
    webhooks,
)
from payments.validation import NewPayment, idempotency_key_of, new_payment

log = logging.getLogger(__name__)
SOURCE = "//govplat/payments"


@dataclass
class Payments:
    """What the payment use cases need: the database, the acquirer, the public origin
    and the time limits (seconds)."""

    db: Database
    acquirer: Acquirer
    origin: str
    payment_expiry_seconds: float = 5400.0
    capture_expiry_seconds: float = 432000.0
    idempotency_seconds: float = 86400.0
    #: How long a capture or refund may wait for the acquirer before it is asked again.
    settle_grace_seconds: float = 60.0
    #: Concurrent creates, written together (:func:`create_payment`).
    creates: GroupCommit[_Pending, Created | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.creates = GroupCommit(lambda pending: _create_batch(self, pending))


def _timestamp(value: datetime):
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def token_hash(token: str) -> str:
    """How a ``next_url`` token is stored (its SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(payment: Payment) -> tuple[str, ChargeToken]:
    token = secrets.token_urlsafe(24)
    return token, ChargeToken(
        token_hash=token_hash(token), payment_id=payment.id, created_at=utcnow()
    )


async def mint_token(session: AsyncSession, payment: Payment) -> str:
    """A new single-use ``next_url`` token for a web payment (each read makes one, as
    Pay's connector does)."""
    token, row = _new_token(payment)
    session.add(row)
    await session.flush()
    return token


def wants_token(payment: Payment) -> bool:
    """Whether ``_links`` offer ``next_url``: web payments, unfinished, not capturable."""
    return (
        payment.authorisation_mode == "web"
        and not payment.finished
        and payment.status != "capturable"
    )


def _event_values(payment: Payment) -> dict:
    return {
        "payment_id": payment.id,
        "status": payment.status,
        "finished": payment.finished,
        "code": payment.code,
        "message": payment.message,
        "created_at": payment.updated_at,
    }


async def record(session: AsyncSession, payment: Payment) -> None:
    """Add the payment's current state to its events."""
    session.add(PaymentEvent(**_event_values(payment)))
    await session.flush()


async def transition(
    session: AsyncSession,
    payment: Payment,
    status: str,
    reason: tuple[str, str] | None = None,
    *,
    origin: str,
) -> None:
    """Move ``payment`` to ``status`` (with Pay's ``reason`` code and message when it did
    not succeed), and write what goes with it: its event, the outbox event, webhook
    messages and, for a payment taken, the ledger.

    Raises:
        PayError: 409 when the move is not one Pay allows (a finished payment).
    """
    if status not in TRANSITIONS.get(payment.status, set()):
        raise PayError("P0502", "Payment state conflict", status=409)
    now = utcnow()
    payment.status = status
    payment.finished = FINISHED[status]
    payment.code, payment.message = reason if reason else (None, None)
    payment.updated_at = now
    await record(session, payment)
    hooks: list[str] = []
    if status == "success":
        await ledger.book_payment(session, payment, now)
        await add_event(
            session,
            messaging,
            events_pb2.PaymentSucceeded(
                payment_id=payment.id,
                service_id=payment.service_id,
                amount=payment.amount,
                reference=payment.reference,
                email=payment.email or "",
                description=payment.description,
                create_time=_timestamp(payment.created_at),
                succeed_time=_timestamp(now),
                key_type="live" if payment.live else "test",
            ),
            source=SOURCE,
            subject=payment.id,
        )
        hooks = ["card_payment_succeeded", "card_payment_captured"]
    elif payment.finished:
        await add_event(
            session,
            messaging,
            events_pb2.PaymentFailed(
                payment_id=payment.id,
                service_id=payment.service_id,
                code=payment.code or "",
                status=status,
            ),
            source=SOURCE,
            subject=payment.id,
        )
        hooks = ["card_payment_expired" if payment.code == EXPIRED[0] else "card_payment_failed"]
    await webhooks.queue_for_payment(session, payment, hooks, origin)


def _request_digest(request: NewPayment) -> bytes:
    return hashlib.sha256(
        json.dumps(asdict(request), sort_keys=True, default=str).encode()
    ).digest()


@dataclass(frozen=True)
class Created:
    """A payment as create answers it: ``replayed`` when an ``Idempotency-Key`` gave
    back an earlier one (200, not 201); ``token`` for its ``next_url``."""

    payment: Payment
    refunded: int
    token: str | None
    replayed: bool = False


async def create_payment(
    payments: Payments, caller: Caller, data: object, idempotency_key: str | None = None
) -> Created:
    """Create a payment from a create-payment body (GOV.UK Pay's rules).

    Raises:
        PayError: Pay's 400/422 for the body, 422 ``P0195``/``P0196`` for MOTO, 400 for
            an unknown or inactive agreement, 409 ``P0191`` for a reused key.
    """
    request = new_payment(data, live=caller.live)
    key = idempotency_key_of(idempotency_key)
    if request.moto:
        raise PayError(
            "P0196",
            "MOTO payments are not enabled for this account. Please contact support if you "
            "would like to process MOTO payments - https://www.payments.service.gov.uk/support/ .",
            status=422,
        )
    if request.authorisation_mode == "moto_api":
        raise PayError(
            "P0195",
            "Using authorisation_mode of moto_api is not allowed for this account",
            status=422,
        )
    digest = _request_digest(request)
    if request.set_up_agreement is None and request.agreement_id is None:
        pending = _Pending(caller, request, key, digest, inject_trace_headers())
        created = await payments.creates.submit(pending)
        if created is not None:
            return created
    # A key seen before, an agreement to look up, or a batch that failed: on its own.
    try:
        async with payments.db.write() as session:
            return await _create(payments, session, caller, request, key, digest)
    except IntegrityError:
        if key is None:
            raise
    # The same key at the same moment on PostgreSQL: the first one made the payment.
    async with payments.db.write() as session:
        return await _create(payments, session, caller, request, key, digest)


@dataclass(frozen=True)
class _Pending:
    """A create waiting for :func:`_create_batch`: a new payment without an agreement,
    with its request's trace context (``trace``) for its outbox event."""

    caller: Caller
    request: NewPayment
    key: str | None
    digest: bytes
    trace: dict[str, str]


async def _create_batch(payments: Payments, pending: list[_Pending]) -> list[Created | None]:
    """Create the payments of ``pending`` in one write transaction (group commit), each
    with what :func:`_create` writes: the payment, its first event, its key, its
    ``next_url`` token and its ``PaymentCreated`` outbox event.

    Returns one result per entry: ``None`` for an entry left to :func:`_create`
    (its key is remembered already, or comes twice in the batch), and ``None`` for
    every entry when the transaction fails, so each gets its own answer.
    """
    try:
        async with payments.db.write() as session:
            now = utcnow()
            keys = {(p.caller.account, p.key) for p in pending if p.key is not None}
            taken = await repository.idempotency_keys_taken(session, "payment", keys)
            results: list[Created | None] = []
            made: list[Payment] = []
            rows: list[object] = []
            states: list[dict] = []
            events: list[dict] = []
            for entry in pending:
                if entry.key is not None:
                    if (entry.caller.account, entry.key) in taken:
                        results.append(None)
                        continue
                    taken.add((entry.caller.account, entry.key))
                payment = _new_payment(entry.caller, entry.request, now)
                made.append(payment)
                states.append(_event_values(payment))
                if entry.key is not None:
                    rows.append(_key_row(payment, entry.key, entry.digest))
                token = None
                if wants_token(payment):
                    token, token_row = _new_token(payment)
                    rows.append(token_row)
                events.append(
                    outbox_row(
                        _created_event(payment),
                        source=SOURCE,
                        subject=payment.id,
                        time=now,
                        trace_headers=entry.trace,
                    )
                )
                results.append(Created(payment, 0, token))
            session.add_all(made)
            await session.flush()  # before the rows that refer to them
            session.add_all(rows)
            await session.flush()
            await repository.add_events(session, states)
            await add_rows(session, messaging, events)
    except SQLAlchemyError as exc:
        log.info("a batch of %d creates failed, each is retried: %s", len(pending), exc)
        return [None] * len(pending)
    return results


def _new_payment(caller: Caller, request: NewPayment, now: datetime) -> Payment:
    """A ``created`` payment of ``caller`` from a checked request."""
    return Payment(
        id=new_id(),
        account=caller.account,
        service_id=caller.service_id,
        live=caller.live,
        amount=request.amount,
        description=request.description,
        reference=request.reference,
        return_url=request.return_url,
        email=request.email,
        language=request.language,
        metadata_json=json.dumps(request.metadata, ensure_ascii=False)
        if request.metadata
        else None,
        delayed_capture=request.delayed_capture,
        moto=request.moto,
        authorisation_mode=request.authorisation_mode,
        agreement_id=request.agreement_id,
        set_up_agreement=request.set_up_agreement,
        agreement_payment_type=request.agreement_payment_type,
        prefilled=json.dumps(request.prefilled, ensure_ascii=False) if request.prefilled else None,
        status="created",
        finished=False,
        created_at=now,
        updated_at=now,
    )


def _key_row(payment: Payment, key: str, digest: bytes) -> IdempotencyKey:
    return IdempotencyKey(
        account=payment.account,
        resource="payment",
        key=key,
        request_digest=digest,
        resource_id=payment.id,
        created_at=payment.created_at,
    )


def _created_event(payment: Payment) -> events_pb2.PaymentCreated:
    return events_pb2.PaymentCreated(
        payment_id=payment.id,
        service_id=payment.service_id,
        amount=payment.amount,
        reference=payment.reference,
        create_time=_timestamp(payment.created_at),
        authorisation_mode=payment.authorisation_mode,
        key_type="live" if payment.live else "test",
    )


async def _create(
    payments: Payments,
    session: AsyncSession,
    caller: Caller,
    request: NewPayment,
    key: str | None,
    digest: bytes,
) -> Created:
    now = utcnow()
    if key is not None:
        seen = await repository.idempotency_key(session, caller.account, "payment", key)
        if seen is not None and seen.created_at < now - timedelta(
            seconds=payments.idempotency_seconds
        ):
            await session.delete(seen)
            await session.flush()
            seen = None
        if seen is not None:
            if bytes(seen.request_digest) != digest:
                raise PayError(
                    "P0191",
                    "The `Idempotency-Key` you sent in the request header has already been used "
                    "to create a payment.",
                    status=409,
                )
            payment = await repository.payment(session, seen.resource_id)
            assert payment is not None
            token = await mint_token(session, payment) if wants_token(payment) else None
            return Created(
                payment, await repository.refunded(session, payment.id), token, replayed=True
            )
    if request.set_up_agreement is not None:
        agreement = await repository.agreement(
            session, request.set_up_agreement, account=caller.account
        )
        if agreement is None:
            raise PayError(
                "P0103",
                "Invalid attribute value: set_up_agreement. Agreement ID does not exist",
                status=400,
                field="set_up_agreement",
            )
    if request.agreement_id is not None:
        agreement = await repository.agreement(
            session, request.agreement_id, account=caller.account
        )
        if agreement is None:
            raise invalid("agreement_id", "Agreement does not exist", status=400)
        if agreement.status != "active":
            raise invalid("agreement_id", "Agreement must be active", status=400)
    payment = _new_payment(caller, request, now)
    session.add(payment)
    await session.flush()
    await record(session, payment)
    if key is not None:
        session.add(_key_row(payment, key, digest))
        await session.flush()
    await add_event(session, messaging, _created_event(payment), source=SOURCE, subject=payment.id)
    token = await mint_token(session, payment) if wants_token(payment) else None
    return Created(payment, 0, token)


async def get_payment(
    payments: Payments, caller: Caller, payment_id: str, *, code: str = "P0200"
) -> Created:
    """One of the account's payments, with a fresh ``next_url`` token while it has one.

    Raises:
        PayError: 404 with ``code`` (``P0200``).
    """
    async with payments.db.read() as session:
        payment = await repository.payment(session, payment_id, account=caller.account)
        if payment is None:
            raise not_found(code)
        refunded = await repository.refunded(session, payment.id)
    token = None
    if wants_token(payment):
        async with payments.db.write() as session:
            token = await mint_token(session, payment)
    return Created(payment, refunded, token)


async def payment_events(
    payments: Payments, caller: Caller, payment_id: str
) -> tuple[Payment, list[PaymentEvent]]:
    """A payment and its states, oldest first.

    Raises:
        PayError: 404 ``P0300``.
    """
    async with payments.db.read() as session:
        payment = await repository.payment(session, payment_id, account=caller.account)
        if payment is None:
            raise not_found("P0300")
        return payment, await repository.events(session, payment.id)


async def cancel_payment(payments: Payments, caller: Caller, payment_id: str) -> None:
    """Cancel an unfinished payment (``cancelled``, ``P0040``).

    Raises:
        PayError: 404 ``P0500``; 400 ``P0501`` when it is finished.
    """
    async with payments.db.write() as session:
        payment = await repository.payment(session, payment_id, account=caller.account, lock=True)
        if payment is None:
            raise not_found("P0500")
        if payment.finished or (
            payment.authorisation_mode == "agreement" and payment.status != "created"
        ):
            raise PayError("P0501", "Cancellation of payment failed", status=400)
        provider_id = payment.provider_id
        await transition(session, payment, "cancelled", SERVICE_CANCELLED, origin=payments.origin)
    await settlement.release(payments.acquirer, payment_id, provider_id)


async def capture_payment(payments: Payments, caller: Caller, payment_id: str) -> None:
    """Capture a delayed-capture payment: ``capturable`` → ``success`` at once, then the
    acquirer captures (asked again later if it does not answer, see
    :mod:`payments.service.settlement`); capturing one already taken is fine, as in Pay.

    Raises:
        PayError: 404 ``P1000``; 409 ``P1003`` when it is not capturable.
    """
    async with payments.db.write() as session:
        payment = await repository.payment(session, payment_id, account=caller.account, lock=True)
        if payment is None:
            raise not_found("P1000")
        if payment.status == "success":
            return
        if payment.status != "capturable":
            raise PayError("P1003", "Payment cannot be captured", status=409)
        await transition(session, payment, "success", origin=payments.origin)
    await settlement.capture(payments.db, payments.acquirer, payment_id)


async def expire_due(payments: Payments) -> int:
    """Expire what is due (``failed``, ``P0020``): unfinished payments older than the
    payment expiry, capturable ones older than the capture expiry; forget old
    idempotency keys. Returns how many payments expired."""
    now = utcnow()
    async with payments.db.read() as session:
        due = await repository.expirable(
            session,
            created_before=now - timedelta(seconds=payments.payment_expiry_seconds),
            statuses=("created", "started", "submitted"),
        )
        due += await repository.expirable(
            session,
            created_before=now - timedelta(seconds=payments.capture_expiry_seconds),
            statuses=("capturable",),
        )
    expired = 0
    for payment_id in due:
        async with payments.db.write() as session:
            payment = await repository.payment(session, payment_id, lock=True)
            if payment is None or payment.finished:
                continue
            limit = (
                payments.capture_expiry_seconds
                if payment.status == "capturable"
                else payments.payment_expiry_seconds
            )
            if payment.created_at >= now - timedelta(seconds=limit):
                continue
            provider_id = payment.provider_id
            await transition(session, payment, "failed", EXPIRED, origin=payments.origin)
            expired += 1
        await settlement.release(payments.acquirer, payment_id, provider_id)
    async with payments.db.write() as session:
        await repository.forget_idempotency_keys(
            session, now - timedelta(seconds=payments.idempotency_seconds)
        )
    return expired


async def sweep_forever(payments: Payments, stop: asyncio.Event, every: float) -> None:
    """Every ``every`` seconds until ``stop`` is set: expire what is due
    (:func:`expire_due`) and ask the acquirer again for unanswered captures and refunds
    (:func:`payments.service.settlement.retry_due`)."""
    while not stop.is_set():
        try:
            count = await expire_due(payments)
            if count:
                log.info("expired %d payments", count)
            count = await settlement.retry_due(payments, payments.settle_grace_seconds)
            if count:
                log.info("settled %d captures and refunds", count)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the sweeper must keep going
            log.warning("sweeping payments failed: %s", type(exc).__name__)
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass
