"""Recipients: phone numbers and email addresses, validated as GOV.UK Notify does.

Phone numbers (notifications-utils ``recipient_validation/phone_number.py``, with
Google's ``phonenumbers``): digits, spaces, ``( ) + -`` only; UK by default (a
number without a country code is British), international numbers only for services
with the ``international_sms`` permission; mobile, fixed-line, UAN and personal
numbers are valid, premium-rate, toll-free and drama ranges are not; the Ofcom TV
range ``07700 900xxx`` is valid. The normalised form is E.164 without ``+``
(``447700900123``).

Email addresses (notifications-utils ``recipient_validation/email_address.py``;
``email-validator`` checks the domain where it agrees): surrounding and zero-width
whitespace removed; an ASCII local part of letters, digits and
``.!#$%&'*+/=?^_`{|}~-``; one ``@``; at most 320 characters; no ``..``; a domain of
at least two labels of letters, digits and inner hyphens, IDNA-encoded, at most
253 characters, ending in a top-level domain of 2 to 63 letters (or ``xn--``).
The normalised form is lower-case.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

TOO_SHORT = "Not enough digits"
TOO_LONG = "Too many digits"
NOT_UK_MOBILE = "Not a UK mobile number"
HAS_LETTERS = "Must not contain letters or symbols"
BAD_PREFIX = "Not a valid country prefix"
NOT_VALID = "Number is not valid \u2013 double check the phone number you entered"
BAD_EMAIL = "Not a valid email address"

#: Characters removed before anything is checked: whitespace Notify strips.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u180e\u00a0\u202f"
_ALLOWED_PHONE = re.compile(r"^[0-9\s()+\-" + _INVISIBLE + r"]*$")
VALID_TYPES = frozenset(
    {
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.UAN,
        PhoneNumberType.PERSONAL_NUMBER,
    }
)
#: Crown dependencies: +44, but Jersey, Guernsey and the Isle of Man.
CROWN_DEPENDENCIES = frozenset({"JE", "GG", "IM"})


class InvalidRecipientError(ValueError):
    """A recipient Notify would refuse; ``str()`` is Notify's message for it."""


@dataclass(frozen=True)
class PhoneNumber:
    """A valid phone number.

    Attributes:
        normalised: E.164 without ``+``, e.g. ``447700900123``.
        is_uk: a +44 number (crown dependencies included, as Notify counts them).
        is_uk_landline: a UK fixed-line (not mobile) number.
        international: billed as international (not +44, or a crown dependency).
        rate_multiplier: how many UK text messages one fragment costs (1 in the UK).
    """

    normalised: str
    is_uk: bool
    is_uk_landline: bool
    international: bool
    rate_multiplier: int


def strip_whitespace(value: str) -> str:
    """``value`` without surrounding whitespace and zero-width or no-break spaces."""
    for char in _INVISIBLE:
        value = value.replace(char, "")
    return value.strip()


def _parse(raw: str) -> phonenumbers.PhoneNumber | None:
    """Notify's parse: as British; else without ``+`` and leading zeros; else as ``+digits``."""
    digits = re.sub(r"\D", "", raw)
    for candidate, region in (
        (raw, "GB"),
        (digits.lstrip("0"), "GB"),
        ("+" + digits.lstrip("0"), None),
    ):
        try:
            number = phonenumbers.parse(candidate, region)
        except NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return number
    try:
        return phonenumbers.parse("+" + digits.lstrip("0"), None)
    except NumberParseException:
        return None


def _is_ofcom_tv_range(number: phonenumbers.PhoneNumber) -> bool:
    """07700 900000 to 900999: Ofcom's numbers for drama, which Notify accepts as mobiles
    (``phonenumbers`` calls them invalid)."""
    national = str(number.national_number)
    return number.country_code == 44 and len(national) == 10 and national.startswith("7700900")


#: Recently parsed recipients kept (a send checks its recipient twice: in the schema's
#: format check and in Notify's recipient rules; a pure function of the text).
RECIPIENT_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=RECIPIENT_CACHE_SIZE)
def parse_phone_number(value: str) -> PhoneNumber:
    """Validate a phone number as Notify's API schema does (international allowed).
    Results are remembered (``RECIPIENT_CACHE_SIZE`` of them); refusals are not.

    Raises:
        InvalidRecipientError: with Notify's message (``Not enough digits`` ...).
    """
    raw = strip_whitespace(value)
    if not _ALLOWED_PHONE.match(raw):
        raise InvalidRecipientError(HAS_LETTERS)
    digits = re.sub(r"\D", "", raw)
    if len(digits) < 8:
        raise InvalidRecipientError(TOO_SHORT)
    if len(digits) > 15 and len(digits.lstrip("0")) > 15:
        raise InvalidRecipientError(TOO_LONG)
    number = _parse(raw)
    if number is None:
        raise InvalidRecipientError(BAD_PREFIX)
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == ValidationResult.INVALID_COUNTRY_CODE:
        raise InvalidRecipientError(BAD_PREFIX)
    if reason in (ValidationResult.TOO_SHORT, ValidationResult.INVALID_LENGTH):
        raise InvalidRecipientError(TOO_SHORT)
    if reason == ValidationResult.TOO_LONG:
        raise InvalidRecipientError(TOO_LONG)
    tv_range = _is_ofcom_tv_range(number)
    if not tv_range and not phonenumbers.is_valid_number(number):
        raise InvalidRecipientError(NOT_VALID)
    if not tv_range and phonenumbers.number_type(number) not in VALID_TYPES:
        raise InvalidRecipientError(NOT_VALID)
    region = phonenumbers.region_code_for_number(number)
    is_uk = number.country_code == 44
    crown = region in CROWN_DEPENDENCIES
    if not is_uk:
        multiplier = 1 if number.country_code == 1 else 2
    else:
        multiplier = 2 if crown else 1
    return PhoneNumber(
        normalised=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:],
        is_uk=is_uk,
        is_uk_landline=is_uk
        and not crown
        and not tv_range
        and phonenumbers.number_type(number) != PhoneNumberType.MOBILE,
        international=not is_uk or crown,
        rate_multiplier=multiplier,
    )


_LOCAL_PART = re.compile(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\-]+$")
_LABEL = re.compile(r"^(xn|[a-z0-9]+)(-?-[a-z0-9]+)*$", re.IGNORECASE)
_TLD = re.compile(r"^([a-z]{2,63}|xn--([a-z0-9]+-)*[a-z0-9]+)$", re.IGNORECASE)


@functools.lru_cache(maxsize=RECIPIENT_CACHE_SIZE)
def normalise_email(value: str) -> str:
    """Validate an email address as Notify does; return it lower-cased. Results are
    remembered (``RECIPIENT_CACHE_SIZE`` of them); refusals are not.

    Raises:
        InvalidRecipientError: ``Not a valid email address``.
    """
    address = strip_whitespace(value)
    if len(address) > 320 or ".." in address or address.count("@") != 1:
        raise InvalidRecipientError(BAD_EMAIL)
    local, domain = address.split("@")
    if not local or not _LOCAL_PART.match(local):
        raise InvalidRecipientError(BAD_EMAIL)
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        raise InvalidRecipientError(BAD_EMAIL) from None
    labels = ascii_domain.split(".")
    if len(ascii_domain) > 253 or len(labels) < 2:
        raise InvalidRecipientError(BAD_EMAIL)
    for label in labels:
        if not 1 <= len(label) <= 63 or not _LABEL.match(label):
            raise InvalidRecipientError(BAD_EMAIL)
    if not _TLD.match(labels[-1]):
        raise InvalidRecipientError(BAD_EMAIL)
    try:
        # email-validator agrees on the domain's syntax; deliverability is not checked.
        validate_email(f"{local}@{ascii_domain}", check_deliverability=False)
    except EmailNotValidError:
        raise InvalidRecipientError(BAD_EMAIL) from None
    return address.lower()
