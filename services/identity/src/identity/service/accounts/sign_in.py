"""Sign-in with an email and password (the first factor)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from govkit.db import utcnow
from identity.context import Context
from identity.models import Account
from identity.security import burn_password_check, verify_password
from identity.service.accounts.codes import Delivery, send_code
from identity.service.accounts.errors import (
    AccountError,
    AccountLocked,
    EmailNotVerified,
    InvalidInput,
    SignInFailed,
)
from identity.service.accounts.lockout import UNKNOWN_EMAILS, failed_guess, locked_until
from identity.service.accounts.validation import normalise_email
from identity.service.accounts.values import (
    PASSWORD_MAX_LENGTH,
    PURPOSE_SMS_SIGN_IN,
    SECOND_FACTOR_SMS,
    AccountInfo,
    SignInResult,
)


async def sign_in_password(context: Context, email: str, password: str) -> SignInResult:
    """Check an email and password (the first factor).

    A wrong password counts towards the lockout (see the package docstring); so does
    one longer than :data:`PASSWORD_MAX_LENGTH`, which is never right (passwords are
    never cut to size) and is not hashed. A right one resets the counter only when
    the account has no second factor: for the others the counter is reset by
    :func:`verify_second_factor`, so retyping the password does not buy more guesses
    at the second factor.

    For an account whose second factor is text messages, a right password also
    sends a sign-in code to its phone number (``VerificationCodeRequested``, channel
    SMS, purpose SIGN_IN), unless :data:`CODES_PER_HOUR` were sent this hour.

    Returns:
        The account, whether a second factor must now be checked, and whether a
        code was texted. No session is created here (see :func:`create_session`).

    Raises:
        SignInFailed: unknown email or wrong password (indistinguishable).
        AccountLocked: too many failures; also for unknown emails, per process.
        EmailNotVerified: right password, email never verified: a new code was sent.
    """
    now = utcnow()
    try:
        normalised = normalise_email(email)
    except InvalidInput:
        normalised = (email or "").strip().lower()[:320]
    password = password or ""
    lockout = timedelta(seconds=context.settings.lockout_seconds)
    async with context.db.read() as session:
        account = await session.scalar(select(Account).where(Account.email == normalised))
    if account is None:
        until = UNKNOWN_EMAILS.locked_until(normalised, now)
        if until:
            raise AccountLocked(until)
        await _password_matches(None, password)
        until = UNKNOWN_EMAILS.fail(normalised, now, context.settings.max_failed_sign_ins, lockout)
        if until:
            raise AccountLocked(until)
        raise SignInFailed()
    until = locked_until(account, now)
    if until:
        raise AccountLocked(until)
    matches = await _password_matches(account.password_hash, password)
    now = utcnow()
    failure: AccountError | None = None
    code_sent = False
    async with context.db.write() as session:
        account = await session.get(Account, account.id, with_for_update=True)
        if account is None:  # deleted meanwhile
            raise SignInFailed()
        until = locked_until(account, now)
        if until:
            failure = AccountLocked(until)
        elif not matches:
            failure = failed_guess(account, context, now, SignInFailed)
        elif account.email_verified_at is None:
            delivery = Delivery.email(account.email)
            code_sent = (
                await send_code(session, context.source, account.id, delivery, now) is not None
            )
            failure = EmailNotVerified(account.id, account.email, code_sent)
        elif account.mfa_method is None:
            account.failed_attempts = 0
        elif account.mfa_method == SECOND_FACTOR_SMS and account.phone_number:
            delivery = Delivery.sms(PURPOSE_SMS_SIGN_IN, account.phone_number)
            code_sent = (
                await send_code(session, context.source, account.id, delivery, now) is not None
            )
        info = AccountInfo.of(account)
    if failure is not None:
        raise failure
    return SignInResult(
        account=info, needs_second_factor=info.second_factor is not None, code_sent=code_sent
    )


async def _password_matches(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (``None``: no account), in a
    worker thread. Either way it takes the time of one argon2 check, so that neither
    an unknown email nor an over-long password can be told by timing; a password
    longer than :data:`PASSWORD_MAX_LENGTH` never matches and is not hashed."""
    too_long = len(password) > PASSWORD_MAX_LENGTH
    if password_hash is None or too_long:
        await asyncio.to_thread(burn_password_check, "" if too_long else password)
        return False
    return await asyncio.to_thread(verify_password, password_hash, password)
