"""``govplat registers``: check and seed the registers' database from the terminal.

- ``govplat registers verify NAME`` recomputes every hash of a register from its
  stored entries and items and compares them with the stored tree and the signed
  tree heads; any tampering is reported by entry number (exit 1).
- ``govplat registers seed`` brings the pycountry registers up to date (``govplat up``
  does it at every start).

Both open the registers database directly: ``--database-url``, else
``GOVPLAT_REGISTERS_DATABASE_URL``, else the local ``govplat up``'s SQLite file.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

registers_app = typer.Typer(
    help="Registers: verify a register's hashes, seed the pycountry registers.",
    no_args_is_help=True,
)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="The registers database (default: govplat up's)."),
]
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data folder of the local govplat up.")
]


def _context(database_url: str | None, data_dir: Path | None, public_url: str | None = None):
    from govkit.db import Database
    from govplat_cli.main import _up_settings
    from registers.config import Settings
    from registers.context import Context

    settings = _up_settings(data_dir)
    url = database_url or settings.database_url("registers")
    public = public_url or f"http://{settings.host}:{settings.gateway_http_port}"
    db = Database(url, synchronous_full=True)
    return Context(settings=Settings(database_url=url, public_url=public), db=db)


def seed_registers(database_url: str, public_url: str) -> dict[str, int]:
    """Seed the registers database of ``govplat up`` (after its migration); returns the
    entries appended per register.

    Raises:
        govplat_cli.up.PlatformError: when seeding fails.
    """
    from govplat_cli.up import PlatformError
    from registers.service.seeding import seed_database

    try:
        return asyncio.run(seed_database(database_url, public_url))
    except Exception as exc:
        raise PlatformError(f"seeding the registers failed: {type(exc).__name__}: {exc}") from None


@registers_app.command("verify")
def verify(
    name: Annotated[str, typer.Argument(help="The register, e.g. country.")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    verifier_key: Annotated[
        str | None,
        typer.Option(help="The published checkpoint key (default: the database's own)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Recompute every hash of register NAME from its entries and compare it with the
    stored tree and the signed checkpoints. Exits 1, naming the entries, when anything
    differs."""
    from govplat_cli.main import fail
    from registers.errors import RegisterError
    from registers.service.verification import verify_register

    context = _context(database_url, data_dir)

    async def run():
        try:
            return await verify_register(context, name, verifier_key)
        finally:
            await context.db.dispose()

    try:
        report = asyncio.run(run())
    except RegisterError as exc:
        raise fail(exc.message) from None
    except Exception as exc:
        raise fail(f"cannot read the registers database: {type(exc).__name__}: {exc}") from None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "register": name,
                    "ok": report.ok,
                    "total-entries": report.tree_size,
                    "root-hash": f"sha-256:{report.root.hex()}",
                    "checkpoints": report.checkpoints,
                    "problems": report.problems,
                }
            )
        )
    elif report.ok:
        typer.echo(
            f"{name}: {report.tree_size} entries verified, root sha-256:{report.root.hex()}, "
            f"{report.checkpoints} signed checkpoints match"
        )
    else:
        for problem in report.problems:
            typer.echo(f"{name}: {problem}", err=True)
    if not report.ok:
        raise typer.Exit(1)


@registers_app.command("seed")
def seed(database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Bring the pycountry registers (country, uk-subdivision, currency, language) up
    to date; appends nothing when the data has not changed."""
    from govplat_cli.main import fail
    from registers.service.seeding import seed_pycountry

    context = _context(database_url, data_dir)

    async def run():
        try:
            return await seed_pycountry(context)
        finally:
            await context.db.dispose()

    try:
        appended = asyncio.run(run())
    except Exception as exc:
        raise fail(f"seeding failed: {type(exc).__name__}: {exc}") from None
    for name, count in appended.items():
        typer.echo(f"{name}: {count} entries appended")
