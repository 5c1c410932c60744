"""Seeding: the system registers, and real registers from pycountry's ISO data.

:func:`sync_register` makes a register hold a given list of records: it defines the
register's fields and the register itself (in the ``field`` and ``register``
registers), then appends an entry for each record whose current item differs from
the wanted one. Run again on the same data it appends nothing, so ``govplat up`` can
seed at every start; the entries' time is the data's release date, so the same data
always gives the same root hash.

The pycountry registers (:func:`seed_pycountry`), from the Debian iso-codes data that
pycountry ships:

- ``country``: ISO 3166-1 alpha-2 codes. The countries ISO 3166-3 lists as formerly
  used come first, in the order they ended, with an ``end-date``; a code that was used
  again (``CS``, ``AI``, ``BQ`` ...) then gets its later meaning as a newer entry of the
  same record, so a record's entries are the history of its code.
- ``uk-subdivision``: ISO 3166-2:GB, linked to ``country`` (``country: GB``) and to
  its parent subdivision as a CURIE (``uk-subdivision:GB-ENG``).
- ``currency``: ISO 4217.
- ``language``: ISO 639-3.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version

from sqlalchemy.ext.asyncio import AsyncSession

from registers import hashing, repository
from registers.datatypes import FieldDefinition
from registers.service import schema as schemas
from registers.service.appending import NewEntry, append_entries

COPYRIGHT = (
    "ISO codes from the Debian iso-codes project, as packaged by pycountry (LGPL-2.1-or-later)."
)


async def current_items(session: AsyncSession, register_id: int, keys: Sequence[str]) -> dict:
    """``key -> canonical JSON`` of the first item of each existing record among ``keys``."""
    records = await repository.find_records(session, register_id, keys)
    rows = await repository.get_entries_by_number(
        session, register_id, [number for _, number in records.values()]
    )
    digests = {row.key: hashing.split_digests(bytes(row.item_digests))[0] for row in rows.values()}
    contents = await repository.find_items(session, register_id, digests.values())
    return {key: contents[d] for key, d in digests.items()}


async def _sync(
    session: AsyncSession, context, name: str, entries: Sequence[tuple[str, dict]], timestamp: str
) -> int:
    """Append the entries whose key's current item is not the wanted one; returns how many.
    An empty register gets every entry (its full history); otherwise each key's last
    wanted item is compared with its current item."""
    reg = await schemas.get_register_or_404(session, name)
    if reg.tree_size == 0:
        wanted = list(entries)
    else:
        latest = {key: item for key, item in entries}
        current = await current_items(session, reg.id, list(latest))
        wanted = [
            (key, item)
            for key, item in latest.items()
            if current.get(key) != hashing.canonical_json(item)
        ]
    if not wanted:
        return 0
    await append_entries(
        context,
        name,
        [NewEntry(key, [item]) for key, item in wanted],
        timestamp=timestamp,
        session=session,
    )
    return len(wanted)


async def sync_register(
    context,
    name: str,
    text: str,
    fields: Sequence[FieldDefinition],
    entries: Sequence[tuple[str, dict]],
    *,
    timestamp: str,
    copyright: str = "",
) -> int:
    """Define register ``name`` with ``fields`` and make it hold ``entries`` (in one
    transaction); returns how many entries were appended to it."""
    await context.signer()
    async with context.db.write() as session:
        await _sync(
            session, context, "field", [(f.name, f.item(schemas.PHASE)) for f in fields], timestamp
        )
        record = schemas.register_item(name, text, [f.name for f in fields], copyright=copyright)
        await _sync(session, context, "register", [(name, record)], timestamp)
        return await _sync(session, context, name, entries, timestamp)


async def ensure_system_registers(context) -> None:
    """Create the ``datatype``, ``field`` and ``register`` registers and their records
    (idempotent)."""
    await context.signer()
    async with context.db.write() as session:
        await schemas.ensure_system_registers(session)
        for name, records in schemas.system_records().items():
            await _sync(session, context, name, records, schemas.SYSTEM_TIMESTAMP)


def data_timestamp() -> str:
    """The entry time of seeded data: pycountry's release date (its version is
    ``YY.M.D``), so that the same data always gives the same root hashes."""
    try:
        year, month, day = (int(part) for part in version("pycountry").split(".")[:3])
        return f"{2000 + year if year < 100 else year:04d}-{month:02d}-{day:02d}T00:00:00Z"
    except ValueError:
        return schemas.SYSTEM_TIMESTAMP


def _name(text: str) -> str:
    return text.strip()


def country_entries() -> list[tuple[str, dict]]:
    """The ``country`` register's entries (see the module docstring)."""
    import pycountry

    entries = []
    ended = sorted(pycountry.historic_countries, key=lambda c: (c.withdrawal_date, c.alpha_4))
    for country in ended:
        entries.append(
            (
                country.alpha_2,
                {
                    "country": country.alpha_2,
                    "name": _name(country.name),
                    "end-date": country.withdrawal_date,
                },
            )
        )
    for country in sorted(pycountry.countries, key=lambda c: c.alpha_2):
        item = {"country": country.alpha_2, "name": _name(country.name)}
        official = getattr(country, "official_name", None)
        if official:
            item["official-name"] = _name(official)
        entries.append((country.alpha_2, item))
    return entries


def uk_subdivision_entries() -> list[tuple[str, dict]]:
    """The ``uk-subdivision`` register's entries (ISO 3166-2:GB)."""
    import pycountry

    entries = []
    for sub in sorted(pycountry.subdivisions.get(country_code="GB"), key=lambda s: s.code):
        item = {
            "uk-subdivision": sub.code,
            "name": _name(sub.name),
            "subdivision-type": sub.type,
            "country": "GB",
        }
        if sub.parent_code:
            item["parent"] = f"uk-subdivision:{sub.parent_code}"
        entries.append((sub.code, item))
    return entries


def currency_entries() -> list[tuple[str, dict]]:
    """The ``currency`` register's entries (ISO 4217)."""
    import pycountry

    return [
        (c.alpha_3, {"currency": c.alpha_3, "name": _name(c.name), "numeric-code": c.numeric})
        for c in sorted(pycountry.currencies, key=lambda c: c.alpha_3)
    ]


LANGUAGE_SCOPES = {"I": "individual", "M": "macrolanguage", "S": "special"}
LANGUAGE_TYPES = {
    "A": "ancient",
    "C": "constructed",
    "E": "extinct",
    "H": "historical",
    "L": "living",
    "S": "special",
}


def language_entries() -> list[tuple[str, dict]]:
    """The ``language`` register's entries (ISO 639-3)."""
    import pycountry

    entries = []
    for lang in sorted(pycountry.languages, key=lambda lang: lang.alpha_3):
        item = {
            "language": lang.alpha_3,
            "name": _name(lang.name),
            "language-scope": LANGUAGE_SCOPES.get(lang.scope, lang.scope),
            "language-type": LANGUAGE_TYPES.get(lang.type, lang.type),
        }
        alpha_2 = getattr(lang, "alpha_2", None)
        if alpha_2:
            item["iso-639-1"] = alpha_2
        entries.append((lang.alpha_3, item))
    return entries


NAME_FIELD = FieldDefinition("name", "string", text="The commonly used name.")

PYCOUNTRY_REGISTERS = {
    "country": (
        "Countries: ISO 3166-1 alpha-2 codes, with those ISO 3166-3 lists as formerly used.",
        [
            FieldDefinition("country", "string", register="country", text="ISO 3166-1 alpha-2."),
            NAME_FIELD,
            FieldDefinition("official-name", "string", text="The official name."),
            FieldDefinition("end-date", "datetime", text="When the code stopped being used."),
        ],
        country_entries,
    ),
    "uk-subdivision": (
        "The subdivisions of the United Kingdom: ISO 3166-2:GB.",
        [
            FieldDefinition(
                "uk-subdivision", "string", register="uk-subdivision", text="ISO 3166-2 code."
            ),
            NAME_FIELD,
            FieldDefinition("subdivision-type", "string", text="The kind of subdivision."),
            FieldDefinition("country", "string", register="country", text="ISO 3166-1 alpha-2."),
            FieldDefinition("parent", "curie", text="The subdivision this one is part of."),
        ],
        uk_subdivision_entries,
    ),
    "currency": (
        "Currencies: ISO 4217.",
        [
            FieldDefinition("currency", "string", register="currency", text="ISO 4217 code."),
            NAME_FIELD,
            FieldDefinition("numeric-code", "string", text="ISO 4217 numeric code."),
        ],
        currency_entries,
    ),
    "language": (
        "Languages: ISO 639-3.",
        [
            FieldDefinition("language", "string", register="language", text="ISO 639-3 code."),
            NAME_FIELD,
            FieldDefinition("language-scope", "string", text="Individual, macrolanguage ..."),
            FieldDefinition("language-type", "string", text="Living, extinct, ancient ..."),
            FieldDefinition("iso-639-1", "string", text="The ISO 639-1 code, if any."),
        ],
        language_entries,
    ),
}


async def seed_pycountry(context) -> dict[str, int]:
    """Seed (or bring up to date) the pycountry registers; returns entries appended per
    register (all zero when the data has not changed)."""
    await ensure_system_registers(context)
    timestamp = data_timestamp()
    appended = {}
    for name, (text, fields, entries) in PYCOUNTRY_REGISTERS.items():
        appended[name] = await sync_register(
            context, name, text, fields, entries(), timestamp=timestamp, copyright=COPYRIGHT
        )
    return appended


async def seed_database(database_url: str, public_url: str) -> dict[str, int]:
    """Seed a migrated registers database directly (``govplat up``, before the service
    starts); returns entries appended per register."""
    from govkit.db import Database
    from registers.config import Settings
    from registers.context import Context

    db = Database(database_url, synchronous_full=True)
    try:
        settings = Settings(database_url=database_url, public_url=public_url)
        return await seed_pycountry(Context(settings=settings, db=db))
    finally:
        await db.dispose()
