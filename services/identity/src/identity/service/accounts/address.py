"""A citizen's postal address, its country checked against the read copy of the
``country`` register (:mod:`identity.service.countries`).

The parts are OpenID Connect's ``address`` claim's (OIDC Core section 5.1.1):
``street_address`` (one or two lines), ``locality`` (town or city), ``postal_code``
(optional: not every country has them) and ``country`` (the register's key, ISO
3166-1 alpha-2, typed as the code or the name). A country the register does not
know, or one that has ended (its ``end-date`` is on or before today) or not yet
started, is refused with a message that says which, and nothing is stored.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from identity import repository
from identity.context import Context
from identity.models import PostalAddress
from identity.service import countries
from identity.service.accounts.errors import InvalidInput
from identity.service.accounts.records import account_for_update

log = logging.getLogger(__name__)

#: Longest address line, town and typed country (characters).
MAX_LINE = 200
MAX_POSTAL_CODE = 16
_POSTAL_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]*$")


class CountryUnavailable(Exception):
    """The read copy of the ``country`` register is empty (identity has not loaded it
    yet), so no country can be checked: try again later."""


@dataclass(frozen=True)
class AddressInfo:
    """A stored postal address.

    Attributes:
        address_lines: one or two lines.
        locality: town or city.
        postal_code: the postcode, if any.
        country: the register's key, e.g. ``"GB"``.
        country_name: the country's name in the read copy (the key if it is gone).
        updated_at: when it was given (aware UTC).
    """

    address_lines: tuple[str, ...]
    locality: str
    postal_code: str | None
    country: str
    country_name: str
    updated_at: datetime

    def claim(self) -> dict[str, str]:
        """OpenID Connect's ``address`` claim (OIDC Core section 5.1.1): ``formatted``,
        ``street_address``, ``locality``, ``postal_code`` (when there is one) and
        ``country`` (the ISO 3166-1 alpha-2 code)."""
        lines = [*self.address_lines, self.locality]
        if self.postal_code:
            lines.append(self.postal_code)
        lines.append(self.country_name)
        claim = {
            "formatted": "\n".join(lines),
            "street_address": "\n".join(self.address_lines),
            "locality": self.locality,
            "country": self.country,
        }
        if self.postal_code:
            claim["postal_code"] = self.postal_code
        return claim


def _text(value: str) -> str:
    """``value`` with runs of whitespace as one space, stripped."""
    return " ".join((value or "").split())


#: Unicode categories refused in an address: controls, format characters (bidi
#: overrides among them), surrogates, private use and unassigned.
_CONTROL_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn")


def _has_control_characters(value: str) -> bool:
    return any(unicodedata.category(c) in _CONTROL_CATEGORIES for c in value)


def _visible(value: str) -> str:
    """``value`` without the characters of :data:`_CONTROL_CATEGORIES` (so that what
    the page echoes cannot reorder or hide its own words)."""
    return "".join(c for c in value if unicodedata.category(c) not in _CONTROL_CATEGORIES)


def _check_line(errors: dict[str, str], field: str, value: str, label: str) -> None:
    if len(value) > MAX_LINE:
        errors[field] = f"{label} must be {MAX_LINE} characters or fewer"
    elif _has_control_characters(value):
        errors[field] = f"{label} must not contain control characters"


def _format_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def country_problem(country: countries.Country | None, typed: str, today: date) -> str | None:
    """Why ``country`` (found from ``typed``) cannot be an address's country today, or
    ``None`` when it can."""
    if country is None:
        shown = _visible(typed)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return (
            f"We do not know the country \u2018{shown}\u2019: enter its name, like "
            "United Kingdom, or its 2-letter code, like GB"
        )
    if country.ended(today):
        return (
            f"{country.name} ended on {_format_date(country.end_date)}: enter the country "
            "the address is in now"
        )
    if not country.started(today):
        return (
            f"{country.name} is not a country until {_format_date(country.start_date)}: "
            "enter the country the address is in now"
        )
    return None


async def set_postal_address(
    context: Context,
    account_id: str,
    *,
    address_line_1: str,
    address_line_2: str = "",
    locality: str,
    postal_code: str = "",
    country: str,
) -> AddressInfo:
    """Check and store the account's postal address (replacing any earlier one).

    Args:
        country: as typed: an ISO 3166-1 alpha-2 code or a country's name.

    Returns:
        The stored address, with the country's key and name.

    Raises:
        InvalidInput: field → message, for ``address_line_1``, ``address_line_2``,
            ``locality``, ``postal_code`` and ``country`` (unknown, ended or not yet
            started in the read copy of the register).
        CountryUnavailable: the read copy is empty.
        AccountNotFound: no such account.
    """
    lines = [_text(address_line_1), _text(address_line_2)]
    town, code, typed = _text(locality), _text(postal_code).upper(), _text(country)
    errors: dict[str, str] = {}
    if not lines[0]:
        errors["address_line_1"] = "Enter the first line of the address"
    _check_line(errors, "address_line_1", lines[0], "Address line 1")
    _check_line(errors, "address_line_2", lines[1], "Address line 2")
    if not town:
        errors["locality"] = "Enter the town or city"
    _check_line(errors, "locality", town, "Town or city")
    if code and (len(code) > MAX_POSTAL_CODE or not _POSTAL_CODE.match(code)):
        errors["postal_code"] = (
            f"Enter a postcode of letters, numbers, spaces and hyphens, "
            f"{MAX_POSTAL_CODE} characters or fewer"
        )
    found = None
    if not typed:
        errors["country"] = "Enter the country"
    elif len(typed) > MAX_LINE or _has_control_characters(typed):
        errors["country"] = country_problem(None, typed[:MAX_LINE], countries.today())
    else:
        found, loaded = await countries.find(context.db, typed)
        if not loaded:
            raise CountryUnavailable()
        problem = country_problem(found, typed, countries.today())
        if problem:
            errors["country"] = problem
    if errors:
        raise InvalidInput(errors)
    kept_lines = tuple(line for line in lines if line)
    async with context.db.write() as session:
        await account_for_update(session, account_id)
        row = await repository.save_postal_address(
            session,
            PostalAddress(
                account_id=account_id,
                street_address="\n".join(kept_lines),
                locality=town,
                postal_code=code or None,
                country=found.code,
                updated_at=utcnow(),
            ),
        )
        updated_at = row.updated_at
    log.info("postal address given", extra={"account_id": account_id})
    return AddressInfo(kept_lines, town, code or None, found.code, found.name, updated_at)


async def postal_address_in(session: AsyncSession, account_id: str) -> AddressInfo | None:
    """The account's postal address, read in the caller's transaction, or ``None``
    when it has not given one."""
    row = await repository.postal_address(session, account_id)
    if row is None:
        return None
    record = await repository.country_record(session, row.country)
    return AddressInfo(
        tuple(row.street_address.split("\n")),
        row.locality,
        row.postal_code,
        row.country,
        record.name if record is not None else row.country,
        row.updated_at,
    )


async def postal_address(context: Context, account_id: str) -> AddressInfo | None:
    """The account's postal address, or ``None`` when it has not given one."""
    async with context.db.read() as session:
        return await postal_address_in(session, account_id)
