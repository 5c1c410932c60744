"""Identity's read copy of the registers' ``country`` register, and finding a country
in it from what a citizen typed.

The copy holds, for each key (an ISO 3166-1 alpha-2 code), the item of the latest
entry applied: ``name``, ``official-name``, ``start-date`` and ``end-date``. It is
kept by the ``EntryAppended`` events of the register (``identity.events``) and filled
at every start from the register's records (``identity.registers_client``), because
JetStream keeps events for 7 days only. Both apply an entry only when its entry
number is higher than the stored one's, so each is idempotent and their order does
not matter.

A country is *live* on a day when it has started (no ``start-date``, or one on or
before that day) and not ended (no ``end-date``, or one after that day). The
register's dates may be partial (``1993``, ``1993-01``, ``1993-01-01``, or a time):
each is read as its first day, so ``end-date: 2026`` ends a country on 1 January
2026. A date that cannot be read fails closed: the country is treated as ended (or
not yet started).
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from govkit.db import Database, utcnow
from identity import repository
from identity.models import CountryRecord

log = logging.getLogger(__name__)

#: The register this copy is of.
REGISTER = "country"
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:$|T)")


def parse_register_date(value: object, *, unreadable: date) -> date | None:
    """The first day of an OpenRegister ``datetime`` value (``"2003"``, ``"2003-07"``,
    ``"2003-07-14"``, ``"2003-07-14T00:00:00Z"``); ``None`` when absent or empty, and
    ``unreadable`` for anything else (so that a bad date fails closed)."""
    if value is None or value == "":
        return None
    found = _DATE.match(value) if isinstance(value, str) else None
    if found is None:
        return unreadable
    year, month, day = (int(part) if part else 1 for part in found.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return unreadable


def name_key(name: str) -> str:
    """A name folded for matching: Unicode NFKC, case-folded, accents kept, runs of
    spaces, hyphens and commas as one space (``"Korea,  Republic of"`` →
    ``"korea republic of"``)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return " ".join(re.sub(r"[\s,\-\u2010-\u2015]+", " ", folded).split())


@dataclass(frozen=True)
class Country:
    """A record of the read copy.

    Attributes:
        code: the key (ISO 3166-1 alpha-2, e.g. ``"GB"``).
        name: its ``name``.
        official_name: its ``official-name``, if any.
        start_date: the first day of its ``start-date``, if any.
        end_date: the first day of its ``end-date``, if any.
        entry_number: the register entry the record is from.
    """

    code: str
    name: str
    official_name: str | None
    start_date: date | None
    end_date: date | None
    entry_number: int

    @classmethod
    def of(cls, row: CountryRecord) -> Country:
        """From the database row."""
        return cls(
            row.country,
            row.name,
            row.official_name,
            row.start_date,
            row.end_date,
            row.entry_number,
        )

    def ended(self, today: date) -> bool:
        """Whether it has an end-date on or before ``today``."""
        return self.end_date is not None and self.end_date <= today

    def started(self, today: date) -> bool:
        """Whether it has no start-date, or one on or before ``today``."""
        return self.start_date is None or self.start_date <= today

    def live(self, today: date) -> bool:
        """Whether an address may be in it on ``today``: started and not ended."""
        return self.started(today) and not self.ended(today)


def today() -> date:
    """Today's date in UTC (the day an address is checked on)."""
    return utcnow().date()


def record_row(
    key: str, items_json: Sequence[str], entry_number: int, entry_timestamp: datetime
) -> dict:
    """The ``country_record`` row of an entry of the register (its first item).

    Raises:
        ValueError: the entry has no item, or its item is not a JSON object.
    """
    if not items_json:
        raise ValueError("the entry has no item")
    item = json.loads(items_json[0])
    if not isinstance(item, dict):
        raise ValueError("the item is not a JSON object")
    name = str(item.get("name") or key)[:255]
    official = item.get("official-name")
    official = str(official)[:255] if official else None
    return {
        "country": key,
        "name": name,
        "official_name": official,
        "name_key": name_key(name)[:255],
        "official_name_key": name_key(official)[:255] if official else None,
        "start_date": parse_register_date(item.get("start-date"), unreadable=date.max),
        "end_date": parse_register_date(item.get("end-date"), unreadable=date.min),
        "entry_number": entry_number,
        "entry_timestamp": entry_timestamp.astimezone(UTC),
        "updated_at": utcnow(),
    }


@dataclass(frozen=True)
class RegisterEntry:
    """An entry (or a record's latest entry) of the register, as events and the
    start-up load give it: ``key``, ``items_json`` (canonical JSON objects),
    ``entry_number`` and ``entry_timestamp`` (aware UTC)."""

    key: str
    items_json: Sequence[str]
    entry_number: int
    entry_timestamp: datetime


async def apply_entries(session, entries: Iterable[RegisterEntry]) -> int:
    """Apply entries of the register in the caller's write transaction (each only if
    it is newer than the stored record of its key); returns how many were read.

    An entry whose item is unreadable is logged and skipped: the register validated
    it, so retrying would not change it.
    """
    rows, seen = [], 0
    for entry in entries:
        seen += 1
        try:
            rows.append(
                record_row(entry.key, entry.items_json, entry.entry_number, entry.entry_timestamp)
            )
        except ValueError as exc:
            log.warning("country register entry %d not applied: %s", entry.entry_number, exc)
    # One statement per key: a batch may hold several entries of one key.
    newest: dict[str, dict] = {}
    for row in rows:
        kept = newest.get(row["country"])
        if kept is None or kept["entry_number"] < row["entry_number"]:
            newest[row["country"]] = row
    await repository.apply_country_records(session, list(newest.values()))
    return seen


async def apply_records(db: Database, records: Sequence[RegisterEntry]) -> int:
    """Apply records of the register (a page of the start-up load) in one write
    transaction; returns how many were read."""
    async with db.write() as session:
        return await apply_entries(session, records)


async def find(db: Database, typed: str) -> tuple[Country | None, bool]:
    """The country a citizen means by ``typed``: its key (``gb``, ``GB``), else its
    name or official name (folded, see :func:`name_key`). When a name is that of
    several records, a live one is preferred.

    Returns:
        ``(country or None, whether the read copy has any record at all)``.
    """
    typed = typed.strip()
    async with db.read() as session:
        row = await repository.country_record(session, typed.upper()) if typed else None
        if row is not None:
            return Country.of(row), True
        named = [
            Country.of(r)
            for r in await repository.country_records_named(session, name_key(typed)[:255])
        ]
        if named:
            now = today()
            return next((c for c in named if c.live(now)), named[0]), True
        return None, await repository.count_country_records(session) > 0


async def get(db: Database, code: str) -> Country | None:
    """The record of key ``code`` (exactly as stored), or ``None``."""
    async with db.read() as session:
        row = await repository.country_record(session, code)
        return None if row is None else Country.of(row)


async def all_countries(db: Database) -> list[Country]:
    """Every record of the read copy, by key."""
    async with db.read() as session:
        return [Country.of(row) for row in await repository.country_records(session)]
