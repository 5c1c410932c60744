"""Database models of the notify service (SQLAlchemy 2.0, its own metadata).

Names follow GOV.UK Notify: a *service* (the agency's service, the same id as in
identity) has *templates* (versioned) and sends *notifications* built from them with
*personalisation*. Recipients and personalisation are personal data: they are kept
for the retention period and never logged.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from govkit.db import UTCDateTime, new_metadata, utcnow
from govkit.outbox import MessagingTables


class Base(DeclarativeBase):
    """Declarative base of the notify service's models."""

    metadata = new_metadata()


#: The outbox (events to publish) and inbox (events handled) of this service.
messaging = MessagingTables(Base.metadata)


class NotifyService(Base):
    """A service's Notify settings (made with defaults the first time it sends).

    ``permissions``: space-separated, of ``email``, ``sms``, ``letter``,
    ``international_sms``, ``international_letters``, ``sms_to_uk_landlines``,
    ``inbound_sms``. ``restricted``: trial mode (only team members and the guest
    list may receive). ``team_members`` / ``guest_list``: newline-separated email
    addresses and phone numbers, normalised. ``callback_*``: where delivery
    receipts go. ``receipt_template_id``: the email template sent when one of the
    service's payments succeeds.
    """

    __tablename__ = "notify_service"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    email_from: Mapped[str] = mapped_column(String(64))
    email_reply_to: Mapped[str | None] = mapped_column(String(320), nullable=True)
    sms_sender: Mapped[str] = mapped_column(String(16))
    prefix_sms: Mapped[bool] = mapped_column(Boolean, default=False)
    permissions: Mapped[str] = mapped_column(String(255))
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    team_members: Mapped[str] = mapped_column(Text, default="")
    guest_list: Mapped[str] = mapped_column(Text, default="")
    letter_contact_block: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    callback_bearer_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    receipt_template_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Template(Base):
    """The current version of a template (older versions are in :class:`TemplateVersion`).

    ``type``: ``email``, ``sms`` or ``letter``. ``subject``: emails and letters only.
    ``archived``: deleted for sending but still readable; ``hidden``: never shown
    (Notify's precompiled-letter template).
    """

    __tablename__ = "template"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("notify_service.id"), index=True)
    type: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    body: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    postage: Mapped[str | None] = mapped_column(String(8), nullable=True)
    letter_contact_block: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(320))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TemplateVersion(Base):
    """One version of a template, as it was when that version was current."""

    __tablename__ = "template_version"

    template_id: Mapped[str] = mapped_column(ForeignKey("template.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    body: Mapped[str] = mapped_column(Text)
    postage: Mapped[str | None] = mapped_column(String(8), nullable=True)
    letter_contact_block: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Notification(Base):
    """One message to one recipient.

    ``key_type``: ``live``, ``team`` or ``test`` (Notify's normal, team and test keys).
    ``recipient``: as the caller supplied it (surrounding whitespace removed);
    ``normalised_to``: lower-cased email or E.164 digits. ``body`` / ``subject``: the
    rendered content as the API shows it. ``billable_units``: text message fragments
    or sheets of paper. ``status``: Notify's statuses (``created``, ``sending``,
    ``delivered``, ``temporary-failure`` ...; letters also ``pending-virus-check``,
    ``validation-failed``). ``delivery_attempts``: provider calls made so far.
    """

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_listing", "service_id", "key_type", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(36))
    template_id: Mapped[str] = mapped_column(String(36))
    template_version: Mapped[int] = mapped_column(Integer)
    api_key_id: Mapped[str] = mapped_column(String(64))
    key_type: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str | None] = mapped_column(Text, nullable=True)
    normalised_to: Mapped[str | None] = mapped_column(String(320), nullable=True)
    personalisation: Mapped[str] = mapped_column(Text, default="{}")
    reference: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    sender: Mapped[str | None] = mapped_column(String(320), nullable=True)
    reply_to: Mapped[str | None] = mapped_column(String(320), nullable=True)
    one_click_unsubscribe_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    postage: Mapped[str | None] = mapped_column(String(8), nullable=True)
    precompiled: Mapped[bool] = mapped_column(Boolean, default=False)
    billable_units: Mapped[int] = mapped_column(Integer, default=0)
    international: Mapped[bool] = mapped_column(Boolean, default=False)
    rate_multiplier: Mapped[float] = mapped_column(Float, default=1.0)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_reference: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LetterPdf(Base):
    """The PDF of a letter: rendered from its template, or the precompiled file sent."""

    __tablename__ = "letter_pdf"

    notification_id: Mapped[str] = mapped_column(ForeignKey("notification.id"), primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxMessage(Base):
    """A message the sandbox providers "delivered": what the sandbox inbox shows.

    One row per notification (the provider call is keyed by notification id, so a
    redelivered event cannot add a second). ``html``: emails only.
    """

    __tablename__ = "sandbox_message"
    __table_args__ = (Index("ix_sandbox_message_service", "service_id", "created_at"),)

    notification_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(36))
    key_type: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(320), nullable=True)
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReceivedText(Base):
    """A text message a member of the public sent to a service's inbound number."""

    __tablename__ = "received_text"
    __table_args__ = (Index("ix_received_text_service", "service_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(36))
    user_number: Mapped[str] = mapped_column(String(32))
    notify_number: Mapped[str] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
