"""The database layer (``govkit.db``): URL normalisation, UTC timestamps and write
transactions, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, update
from sqlalchemy.exc import StatementError

from govkit.db import Database, UTCDateTime, async_url, new_metadata, sqlite_path

metadata: MetaData = new_metadata()
stamps = Table(
    "stamp",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=True),
)
counters = Table(
    "counter",
    metadata,
    Column("name", String(20), primary_key=True),
    Column("value", Integer, nullable=False),
)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A :class:`Database` on a fresh database with the test tables created."""
    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


# -- async_url ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/payments.db", "sqlite+aiosqlite:///var/payments.db"),
        ("sqlite:////srv/govplat/payments.db", "sqlite+aiosqlite:////srv/govplat/payments.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        (
            "postgresql://govplat@db.internal:5432/payments",
            "postgresql+asyncpg://govplat@db.internal:5432/payments",
        ),
        (
            "postgres://govplat:s3cret@db.internal/payments",
            "postgresql+asyncpg://govplat:s3cret@db.internal/payments",
        ),
    ],
)
def test_a_plain_database_url_gets_its_async_driver(url: str, expected: str) -> None:
    assert async_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///var/payments.db",
        "postgresql+asyncpg://govplat@db.internal/payments",
        "postgresql+psycopg://govplat@db.internal/payments",
    ],
)
def test_a_database_url_that_names_its_driver_is_kept(url: str) -> None:
    assert async_url(url) == url


def test_a_password_with_url_escapes_survives_normalisation() -> None:
    url = "postgresql://govplat:p%40ss%2Fword@db.internal/payments"

    assert async_url(url) == "postgresql+asyncpg://govplat:p%40ss%2Fword@db.internal/payments"


@pytest.mark.parametrize(
    "url", ["mysql://root@db.internal/payments", "oracle://scott@db.internal/orcl"]
)
def test_a_database_other_than_sqlite_or_postgresql_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        async_url(url)


def test_the_file_of_a_sqlite_url_is_found_and_other_urls_have_none() -> None:
    assert str(sqlite_path("sqlite:///var/payments.db")) == "var/payments.db"
    assert sqlite_path("sqlite://") is None
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql://govplat@db.internal/payments") is None


def test_a_database_for_a_sqlite_file_in_a_missing_folder_creates_the_folder(tmp_path) -> None:
    folder = tmp_path / "not" / "yet"

    Database(f"sqlite:///{folder / 'payments.db'}")

    assert folder.is_dir()


# -- UTCDateTime -------------------------------------------------------------------


async def test_a_naive_datetime_is_refused(db: Database) -> None:
    with pytest.raises(StatementError) as excinfo:
        async with db.write() as session:
            await session.execute(stamps.insert().values(id=1, at=datetime(2024, 5, 1, 12, 0)))

    assert isinstance(excinfo.value.orig, ValueError)
    assert "naive datetime" in str(excinfo.value.orig)
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(stamps)) == 0


async def test_an_aware_datetime_comes_back_as_the_same_instant_in_utc(db: Database) -> None:
    paris_summer = timezone(timedelta(hours=2))
    written = datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=paris_summer)

    async with db.write() as session:
        await session.execute(stamps.insert().values(id=1, at=written))
    async with db.read() as session:
        read = await session.scalar(select(stamps.c.at).where(stamps.c.id == 1))

    assert read == written
    assert read.utcoffset() == timedelta(0)
    assert read.tzinfo == UTC
    assert (read.hour, read.minute, read.second, read.microsecond) == (12, 30, 15, 123456)


async def test_a_utc_datetime_round_trips_unchanged(db: Database) -> None:
    written = datetime(2030, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

    async with db.write() as session:
        await session.execute(stamps.insert().values(id=1, at=written))
    async with db.read() as session:
        read = await session.scalar(select(stamps.c.at).where(stamps.c.id == 1))

    assert read == written
    assert read.tzinfo == UTC


async def test_a_null_timestamp_stays_null(db: Database) -> None:
    async with db.write() as session:
        await session.execute(stamps.insert().values(id=1, at=None))
    async with db.read() as session:
        assert await session.scalar(select(stamps.c.at).where(stamps.c.id == 1)) is None


async def test_timestamps_in_different_zones_compare_as_instants_in_queries(db: Database) -> None:
    earlier = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    later_but_smaller_clock = datetime(
        2024, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=-5))
    )  # 13:00 UTC

    async with db.write() as session:
        await session.execute(
            stamps.insert().values(
                [{"id": 1, "at": later_but_smaller_clock}, {"id": 2, "at": earlier}]
            )
        )
    async with db.read() as session:
        ordered = (await session.scalars(select(stamps.c.id).order_by(stamps.c.at))).all()
        after_noon = (await session.scalars(select(stamps.c.id).where(stamps.c.at > earlier))).all()

    assert ordered == [2, 1]
    assert after_noon == [1]


# -- write transactions ------------------------------------------------------------


async def test_concurrent_read_modify_write_transactions_that_lock_what_they_read_never_lose_an_update(
    db: Database,
) -> None:
    async with db.write() as session:
        await session.execute(counters.insert().values(name="hits", value=0))

    async def increment() -> None:
        async with db.write() as session:
            current = await session.scalar(
                select(counters.c.value).where(counters.c.name == "hits").with_for_update()
            )
            await asyncio.sleep(0.001)  # let the other writers run between the read and the write
            await session.execute(
                update(counters).where(counters.c.name == "hits").values(value=current + 1)
            )

    await asyncio.gather(*(increment() for _ in range(30)))

    async with db.read() as session:
        assert await session.scalar(select(counters.c.value).where(counters.c.name == "hits")) == 30


async def test_locking_writers_on_separate_database_objects_never_lose_an_update(
    database_url: str, db: Database
) -> None:
    """Two engines on one database (as two processes would have) still serialise their writes."""
    other = Database(database_url)
    async with db.write() as session:
        await session.execute(counters.insert().values(name="hits", value=0))

    async def increment(database: Database) -> None:
        async with database.write() as session:
            current = await session.scalar(
                select(counters.c.value).where(counters.c.name == "hits").with_for_update()
            )
            await asyncio.sleep(0.001)
            await session.execute(
                update(counters).where(counters.c.name == "hits").values(value=current + 1)
            )

    try:
        await asyncio.gather(*(increment(db if i % 2 else other) for i in range(20)))
    finally:
        await other.dispose()

    async with db.read() as session:
        assert await session.scalar(select(counters.c.value).where(counters.c.name == "hits")) == 20


async def test_a_write_block_that_raises_is_rolled_back(db: Database) -> None:
    async with db.write() as session:
        await session.execute(counters.insert().values(name="kept", value=1))

    with pytest.raises(RuntimeError, match="use case failed"):
        async with db.write() as session:
            await session.execute(counters.insert().values(name="discarded", value=2))
            await session.execute(
                update(counters).where(counters.c.name == "kept").values(value=99)
            )
            raise RuntimeError("use case failed")

    async with db.read() as session:
        rows = (
            await session.execute(
                select(counters.c.name, counters.c.value).order_by(counters.c.name)
            )
        ).all()
    assert [tuple(row) for row in rows] == [("kept", 1)]


async def test_a_write_block_that_ends_normally_is_committed(db: Database) -> None:
    async with db.write() as session:
        await session.execute(counters.insert().values(name="committed", value=7))

    other = Database(db.url)
    try:
        async with other.read() as session:
            assert (
                await session.scalar(select(counters.c.value).where(counters.c.name == "committed"))
                == 7
            )
    finally:
        await other.dispose()


async def test_after_commit_callbacks_run_after_a_commit_and_not_after_a_rollback(
    db: Database,
) -> None:
    seen: list[object] = []
    db.after_commit(lambda session: seen.append(session))

    async with db.write() as session:
        await session.execute(counters.insert().values(name="a", value=1))
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            await session.execute(counters.insert().values(name="b", value=2))
            raise RuntimeError("rolled back")

    assert len(seen) == 1


async def test_ping_succeeds_on_a_reachable_database(db: Database) -> None:
    await db.ping()


async def test_sqlite_writers_of_one_process_take_turns_in_the_order_they_came(
    db: Database,
) -> None:
    """Each writer holds its transaction across an await, as handlers do; on SQLite they
    get the lock first come, first served (govkit's own queue, not SQLite's busy
    handler, which lets a late writer in first)."""
    async with db.write() as session:
        await session.execute(counters.insert().values(name="turns", value=0))
    order: list[int] = []

    async def writer(number: int) -> None:
        async with db.write() as session:
            await session.execute(
                update(counters)
                .where(counters.c.name == "turns")
                .values(value=counters.c.value + 1)
            )
            order.append(number)  # SQLite's lock is held from the first statement
            await asyncio.sleep(0.005)

    writers = []
    for number in range(40):  # a new writer every 2 ms, each holding the lock 5 ms
        writers.append(asyncio.create_task(writer(number)))
        await asyncio.sleep(0.002)
    await asyncio.gather(*writers)
    async with db.read() as session:
        assert await session.scalar(select(counters.c.value)) == 40
    if db.is_sqlite:
        assert order == list(range(40))


async def test_a_write_opened_inside_another_in_the_same_task_does_not_wait_for_it(
    tmp_path,
) -> None:
    """On SQLite the inner write does not wait for the outer one's turn (it meets
    SQLite's lock, as before: here after a short busy timeout, not forever)."""
    database = Database(f"sqlite:///{tmp_path / 'nested.db'}", busy_timeout_seconds=0.2)
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        async with database.write() as session:
            await session.execute(counters.insert().values(name="outer", value=1))
            with pytest.raises(Exception, match="locked"):
                async with database.write() as inner:
                    await inner.execute(counters.insert().values(name="inner", value=1))
    finally:
        await database.dispose()
