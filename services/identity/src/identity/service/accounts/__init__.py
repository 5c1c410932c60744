"""Citizens' accounts, sign-in and browser sessions (the sign-in side of the OpenID
Connect provider, after GOV.UK One Login).

Credential levels (GPG 44, One Login's vectors of trust): ``Cl`` is a password,
``Cl.Cm`` a password and a second factor: an authenticator app (TOTP, RFC 6238)
or a code sent by text message. Identity level ``P2`` is reached in the sandbox by
choosing one of :data:`SANDBOX_IDENTITIES`.

Every use case opens its own transaction on ``context.db`` (the service layer owns
the transaction); events go to the outbox in the same transaction as the change.

Rules kept here:

- Emails are validated with ``email-validator`` and stored lower-case.
- Phone numbers are validated with ``phonenumbers``: without ``+`` and a country
  code they are read as UK numbers; any country's valid mobile number is accepted;
  they are stored in E.164 (``+447911123456``).
- Passwords: 8 to 256 characters, not one of the most common passwords, not the
  email address; stored as argon2id hashes. Hashing and checking run in a worker
  thread so that they do not stall the event loop. A password is never cut to
  size: a longer one is refused at sign-up and is a wrong password at sign-in.
- Codes sent to the citizen (email verification, text message setup and
  sign-in) are 6 digits, sent as ``VerificationCodeRequested`` events through the
  outbox, stored as SHA-256 hashes (a texted code bound to its number), valid 15
  minutes, 5 tries each; at most 5 codes an hour per purpose.
- A sign-up of an email that has a verified account sends nothing and changes
  nothing, but its codes are played out (stored, never sent, never matching) so
  that it is answered exactly like a sign-up of a new email.
- An authenticator app's code is accepted once (RFC 6238 section 5.2): the time
  step of the last code accepted is kept, under the account's row lock, and only
  later steps are accepted.
- Failed sign-ins (wrong password or wrong second-factor code, from the app or
  texted) count towards one lockout counter: ``settings.max_failed_sign_ins``
  failures lock the account for ``settings.lockout_seconds``; while locked even
  the right password is refused and no code is texted. An unknown email costs a
  password check and is "locked" the same way (per process), so neither timing
  nor the lockout page tells whether it exists.
- Browser sessions are random 256-bit cookie values stored as SHA-256 hashes,
  ending ``settings.session_seconds`` after sign-in.

Nothing here logs personal data (emails, phone numbers, codes, passwords).

Modules: :mod:`.values` (constants, results), :mod:`.errors`, :mod:`.validation`,
:mod:`.codes` (one-time codes), :mod:`.lockout`, :mod:`.sign_up`, :mod:`.sign_in`,
:mod:`.second_factor`, :mod:`.sessions`, :mod:`.identity_check`, :mod:`.sandbox`,
:mod:`.address` (the postal address, its country checked against the read copy of
the ``country`` register).
Use them through this package: ``from identity.service import accounts``.
"""

from identity.service.accounts.address import (
    AddressInfo,
    CountryUnavailable,
    postal_address,
    set_postal_address,
)
from identity.service.accounts.errors import (
    AccountError,
    AccountLocked,
    AccountNotFound,
    AlreadyEnrolled,
    CodeExpired,
    CodeRejected,
    EmailNotVerified,
    InvalidInput,
    SecondFactorRequired,
    SessionNotFound,
    SignInFailed,
    TooManyCodes,
)
from identity.service.accounts.identity_check import (
    SANDBOX_IDENTITIES,
    authorization_needs,
    complete_identity_check,
)
from identity.service.accounts.lockout import UNKNOWN_EMAILS
from identity.service.accounts.records import find_account
from identity.service.accounts.sandbox import create_sandbox_citizen
from identity.service.accounts.second_factor import (
    confirm_sms,
    confirm_totp,
    send_sign_in_code,
    start_sms_setup,
    start_totp_setup,
    verify_second_factor,
)
from identity.service.accounts.sessions import (
    create_session,
    current_session,
    end_all_sessions,
    end_session,
    session_for_cookie,
    upgrade_session,
)
from identity.service.accounts.sign_in import sign_in_password
from identity.service.accounts.sign_up import resend_email_code, sign_up, verify_email
from identity.service.accounts.validation import (
    COMMON_PASSWORDS,
    format_phone_number,
    normalise_email,
    normalise_phone_number,
    password_problem,
)
from identity.service.accounts.values import (
    CODE_DIGITS,
    CODE_LIFETIME,
    CODE_MAX_ATTEMPTS,
    CODES_PER_HOUR,
    CREDENTIAL_LEVELS,
    DEFAULT_PHONE_REGION,
    IDENTITY_LEVEL_P2,
    LEVEL_PASSWORD,
    LEVEL_TWO_FACTOR,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    PURPOSE_SMS_SETUP,
    PURPOSE_SMS_SIGN_IN,
    PURPOSE_VERIFY_EMAIL,
    SECOND_FACTOR_SMS,
    SECOND_FACTOR_TOTP,
    SESSION_COOKIE,
    AccountInfo,
    RequestNeeds,
    SignedIn,
    SignInResult,
    SignUpResult,
    SmsCodeSent,
    TotpSetup,
)

__all__ = [
    "CODES_PER_HOUR",
    "CODE_DIGITS",
    "CODE_LIFETIME",
    "CODE_MAX_ATTEMPTS",
    "COMMON_PASSWORDS",
    "CREDENTIAL_LEVELS",
    "DEFAULT_PHONE_REGION",
    "IDENTITY_LEVEL_P2",
    "LEVEL_PASSWORD",
    "LEVEL_TWO_FACTOR",
    "PASSWORD_MAX_LENGTH",
    "PASSWORD_MIN_LENGTH",
    "PURPOSE_SMS_SETUP",
    "PURPOSE_SMS_SIGN_IN",
    "PURPOSE_VERIFY_EMAIL",
    "SANDBOX_IDENTITIES",
    "SECOND_FACTOR_SMS",
    "SECOND_FACTOR_TOTP",
    "SESSION_COOKIE",
    "UNKNOWN_EMAILS",
    "AccountError",
    "AccountInfo",
    "AccountLocked",
    "AccountNotFound",
    "AddressInfo",
    "AlreadyEnrolled",
    "CodeExpired",
    "CodeRejected",
    "CountryUnavailable",
    "EmailNotVerified",
    "InvalidInput",
    "RequestNeeds",
    "SecondFactorRequired",
    "SessionNotFound",
    "SignInFailed",
    "SignInResult",
    "SignUpResult",
    "SignedIn",
    "SmsCodeSent",
    "TooManyCodes",
    "TotpSetup",
    "authorization_needs",
    "complete_identity_check",
    "confirm_sms",
    "confirm_totp",
    "create_sandbox_citizen",
    "create_session",
    "current_session",
    "end_all_sessions",
    "end_session",
    "find_account",
    "format_phone_number",
    "normalise_email",
    "normalise_phone_number",
    "password_problem",
    "postal_address",
    "resend_email_code",
    "send_sign_in_code",
    "session_for_cookie",
    "set_postal_address",
    "sign_in_password",
    "sign_up",
    "start_sms_setup",
    "start_totp_setup",
    "upgrade_session",
    "verify_email",
    "verify_second_factor",
]
