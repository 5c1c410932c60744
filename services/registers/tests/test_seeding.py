"""Seeding from pycountry: real data, deterministic roots, nothing appended twice."""

from __future__ import annotations

import asyncio

import pycountry

from govkit.migrations import upgrade
from registers.service import proofs, reading, seeding


async def roots(context) -> dict[str, str]:
    async with context.db.read() as session:
        return {
            name: (await proofs.root(session, name)).root.hex()
            for name in ("country", "uk-subdivision", "currency", "language", "field", "register")
        }


async def test_seeding_fills_the_iso_registers_and_a_second_run_appends_nothing(registers):
    first = await seeding.seed_pycountry(registers.context)
    second = await seeding.seed_pycountry(registers.context)
    assert first["country"] == len(pycountry.countries) + len(pycountry.historic_countries)
    assert first["language"] == len(pycountry.languages)
    assert first["currency"] == len(pycountry.currencies)
    assert first["uk-subdivision"] == len(pycountry.subdivisions.get(country_code="GB"))
    assert second == {name: 0 for name in first}
    async with registers.context.db.read() as session:
        su, _ = await reading.record(session, registers.context, "country", "SU")
        gb, _ = await reading.record(session, registers.context, "country", "GB")
        cs = await reading.record_entries(session, "country", "CS")
        info = await reading.register_info(session, registers.context, "country")
    assert su["SU"]["item"][0]["end-date"] == "1992-08-30"
    assert "end-date" not in gb["GB"]["item"][0]
    assert len(cs) == 2  # Czechoslovakia, then Serbia and Montenegro
    assert info["register-record"]["copyright"].startswith("ISO codes from the Debian")
    assert info["last-updated"] == seeding.data_timestamp()


async def test_the_same_data_always_gives_the_same_root_hashes(registers, tmp_path):
    await seeding.seed_pycountry(registers.context)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    await asyncio.to_thread(upgrade, "registers", other)
    appended = await seeding.seed_database(other, "http://elsewhere.test")
    assert appended["country"] > 0
    from govkit.db import Database
    from registers.config import Settings
    from registers.context import Context

    db = Database(other)
    try:
        elsewhere = await roots(Context(settings=Settings(database_url=other), db=db))
    finally:
        await db.dispose()
    assert await roots(registers.context) == elsewhere
    again = await seeding.seed_database(other, "http://elsewhere.test")
    assert set(again.values()) == {0}
