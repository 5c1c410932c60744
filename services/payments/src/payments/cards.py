"""Card numbers: checked, recognised and forgotten.

A card number is checked with the Luhn algorithm (ISO/IEC 7812-1), its brand worked
out from its first digits, and then dropped: only the brand, the type (when the
sandbox knows it), the last four digits and the expiry date are ever kept or shown.
Nothing here logs anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_DIGITS = re.compile(r"^[0-9]{12,19}$")


def digits_of(card_number: str) -> str:
    """The digits of a card number as typed (spaces and hyphens allowed)."""
    return re.sub(r"[\s-]", "", card_number)


def luhn_valid(number: str) -> bool:
    """Whether ``number`` (digits only, 12 to 19 of them) passes the Luhn check."""
    if not _DIGITS.match(number):
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


#: (brand as Pay names it, the prefixes that start its numbers, the CVC's length).
BRANDS: tuple[tuple[str, tuple[tuple[int, int], ...], int], ...] = (
    ("American Express", ((34, 34), (37, 37)), 4),
    ("Diners Club", ((300, 305), (36, 36), (38, 39)), 3),
    ("Discover", ((6011, 6011), (644, 649), (65, 65)), 3),
    ("JCB", ((3528, 3589),), 3),
    ("Mastercard", ((51, 55), (2221, 2720)), 3),
    (
        "Maestro",
        ((5018, 5018), (5020, 5020), (5038, 5038), (6304, 6304), (6759, 6759), (676, 677)),
        3,
    ),
    ("Visa", ((4, 4),), 3),
)


def brand_of(number: str) -> tuple[str, int] | None:
    """(brand, CVC length) of a card number, or ``None`` when no brand takes it."""
    for brand, ranges, cvc in BRANDS:
        for low, high in ranges:
            width = len(str(low))
            prefix = int(number[:width]) if len(number) >= width else -1
            if low <= prefix <= high:
                return brand, cvc
    return None


def expiry_valid(month: str, year: str, today: date | None = None) -> str | None:
    """The expiry as ``MM/YY`` when it is a real month not in the past, else ``None``.
    ``year``: two or four digits."""
    month, year = month.strip(), year.strip()
    if not (month.isascii() and month.isdigit() and year.isascii() and year.isdigit()):
        return None
    if not 1 <= int(month) <= 12 or len(year) not in (2, 4):
        return None
    full_year = int(year) + 2000 if len(year) == 2 else int(year)
    today = today or date.today()
    if (full_year, int(month)) < (today.year, today.month) or full_year > today.year + 20:
        return None
    return f"{int(month):02d}/{full_year % 100:02d}"


@dataclass(frozen=True)
class Card:
    """What a payment may keep of a card (never its number or security code)."""

    brand: str
    card_type: str | None
    last_digits: str
    expiry: str
    cardholder_name: str
