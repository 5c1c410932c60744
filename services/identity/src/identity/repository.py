"""Queries of identity's read copy of the ``country`` register and of postal addresses.

The other use cases of identity still query their rows in the service layer; the
read copy and addresses start the repository layer (``service.countries`` and
``service.accounts.address`` call it; it imports only the models).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import CountryRecord, PostalAddress

#: The columns an applied entry sets (all but the key).
_RECORD_COLUMNS = (
    "name",
    "official_name",
    "name_key",
    "official_name_key",
    "start_date",
    "end_date",
    "entry_number",
    "entry_timestamp",
    "updated_at",
)


async def apply_country_records(session: AsyncSession, rows: Sequence[dict]) -> None:
    """Insert or replace country records, each only if its ``entry_number`` is higher
    than the stored one's: ``INSERT ... ON CONFLICT (country) DO UPDATE ... WHERE
    country_record.entry_number < excluded.entry_number`` (PostgreSQL and SQLite), so
    concurrent writers of one key need no lock and the newest entry always wins.

    Args:
        rows: dicts with ``country`` and every column of :data:`_RECORD_COLUMNS`.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(CountryRecord)
    statement = statement.on_conflict_do_update(
        index_elements=[CountryRecord.country],
        set_={name: statement.excluded[name] for name in _RECORD_COLUMNS},
        where=CountryRecord.entry_number < statement.excluded.entry_number,
    )
    await session.execute(statement, list(rows))


async def country_record(session: AsyncSession, country: str) -> CountryRecord | None:
    """The record of key ``country`` (exact, e.g. ``"GB"``), or ``None``."""
    return await session.get(CountryRecord, country)


async def country_records_named(session: AsyncSession, name_key: str) -> list[CountryRecord]:
    """The records whose folded name or official name is ``name_key``, by key."""
    query = (
        select(CountryRecord)
        .where(or_(CountryRecord.name_key == name_key, CountryRecord.official_name_key == name_key))
        .order_by(CountryRecord.country)
    )
    return list(await session.scalars(query))


async def country_records(session: AsyncSession) -> list[CountryRecord]:
    """Every record of the read copy, by key."""
    return list(await session.scalars(select(CountryRecord).order_by(CountryRecord.country)))


async def count_country_records(session: AsyncSession) -> int:
    """How many keys the read copy holds."""
    return int(await session.scalar(select(func.count()).select_from(CountryRecord)) or 0)


async def postal_address(session: AsyncSession, account_id: str) -> PostalAddress | None:
    """The account's postal address, or ``None``."""
    return await session.get(PostalAddress, account_id)


async def save_postal_address(session: AsyncSession, address: PostalAddress) -> PostalAddress:
    """Store ``address`` as the account's only postal address (replacing any)."""
    return await session.merge(address)
