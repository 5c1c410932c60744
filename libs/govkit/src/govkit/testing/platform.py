"""Starting the real platform (``govplat up``) as a process, for cross-service tests.

It runs the ``govplat_cli`` command in a subprocess and imports nothing of the components."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from govkit.nats_server import free_port
from govkit.testing import drop_postgres_database, new_database_url

#: What ``govplat up`` runs, each a process of its own: the five components and
#: ``notify-events`` (notify's relay and consumers, decision 45).
COMPONENTS = ("gateway", "identity", "payments", "notify", "registers", "notify-events")
#: The components with a database of their own.
SERVICES = ("identity", "payments", "notify", "registers")


def _port_variable(name: str, kind: str) -> str:
    """``GOVPLAT_<NAME>_<KIND>_PORT`` (``notify-events`` → ``NOTIFY_EVENTS``)."""
    return f"GOVPLAT_{name.upper().replace('-', '_')}_{kind}_PORT"


@dataclass
class RunningPlatform:
    """A ``govplat up`` process and where to reach it."""

    process: subprocess.Popen
    data_dir: Path
    env: dict[str, str]
    output: str
    ready_after: float
    http: dict[str, int]
    grpc: dict[str, int]
    nats_url: str
    databases: list[str] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.http['gateway']}"

    def url(self, component: str) -> str:
        return f"http://127.0.0.1:{self.http[component]}"

    def credentials(self) -> dict:
        """The seeded sandbox credentials (``DATA_DIR/sandbox.json``)."""
        return json.loads((self.data_dir / "sandbox.json").read_text())

    def secrets(self) -> dict:
        """Identity's secret key and admin token (``DATA_DIR/secrets.json``)."""
        return json.loads((self.data_dir / "secrets.json").read_text())

    def requests_seen_by(self, component: str) -> float:
        """How many HTTP requests ``component`` has counted so far
        (``govplat_http_requests_total``, probes excluded): whether the gateway
        forwarded a request shows as one more."""
        import re

        import httpx

        metrics = httpx.get(f"{self.url(component)}/metrics", timeout=10).text
        return sum(
            float(value)
            for labels, value in re.findall(
                r"^govplat_http_requests_total\{([^}]*)\} ([0-9.e+]+)$", metrics, re.M
            )
            if f'component="{component}"' in labels
        )

    def pids(self) -> dict[str, int]:
        """The platform's processes now: component name (and ``nats``) → pid
        (:func:`platform_pids`)."""
        return platform_pids(self.process.pid)

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for url in self.databases:
            drop_postgres_database(url)
        self.databases.clear()


def platform_pids(root: int) -> dict[str, int]:
    """The processes of the ``govplat up`` whose pid is ``root``: component name (and
    ``nats``) → pid, read from /proc (Linux): its descendants by their ``serve``
    argument, and the ``nats-server`` it runs."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        words = [a.decode(errors="replace") for a in argv if a]
        if "serve" in words and words.index("serve") + 1 < len(words):
            names[int(entry.name)] = words[words.index("serve") + 1]
        elif words and words[0].endswith("nats-server"):
            names[int(entry.name)] = "nats"
    found = {}
    for pid, name in names.items():
        ancestor = parents.get(pid)
        while ancestor and ancestor != root:
            ancestor = parents.get(ancestor)
        if ancestor == root:
            found[name] = pid
    return found


def start_platform(
    tmp_path: Path, backend: str = "sqlite", extra_env: dict[str, str] | None = None
) -> RunningPlatform:
    """Run ``govplat up`` on free loopback ports with its data under ``tmp_path``,
    on SQLite files or fresh PostgreSQL databases; return once it printed "ready".
    ``extra_env`` is added to its environment (e.g. shorter limits for a test)."""
    data_dir = tmp_path / "var"
    ports = {
        _port_variable(name, kind): str(free_port())
        for name in COMPONENTS
        for kind in ("HTTP", "GRPC")
    }
    nats_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVPLAT_") and k != "NATS_URL"}
    env.update(
        ports,
        GOVPLAT_DATA_DIR=str(data_dir),
        GOVPLAT_NATS_PORT=str(nats_port),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env or {})
    databases = []
    if backend == "postgresql":
        for service in SERVICES:
            url = new_database_url("postgresql", tmp_path)
            databases.append(url)
            env[f"GOVPLAT_{service.upper()}_DATABASE_URL"] = url
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "govplat_cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = False
    for line in process.stdout:
        output.append(line)
        if "Press Ctrl-C to stop" in line:
            ready = True
            break
    if not ready:  # its output ended: it is exiting, though it may not have exited yet
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    if not ready or process.poll() is not None:
        for url in databases:
            drop_postgres_database(url)
        raise AssertionError("govplat up exited:\n" + "".join(output))
    return RunningPlatform(
        process=process,
        data_dir=data_dir,
        env=env,
        output="".join(output),
        ready_after=time.monotonic() - started,
        http={name: int(ports[_port_variable(name, "HTTP")]) for name in COMPONENTS},
        grpc={name: int(ports[_port_variable(name, "GRPC")]) for name in COMPONENTS},
        nats_url=f"nats://127.0.0.1:{nats_port}",
        databases=databases,
    )


def notify_token(key: str, **claims) -> str:
    """A GOV.UK Notify API token for a Notify ``key`` (``{name}-{service_id}-{secret}``):
    an HS256 JWT whose ``iss`` is the service id and ``iat`` now, signed with the
    secret, as Notify's clients make them; ``claims`` add to or replace those."""
    import time as clock

    from joserfc import jwt
    from joserfc.jwk import OctKey

    body = {"iss": key[-73:-37], "iat": int(clock.time()), **claims}
    return jwt.encode({"typ": "JWT", "alg": "HS256"}, body, OctKey.import_key(key[-36:]))
