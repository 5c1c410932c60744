"""Citizens' accounts, sign-in and browser sessions (the sign-in side of the OpenID
Connect provider, after GOV.UK One Login).

Credential levels (GPG 44, One Login's vectors of trust): ``Cl`` is a password,
``Cl.Cm`` a password and a second factor (an authenticator app: TOTP, RFC 6238).
Identity level ``P2`` is reached in the sandbox by choosing one of
:data:`SANDBOX_IDENTITIES`.

Every use case opens its own transaction on ``context.db`` (the service layer owns
the transaction); events go to the outbox in the same transaction as the change.

Rules kept here:

- Emails are validated with ``email-validator`` and stored lower-case.
- Passwords: 8 to 256 characters, not one of the most common passwords, not the
  email address; stored as argon2id hashes. Hashing and checking run in a worker
  thread so that they do not stall the event loop.
- Codes sent to the citizen (email verification) are 6 digits, stored as SHA-256
  hashes, valid 15 minutes, 5 tries each; at most 5 codes an hour per purpose.
- Failed sign-ins (wrong password or wrong second-factor code) count towards one
  lockout counter: ``settings.max_failed_sign_ins`` failures lock the account for
  ``settings.lockout_seconds``; while locked even the right password is refused.
  An unknown email costs a password check and is "locked" the same way (per
  process), so neither timing nor the lockout page tells whether it exists.
- Browser sessions are random 256-bit cookie values stored as SHA-256 hashes,
  ending ``settings.session_seconds`` after sign-in.

Nothing here logs personal data (emails, phone numbers, codes, passwords).

SMS second factors are not offered: validating phone numbers needs the
``phonenumbers`` library, which the platform does not install.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import Database, utcnow
from govkit.outbox import add_event
from govplat.identity.v1 import events_pb2
from identity.context import Context
from identity.models import (
    Account,
    AuthorizationRequest,
    BrowserSession,
    OneTimeCode,
    messaging,
)
from identity.security import (
    SecretBox,
    burn_password_check,
    constant_time_equal,
    hash_password,
    new_numeric_code,
    new_token,
    new_totp_secret,
    sha256_hex,
    totp_uri,
    verify_password,
    verify_totp,
)

log = logging.getLogger(__name__)

#: The browser session cookie (HttpOnly, SameSite=Lax; Secure when the issuer is https).
SESSION_COOKIE = "govplat_session"

#: Credential levels (One Login's ``Cl`` and ``Cl.Cm``).
LEVEL_PASSWORD = "Cl"
LEVEL_TWO_FACTOR = "Cl.Cm"
CREDENTIAL_LEVELS = (LEVEL_PASSWORD, LEVEL_TWO_FACTOR)
#: The identity level reached by the sandbox identity check.
IDENTITY_LEVEL_P2 = "P2"

#: ``Account.mfa_method`` of an authenticator app.
SECOND_FACTOR_TOTP = "totp"

PURPOSE_VERIFY_EMAIL = "verify_email"
CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=15)
CODE_MAX_ATTEMPTS = 5
#: Codes of one purpose an account may be sent in an hour.
CODES_PER_HOUR = 5

PASSWORD_MIN_LENGTH = 8
#: Longer passwords are refused so that hashing cannot be made expensive at will.
PASSWORD_MAX_LENGTH = 256

#: The most common passwords of public breach lists that are 8 characters or more
#: (NCSC: block the most common passwords rather than impose complexity rules).
COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "password12",
        "password123",
        "password1234",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "12345678",
        "123456789",
        "1234567890",
        "0987654321",
        "87654321",
        "11111111",
        "00000000",
        "12341234",
        "12121212",
        "11223344",
        "123123123",
        "qwertyui",
        "qwertyuiop",
        "qwerty12",
        "qwerty123",
        "qwerty1234",
        "1q2w3e4r",
        "1q2w3e4r5t",
        "zaq12wsx",
        "asdfghjk",
        "asdfghjkl",
        "abcd1234",
        "abc12345",
        "abcdefgh",
        "iloveyou",
        "iloveyou1",
        "sunshine",
        "princess",
        "football",
        "baseball",
        "welcome1",
        "welcome123",
        "letmein1",
        "letmein123",
        "trustno1",
        "superman",
        "starwars",
        "whatever",
        "computer",
        "michelle",
        "jennifer",
        "liverpool",
        "chelsea1",
        "arsenal1",
        "changeme",
        "changeme1",
        "administrator",
        "admin123",
        "govplat1",
        "govplat123",
    }
)


# ---------------------------------------------------------------------------
# Errors


class AccountError(Exception):
    """Base of the errors of this module."""


class InvalidInput(AccountError):
    """The citizen's input is not acceptable.

    Attributes:
        errors: field name (``email``, ``password``, ``code``, ``identity``) →
            a message that can be shown to the citizen.
    """

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("invalid input: " + ", ".join(sorted(errors)))
        self.errors = errors


class SignInFailed(AccountError):
    """Wrong email or password (deliberately does not say which)."""


class AccountLocked(AccountError):
    """Too many failed sign-ins: refused until ``until`` (aware UTC datetime)."""

    def __init__(self, until: datetime) -> None:
        super().__init__("account locked")
        self.until = until

    def minutes_left(self, now: datetime | None = None) -> int:
        """Whole minutes until the lock ends, rounded up (at least 1)."""
        seconds = (self.until - (now or utcnow())).total_seconds()
        return max(1, -(-int(seconds) // 60))


class EmailNotVerified(AccountError):
    """The password was right but the email address was never verified; a new code
    was sent (``code_sent`` false when too many codes were sent this hour)."""

    def __init__(self, account_id: str, email: str, code_sent: bool) -> None:
        super().__init__("email not verified")
        self.account_id = account_id
        self.email = email
        self.code_sent = code_sent


class CodeRejected(AccountError):
    """The code is not the one sent (or not the authenticator app's current one)."""


class CodeExpired(AccountError):
    """No code can be accepted any more: expired, used, or tried too many times.
    The citizen must ask for a new one."""


class TooManyCodes(AccountError):
    """Too many codes were sent in the last hour; try again later."""


class SecondFactorRequired(AccountError):
    """The operation needs an account with a second factor set up."""


class AlreadyEnrolled(AccountError):
    """The account already has a second factor (changing it is not offered)."""


class AccountNotFound(AccountError):
    """No account with that id."""


class SessionNotFound(AccountError):
    """No live browser session for that cookie."""


# ---------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class AccountInfo:
    """What the pages and other use cases may know of an account.

    Attributes:
        id: account id (UUID string).
        email: the normalised email address.
        email_verified: whether the email address was verified.
        second_factor: ``"totp"`` or ``None`` when none is set up.
        identity_level: ``"P2"`` or ``None``.
    """

    id: str
    email: str
    email_verified: bool
    second_factor: str | None
    identity_level: str | None

    @classmethod
    def of(cls, account: Account) -> AccountInfo:
        """From the database row."""
        return cls(
            id=account.id,
            email=account.email,
            email_verified=account.email_verified_at is not None,
            second_factor=account.mfa_method,
            identity_level=account.identity_level,
        )


@dataclass(frozen=True)
class SignUpResult:
    """What :func:`sign_up` did.

    Attributes:
        account_id: the account a code was sent for (new, or an existing account
            whose email was never verified), or ``None`` when the email belongs to
            a verified account: nothing was changed or sent. Pages must show the
            same thing in every case.
        created: whether a new account was created.
    """

    account_id: str | None
    created: bool


@dataclass(frozen=True)
class SignInResult:
    """A correct email and password.

    Attributes:
        account: the account.
        needs_second_factor: true when the account has a second factor, which must
            be checked (:func:`verify_second_factor`) before any session is created.
    """

    account: AccountInfo
    needs_second_factor: bool


@dataclass(frozen=True)
class TotpSetup:
    """An authenticator app to add: the base32 ``secret`` and its ``otpauth://`` ``uri``."""

    secret: str
    uri: str


@dataclass(frozen=True)
class SignedIn:
    """A live browser session.

    Attributes:
        account: the signed-in account.
        level: credential level reached, ``"Cl"`` or ``"Cl.Cm"``.
        auth_time: when the citizen signed in (aware UTC).
        expires_at: when the session ends (aware UTC).
    """

    account: AccountInfo
    level: str
    auth_time: datetime
    expires_at: datetime


@dataclass(frozen=True)
class RequestNeeds:
    """What an authorization request needs from the citizen.

    Attributes:
        credential_level: ``"Cl"`` or ``"Cl.Cm"``.
        identity_level: ``"P2"`` or ``None``.
    """

    credential_level: str
    identity_level: str | None


# ---------------------------------------------------------------------------
# Sandbox identities

#: The sandbox's test identities for the identity check (P2). Keyed by a short id;
#: each value has a ``label`` to show and the ``claims`` stored in
#: ``Account.identity_claims`` as JSON, in the shape of GOV.UK One Login's core
#: identity ``credentialSubject`` and address claim: ``name`` (``nameParts`` of
#: ``GivenName``/``FamilyName``), ``birthDate`` (ISO 8601 date) and ``address``
#: (PAF-style fields, ``postalCode``, ``addressCountry`` ISO 3166-1 alpha-2 "GB").
#: These people are fictional; ``kenneth`` is One Login's published test identity.
SANDBOX_IDENTITIES: dict[str, dict] = {
    "kenneth": {
        "label": "Kenneth Decerqueira, born 8 July 1965, Bath",
        "claims": {
            "name": [
                {
                    "nameParts": [
                        {"type": "GivenName", "value": "Kenneth"},
                        {"type": "FamilyName", "value": "Decerqueira"},
                    ]
                }
            ],
            "birthDate": [{"value": "1965-07-08"}],
            "address": [
                {
                    "buildingNumber": "8",
                    "streetName": "Hadley Road",
                    "addressLocality": "Bath",
                    "postalCode": "BA2 5AA",
                    "addressCountry": "GB",
                    "validFrom": "2000-01-01",
                }
            ],
        },
    },
    "mary": {
        "label": "Mary Ann Whitfield, born 21 March 1988, Leeds",
        "claims": {
            "name": [
                {
                    "nameParts": [
                        {"type": "GivenName", "value": "Mary"},
                        {"type": "GivenName", "value": "Ann"},
                        {"type": "FamilyName", "value": "Whitfield"},
                    ]
                }
            ],
            "birthDate": [{"value": "1988-03-21"}],
            "address": [
                {
                    "subBuildingName": "Flat 3",
                    "buildingName": "Aire House",
                    "streetName": "Canal Wharf",
                    "addressLocality": "Leeds",
                    "postalCode": "LS11 5PS",
                    "addressCountry": "GB",
                    "validFrom": "2019-01-01",
                }
            ],
        },
    },
    "owain": {
        "label": "Owain Pritchard, born 2 November 1954, Cardiff",
        "claims": {
            "name": [
                {
                    "nameParts": [
                        {"type": "GivenName", "value": "Owain"},
                        {"type": "FamilyName", "value": "Pritchard"},
                    ]
                }
            ],
            "birthDate": [{"value": "1954-11-02"}],
            "address": [
                {
                    "buildingNumber": "42",
                    "streetName": "Heol y Castell",
                    "addressLocality": "Cardiff",
                    "postalCode": "CF10 1BJ",
                    "addressCountry": "GB",
                    "validFrom": "1990-01-01",
                }
            ],
        },
    },
}


# ---------------------------------------------------------------------------
# Validation


def normalise_email(email: str) -> str:
    """The email address checked for syntax (no DNS lookup) and lower-cased.

    Raises:
        InvalidInput: ``{"email": message}`` when it is empty or not an email address.
    """
    email = (email or "").strip()
    if not email:
        raise InvalidInput({"email": "Enter your email address"})
    if len(email) > 320:
        raise InvalidInput({"email": "Enter an email address of 320 characters or fewer"})
    try:
        normalised = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        raise InvalidInput(
            {"email": "Enter an email address in the correct format, like name@example.com"}
        ) from None
    return normalised.lower()


def password_problem(password: str, email: str = "") -> str | None:
    """Why ``password`` is not acceptable for a new account, or ``None`` if it is.

    At least :data:`PASSWORD_MIN_LENGTH` and at most :data:`PASSWORD_MAX_LENGTH`
    characters, not in :data:`COMMON_PASSWORDS` (case-insensitive), not the email.
    """
    if not password:
        return "Enter a password"
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"Your password must be at least {PASSWORD_MIN_LENGTH} characters"
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"Your password must be {PASSWORD_MAX_LENGTH} characters or fewer"
    if password.lower() in COMMON_PASSWORDS:
        return "Your password is too common: choose one that is harder to guess"
    if email and password.strip().lower() == email.lower():
        return "Your password must not be your email address"
    return None


_CODE = re.compile(r"^\d{6}$")


def _clean_code(code: str) -> str:
    """Digits of a code as typed (spaces and dashes removed)."""
    return re.sub(r"[\s-]", "", code or "")


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


# ---------------------------------------------------------------------------
# Sign-up and email verification


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
            if await _codes_sent_last_hour(session, existing.id, PURPOSE_VERIFY_EMAIL, now) < (
                CODES_PER_HOUR
            ):
                await _send_email_code(session, context.source, existing, now)
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
        await add_event(
            session,
            messaging,
            events_pb2.AccountCreated(account_id=account.id, create_time=_timestamp(now)),
            source=context.source,
            subject=account.id,
            time=now,
        )
        await _send_email_code(session, context.source, account, now)
    log.info("account created", extra={"account_id": account.id})
    return SignUpResult(account_id=account.id, created=True)


async def _codes_sent_last_hour(
    session: AsyncSession, account_id: str, purpose: str, now: datetime
) -> int:
    """Codes of ``purpose`` created in the last hour (created = expires - lifetime)."""
    since = now - timedelta(hours=1) + CODE_LIFETIME
    count = await session.scalar(
        select(func.count())
        .select_from(OneTimeCode)
        .where(
            OneTimeCode.account_id == account_id,
            OneTimeCode.purpose == purpose,
            OneTimeCode.expires_at > since,
        )
    )
    return int(count or 0)


async def _send_email_code(
    session: AsyncSession, source: str, account: Account, now: datetime
) -> None:
    """Replace any open verification code by a new one and ask for it to be emailed."""
    await session.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.account_id == account.id,
            OneTimeCode.purpose == PURPOSE_VERIFY_EMAIL,
            OneTimeCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    code = new_numeric_code(CODE_DIGITS)
    expires_at = now + CODE_LIFETIME
    session.add(
        OneTimeCode(
            id=str(uuid.uuid4()),
            account_id=account.id,
            purpose=PURPOSE_VERIFY_EMAIL,
            code_hash=sha256_hex(code),
            attempts=0,
            expires_at=expires_at,
        )
    )
    await add_event(
        session,
        messaging,
        events_pb2.VerificationCodeRequested(
            account_id=account.id,
            channel=events_pb2.VERIFICATION_CHANNEL_EMAIL,
            destination=account.email,
            code=code,
            purpose=events_pb2.VERIFICATION_PURPOSE_SIGN_UP,
            expire_time=_timestamp(expires_at),
        ),
        source=source,
        subject=account.id,
        time=now,
    )


async def resend_email_code(context: Context, account_id: str) -> None:
    """Send a new email verification code; earlier codes stop working.

    Nothing is sent when the email is already verified.

    Raises:
        AccountNotFound: no such account.
        TooManyCodes: :data:`CODES_PER_HOUR` codes were already sent this hour.
    """
    now = utcnow()
    async with context.db.write() as session:
        account = await session.get(Account, account_id, with_for_update=True)
        if account is None:
            raise AccountNotFound(account_id)
        if account.email_verified_at is not None:
            return
        if await _codes_sent_last_hour(session, account.id, PURPOSE_VERIFY_EMAIL, now) >= (
            CODES_PER_HOUR
        ):
            raise TooManyCodes()
        await _send_email_code(session, context.source, account, now)


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
    cleaned = _clean_code(code)
    now = utcnow()
    outcome: type[AccountError] | None = None
    async with context.db.write() as session:
        account = await session.get(Account, account_id, with_for_update=True)
        if account is None:
            raise AccountNotFound(account_id)
        record = await session.scalar(
            select(OneTimeCode)
            .where(
                OneTimeCode.account_id == account.id,
                OneTimeCode.purpose == PURPOSE_VERIFY_EMAIL,
                OneTimeCode.used_at.is_(None),
                OneTimeCode.expires_at > now,
            )
            .order_by(OneTimeCode.expires_at.desc())
            .limit(1)
            .with_for_update()
        )
        if record is None or record.attempts >= CODE_MAX_ATTEMPTS:
            outcome = CodeExpired
        elif not _CODE.match(cleaned):
            outcome = CodeRejected
        elif constant_time_equal(sha256_hex(cleaned), record.code_hash):
            record.used_at = now
            if account.email_verified_at is None:
                account.email_verified_at = now
        else:
            record.attempts += 1
            outcome = CodeExpired if record.attempts >= CODE_MAX_ATTEMPTS else CodeRejected
        info = AccountInfo.of(account)
    if outcome is not None:
        raise outcome()
    return info


# ---------------------------------------------------------------------------
# Sign-in and lockout


class _UnknownEmailLockout:
    """Failed sign-ins of emails that have no account, counted in memory (bounded),
    so that they are "locked" like real accounts and the lockout page does not tell
    whether an email is registered. Per process: a decoy, not a defence."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[int, datetime | None]] = OrderedDict()

    def locked_until(self, email: str, now: datetime) -> datetime | None:
        """When the decoy lock of ``email`` ends, if it is locked now."""
        entry = self._entries.get(sha256_hex(email))
        if entry and entry[1] and entry[1] > now:
            return entry[1]
        return None

    def fail(self, email: str, now: datetime, limit: int, lockout: timedelta) -> datetime | None:
        """Count a failure; the lock's end when this failure locks it."""
        key = sha256_hex(email)
        count, until = self._entries.pop(key, (0, None))
        if until and until <= now:
            count, until = 0, None
        count += 1
        if count >= limit:
            count, until = 0, now + lockout
        self._entries[key] = (count, until)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return until if count == 0 else None

    def clear(self) -> None:
        """Forget every entry (tests)."""
        self._entries.clear()


UNKNOWN_EMAILS = _UnknownEmailLockout()


def _locked_until(account: Account, now: datetime) -> datetime | None:
    if account.locked_until is not None and account.locked_until > now:
        return account.locked_until
    return None


def _count_failure(account: Account, context: Context, now: datetime) -> datetime | None:
    """Count a failed sign-in; the lock's end when this failure locks the account."""
    account.failed_attempts = (account.failed_attempts or 0) + 1
    if account.failed_attempts >= context.settings.max_failed_sign_ins:
        account.failed_attempts = 0
        account.locked_until = now + timedelta(seconds=context.settings.lockout_seconds)
        log.info("account locked", extra={"account_id": account.id})
        return account.locked_until
    return None


async def sign_in_password(context: Context, email: str, password: str) -> SignInResult:
    """Check an email and password (the first factor).

    A wrong password counts towards the lockout (see the module docstring). A
    right one resets the counter only when the account has no second factor: for
    the others the counter is reset by :func:`verify_second_factor`, so retyping the
    password does not buy more guesses at the second factor.

    Returns:
        The account and whether a second factor must now be checked. No session is
        created here (see :func:`create_session`).

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
    password = (password or "")[:PASSWORD_MAX_LENGTH]
    lockout = timedelta(seconds=context.settings.lockout_seconds)
    async with context.db.read() as session:
        account = await session.scalar(select(Account).where(Account.email == normalised))
    if account is None:
        until = UNKNOWN_EMAILS.locked_until(normalised, now)
        if until:
            raise AccountLocked(until)
        await asyncio.to_thread(burn_password_check, password)
        until = UNKNOWN_EMAILS.fail(normalised, now, context.settings.max_failed_sign_ins, lockout)
        if until:
            raise AccountLocked(until)
        raise SignInFailed()
    until = _locked_until(account, now)
    if until:
        raise AccountLocked(until)
    matches = await asyncio.to_thread(verify_password, account.password_hash, password)
    now = utcnow()
    failure: AccountError | None = None
    code_sent = False
    async with context.db.write() as session:
        account = await session.get(Account, account.id, with_for_update=True)
        if account is None:  # deleted meanwhile
            raise SignInFailed()
        until = _locked_until(account, now)
        if until:
            failure = AccountLocked(until)
        elif not matches:
            until = _count_failure(account, context, now)
            failure = AccountLocked(until) if until else SignInFailed()
        elif account.email_verified_at is None:
            if await _codes_sent_last_hour(session, account.id, PURPOSE_VERIFY_EMAIL, now) < (
                CODES_PER_HOUR
            ):
                await _send_email_code(session, context.source, account, now)
                code_sent = True
            failure = EmailNotVerified(account.id, account.email, code_sent)
        elif account.mfa_method is None:
            account.failed_attempts = 0
        info = AccountInfo.of(account)
    if failure is not None:
        raise failure
    return SignInResult(account=info, needs_second_factor=info.second_factor is not None)


# ---------------------------------------------------------------------------
# Second factor


async def start_totp_setup(context: Context, account_id: str) -> TotpSetup:
    """The authenticator app to add to an account without a second factor.

    The secret is stored encrypted (``context.box``) but not in use until
    :func:`confirm_totp`; calling this again returns the same secret until then.

    Raises:
        AccountNotFound: no such account.
        AlreadyEnrolled: the account already has a second factor.
    """
    async with context.db.write() as session:
        account = await session.get(Account, account_id, with_for_update=True)
        if account is None:
            raise AccountNotFound(account_id)
        if account.mfa_method is not None:
            raise AlreadyEnrolled()
        if account.totp_secret_encrypted:
            secret = context.box.decrypt(account.totp_secret_encrypted)
        else:
            secret = new_totp_secret()
            account.totp_secret_encrypted = context.box.encrypt(secret)
        label = account.email
    return TotpSetup(secret=secret, uri=totp_uri(secret, label))


async def confirm_totp(context: Context, account_id: str, code: str) -> AccountInfo:
    """Turn on the authenticator app of :func:`start_totp_setup` once the citizen
    typed its current 6-digit code.

    Returns:
        The account, with ``second_factor`` ``"totp"``.

    Raises:
        AccountNotFound: no such account.
        AlreadyEnrolled: the account already has a second factor.
        CodeExpired: :func:`start_totp_setup` was not called.
        CodeRejected: not the app's current code.
    """
    async with context.db.write() as session:
        account = await session.get(Account, account_id, with_for_update=True)
        if account is None:
            raise AccountNotFound(account_id)
        if account.mfa_method is not None:
            raise AlreadyEnrolled()
        if not account.totp_secret_encrypted:
            raise CodeExpired()
        if not verify_totp(context.box.decrypt(account.totp_secret_encrypted), _clean_code(code)):
            raise CodeRejected()
        account.mfa_method = SECOND_FACTOR_TOTP
        account.failed_attempts = 0
        info = AccountInfo.of(account)
    log.info("second factor set up", extra={"account_id": account_id})
    return info


async def verify_second_factor(context: Context, account_id: str, code: str) -> AccountInfo:
    """Check the second factor of a sign-in (the authenticator app's current code).

    Wrong codes count towards the same lockout as wrong passwords; success resets
    the counter.

    Raises:
        AccountNotFound: no such account.
        SecondFactorRequired: the account has no second factor.
        AccountLocked: locked (before or because of this code).
        CodeRejected: wrong code.
    """
    now = utcnow()
    failure: AccountError | None = None
    async with context.db.write() as session:
        account = await session.get(Account, account_id, with_for_update=True)
        if account is None:
            raise AccountNotFound(account_id)
        if account.mfa_method != SECOND_FACTOR_TOTP or not account.totp_secret_encrypted:
            raise SecondFactorRequired()
        until = _locked_until(account, now)
        if until:
            failure = AccountLocked(until)
        elif verify_totp(context.box.decrypt(account.totp_secret_encrypted), _clean_code(code)):
            account.failed_attempts = 0
        else:
            until = _count_failure(account, context, now)
            failure = AccountLocked(until) if until else CodeRejected()
        info = AccountInfo.of(account)
    if failure is not None:
        raise failure
    return info


# ---------------------------------------------------------------------------
# Browser sessions


async def session_for_cookie(session: AsyncSession, cookie: str | None) -> BrowserSession | None:
    """The live browser session of a ``govplat_session`` cookie value, or ``None``
    (no cookie, unknown, expired or ended)."""
    if not cookie:
        return None
    found = await session.get(BrowserSession, sha256_hex(cookie))
    if found is None or found.revoked_at is not None or found.expires_at <= utcnow():
        return None
    return found


async def create_session(context: Context, account_id: str, level: str) -> str:
    """Sign a browser in: a new session at credential ``level`` (``"Cl"`` or
    ``"Cl.Cm"``), ending ``settings.session_seconds`` from now.

    Returns:
        The cookie value (43 URL-safe characters); only its SHA-256 is stored.

    Raises:
        ValueError: unknown level.
        AccountNotFound: no such account.
        SecondFactorRequired: ``"Cl.Cm"`` for an account without a second factor.
    """
    if level not in CREDENTIAL_LEVELS:
        raise ValueError(f"unknown credential level {level!r}")
    async with context.db.write() as session:
        account = await session.get(Account, account_id)
        if account is None:
            raise AccountNotFound(account_id)
        if level == LEVEL_TWO_FACTOR and account.mfa_method is None:
            raise SecondFactorRequired()
        return _add_session(session, context, account_id, level)


def _add_session(session: AsyncSession, context: Context, account_id: str, level: str) -> str:
    cookie = new_token(32)
    now = utcnow()
    session.add(
        BrowserSession(
            id_hash=sha256_hex(cookie),
            account_id=account_id,
            auth_level=level,
            auth_time=now,
            expires_at=now + timedelta(seconds=context.settings.session_seconds),
        )
    )
    return cookie


async def upgrade_session(context: Context, cookie: str) -> str:
    """Raise a session to ``Cl.Cm`` after its account's second factor was checked.

    The old cookie stops working and a new session (new cookie value, new
    ``auth_time`` and expiry) replaces it, so that a cookie known before the
    upgrade is not worth more after it.

    Returns:
        The new cookie value.

    Raises:
        SessionNotFound: the cookie has no live session.
        SecondFactorRequired: the account has no second factor.
    """
    async with context.db.write() as session:
        current = await session_for_cookie(session, cookie)
        if current is None:
            raise SessionNotFound()
        account = await session.get(Account, current.account_id)
        if account is None or account.mfa_method is None:
            raise SecondFactorRequired()
        current.revoked_at = utcnow()
        return _add_session(session, context, account.id, LEVEL_TWO_FACTOR)


async def current_session(context: Context, cookie: str | None) -> SignedIn | None:
    """The signed-in account and level of a session cookie, or ``None`` if the
    cookie is missing, unknown, expired or ended."""
    if not cookie:
        return None
    async with context.db.read() as session:
        found = await session_for_cookie(session, cookie)
        if found is None:
            return None
        account = await session.get(Account, found.account_id)
        if account is None:
            return None
        return SignedIn(
            account=AccountInfo.of(account),
            level=found.auth_level,
            auth_time=found.auth_time,
            expires_at=found.expires_at,
        )


async def end_session(context: Context, cookie: str | None) -> bool:
    """Sign a browser out: end the session of ``cookie``.

    Returns:
        Whether a live session was ended.
    """
    if not cookie:
        return False
    async with context.db.write() as session:
        result = await session.execute(
            update(BrowserSession)
            .where(
                BrowserSession.id_hash == sha256_hex(cookie),
                BrowserSession.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
    return bool(result.rowcount)


async def end_all_sessions(context: Context, account_id: str) -> int:
    """End every live session of an account (sign out everywhere).

    Returns:
        How many sessions were ended.
    """
    now = utcnow()
    async with context.db.write() as session:
        result = await session.execute(
            update(BrowserSession)
            .where(
                BrowserSession.account_id == account_id,
                BrowserSession.revoked_at.is_(None),
                BrowserSession.expires_at > now,
            )
            .values(revoked_at=now)
        )
    return int(result.rowcount or 0)


# ---------------------------------------------------------------------------
# Authorization requests and identity


async def authorization_needs(context: Context, request_id: str) -> RequestNeeds | None:
    """The levels an ``/authorize`` request needs, or ``None`` when there is no such
    request or it has expired."""
    async with context.db.read() as session:
        found = await session.get(AuthorizationRequest, request_id)
    if found is None or found.expires_at <= utcnow():
        return None
    return RequestNeeds(
        credential_level=found.credential_level, identity_level=found.identity_level
    )


async def complete_identity_check(context: Context, account_id: str, identity: str) -> AccountInfo:
    """Sandbox identity check: give the account identity level ``P2`` and the claims
    of the chosen test identity.

    Args:
        identity: a key of :data:`SANDBOX_IDENTITIES` (``kenneth``, ``mary`` or
            ``owain``); the identity's ``claims`` are stored as JSON in
            ``Account.identity_claims``.

    Raises:
        InvalidInput: ``{"identity": ...}`` for an unknown identity.
        AccountNotFound: no such account.
        SecondFactorRequired: P2 needs ``Cl.Cm``, so an account with a second factor.
    """
    chosen = SANDBOX_IDENTITIES.get(identity or "")
    if chosen is None:
        raise InvalidInput({"identity": "Choose one of the test identities"})
    async with context.db.write() as session:
        account = await session.get(Account, account_id, with_for_update=True)
        if account is None:
            raise AccountNotFound(account_id)
        if account.mfa_method is None:
            raise SecondFactorRequired()
        account.identity_level = IDENTITY_LEVEL_P2
        account.identity_claims = json.dumps(chosen["claims"], sort_keys=True)
        info = AccountInfo.of(account)
    log.info("identity check completed", extra={"account_id": account_id})
    return info


# ---------------------------------------------------------------------------
# Sandbox seeding


#: ``ce-source`` of identity's events (the same as ``Context.source``).
_SOURCE = "//govplat/identity"


async def create_sandbox_citizen(db: Database, box: SecretBox, email: str, password: str) -> str:
    """A sandbox citizen: verified email, ``password``, an authenticator app enrolled.

    Idempotent: when the email already has an account, nothing is changed (the
    password is not reset) and its TOTP secret is returned; an existing account
    without an app gets one.

    Returns:
        The base32 TOTP secret, to publish with the sandbox credentials.

    Raises:
        InvalidInput: the email is not an email address or the password too weak.
    """
    normalised = normalise_email(email)
    problem = password_problem(password, normalised)
    if problem:
        raise InvalidInput({"password": problem})
    now = utcnow()
    async with db.write() as session:
        account = await session.scalar(
            select(Account).where(Account.email == normalised).with_for_update()
        )
        if account is not None:
            if account.mfa_method == SECOND_FACTOR_TOTP and account.totp_secret_encrypted:
                return box.decrypt(account.totp_secret_encrypted)
            secret = new_totp_secret()
            account.totp_secret_encrypted = box.encrypt(secret)
            account.mfa_method = SECOND_FACTOR_TOTP
            account.email_verified_at = account.email_verified_at or now
            return secret
    password_hash = await asyncio.to_thread(hash_password, password)
    secret = new_totp_secret()
    try:
        async with db.write() as session:
            account = Account(
                id=str(uuid.uuid4()),
                email=normalised,
                password_hash=password_hash,
                email_verified_at=now,
                mfa_method=SECOND_FACTOR_TOTP,
                totp_secret_encrypted=box.encrypt(secret),
                failed_attempts=0,
                created_at=now,
            )
            session.add(account)
            await session.flush()
            await add_event(
                session,
                messaging,
                events_pb2.AccountCreated(account_id=account.id, create_time=_timestamp(now)),
                source=_SOURCE,
                subject=account.id,
                time=now,
            )
    except IntegrityError:  # created concurrently: return that one's secret
        return await create_sandbox_citizen(db, box, email, password)
    return secret
