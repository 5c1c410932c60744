"""Database models of the payments service (SQLAlchemy 2.0, its own metadata).

Names follow GOV.UK Pay: a *payment* (a charge) of an *account* (one service's live
or test gateway account) moves through its *status*; *refunds* give money back;
*agreements* let a service take recurring payments. Card numbers are never stored:
a payment keeps only the card's brand, type, last four digits and expiry date
(and the cardholder's name and billing address, which Pay returns).
Money is integer pence.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from govkit.db import UTCDateTime, new_metadata, utcnow
from govkit.outbox import MessagingTables


class Base(DeclarativeBase):
    """Declarative base of the payments service's models."""

    metadata = new_metadata()


#: The outbox (events to publish) and inbox (events handled) of this service.
messaging = MessagingTables(Base.metadata)


class Payment(Base):
    """One card payment.

    ``account``: ``<service id>:<live|test>`` (Pay's gateway account). ``status``:
    Pay's external status (``created``, ``started``, ``submitted``, ``capturable``,
    ``success``, ``failed``, ``cancelled``, ``error``) with ``code`` and ``message``
    when it did not succeed. ``metadata_json``: the flat metadata object.
    ``prefilled``: the prefilled cardholder details (JSON). ``card_*``: what the
    payer's card showed (never the number). ``page_nonce``: the one-time token of the
    form the payer was last shown; a POST must carry it and uses it up (CSRF and
    double-submission protection). ``instrument_token``: the acquirer's token for the
    card of a set-up payment, until its agreement takes it.
    """

    __tablename__ = "payment"
    __table_args__ = (
        Index("ix_payment_search", "account", "created_at", "id"),
        Index("ix_payment_expiry", "finished", "created_at"),
        Index("ix_payment_reference", "account", "reference"),
        Index("ix_payment_uncaptured", "status", "capture_submitted_at", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    account: Mapped[str] = mapped_column(String(48))
    service_id: Mapped[str] = mapped_column(String(36))
    live: Mapped[bool] = mapped_column(Boolean)
    amount: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(String(255))
    reference: Mapped[str] = mapped_column(String(255))
    return_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    language: Mapped[str] = mapped_column(String(2))
    metadata_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    delayed_capture: Mapped[bool] = mapped_column(Boolean, default=False)
    moto: Mapped[bool] = mapped_column(Boolean, default=False)
    authorisation_mode: Mapped[str] = mapped_column(String(16))
    agreement_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    set_up_agreement: Mapped[str | None] = mapped_column(String(26), nullable=True)
    agreement_payment_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    prefilled: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    message: Mapped[str | None] = mapped_column(String(255), nullable=True)
    provider_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    card_brand: Mapped[str | None] = mapped_column(String(32), nullable=True)
    card_type: Mapped[str | None] = mapped_column(String(8), nullable=True)
    card_last_digits: Mapped[str | None] = mapped_column(String(4), nullable=True)
    card_expiry: Mapped[str | None] = mapped_column(String(5), nullable=True)
    cardholder_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    billing_address: Mapped[str | None] = mapped_column(Text, nullable=True)
    page_nonce: Mapped[str | None] = mapped_column(String(64), nullable=True)
    instrument_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    capture_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PaymentEvent(Base):
    """One state a payment went through (``GET /v1/payments/{id}/events``)."""

    __tablename__ = "payment_event"
    __table_args__ = (Index("ix_payment_event_payment", "payment_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payment.id"))
    status: Mapped[str] = mapped_column(String(16))
    finished: Mapped[bool] = mapped_column(Boolean)
    code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    message: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChargeToken(Base):
    """A single-use ``next_url`` token (stored as its SHA-256) that opens the payment pages."""

    __tablename__ = "charge_token"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payment.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IdempotencyKey(Base):
    """A create request's ``Idempotency-Key`` (kept 24 hours): the digest of the body it
    came with and what it created (a payment or an agreement)."""

    __tablename__ = "idempotency_key"

    account: Mapped[str] = mapped_column(String(48), primary_key=True)
    resource: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_digest: Mapped[bytes] = mapped_column(LargeBinary)
    resource_id: Mapped[str] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Refund(Base):
    """A full or partial refund of a payment (``status``: ``submitted``, ``success``,
    ``error``)."""

    __tablename__ = "refund"
    __table_args__ = (
        Index("ix_refund_payment", "payment_id", "created_at"),
        Index("ix_refund_search", "account", "created_at", "id"),
        Index("ix_refund_status", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payment.id"))
    account: Mapped[str] = mapped_column(String(48))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Agreement(Base):
    """A recurring-payment agreement (``status``: ``created``, ``active``, ``cancelled``,
    ``inactive``); ``instrument``: the card set up by its first payment (JSON, no number)."""

    __tablename__ = "agreement"
    __table_args__ = (Index("ix_agreement_search", "account", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    account: Mapped[str] = mapped_column(String(48))
    service_id: Mapped[str] = mapped_column(String(36))
    reference: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(255))
    user_identifier: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    instrument: Mapped[str | None] = mapped_column(Text, nullable=True)
    instrument_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    instrument_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Webhook(Base):
    """A service's webhook subscription (live or test): where Pay-style events go.

    ``event_types``: space-separated (``card_payment_succeeded`` ...). ``signing_secret``:
    the HMAC-SHA256 key of ``Pay-Signature`` (kept: signing needs it).
    """

    __tablename__ = "webhook"
    __table_args__ = (Index("ix_webhook_account", "account"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    account: Mapped[str] = mapped_column(String(48))
    service_id: Mapped[str] = mapped_column(String(36))
    callback_url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    event_types: Mapped[str] = mapped_column(String(512))
    signing_secret: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookMessage(Base):
    """One event to deliver to one webhook (the exact body, so retries send the same
    bytes and the same ``Pay-Signature``)."""

    __tablename__ = "webhook_message"
    __table_args__ = (Index("ix_webhook_message_webhook", "webhook_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhook.id"))
    event_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(26))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LedgerLine(Base):
    """One line of a balanced double-entry transaction (a payment taken or a refund).

    Each transaction (``transaction_id``: the payment or refund id) has a debit and a
    credit line of the same amount: a payment debits ``card_clearing`` (owed by the
    acquirer) and credits ``service:<id>`` (owed to the service); a refund the reverse.
    ``booked_on``: the UTC date the money moved.
    """

    __tablename__ = "ledger_line"
    __table_args__ = (
        Index("ix_ledger_line_date", "booked_on", "id"),
        UniqueConstraint("transaction_id", "side", name="uq_ledger_line_transaction_side"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(String(26))
    transaction_type: Mapped[str] = mapped_column(String(8))
    payment_id: Mapped[str] = mapped_column(String(26))
    service_id: Mapped[str] = mapped_column(String(36))
    account: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(6))
    amount: Mapped[int] = mapped_column(BigInteger)
    booked_on: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
