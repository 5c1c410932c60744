"""Sign-up and email verification.

A sign-up must not tell whether its email is registered. When the email has a
verified account, nothing is sent to it and nothing of it changes, but the sign-up
is played out on that account's codes (:func:`~.codes.send_code` with
``deliver=False``): the same hourly limit of codes, the same tries per code, the same
errors, as for a new email; no code can verify it. Only the codes played out since
the email was verified count towards that limit, so that codes its owner had (at
their own sign-up) do not show either.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from identity.context import Context
from identity.models import Account
from identity.security import hash_password
from identity.service.accounts.codes import Delivery, check_code, send_code
from identity.service.accounts.errors import CodeRejected, InvalidInput, TooManyCodes
from identity.service.accounts.records import account_for_update, add_account_created
from identity.service.accounts.validation import normalise_email, password_problem
from identity.service.accounts.values import AccountInfo, SignUpResult

log = logging.getLogger(__name__)


async def sign_up(context: Context, email: str, password: str) -> SignUpResult:
    """Create an account and send an email verification code.

    In one transaction: the ``Account`` (email normalised, password argon2id), a
    ``OneTimeCode`` (purpose ``verify_email``) and the events ``AccountCreated`` and
    ``VerificationCodeRequested`` (channel EMAIL, purpose SIGN_UP).

    When the email already has an account: if it was never verified, its password
    is replaced by this one and a new code is sent (only the owner of the mailbox
    can finish, so an earlier sign-up by someone else cannot hijack it); if it was
    verified, nothing is sent or changed, but a code is played out (see the module
    docstring) so that :func:`verify_email` and :func:`resend_email_code` answer as
    for a new email. Either way no second account is created, and the page must
    show the same thing (do not reveal that the email is registered).

    Raises:
        InvalidInput: ``email`` and/or ``password`` are not acceptable.
    """
    errors: dict[str, str] = {}
    normalised = ""
    try:
        normalised = normalise_email(email)
    except InvalidInput as exc:
        errors.update(exc.errors)
    problem = password_problem(password, normalised)
    if problem:
        errors["password"] = problem
    if errors:
        raise InvalidInput(errors)
    password_hash = await asyncio.to_thread(hash_password, password)
    try:
        return await _sign_up_once(context, normalised, password_hash)
    except IntegrityError:
        # Another sign-up with the same email committed first (PostgreSQL).
        return await _sign_up_once(context, normalised, password_hash)


async def _sign_up_once(context: Context, email: str, password_hash: str) -> SignUpResult:
    now = utcnow()
    async with context.db.write() as session:
        existing = await session.scalar(
            select(Account).where(Account.email == email).with_for_update()
        )
        if existing is not None:
            if existing.email_verified_at is None:
                existing.password_hash = password_hash
            # Silently send nothing when over the hourly limit: same page either way.
            await _send_email_code(session, context, existing, now)
            return SignUpResult(account_id=existing.id, created=False)
        account = Account(
            id=str(uuid.uuid4()),
            email=email,
            password_hash=password_hash,
            failed_attempts=0,
            created_at=now,
        )
        session.add(account)
        await session.flush()
        await add_account_created(session, context.source, account.id, now)
        await _send_email_code(session, context, account, now)
    log.info("account created", extra={"account_id": account.id})
    return SignUpResult(account_id=account.id, created=True)


async def resend_email_code(context: Context, account_id: str) -> None:
    """Send a new email verification code; earlier codes stop working.

    When the email is already verified nothing is sent, but the code is played out
    and counted the same way (see the module docstring).

    Raises:
        AccountNotFound: no such account.
        TooManyCodes: :data:`CODES_PER_HOUR` codes were already sent this hour.
    """
    now = utcnow()
    async with context.db.write() as session:
        account = await account_for_update(session, account_id)
        if await _send_email_code(session, context, account, now) is None:
            raise TooManyCodes()


async def _send_email_code(
    session: AsyncSession, context: Context, account: Account, now: datetime
) -> datetime | None:
    """Send the account's email verification code, or play one out when its email is
    already verified (see the module docstring).

    Returns:
        When the code expires, or ``None`` when over the hourly limit (nothing sent).
    """
    verified_at = account.email_verified_at
    return await send_code(
        session,
        context.source,
        account.id,
        Delivery.email(account.email),
        now,
        deliver=verified_at is None,
        counted_since=verified_at,
    )


async def verify_email(context: Context, account_id: str, code: str) -> AccountInfo:
    """Check the email verification code and mark the email verified.

    ``code``: 6 digits (spaces and dashes ignored). Each wrong code counts against
    the code; after :data:`CODE_MAX_ATTEMPTS` wrong ones it cannot be used at all.
    An email that was already verified is never verified again: its codes are
    counted the same way, but none is accepted.

    Returns:
        The account, now with ``email_verified`` true.

    Raises:
        CodeRejected: wrong code (or not 6 digits, which is not counted).
        CodeExpired: no open code: expired, replaced, used, or tried too often.
        AccountNotFound: no such account.
    """
    now = utcnow()
    async with context.db.write() as session:
        account = await account_for_update(session, account_id)
        already_verified = account.email_verified_at is not None
        check = await check_code(session, account.id, Delivery.email(account.email), code, now)
        error = check.error or (CodeRejected if already_verified else None)
        if error is None:
            account.email_verified_at = now
        info = AccountInfo.of(account)
    if error is not None:
        raise error()
    return info
