"""Checking what the citizen types: email addresses, passwords, phone numbers, codes.

Emails are checked with ``email-validator`` and phone numbers with
``phonenumbers`` (Google's libphonenumber); nothing here parses them by hand.
"""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from identity.service.accounts.errors import InvalidInput
from identity.service.accounts.values import (
    DEFAULT_PHONE_REGION,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
)

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

#: Phone number types a text message can reach (``FIXED_LINE_OR_MOBILE``: the
#: numbering plan does not tell, as in the United States).
_TEXTABLE = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
#: Longer input is refused before parsing (E.164 numbers have at most 15 digits).
_PHONE_MAX_LENGTH = 40
_PHONE_FORMAT_ERROR = (
    "Enter a UK mobile phone number, like 07911 123456, or an international number "
    "starting with + and the country code, like +33 6 12 34 56 78"
)

_CODE = re.compile(r"^\d{6}$")


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


def normalise_phone_number(number: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """A mobile phone number as typed, checked and written in E.164.

    A number without ``+`` and a country code is read as a number of ``region``
    (the UK by default: ``07911 123456`` → ``"+447911123456"``); one with it may be
    of any country. The number must be valid for its country's numbering plan and
    able to receive text messages (not a landline).

    Args:
        number: as typed (spaces, dashes and brackets are fine).
        region: ISO 3166-1 alpha-2 code of the country assumed without ``+``.

    Returns:
        The E.164 form, ``+`` and at most 15 digits.

    Raises:
        InvalidInput: ``{"phone_number": message}``: empty, not a valid number, or
            not a mobile number.
    """
    number = (number or "").strip()
    if not number:
        raise InvalidInput({"phone_number": "Enter a mobile phone number"})
    parsed = _parse_phone_number(number, region)
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise InvalidInput({"phone_number": _PHONE_FORMAT_ERROR})
    if phonenumbers.number_type(parsed) not in _TEXTABLE:
        raise InvalidInput(
            {"phone_number": "Enter a mobile phone number: we cannot text a landline"}
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _parse_phone_number(number: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """``number`` parsed (``None`` when it is too long or not a phone number at all)."""
    if len(number) > _PHONE_MAX_LENGTH:
        return None
    try:
        return phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None


def format_phone_number(e164: str) -> str:
    """An E.164 number (as :func:`normalise_phone_number` returns) written for
    people, in the international format: ``"+447911123456"`` → ``"+44 7911 123456"``.

    Raises:
        ValueError: not a phone number.
    """
    parsed = _parse_phone_number(e164, None)
    if parsed is None:
        raise ValueError("not an E.164 phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def clean_code(code: str) -> str:
    """Digits of a code as typed (spaces and dashes removed)."""
    return re.sub(r"[\s-]", "", code or "")


def is_code_shaped(code: str) -> bool:
    """Whether a cleaned code (:func:`clean_code`) is 6 digits."""
    return bool(_CODE.match(code))
