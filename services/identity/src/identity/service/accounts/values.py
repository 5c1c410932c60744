"""The constants and result values of the accounts use cases (no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from identity.models import Account

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
#: ``Account.mfa_method`` of codes sent by text message to ``Account.phone_number``.
SECOND_FACTOR_SMS = "sms"

#: ``OneTimeCode.purpose`` of each kind of code sent to the citizen.
PURPOSE_VERIFY_EMAIL = "verify_email"
PURPOSE_SMS_SETUP = "sms_setup"
PURPOSE_SMS_SIGN_IN = "sms_sign_in"
CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=15)
CODE_MAX_ATTEMPTS = 5
#: Codes of one purpose an account may be sent in an hour.
CODES_PER_HOUR = 5

PASSWORD_MIN_LENGTH = 8
#: Longer passwords are refused so that hashing cannot be made expensive at will.
PASSWORD_MAX_LENGTH = 256

#: Phone numbers without ``+`` and a country code are read as numbers of this
#: region (ISO 3166-1 alpha-2).
DEFAULT_PHONE_REGION = "GB"


@dataclass(frozen=True)
class AccountInfo:
    """What the pages and other use cases may know of an account.

    Attributes:
        id: account id (UUID string).
        email: the normalised email address.
        email_verified: whether the email address was verified.
        second_factor: ``"totp"``, ``"sms"`` or ``None`` when none is set up.
        identity_level: ``"P2"`` or ``None``.
        phone_number: the number text message codes go to (E.164, e.g.
            ``"+447911123456"``) when ``second_factor`` is ``"sms"``, else ``None``.
    """

    id: str
    email: str
    email_verified: bool
    second_factor: str | None
    identity_level: str | None
    phone_number: str | None = None

    @classmethod
    def of(cls, account: Account) -> AccountInfo:
        """From the database row."""
        return cls(
            id=account.id,
            email=account.email,
            email_verified=account.email_verified_at is not None,
            second_factor=account.mfa_method,
            identity_level=account.identity_level,
            phone_number=account.phone_number if account.mfa_method == SECOND_FACTOR_SMS else None,
        )


@dataclass(frozen=True)
class SignUpResult:
    """What :func:`~identity.service.accounts.sign_up` did.

    Attributes:
        account_id: the account whose email code the sign-up waits for: a new
            account, an existing one whose email was never verified (a code was
            sent), or the verified account of that email (nothing was changed or
            sent; its codes are only played out, and none verifies it). Pages must
            treat every case the same way.
        created: whether a new account was created.
    """

    account_id: str
    created: bool


@dataclass(frozen=True)
class SignInResult:
    """A correct email and password.

    Attributes:
        account: the account.
        needs_second_factor: true when the account has a second factor, which must
            be checked (:func:`~identity.service.accounts.verify_second_factor`)
            before any session is created.
        code_sent: true when a sign-in code was just sent by text message (an
            account whose second factor is ``"sms"``, unless
            :data:`CODES_PER_HOUR` were already sent this hour).
    """

    account: AccountInfo
    needs_second_factor: bool
    code_sent: bool = False


@dataclass(frozen=True)
class TotpSetup:
    """An authenticator app to add: the base32 ``secret`` and its ``otpauth://`` ``uri``."""

    secret: str
    uri: str


@dataclass(frozen=True)
class SmsCodeSent:
    """A code on its way by text message.

    Attributes:
        phone_number: where it goes, E.164 (``"+447911123456"``).
        expires_at: when it stops working (aware UTC, :data:`CODE_LIFETIME` after
            it was sent).
    """

    phone_number: str
    expires_at: datetime


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
