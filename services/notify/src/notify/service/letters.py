"""Postal addresses of letters, checked as GOV.UK Notify checks them
(``app/notifications/validators.py: validate_address``).

The address is the personalisation's ``address_line_1`` ... ``address_line_7``
(``postcode`` is still accepted as the last line). It needs 3 to 7 lines; the first
two must contain a letter or digit; no line may start with ``@ ( ) = [ ] ” \\ / , < >``;
the last line is a real UK postcode, or (for services allowed international letters)
a country, which makes the letter international.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pycountry

from notify.errors import validation_error
from notify.templating.placeholders import Personalisation

ADDRESS_KEYS = [f"address_line_{n}" for n in range(1, 8)]
_POSTCODE = re.compile(r"^(GIR0AA|[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][ABD-HJLNP-UW-Z]{2})$")
_FORBIDDEN_START = tuple("@()=[]\u201d\\/,<>")
FORBIDDEN_MESSAGE = "Address lines must not start with any of the following characters: @ ( ) = [ ] \u201d \\ / , < >"
UK_NAMES = frozenset(
    {"united kingdom", "uk", "great britain", "england", "scotland", "wales", "northern ireland"}
)
EUROPE = frozenset(
    "AD AL AT BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GI GR HR HU IE IS IT LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SK SM TR UA VA".split()
)


@dataclass(frozen=True)
class Address:
    """A valid address: its lines (postcode normalised), and ``international`` with its
    ``country`` when the last line is a country."""

    lines: list[str]
    international: bool = False
    country: str | None = None

    @property
    def postage_zone(self) -> str | None:
        """``europe`` or ``rest-of-world`` for international letters, else ``None``."""
        if not self.international:
            return None
        return "europe" if self.country in EUROPE else "rest-of-world"


def normalise_postcode(value: str) -> str | None:
    """``sw1a1aa`` → ``SW1A 1AA``; ``None`` when it is not a UK postcode."""
    compact = re.sub(r"\s+", "", value).upper()
    if not _POSTCODE.match(compact):
        return None
    return f"{compact[:-3]} {compact[-3:]}"


def country_code(name: str) -> str | None:
    """The ISO 3166-1 alpha-2 code of a country named on a letter, or ``None``."""
    cleaned = name.strip().rstrip(".")
    if not cleaned or cleaned.lower() in UK_NAMES:
        return None
    try:
        return pycountry.countries.lookup(cleaned).alpha_2
    except LookupError:
        try:
            matches = pycountry.countries.search_fuzzy(cleaned)
        except LookupError:
            return None
        return matches[0].alpha_2 if matches and len(cleaned) > 3 else None


def validate_address(values: dict | None, *, international_allowed: bool) -> Address:
    """The address of a letter's personalisation.

    Raises:
        notify.errors.NotifyError: 400 ``ValidationError`` with Notify's message.
    """
    personalisation = Personalisation(values)
    lines = []
    for key in [*ADDRESS_KEYS, "postcode"]:
        value = personalisation.get(key)
        if value is None:
            continue
        text = " ".join(str(value).split())
        if text:
            lines.append(text)
    if len(lines) < 3:
        raise validation_error(["Address must be at least 3 lines"])
    if len(lines) > 7:
        raise validation_error(["Address must be no more than 7 lines"])
    if not all(any(c.isalnum() for c in line) for line in lines[:2]):
        raise validation_error(
            [
                "The first 2 lines of the address must both include at least one alphanumeric character"
            ]
        )
    if any(line.startswith(_FORBIDDEN_START) for line in lines):
        raise validation_error([FORBIDDEN_MESSAGE])
    postcode = normalise_postcode(lines[-1])
    if postcode is not None:
        return Address(lines=[*lines[:-1], postcode])
    country = country_code(lines[-1]) if international_allowed else None
    if country is not None:
        return Address(lines=lines, international=True, country=country)
    if international_allowed:
        raise validation_error(
            ["Last line of address must be a real UK postcode or another country"]
        )
    raise validation_error(["Must be a real UK postcode"])
