"""Each service's Alembic history (``govkit.migrations``): one head, and a full
upgrade / downgrade / upgrade cycle on SQLite and (when configured) PostgreSQL.

``govkit.migrations.upgrade`` runs its own event loop, so these tests are sync.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from govkit.db import async_url
from govkit.migrations import downgrade, heads, upgrade

SERVICES = ("identity", "payments", "notify", "registers")
MESSAGING_TABLES = {"outbox_message", "inbox_message"}


def inspect_database(url: str) -> tuple[set[str], dict[str, set[str]], set[str]]:
    """(tables, columns of each messaging table, index names of the outbox) at ``url``."""

    async def main():
        engine = create_async_engine(async_url(url), poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(_inspect)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _inspect(connection) -> tuple[set[str], dict[str, set[str]], set[str]]:
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    columns = {
        table: {column["name"] for column in inspector.get_columns(table)}
        for table in MESSAGING_TABLES & tables
    }
    indexes = (
        {index["name"] for index in inspector.get_indexes("outbox_message")}
        if "outbox_message" in tables
        else set()
    )
    return tables, columns, indexes


@pytest.mark.parametrize("package", SERVICES)
def test_each_service_has_exactly_one_migration_head(package: str) -> None:
    assert len(heads(package)) == 1


def test_the_services_revision_ids_do_not_collide() -> None:
    all_heads = [head for package in SERVICES for head in heads(package)]

    assert len(set(all_heads)) == len(SERVICES)


@pytest.mark.parametrize("package", SERVICES)
def test_upgrading_a_fresh_database_creates_the_outbox_and_inbox(
    package: str, database_url: str
) -> None:
    upgrade(package, database_url)

    tables, columns, indexes = inspect_database(database_url)
    assert MESSAGING_TABLES <= tables
    assert "alembic_version" in tables
    assert columns["outbox_message"] == {
        "position",
        "id",
        "subject",
        "payload",
        "headers",
        "created_at",
        "sent_at",
        "attempts",
    }
    assert columns["inbox_message"] == {"consumer", "event_id", "subject", "processed_at"}
    assert "ix_outbox_message_unsent" in indexes


@pytest.mark.parametrize("package", SERVICES)
def test_upgrade_then_downgrade_to_base_then_upgrade_again_works(
    package: str, database_url: str
) -> None:
    upgrade(package, database_url)
    downgrade(package, database_url, "base")

    tables, _, _ = inspect_database(database_url)
    assert not (MESSAGING_TABLES & tables)

    upgrade(package, database_url)

    tables, _, indexes = inspect_database(database_url)
    assert MESSAGING_TABLES <= tables
    assert "ix_outbox_message_unsent" in indexes


@pytest.mark.parametrize("package", SERVICES)
def test_upgrading_an_up_to_date_database_again_changes_nothing(
    package: str, database_url: str
) -> None:
    upgrade(package, database_url)
    before = inspect_database(database_url)

    upgrade(package, database_url)

    assert inspect_database(database_url) == before


def test_upgrading_a_sqlite_database_in_a_missing_folder_creates_the_folder(tmp_path) -> None:
    path = tmp_path / "var" / "data" / "payments.db"

    upgrade("payments", f"sqlite:///{path}")

    assert path.is_file()
    assert MESSAGING_TABLES <= inspect_database(f"sqlite:///{path}")[0]


async def test_upgrading_inside_a_running_event_loop_is_refused_with_a_clear_message(
    tmp_path,
) -> None:
    with pytest.raises(RuntimeError, match="must not run inside an event loop"):
        upgrade("payments", f"sqlite:///{tmp_path / 'payments.db'}")
