"""The ``govplat`` command line (Typer).

``govplat up`` runs the whole platform; ``govplat serve COMPONENT`` runs one
component (what ``up`` and the container image run); ``govplat migrate`` runs
migrations; ``govplat sandbox credentials`` prints the seeded sandbox credentials.
Every command has ``--help``; errors are one clear line on stderr and exit 1
(2 for bad configuration), never a stack trace.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from govkit.settings import ConfigurationError, describe_validation_error
from govplat_cli.components import COMPONENTS, EVENT_PROCESSES, SERVICES, processes

app = typer.Typer(
    help="govplat: identity, payments, notifications and registers behind one gateway.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"govplat {version('govplat')}")
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """govplat: identity, payments, notifications and registers behind one gateway."""


sandbox_app = typer.Typer(
    help="The sandbox: test credentials and simulators.", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")


def _add_admin_commands() -> None:
    from govplat_cli.admin_commands import agencies_app, clients_app, keys_app

    app.add_typer(agencies_app, name="agencies")
    app.add_typer(keys_app, name="keys")
    app.add_typer(clients_app, name="clients")
    from govplat_cli.registers_commands import registers_app

    app.add_typer(registers_app, name="registers")

    from govplat_cli.notify_commands import notify_app, templates_app

    app.add_typer(templates_app, name="templates")
    app.add_typer(notify_app, name="notify")

    from govplat_cli.payments_commands import payments_app

    app.add_typer(payments_app, name="payments")

    from govplat_cli.deploy_commands import healthcheck, secrets_app

    app.add_typer(secrets_app, name="secrets")
    app.command("healthcheck")(healthcheck)


console = Console()
errors = Console(stderr=True)

ComponentName = Annotated[
    str,
    typer.Argument(
        help=f"One of: {', '.join(processes())} (a component's events alone).",
        metavar="COMPONENT",
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder for SQLite files, NATS data, logs and credentials \\[env GOVPLAT_DATA_DIR; default var].",
        show_default=False,
    ),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error and return the exit to raise."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def _component(name: str):
    if name not in COMPONENTS:
        raise fail(f"unknown component {name!r}; choose one of: {', '.join(COMPONENTS)}", 2)
    return COMPONENTS[name]


def _up_settings(data_dir: Path | None):
    """The ``govplat up`` settings from the environment; a bad variable exits 2 with its name."""
    from pydantic import ValidationError

    from govplat_cli.up import UpSettings

    try:
        return UpSettings(**({"data_dir": data_dir} if data_dir else {}))
    except ValidationError as exc:
        raise fail(f"invalid configuration: {describe_validation_error(exc)}", 2) from None


@app.command()
def serve(component: ComponentName) -> None:
    """Run one component (HTTP, gRPC, outbox relay and consumers) until SIGTERM.

    Configured by environment variables (GOVPLAT_DATABASE_URL, GOVPLAT_NATS_URL,
    GOVPLAT_HTTP_PORT, GOVPLAT_GRPC_PORT, GOVPLAT_ROLE ...); see docs/configuration.md.
    'notify-events' is notify's relay and consumers alone (GOVPLAT_ROLE=events).
    """
    if component in EVENT_PROCESSES:  # the component's relay and consumers alone
        os.environ["GOVPLAT_ROLE"] = "events"
        component = EVENT_PROCESSES[component]
    info = _component(component)
    try:
        built = info.build()
        asyncio.run(built.serve())
    except ConfigurationError as exc:
        raise fail(str(exc), 2) from None
    except KeyboardInterrupt:
        pass


@app.command()
def migrate(
    component: Annotated[
        str, typer.Argument(help="A service, or 'all'.", metavar="SERVICE")
    ] = "all",
    database_url: Annotated[
        str | None,
        typer.Option(help="Database to migrate (one service only) \\[env GOVPLAT_DATABASE_URL]."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Run database migrations to the latest revision.

    With 'all', each service's database is the one `govplat up` would use
    (GOVPLAT_<SERVICE>_DATABASE_URL, or a SQLite file in the data folder).
    """
    import os

    from govkit.migrations import upgrade

    names = list(SERVICES) if component == "all" else [component]
    for name in names:
        info = _component(name)
        if info.migrations is None:
            raise fail(f"{name} has no database")
    settings = _up_settings(data_dir)
    if database_url and component == "all":
        raise fail("--database-url needs one service, not 'all'", 2)
    for name in names:
        url = database_url or (
            os.environ.get("GOVPLAT_DATABASE_URL") if component != "all" else None
        )
        url = url or settings.database_url(name)
        try:
            upgrade(COMPONENTS[name].migrations, url)
        except Exception as exc:
            raise fail(f"migrating {name} failed: {type(exc).__name__}: {exc}") from None
        console.print(f"[green]✓[/] {name} migrated")


@app.command()
def up(
    data_dir: DataDir = None,
    port_offset: Annotated[
        int, typer.Option(help="Add this to every port (run a second copy side by side).")
    ] = 0,
) -> None:
    """Run the whole platform: NATS, migrations, the five components, the sandbox.

    Stops everything on Ctrl-C or SIGTERM. Ports, the data folder and NATS are
    configurable through GOVPLAT_* variables (see docs/configuration.md).
    """
    from pydantic import ValidationError

    from govplat_cli.up import RESTART_WINDOW_SECONDS, Platform, PlatformError

    if "GOVPLAT_ROLE" in os.environ:
        # Each process's role is up's to give (decision 45); the value would also reach
        # the settings up builds in-process (the registers' seeding) and fail there.
        raise fail(
            "GOVPLAT_ROLE is for `govplat serve`; govplat up gives each process its role "
            "(GOVPLAT_NOTIFY_EVENTS_PROCESS=false runs notify in one process): unset it",
            2,
        )
    if port_offset and data_dir is None:
        # A second copy must not share the first one's databases, NATS data and logs.
        data_dir = _up_settings(None).data_dir / f"offset-{port_offset}"
    try:
        settings = _up_settings(data_dir).shifted(port_offset)
    except ValidationError as exc:
        raise fail(
            f"invalid configuration: {describe_validation_error(exc)} (after --port-offset {port_offset})",
            2,
        ) from None
    platform = Platform(settings)

    def on_signal(_signum, _frame):
        raise KeyboardInterrupt

    # Installed explicitly, so that a SIGINT ignored by whoever started us (a
    # background job) still stops the platform, and a closed terminal too.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    started = time.monotonic()
    try:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("starting NATS with JetStream", total=1)
            nats_url = platform.start_nats()
            progress.update(task, advance=1, description=f"NATS ready at {nats_url}")
            task = progress.add_task("migrating databases", total=len(SERVICES))
            for name in SERVICES:
                progress.update(task, description=f"migrating {name}")
                platform.migrate(name)
                progress.advance(task)
            progress.update(task, description="databases migrated")
            task = progress.add_task("starting components", total=len(platform.processes))
            for name in platform.processes:
                platform.spawn(name)
            platform.wait_ready(
                on_ready=lambda name: progress.update(task, advance=1, description=f"{name} ready")
            )
            progress.update(task, description="all components ready")
            task = progress.add_task("seeding the sandbox", total=1)
            credentials = platform.seed_sandbox()
            progress.update(task, advance=1, description="sandbox seeded")
        elapsed = time.monotonic() - started
        _print_summary(platform, credentials, elapsed)

        def restarting(name: str, status: int | None, restarts: int) -> None:
            errors.print(
                f"[bold red]{name} stopped unexpectedly[/] (status {status}); "
                f"starting it again (restart {restarts} within {RESTART_WINDOW_SECONDS:.0f}s)"
            )

        while True:
            platform.restart_dead(restarting)
            time.sleep(0.5)
    except PlatformError as exc:
        platform.stop()
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        console.print("\nstopping govplat ...")
        stopped = time.monotonic()
        platform.stop()
        console.print(f"stopped in {time.monotonic() - stopped:.1f}s")
    except BaseException:
        platform.stop()
        raise


def _print_summary(platform, credentials: dict, elapsed: float) -> None:
    settings = platform.settings
    console.print(f"\n[bold green]govplat is ready[/] in {elapsed:.1f}s\n")
    console.print(f"  Gateway (the public origin)   {platform.gateway_url}")
    console.print(f"  gRPC edge                     {credentials['gateway_grpc_address']}")
    for name in SERVICES:
        http_port, grpc_port = settings.ports(name)
        console.print(
            f"  {name:<12} http://{settings.host}:{http_port}  grpc {settings.host}:{grpc_port}"
        )
    console.print(f"  NATS                          {platform.nats_url}")
    console.print(f"  Data and logs                 {platform.data_dir}")
    console.print("\n  Sandbox credentials:")
    for key, value in credentials.items():
        console.print(f"    {key} = {value}", highlight=False, soft_wrap=True)
    console.print(
        "\n  `govplat sandbox credentials --json` prints them again. Press Ctrl-C to stop.\n"
    )


@sandbox_app.command("credentials")
def sandbox_credentials(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print the sandbox credentials seeded by `govplat up`."""
    folder = data_dir or _up_settings(None).data_dir
    path = folder / "sandbox.json"
    try:
        credentials = json.loads(path.read_text())
    except FileNotFoundError:
        raise fail(
            f"no sandbox credentials in {folder}: run `govplat up` (or `make up`) first"
        ) from None
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {path}: {exc}") from None
    if as_json:
        typer.echo(json.dumps(credentials))
    else:
        for key, value in credentials.items():
            typer.echo(f"{key} = {value}")


@app.command()
def demo(
    data_dir: DataDir = None,
    webhook: Annotated[
        bool,
        typer.Option(
            "--webhook",
            help="Also subscribe a local receiver to card_payment_succeeded and check its signature.",
        ),
    ] = False,
    amount: Annotated[int, typer.Option(help="The payment's amount in pence.", min=1)] = 1250,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the receipt and the webhook.", min=1)
    ] = 30.0,
) -> None:
    """Take one payment through the running platform (`govplat up`) as an agency and a
    citizen do: create it, pay on the hosted pages, read it, show the receipt notify
    sent to the sandbox inbox, and print the trace id. See docs/payments.md."""
    import os

    from govplat_cli.demo import DemoError, run_demo
    from govplat_cli.identity_admin import AdminError, admin_token

    folder = data_dir or _up_settings(None).data_dir
    try:
        sandbox = json.loads((folder / "sandbox.json").read_text())
    except (OSError, ValueError):
        raise fail(
            f"no sandbox credentials in {folder}: run `govplat up` (or `make up`) first"
        ) from None
    try:
        token = admin_token(folder, os.environ.get("GOVPLAT_ADMIN_TOKEN"))
    except AdminError as error:
        raise fail(str(error)) from None
    trace_file = os.environ.get("GOVPLAT_TRACE_FILE")
    try:
        run_demo(
            sandbox,
            token,
            amount=amount,
            webhook=webhook,
            timeout=timeout,
            trace_file=Path(trace_file) if trace_file else None,
            say=typer.echo,
        )
    except DemoError as error:
        raise fail(str(error)) from None


_add_admin_commands()
