"""Each component started with exactly the environment compose gives it (the image's
ENV and the service's ``environment``, secrets from ``govplat secrets generate``), with
the compose host names mapped to 127.0.0.1 and its ports to free ones, a real NATS and
a fresh database per service: the migration step succeeds, then every component
becomes ready and the image's health check command says so."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from govkit.nats_server import NatsServer, free_port
from govkit.testing import database_backends, drop_postgres_database, new_database_url

SERVICES = ("registers", "identity", "payments", "notify")  # compose's start order


def _remap(env: dict[str, str], addresses: dict[tuple[str, str], str]) -> dict[str, str]:
    """Replace every ``host:port`` of a compose service with its loopback address."""
    pattern = re.compile(r"\b(" + "|".join(re.escape(h) for h, _ in addresses) + r"):(\d+)\b")

    def swap(match: re.Match) -> str:
        return addresses.get((match[1], match[2]), match[0])

    return {key: pattern.sub(swap, value) for key, value in env.items()}


@pytest.mark.slow
@pytest.mark.parametrize("backend", database_backends())
def test_every_component_becomes_ready_with_the_environment_compose_gives_it(
    compose, backend, tmp_path: Path
):
    services = compose.resolved["services"]
    nats = NatsServer(tmp_path / "nats", port=free_port())
    nats.start()
    addresses: dict[tuple[str, str], str] = {("nats", "4222"): f"127.0.0.1:{nats.port}"}
    for name in (*SERVICES, "gateway"):
        env = services[name]["environment"]
        for variable in ("GOVPLAT_HTTP_PORT", "GOVPLAT_GRPC_PORT"):
            addresses[(name, env[variable])] = f"127.0.0.1:{free_port()}"
    databases = {name: new_database_url(backend, tmp_path) for name in SERVICES}
    processes: dict[str, subprocess.Popen] = {}
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8"}

    def environment(name: str) -> dict[str, str]:
        env = _remap(compose.environment(name), addresses)
        env["GOVPLAT_HOST"] = "127.0.0.1"  # 0.0.0.0 in the container
        env["GOVPLAT_DATA_DIR"] = str(tmp_path / "data")
        for variable in ("GOVPLAT_HTTP_PORT", "GOVPLAT_GRPC_PORT"):
            if variable in env:
                env[variable] = addresses[(name, env[variable])].rsplit(":", 1)[1]
        if "GOVPLAT_DATABASE_URL" in env:
            env["GOVPLAT_DATABASE_URL"] = databases[name]
        for service in SERVICES:
            if f"GOVPLAT_{service.upper()}_DATABASE_URL" in env:
                env[f"GOVPLAT_{service.upper()}_DATABASE_URL"] = databases[service]
        leftover = {
            k: v
            for k, v in env.items()
            if re.search(r"\b(postgres|nats|identity|payments|notify|registers|gateway):\d", v)
        }
        assert not leftover, f"{name}: compose addresses left unmapped: {leftover}"
        return {**base, **env}

    try:
        migrate = subprocess.run(
            [sys.executable, "-m", "govplat_cli", *services["migrate"]["command"]],
            env=environment("migrate"),
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        for name in (*SERVICES, "gateway"):
            log = open(tmp_path / f"{name}.log", "wb")
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", "govplat_cli", *services[name]["command"]],
                env=environment(name),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
        deadline = time.monotonic() + 120
        pending = set(processes)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                assert processes[name].poll() is None, (
                    f"{name} exited: " + (tmp_path / f"{name}.log").read_text()[-3000:]
                )
                port = environment(name)["GOVPLAT_HTTP_PORT"]
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                        pending.discard(name)
                except httpx.HTTPError:
                    pass
            time.sleep(0.25)
        assert not pending, {n: (tmp_path / f"{n}.log").read_text()[-2000:] for n in pending}
        for name in processes:
            # The image's HEALTHCHECK, with the component's environment.
            check = subprocess.run(
                [sys.executable, "-m", "govplat_cli", "healthcheck"],
                env=environment(name),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert check.returncode == 0, (name, check.stderr)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        nats.stop(timeout=2.0)
        if backend == "postgresql":
            for url in databases.values():
                drop_postgres_database(url)
    for name, process in processes.items():
        assert process.returncode == 0, f"{name} did not stop cleanly on SIGTERM"
