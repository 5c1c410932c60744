"""Alembic, run per service from code (no ``alembic.ini``).

Each service keeps its migrations in the package folder ``<package>/migrations``
(``env.py`` calls :func:`run_env`), so the migrations travel with the installed
package. Revisions are numbered (``0001_create_outbox.py``) and there is one head.
"""

from __future__ import annotations

import asyncio
from importlib import resources

from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine

from govkit.db import Database, async_url


def alembic_config(package: str, url: str) -> Config:
    """An Alembic config for ``<package>/migrations`` and the database ``url``."""
    config = Config()
    config.set_main_option("script_location", str(resources.files(package) / "migrations"))
    config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return config


def upgrade(package: str, url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (synchronous; call it from a
    thread when an event loop is running). SQLite folders are created as needed."""
    Database(url)  # creates the SQLite folder
    command.upgrade(alembic_config(package, url), revision)


def downgrade(package: str, url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision``."""
    command.downgrade(alembic_config(package, url), revision)


def heads(package: str) -> tuple[str, ...]:
    """The head revisions of a service's migrations (there should be exactly one)."""
    return tuple(ScriptDirectory.from_config(alembic_config(package, "sqlite://")).get_heads())


def run_env(metadata: MetaData) -> None:
    """The body of every service's ``migrations/env.py``.

    Online mode runs the migrations on an async engine (``render_as_batch`` so that
    SQLite can alter tables); offline mode prints SQL.
    """
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(
            url=url, target_metadata=metadata, literal_binds=True, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection) -> None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(run)
                await connection.commit()
        finally:
            await engine.dispose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(main())
    else:  # pragma: no cover - guarded by upgrade()'s contract
        raise RuntimeError(
            "govkit.migrations.upgrade() must not run inside an event loop; use asyncio.to_thread"
        )
