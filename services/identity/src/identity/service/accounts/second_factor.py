"""Second factors: an authenticator app (TOTP, RFC 6238) or codes sent by text
message (through notify, as ``VerificationCodeRequested`` events, channel SMS).

Setting one up needs a signed-in account without a second factor; changing it is
not offered. Checking one at sign-in shares the lockout counter of passwords.

An authenticator app's code is accepted once (RFC 6238 section 5.2): the time step
of each code accepted, at setup or at sign-in, is kept in ``Account.totp_last_step``
in the same transaction, the account row locked (``FOR UPDATE``), and only codes of
later steps are accepted after it, so two uses of one code cannot both pass.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from identity.context import Context
from identity.models import Account
from identity.security import new_totp_secret, totp_step, totp_uri
from identity.service.accounts.codes import Delivery, check_code, send_code
from identity.service.accounts.errors import (
    AccountError,
    AccountLocked,
    AlreadyEnrolled,
    CodeExpired,
    CodeRejected,
    SecondFactorRequired,
    TooManyCodes,
)
from identity.service.accounts.lockout import failed_guess, locked_until
from identity.service.accounts.records import account_for_update
from identity.service.accounts.validation import clean_code, normalise_phone_number
from identity.service.accounts.values import (
    PURPOSE_SMS_SETUP,
    PURPOSE_SMS_SIGN_IN,
    SECOND_FACTOR_SMS,
    SECOND_FACTOR_TOTP,
    AccountInfo,
    SmsCodeSent,
    TotpSetup,
)

log = logging.getLogger(__name__)


async def _without_second_factor(session: AsyncSession, account_id: str) -> Account:
    """The account, locked for update, when it has no second factor yet.

    Raises:
        AccountNotFound: no such account.
        AlreadyEnrolled: it has one.
    """
    account = await account_for_update(session, account_id)
    if account.mfa_method is not None:
        raise AlreadyEnrolled()
    return account


def _enrol(account: Account, method: str) -> AccountInfo:
    """Turn on ``method`` for the account and reset its lockout counter."""
    account.mfa_method = method
    account.failed_attempts = 0
    log.info("second factor set up", extra={"account_id": account.id})
    return AccountInfo.of(account)


async def _send_sms(
    session: AsyncSession, context: Context, account_id: str, delivery: Delivery
) -> SmsCodeSent:
    """Text a code of ``delivery`` now.

    Raises:
        TooManyCodes: :data:`CODES_PER_HOUR` of that purpose were sent this hour.
    """
    expires_at = await send_code(session, context.source, account_id, delivery, utcnow())
    if expires_at is None:
        raise TooManyCodes()
    return SmsCodeSent(phone_number=delivery.destination, expires_at=expires_at)


# -- authenticator app ------------------------------------------------------------


async def start_totp_setup(context: Context, account_id: str) -> TotpSetup:
    """The authenticator app to add to an account without a second factor.

    The secret is stored encrypted (``context.box``) but not in use until
    :func:`confirm_totp`; calling this again returns the same secret until then.

    Raises:
        AccountNotFound: no such account.
        AlreadyEnrolled: the account already has a second factor.
    """
    async with context.db.write() as session:
        account = await _without_second_factor(session, account_id)
        if account.totp_secret_encrypted:
            secret = context.box.decrypt(account.totp_secret_encrypted)
        else:
            secret = new_totp_secret()
            account.totp_secret_encrypted = context.box.encrypt(secret)
        label = account.email
    return TotpSetup(secret=secret, uri=totp_uri(secret, label))


async def confirm_totp(context: Context, account_id: str, code: str) -> AccountInfo:
    """Turn on the authenticator app of :func:`start_totp_setup` once the citizen
    typed its current 6-digit code. That code, and those of earlier steps, will not
    be accepted at sign-in.

    Returns:
        The account, with ``second_factor`` ``"totp"``.

    Raises:
        AccountNotFound: no such account.
        AlreadyEnrolled: the account already has a second factor.
        CodeExpired: :func:`start_totp_setup` was not called.
        CodeRejected: not the app's current code (or one already accepted).
    """
    async with context.db.write() as session:
        account = await _without_second_factor(session, account_id)
        if not account.totp_secret_encrypted:
            raise CodeExpired()
        if not _accept_totp(context, account, code, utcnow()):
            raise CodeRejected()
        return _enrol(account, SECOND_FACTOR_TOTP)


def _accept_totp(context: Context, account: Account, code: str, now: datetime) -> bool:
    """Whether ``code`` is a code of the account's app of a step later than the last
    one accepted; if so its step is recorded (the caller holds the row lock)."""
    secret = context.box.decrypt(account.totp_secret_encrypted)
    step = totp_step(secret, clean_code(code), after=account.totp_last_step, at=now)
    if step is None:
        return False
    account.totp_last_step = step
    return True


# -- text messages ----------------------------------------------------------------


async def start_sms_setup(context: Context, account_id: str, phone_number: str) -> SmsCodeSent:
    """Text a code to the number the citizen typed, to check it is theirs before
    :func:`confirm_sms` makes it their second factor.

    Args:
        phone_number: as typed: a UK number, or any country's with ``+`` and its
            code (see :func:`normalise_phone_number`).

    Returns:
        The E.164 number the code went to (``VerificationCodeRequested``, channel
        SMS, purpose SIGN_IN) and when the code expires (:data:`CODE_LIFETIME`).

    Raises:
        InvalidInput: ``{"phone_number": message}``: not a valid mobile number.
        AccountNotFound: no such account.
        AlreadyEnrolled: the account already has a second factor.
        TooManyCodes: :data:`CODES_PER_HOUR` setup codes were sent this hour.
    """
    normalised = normalise_phone_number(phone_number)
    async with context.db.write() as session:
        account = await _without_second_factor(session, account_id)
        return await _send_sms(
            session, context, account.id, Delivery.sms(PURPOSE_SMS_SETUP, normalised)
        )


async def confirm_sms(
    context: Context, account_id: str, phone_number: str, code: str
) -> AccountInfo:
    """Make text messages to ``phone_number`` the account's second factor, once the
    citizen typed the code :func:`start_sms_setup` sent to that number.

    Each wrong code counts against the code (:data:`CODE_MAX_ATTEMPTS` tries); a
    code sent to another number is never accepted.

    Returns:
        The account, with ``second_factor`` ``"sms"`` and ``phone_number`` (E.164).

    Raises:
        InvalidInput: ``{"phone_number": message}``: not a valid mobile number.
        AccountNotFound: no such account.
        AlreadyEnrolled: the account already has a second factor.
        CodeRejected: wrong code (or not 6 digits, which is not counted).
        CodeExpired: no open code for that number: expired, replaced, used, or
            tried too often.
    """
    normalised = normalise_phone_number(phone_number)
    async with context.db.write() as session:
        account = await _without_second_factor(session, account_id)
        delivery = Delivery.sms(PURPOSE_SMS_SETUP, normalised)
        check = await check_code(session, account.id, delivery, code, utcnow())
        if check.error is None:
            account.phone_number = normalised
            account.totp_secret_encrypted = None  # an app set up but never confirmed
            info = _enrol(account, SECOND_FACTOR_SMS)
    if check.error is not None:
        raise check.error()
    return info


async def send_sign_in_code(context: Context, account_id: str) -> SmsCodeSent:
    """Text a new sign-in code to an account whose second factor is text messages
    (:func:`sign_in_password` sends the first); earlier codes stop working.

    Raises:
        AccountNotFound: no such account.
        SecondFactorRequired: its second factor is not text messages.
        AccountLocked: the account is locked (no code is sent).
        TooManyCodes: :data:`CODES_PER_HOUR` sign-in codes were sent this hour.
    """
    async with context.db.write() as session:
        account = await account_for_update(session, account_id)
        if account.mfa_method != SECOND_FACTOR_SMS or not account.phone_number:
            raise SecondFactorRequired()
        until = locked_until(account)
        if until:
            raise AccountLocked(until)
        return await _send_sms(
            session, context, account.id, Delivery.sms(PURPOSE_SMS_SIGN_IN, account.phone_number)
        )


# -- at sign-in -------------------------------------------------------------------


async def verify_second_factor(context: Context, account_id: str, code: str) -> AccountInfo:
    """Check the second factor of a sign-in: the authenticator app's current code,
    or the code last texted (:func:`sign_in_password`, :func:`send_sign_in_code`).

    An app's code is accepted once: used again (or one of an earlier step) it is a
    wrong code. Wrong codes count towards the same lockout as wrong passwords;
    success resets the counter. A texted code also has its own
    :data:`CODE_MAX_ATTEMPTS` tries; input that is not 6 digits is refused without
    counting against it.

    Raises:
        AccountNotFound: no such account.
        SecondFactorRequired: the account has no second factor.
        AccountLocked: locked (before or because of this code).
        CodeRejected: wrong code.
        CodeExpired: text messages only: no open code (expired, replaced, used or
            tried too often); the citizen must ask for a new one.
    """
    now = utcnow()
    failure: AccountError | None = None
    async with context.db.write() as session:
        account = await account_for_update(session, account_id)
        if not _has_second_factor(account):
            raise SecondFactorRequired()
        until = locked_until(account, now)
        if until:
            failure = AccountLocked(until)
        else:
            error, guessed = await _check_second_factor(session, context, account, code, now)
            if error is None:
                account.failed_attempts = 0
            elif guessed:
                failure = failed_guess(account, context, now, error)
            else:
                failure = error()
        info = AccountInfo.of(account)
    if failure is not None:
        raise failure
    return info


def _has_second_factor(account: Account) -> bool:
    if account.mfa_method == SECOND_FACTOR_TOTP:
        return bool(account.totp_secret_encrypted)
    return account.mfa_method == SECOND_FACTOR_SMS and bool(account.phone_number)


async def _check_second_factor(
    session: AsyncSession, context: Context, account: Account, code: str, now: datetime
) -> tuple[type[AccountError] | None, bool]:
    """The error of ``code`` (``None`` when right) and whether it was a wrong guess,
    which counts towards the lockout."""
    if account.mfa_method == SECOND_FACTOR_TOTP:
        return (None, False) if _accept_totp(context, account, code, now) else (CodeRejected, True)
    delivery = Delivery.sms(PURPOSE_SMS_SIGN_IN, account.phone_number)
    check = await check_code(session, account.id, delivery, code, now)
    return check.error, check.guessed
