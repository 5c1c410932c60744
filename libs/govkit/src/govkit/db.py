"""Database access for every service: SQLAlchemy 2.0 async engines and sessions.

SQLite is the embedded default and PostgreSQL the production database; the same
code runs on both.

SQLite is set up for a server that writes from several tasks and processes:
WAL journal, a busy timeout (seconds, ``busy_timeout_seconds``), foreign keys on,
``synchronous=FULL`` where a service asks for it (money, registers), and writes
start with ``BEGIN IMMEDIATE`` so that two writers queue on the lock at the
start of the transaction rather than failing with "database is locked" when a
reader upgrades to a writer half-way through. Within one process, writers first
queue on an asyncio lock of their own, in turn (:meth:`Database.write`): SQLite's
busy handler is not a queue (a waiter sleeps, up to 100 ms at a time, and whoever
asks when the lock is free gets it), so under many writers one could wait a second
or more while others came and went.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import re
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

#: Constraint names as Alembic's docs recommend, so that migrations can name
#: and drop constraints the same way on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A ``MetaData`` with the platform's constraint naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """Declarative base for models that need no service of their own (tests, examples).

    Each service declares its own base with ``metadata = new_metadata()`` so that
    each service's Alembic history covers only its own tables.
    """

    metadata = new_metadata()


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both databases.

    PostgreSQL stores ``timestamptz``; SQLite stores text without offset, so values
    read back are marked UTC. Naive datetimes are refused (``ValueError``): every
    time in the platform is UTC and timezone-aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: govplat stores timezone-aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def async_url(url: str) -> str:
    """Normalise a database URL to its async driver.

    ``sqlite:///x.db`` becomes ``sqlite+aiosqlite:///x.db``; ``postgresql://`` and
    ``postgres://`` become ``postgresql+asyncpg://``. URLs that already name a
    driver are returned unchanged.

    Raises:
        ValueError: for a database other than SQLite or PostgreSQL.
    """
    if url.startswith(("postgres://", "postgres+")):
        url = "postgresql" + url[len("postgres") :]
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.drivername == "sqlite":
        return url.replace("sqlite://", "sqlite+aiosqlite://", 1)
    if backend in ("postgresql", "postgres") and "+" not in parsed.drivername:
        return re.sub(r"^postgres(ql)?://", "postgresql+asyncpg://", url)
    if backend not in ("sqlite", "postgresql", "postgres"):
        raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    return url


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or ``None`` for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return None
    return Path(parsed.database)


#: The databases whose write lock the current task holds (:meth:`Database.write`).
_WRITING: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "govkit_db_writing", default=frozenset()
)


class Database:
    """One service's database: an async engine with read and write sessions.

    Args:
        url: ``sqlite:///path.db`` or ``postgresql://...`` (see :func:`async_url`).
        synchronous_full: SQLite ``synchronous=FULL`` (each commit reaches the disk
            before it returns); for money and registers. Otherwise ``NORMAL``, which
            in WAL mode loses at most the last commits on power loss, never integrity.
        busy_timeout_seconds: how long a SQLite writer waits for the lock.
        pool_size: PostgreSQL connections kept open.

    Use :meth:`write` for a transaction that changes data and :meth:`read` for one
    that only reads. Both commit or roll back on exit.

    A database error's text never carries the statement's parameters
    (``hide_parameters``): they may be personal data, and errors are logged.

    A write that depends on what it read must lock those rows
    (``select(...).with_for_update()``): PostgreSQL runs writers concurrently under
    READ COMMITTED, and only the row lock makes the second writer wait and re-read.
    SQLite ignores ``FOR UPDATE`` and serialises all writers with ``BEGIN IMMEDIATE``.
    """

    def __init__(
        self,
        url: str,
        *,
        synchronous_full: bool = False,
        busy_timeout_seconds: float = 10.0,
        pool_size: int = 10,
    ) -> None:
        self.url = async_url(url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        self._busy_timeout = busy_timeout_seconds
        #: SQLite: one write lock per event loop (a lock belongs to one loop).
        self._write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._after_commit: list[Callable[[AsyncSession], None]] = []
        if self.is_sqlite:
            path = sqlite_path(self.url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self.engine: AsyncEngine = create_async_engine(
                self.url,
                connect_args={"timeout": busy_timeout_seconds},
                poolclass=NullPool if path is None else None,
                hide_parameters=True,
            )
            _configure_sqlite(self.engine, synchronous_full, busy_timeout_seconds)
        else:
            self.engine = create_async_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                hide_parameters=True,
            )
        self._write_engine = self.engine.execution_options(govplat_write=True)
        self._reads = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writes = async_sessionmaker(self._write_engine, expire_on_commit=False)

    def after_commit(self, callback: Callable[[AsyncSession], None]) -> None:
        """Call ``callback(session)`` after every committed write (e.g. wake the outbox relay)."""
        self._after_commit.append(callback)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction (``BEGIN IMMEDIATE`` on SQLite).

        Commits when the block ends, rolls back if it raises, then runs the
        :meth:`after_commit` callbacks.

        On SQLite, the process's writers take turns first (an asyncio lock, first come
        first served; see the module's docstring); a write opened inside another in
        the same task does not wait for it, and one that waited the busy timeout goes
        on to SQLite's own lock as before.
        """
        async with self._one_writer():
            async with self._writes() as session, session.begin():
                yield session
        for callback in self._after_commit:
            callback(session)

    @contextlib.asynccontextmanager
    async def _one_writer(self) -> AsyncIterator[None]:
        """Hold this process's SQLite write turn (nothing on PostgreSQL)."""
        if not self.is_sqlite or id(self) in _WRITING.get():
            yield
            return
        lock = self._write_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), self._busy_timeout)
            acquired = True
        except TimeoutError:
            acquired = False
        token = _WRITING.set(_WRITING.get() | {id(self)})
        try:
            yield
        finally:
            _WRITING.reset(token)
            if acquired:
                lock.release()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session in a read transaction (deferred ``BEGIN`` on SQLite)."""
        async with self._reads() as session, session.begin():
            yield session

    async def ping(self) -> None:
        """Run ``SELECT 1``; raises the driver's error when the database is unreachable."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine, synchronous_full: bool, busy_timeout: float) -> None:
    """Connection pragmas and explicit transaction control for SQLite (pysqlite docs,
    "Serializable isolation / Savepoints / Transactional DDL")."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Take transaction control away from the driver: we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={'FULL' if synchronous_full else 'NORMAL'}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn) -> None:
        if conn.get_execution_options().get("govplat_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
