"""The ``govplat`` command line, run for real as ``python -m govplat_cli``."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from govkit.nats_server import free_port

COMMANDS = {
    (): "identity, payments, notifications and registers behind one gateway",
    ("up",): "Run the whole platform",
    ("serve",): "Run one component",
    ("migrate",): "Run database migrations",
    ("sandbox",): "The sandbox",
    ("sandbox", "credentials"): "Print the sandbox credentials",
}
SERVICES = ("identity", "payments", "notify", "registers")


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without govplat's or NATS's variables, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith("GOVPLAT_") and key.upper() != "NATS_URL"
    }
    env["COLUMNS"] = "200"  # no wrapping in rich's output
    env.update(extra)
    return env


def govplat(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "govplat_cli", *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def flat(text: str) -> str:
    """``text`` with every run of whitespace made one space (rich wraps long lines)."""
    return " ".join(text.split())


def tables_of(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }


# -- help ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", list(COMMANDS), ids=lambda c: " ".join(c) or "govplat")
def test_help_of_every_command_exits_0_and_says_what_it_is_for(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    result = govplat(*command, "--help", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert COMMANDS[command] in flat(result.stdout)
    assert "Usage" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_the_top_level_help_lists_every_command(tmp_path: Path) -> None:
    result = govplat("--help", cwd=tmp_path)

    for command in ("up", "serve", "migrate", "sandbox"):
        assert f" {command} " in result.stdout


def test_serve_help_names_the_components_and_the_database_variable(tmp_path: Path) -> None:
    help_text = flat(govplat("serve", "--help", cwd=tmp_path).stdout)

    assert "gateway, identity, payments, notify, registers" in help_text
    assert "GOVPLAT_DATABASE_URL" in help_text


def test_option_help_shows_the_environment_variables_it_falls_back_to(tmp_path: Path) -> None:
    migrate_help = flat(govplat("migrate", "--help", cwd=tmp_path).stdout)
    credentials_help = flat(govplat("sandbox", "credentials", "--help", cwd=tmp_path).stdout)

    assert "[env GOVPLAT_DATABASE_URL]" in migrate_help
    assert "[env GOVPLAT_DATA_DIR; default var]" in migrate_help
    assert "[env GOVPLAT_DATA_DIR; default var]" in credentials_help


def test_govplat_without_a_command_shows_the_help(tmp_path: Path) -> None:
    result = govplat(cwd=tmp_path)

    assert "Usage" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


# -- serve ---------------------------------------------------------------------------


def test_serving_an_unknown_component_exits_2_naming_the_choices(tmp_path: Path) -> None:
    result = govplat("serve", "nonsense", cwd=tmp_path)

    assert result.returncode == 2
    message = flat(result.stderr)
    assert "unknown component 'nonsense'" in message
    assert "gateway, identity, payments, notify, registers" in message
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_serving_a_service_without_a_database_url_exits_2_naming_the_variable(
    service: str, tmp_path: Path
) -> None:
    result = govplat("serve", service, cwd=tmp_path)

    assert result.returncode == 2
    assert "GOVPLAT_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_serving_with_an_invalid_port_exits_2_naming_the_variable(tmp_path: Path) -> None:
    env = clean_env(
        GOVPLAT_DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", GOVPLAT_GRPC_PORT="70000"
    )

    result = govplat("serve", "payments", cwd=tmp_path, env=env)

    assert result.returncode == 2
    assert "GOVPLAT_GRPC_PORT" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


# -- sandbox credentials -------------------------------------------------------------


def test_sandbox_credentials_before_govplat_up_exits_1_telling_to_run_it(tmp_path: Path) -> None:
    empty = tmp_path / "data"
    empty.mkdir()

    result = govplat("sandbox", "credentials", "--json", "--data-dir", str(empty), cwd=tmp_path)

    assert result.returncode == 1
    assert "run `govplat up`" in flat(result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_sandbox_credentials_as_json_prints_exactly_the_seeded_object(tmp_path: Path) -> None:
    credentials = {
        "gateway_url": "http://127.0.0.1:8000",
        "gateway_grpc_address": "127.0.0.1:9000",
        "nats_url": "nats://127.0.0.1:4322",
    }
    (tmp_path / "sandbox.json").write_text(json.dumps(credentials, indent=2) + "\n")

    result = govplat("sandbox", "credentials", "--json", "--data-dir", str(tmp_path), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == credentials
    assert len(result.stdout.strip().splitlines()) == 1


def test_sandbox_credentials_as_text_prints_one_line_per_credential(tmp_path: Path) -> None:
    (tmp_path / "sandbox.json").write_text(
        json.dumps({"gateway_url": "http://127.0.0.1:8000", "nats_url": "nats://x"})
    )

    result = govplat("sandbox", "credentials", "--data-dir", str(tmp_path), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "gateway_url = http://127.0.0.1:8000",
        "nats_url = nats://x",
    ]


def test_sandbox_credentials_reads_the_data_folder_from_the_environment(tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "sandbox.json").write_text(json.dumps({"gateway_url": "http://127.0.0.1:18000"}))

    result = govplat(
        "sandbox",
        "credentials",
        "--json",
        cwd=tmp_path,
        env=clean_env(GOVPLAT_DATA_DIR=str(folder)),
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"gateway_url": "http://127.0.0.1:18000"}


def test_unreadable_sandbox_credentials_exit_1_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "sandbox.json").write_text("{not json")

    result = govplat("sandbox", "credentials", "--json", "--data-dir", str(tmp_path), cwd=tmp_path)

    assert result.returncode == 1
    assert "cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_govplat_variable_exits_2_naming_it_instead_of_a_traceback(tmp_path: Path) -> None:
    env = clean_env(GOVPLAT_NATS_PORT="not-a-port")

    credentials = govplat("sandbox", "credentials", cwd=tmp_path, env=env)
    migrate = govplat(
        "migrate",
        "payments",
        "--database-url",
        f"sqlite:///{tmp_path / 'p.db'}",
        cwd=tmp_path,
        env=env,
    )

    for result in (credentials, migrate):
        assert result.returncode == 2
        assert "GOVPLAT_NATS_PORT" in result.stderr
        assert "Traceback" not in result.stderr


def test_govplat_up_refuses_a_role_of_its_own_before_starting_anything(tmp_path: Path) -> None:
    result = govplat(
        "up", "--data-dir", str(tmp_path / "var"), cwd=tmp_path, env=clean_env(GOVPLAT_ROLE="api")
    )
    assert result.returncode == 2
    assert "GOVPLAT_ROLE" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "nats").exists()


# -- migrate -------------------------------------------------------------------------


def test_migrating_one_service_to_a_given_database_creates_its_tables(tmp_path: Path) -> None:
    database = tmp_path / "p.db"

    result = govplat("migrate", "payments", "--database-url", f"sqlite:///{database}", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "payments migrated" in result.stdout
    assert {"outbox_message", "inbox_message", "alembic_version"} <= tables_of(database)


def test_migrating_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"

    first = govplat("migrate", "payments", "--database-url", url, cwd=tmp_path)
    second = govplat("migrate", "payments", "--database-url", url, cwd=tmp_path)

    assert (first.returncode, second.returncode) == (0, 0), second.stderr


def test_migrating_one_service_uses_govplat_database_url(tmp_path: Path) -> None:
    database = tmp_path / "from-env.db"

    result = govplat(
        "migrate",
        "notify",
        cwd=tmp_path,
        env=clean_env(GOVPLAT_DATABASE_URL=f"sqlite:///{database}"),
    )

    assert result.returncode == 0, result.stderr
    assert "outbox_message" in tables_of(database)


def test_migrating_all_creates_each_services_database_in_the_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"

    result = govplat("migrate", "all", "--data-dir", str(data), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    for service in SERVICES:
        assert f"{service} migrated" in result.stdout
        assert "outbox_message" in tables_of(data / f"{service}.db")


def test_migrating_all_to_one_database_url_is_refused(tmp_path: Path) -> None:
    result = govplat(
        "migrate", "all", "--database-url", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path
    )

    assert result.returncode == 2
    assert "needs one service" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_migrating_the_gateway_is_refused_because_it_has_no_database(tmp_path: Path) -> None:
    result = govplat("migrate", "gateway", cwd=tmp_path)

    assert result.returncode == 1
    assert "gateway has no database" in result.stderr


def test_migrating_an_unsupported_database_fails_with_one_clear_line(tmp_path: Path) -> None:
    result = govplat(
        "migrate", "payments", "--database-url", "mysql://root@127.0.0.1/payments", cwd=tmp_path
    )

    assert result.returncode == 1
    assert "migrating payments failed" in flat(result.stderr)
    assert "unsupported database" in flat(result.stderr)
    assert "Traceback" not in result.stderr


def test_the_admin_commands_explain_that_identity_is_not_running_instead_of_a_traceback(
    tmp_path,
) -> None:
    import json as json_module

    (tmp_path / "secrets.json").write_text(json_module.dumps({"identity_admin_token": "t" * 40}))
    (tmp_path / "endpoints.json").write_text(
        json_module.dumps({"host": "127.0.0.1", "identity": {"http": 1, "grpc": free_port()}})
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "govplat_cli",
            "agencies",
            "create",
            "X",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "is govplat running?" in result.stderr and "Traceback" not in result.stderr
