"""Sign-up and email verification."""

from __future__ import annotations

import asyncio
import logging
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from govkit.db import utcnow
from identity.context import Context
from identity.models import Account
from identity.security import hash_password
from identity.service.accounts.codes import Delivery, check_code, send_code
from identity.service.accounts.errors import InvalidInput, TooManyCodes
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
    verified, nothing happens. Either way no second account is created, and the
    page should show the same thing (do not reveal that the email is registered).

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
            if existing.email_verified_at is not None:
                return SignUpResult(account_id=None, created=False)
            existing.password_hash = password_hash
            # Silently send nothing when over the hourly limit: same page either way.
            await send_code(session, context.source, existing.id, Delivery.email(email), now)
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
        await send_code(session, context.source, account.id, Delivery.email(email), now)
    log.info("account created", extra={"account_id": account.id})
    return SignUpResult(account_id=account.id, created=True)


async def resend_email_code(context: Context, account_id: str) -> None:
    """Send a new email verification code; earlier codes stop working.

    Nothing is sent when the email is already verified.

    Raises:
        AccountNotFound: no such account.
        TooManyCodes: :data:`CODES_PER_HOUR` codes were already sent this hour.
    """
    now = utcnow()
    async with context.db.write() as session:
        account = await account_for_update(session, account_id)
        if account.email_verified_at is not None:
            return
        delivery = Delivery.email(account.email)
        if await send_code(session, context.source, account.id, delivery, now) is None:
            raise TooManyCodes()


async def verify_email(context: Context, account_id: str, code: str) -> AccountInfo:
    """Check the email verification code and mark the email verified.

    ``code``: 6 digits (spaces and dashes ignored). Each wrong code counts against
    the code; after :data:`CODE_MAX_ATTEMPTS` wrong ones it cannot be used at all.

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
        check = await check_code(session, account.id, Delivery.email(account.email), code, now)
        if check.error is None and account.email_verified_at is None:
            account.email_verified_at = now
        info = AccountInfo.of(account)
    if check.error is not None:
        raise check.error()
    return info
