"""Secrets at rest and in transit: hashing, encryption, random tokens, passwords, TOTP.

Nothing here implements cryptography itself: it wires well-kept libraries
(``cryptography``'s Fernet and HKDF, ``argon2-cffi``, ``pyotp``, ``secrets``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: argon2id with the library's RFC 9106 "low memory" defaults (64 MiB, 3 passes).
PASSWORDS = PasswordHasher()


def sha256_hex(value: str) -> str:
    """SHA-256 of a high-entropy secret (API key, token, code) as 64 hex digits.

    Fine for random secrets of 128 bits or more, which cannot be guessed; never
    for passwords (see :func:`hash_password`).
    """
    return hashlib.sha256(value.encode()).hexdigest()


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token with ``nbytes`` bytes (256 bits by default) of entropy."""
    return secrets.token_urlsafe(nbytes)


def new_numeric_code(digits: int = 6) -> str:
    """A random code of ``digits`` decimal digits (for email and SMS codes)."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def constant_time_equal(a: str, b: str) -> bool:
    """Compare two strings without leaking where they differ."""
    return hmac.compare_digest(a.encode(), b.encode())


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (PHC string format)."""
    return PASSWORDS.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; never raises for a mismatch."""
    try:
        return PASSWORDS.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


#: A hash to verify against when the account does not exist, so that an unknown
#: email costs as much time as a wrong password (no account enumeration by timing).
_DUMMY_HASH = PASSWORDS.hash(secrets.token_urlsafe(16))


def burn_password_check(password: str) -> None:
    """Spend the time of one password verification and fail."""
    verify_password(_DUMMY_HASH, password)


class SecretBox:
    """Encrypts small secrets at rest with Fernet (AES-128-CBC + HMAC-SHA256).

    The Fernet key, the pairwise-subject key and the CSRF key are derived from the
    service's secret key with HKDF-SHA256 and distinct ``info`` labels.
    """

    def __init__(self, secret_key: str) -> None:
        self._fernet = Fernet(
            base64.urlsafe_b64encode(_derive(secret_key, b"govplat identity at-rest encryption"))
        )
        self._subject_key = _derive(secret_key, b"govplat identity pairwise subject")
        self._csrf_key = _derive(secret_key, b"govplat identity csrf token")

    def encrypt(self, plaintext: str) -> str:
        """Encrypt ``plaintext``; the result is URL-safe text."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Decrypt a value made by :meth:`encrypt`.

        Raises:
            ValueError: when the value was not made with this secret key, or was altered.
        """
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("cannot decrypt: wrong secret key or altered value") from None

    def pairwise_subject(self, sector: str, account_id: str) -> str:
        """The subject identifier of an account for one sector (a client's
        redirect host): different for each relying party, stable for each
        (OIDC Core section 8.1; GOV.UK One Login's ``urn:fdc:gov.uk:2022:`` shape)."""
        digest = hmac.new(
            self._subject_key, f"{sector}|{account_id}".encode(), hashlib.sha256
        ).digest()
        return "urn:fdc:govplat:2026:" + base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def csrf_token(self, value: str) -> str:
        """The CSRF token of a random cookie value: its HMAC-SHA256 under a key of its
        own (OWASP's signed double-submit cookie), 43 URL-safe characters. Compare it
        with :func:`constant_time_equal`."""
        digest = hmac.new(self._csrf_key, value.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _derive(secret_key: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        secret_key.encode()
    )


def new_totp_secret() -> str:
    """A new base32 TOTP seed (RFC 6238, 160 bits)."""
    return pyotp.random_base32(32)


def totp_uri(secret: str, account_label: str, issuer: str = "govplat") -> str:
    """The ``otpauth://`` URI an authenticator app reads (as text or a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=account_label, issuer_name=issuer)


def totp_step(
    secret: str, code: str, after: int | None = None, at: datetime | None = None
) -> int | None:
    """The time step (RFC 6238 ``T``, 30 seconds) whose TOTP code ``code`` is, among
    the current step and one step of drift either way, or ``None``.

    Args:
        after: the step of the last code accepted: only later steps count, so that no
            code is accepted twice (RFC 6238 section 5.2).
        at: the time (aware), now by default.

    Returns:
        The latest matching step, so that the same code is not accepted again for
        another step it might also be the code of.
    """
    code = code.strip().replace(" ", "")
    totp = pyotp.TOTP(secret)
    if len(code) != totp.digits or not code.isdigit():
        return None
    current = totp.timecode(at or datetime.now(UTC))
    for step in (current + 1, current, current - 1):
        if after is not None and step <= after:
            return None
        if constant_time_equal(totp.generate_otp(step), code):
            return step
    return None
