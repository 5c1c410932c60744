"""Phone numbers and email addresses, validated and normalised as GOV.UK Notify does."""

from __future__ import annotations

import pytest

from notify.recipients import InvalidRecipientError, normalise_email, parse_phone_number


@pytest.mark.parametrize(
    "number",
    [
        "07700 900 123",
        "+447700900123",
        "447700900123",
        "0044 7700 900123",
        "(07700) 900-123",
        "+44 (0)7700 900123",
        "7700900123",
        "07700\u200b900123",
    ],
)
def test_british_mobile_numbers_in_any_usual_form_normalise_to_e164_without_plus(number):
    phone = parse_phone_number(number)
    assert phone.normalised == "447700900123"
    assert phone.is_uk and not phone.international and not phone.is_uk_landline


@pytest.mark.parametrize("number", ["0+447700900100", "000007700900100", "+07700900100"])
def test_stray_plus_signs_and_leading_zeros_are_forgiven(number):
    assert parse_phone_number(number).normalised == "447700900100"


@pytest.mark.parametrize(
    ("number", "normalised", "multiplier"),
    [
        ("+1 202 555 0143", "12025550143", 1),
        ("12025550143", "12025550143", 1),
        ("+33 6 12 34 56 78", "33612345678", 2),
    ],
)
def test_international_numbers_are_recognised_with_their_rate_multiplier(
    number, normalised, multiplier
):
    phone = parse_phone_number(number)
    assert (phone.normalised, phone.is_uk, phone.international, phone.rate_multiplier) == (
        normalised,
        False,
        True,
        multiplier,
    )


def test_a_crown_dependency_counts_as_uk_but_is_billed_as_international():
    phone = parse_phone_number("+44 7797 123456")
    assert phone.is_uk and phone.international and phone.rate_multiplier == 2


def test_a_uk_landline_is_valid_and_marked_as_a_landline():
    phone = parse_phone_number("020 7946 0000")
    assert phone.normalised == "442079460000" and phone.is_uk_landline


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("", "Not enough digits"),
        ("+999 123", "Not enough digits"),
        ("07700 9001x3", "Must not contain letters or symbols"),
        ("07700.900.123", "Must not contain letters or symbols"),
        ("071234567890123456", "Too many digits"),
        ("+99912345678", "Not a valid country prefix"),
        ("0800 123 4567", "Number is not valid \u2013 double check the phone number you entered"),
        ("09012345678", "Number is not valid \u2013 double check the phone number you entered"),
        ("01632 960000", "Number is not valid \u2013 double check the phone number you entered"),
    ],
)
def test_invalid_numbers_get_notifys_message(number, message):
    with pytest.raises(InvalidRecipientError) as refused:
        parse_phone_number(number)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("address", "normalised"),
    [
        ("Test.User+tag@Example.CO.UK", "test.user+tag@example.co.uk"),
        ("o'reilly@example.com", "o'reilly@example.com"),
        ("test@例え.テスト", "test@例え.テスト"),
        ("  spaced@example.com\u200b ", "spaced@example.com"),
    ],
)
def test_valid_email_addresses_are_lower_cased(address, normalised):
    assert normalise_email(address) == normalised


@pytest.mark.parametrize(
    "address",
    [
        "test@localhost",
        "test@example",
        "a..b@example.com",
        "test@-example.com",
        "test@exa_mple.com",
        '"quoted"@example.com',
        "test@example.c",
        "test@example.123",
        "ünicode@example.com",
        "test@example.com.",
        "test;x@example.com",
        "two@@example.com",
        "a" * 320 + "@example.com",
        "",
    ],
)
def test_invalid_email_addresses_are_refused_with_one_message(address):
    with pytest.raises(InvalidRecipientError) as refused:
        normalise_email(address)
    assert str(refused.value) == "Not a valid email address"
