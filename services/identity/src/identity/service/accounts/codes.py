"""One-time codes sent to the citizen, by email or text message.

A code is :data:`CODE_DIGITS` random digits, stored only as a SHA-256 hash, valid
:data:`CODE_LIFETIME`, :data:`CODE_MAX_ATTEMPTS` tries; an account may be sent
:data:`CODES_PER_HOUR` codes of one purpose an hour. Sending one ends the codes of
the same purpose still open and puts ``VerificationCodeRequested`` in the outbox
(notify delivers it), in the caller's transaction.

A text message code is hashed together with its phone number, so it only works
for the number it was sent to.

A code can also be played out without being sent (``deliver=False``): stored,
limited and counted like a real one, but no code matches it and nothing goes out.
A sign-up of an email that already has a verified account gets such codes, so that
the pages answer it exactly as they answer a sign-up of a new email.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.outbox import add_event
from govplat.identity.v1 import events_pb2
from identity.models import OneTimeCode, messaging
from identity.security import constant_time_equal, new_numeric_code, new_token, sha256_hex
from identity.service.accounts.errors import AccountError, CodeExpired, CodeRejected
from identity.service.accounts.records import timestamp
from identity.service.accounts.validation import clean_code, is_code_shaped
from identity.service.accounts.values import (
    CODE_DIGITS,
    CODE_LIFETIME,
    CODE_MAX_ATTEMPTS,
    CODES_PER_HOUR,
    PURPOSE_VERIFY_EMAIL,
)


@dataclass(frozen=True)
class Delivery:
    """Where a code goes and what for.

    Attributes:
        purpose: ``OneTimeCode.purpose`` (e.g. ``"verify_email"``).
        channel: ``events_pb2.VERIFICATION_CHANNEL_EMAIL`` or ``..._SMS``.
        event_purpose: ``events_pb2.VERIFICATION_PURPOSE_SIGN_UP`` or ``..._SIGN_IN``.
        destination: the email address, or the E.164 phone number.
    """

    purpose: str
    channel: int
    event_purpose: int
    destination: str

    @classmethod
    def email(cls, email: str) -> Delivery:
        """The email verification code of sign-up."""
        return cls(
            PURPOSE_VERIFY_EMAIL,
            events_pb2.VERIFICATION_CHANNEL_EMAIL,
            events_pb2.VERIFICATION_PURPOSE_SIGN_UP,
            email,
        )

    @classmethod
    def sms(cls, purpose: str, phone_number: str) -> Delivery:
        """A text message code (setting the number up, or signing in) to an E.164 number."""
        return cls(
            purpose,
            events_pb2.VERIFICATION_CHANNEL_SMS,
            events_pb2.VERIFICATION_PURPOSE_SIGN_IN,
            phone_number,
        )

    def hash(self, code: str) -> str:
        """What is stored of ``code`` (text message codes are bound to the number)."""
        if self.channel == events_pb2.VERIFICATION_CHANNEL_SMS:
            return sha256_hex(f"{self.destination}:{code}")
        return sha256_hex(code)


class CodeCheck(enum.Enum):
    """The outcome of :func:`check_code`."""

    #: The right code: it is now used.
    ACCEPTED = "accepted"
    #: Not 6 digits: refused, not counted against the code.
    MALFORMED = "malformed"
    #: A wrong code, counted; the code can still be tried.
    WRONG = "wrong"
    #: A wrong code, counted, and that was the code's last try.
    WRONG_LAST = "wrong-last"
    #: No open code: never sent, expired, replaced, used or tried too often.
    NONE_OPEN = "none-open"

    @property
    def guessed(self) -> bool:
        """Whether this was a wrong guess at an open code (counted against it)."""
        return self in (CodeCheck.WRONG, CodeCheck.WRONG_LAST)

    @property
    def error(self) -> type[AccountError] | None:
        """The error to raise for the citizen; ``None`` when accepted."""
        return _ERRORS[self]


_ERRORS: dict[CodeCheck, type[AccountError] | None] = {
    CodeCheck.ACCEPTED: None,
    CodeCheck.MALFORMED: CodeRejected,
    CodeCheck.WRONG: CodeRejected,
    CodeCheck.WRONG_LAST: CodeExpired,
    CodeCheck.NONE_OPEN: CodeExpired,
}


async def codes_sent_last_hour(
    session: AsyncSession,
    account_id: str,
    purpose: str,
    now: datetime,
    since: datetime | None = None,
) -> int:
    """Codes of ``purpose`` created in the last hour, and after ``since`` if given
    (created = expires - lifetime)."""
    start = now - timedelta(hours=1)
    if since is not None and since > start:
        start = since
    count = await session.scalar(
        select(func.count())
        .select_from(OneTimeCode)
        .where(
            OneTimeCode.account_id == account_id,
            OneTimeCode.purpose == purpose,
            OneTimeCode.expires_at > start + CODE_LIFETIME,
        )
    )
    return int(count or 0)


async def send_code(
    session: AsyncSession,
    source: str,
    account_id: str,
    delivery: Delivery,
    now: datetime,
    *,
    deliver: bool = True,
    counted_since: datetime | None = None,
) -> datetime | None:
    """Replace the open codes of ``delivery.purpose`` by a new one and ask for it to be
    sent, unless :data:`CODES_PER_HOUR` were already sent this hour.

    Args:
        source: ``ce-source`` of identity's events.
        now: aware UTC.
        deliver: false to play the code out without sending it: it replaces the open
            codes and counts towards the limit, but its stored hash is of a random
            token that no code matches, and no event is added.
        counted_since: only codes created after it count towards the limit.

    Returns:
        When the new code expires, or ``None`` when nothing was sent (over the limit).
    """
    sent = await codes_sent_last_hour(session, account_id, delivery.purpose, now, counted_since)
    if sent >= CODES_PER_HOUR:
        return None
    await session.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.account_id == account_id,
            OneTimeCode.purpose == delivery.purpose,
            OneTimeCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    code = new_numeric_code(CODE_DIGITS)
    expires_at = now + CODE_LIFETIME
    session.add(
        OneTimeCode(
            id=str(uuid.uuid4()),
            account_id=account_id,
            purpose=delivery.purpose,
            code_hash=delivery.hash(code if deliver else new_token()),
            attempts=0,
            expires_at=expires_at,
        )
    )
    if not deliver:
        return expires_at
    await add_event(
        session,
        messaging,
        events_pb2.VerificationCodeRequested(
            account_id=account_id,
            channel=delivery.channel,
            destination=delivery.destination,
            code=code,
            purpose=delivery.event_purpose,
            expire_time=timestamp(expires_at),
        ),
        source=source,
        subject=account_id,
        time=now,
    )
    return expires_at


async def check_code(
    session: AsyncSession, account_id: str, delivery: Delivery, code: str, now: datetime
) -> CodeCheck:
    """Check ``code`` (spaces and dashes ignored) against the newest open code of
    ``delivery.purpose`` sent to ``delivery.destination``; the right one is marked
    used, a wrong one counted against the code.

    Returns:
        The outcome; its ``error`` is the exception for the citizen, if any.
    """
    cleaned = clean_code(code)
    record = await session.scalar(
        select(OneTimeCode)
        .where(
            OneTimeCode.account_id == account_id,
            OneTimeCode.purpose == delivery.purpose,
            OneTimeCode.used_at.is_(None),
            OneTimeCode.expires_at > now,
        )
        .order_by(OneTimeCode.expires_at.desc())
        .limit(1)
        .with_for_update()
    )
    if record is None or record.attempts >= CODE_MAX_ATTEMPTS:
        return CodeCheck.NONE_OPEN
    if not is_code_shaped(cleaned):
        return CodeCheck.MALFORMED
    if constant_time_equal(delivery.hash(cleaned), record.code_hash):
        record.used_at = now
        return CodeCheck.ACCEPTED
    record.attempts += 1
    return CodeCheck.WRONG_LAST if record.attempts >= CODE_MAX_ATTEMPTS else CodeCheck.WRONG
