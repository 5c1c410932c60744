"""``govplat up`` runs the real platform: every component ready, routed, and stopped cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from govkit.nats_server import free_port
from govkit.testing import database_backends, drop_postgres_database, new_database_url

COMPONENTS = ("gateway", "identity", "payments", "notify", "registers")
SERVICES = COMPONENTS[1:]
GRPC_SERVICE_NAMES = {
    "identity": "govplat.identity.v1.IdentityService",
    "payments": "govplat.payments.v1.PaymentsService",
    "notify": "govplat.notify.v1.NotifyService",
    "registers": "govplat.registers.v1.RegistersService",
}
#: A public path of each backend, as the gateway routes it.
ROUTED = {
    "identity": "/.well-known/openid-configuration",
    "payments": "/v1/payments",
    "notify": "/v2/notifications",
    "registers": "/registers/country/records",
}


def processes_mentioning(text: str) -> list[int]:
    """PIDs of live processes whose command line or environment contains ``text`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if text.encode() in blob and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture(params=database_backends())
def platform(request, tmp_path):
    """``govplat up`` on free ports with its data in a temporary folder; yields the ports."""
    data_dir = tmp_path / "var"
    ports = {
        f"GOVPLAT_{name.upper()}_{kind}_PORT": str(free_port())
        for name in COMPONENTS
        for kind in ("HTTP", "GRPC")
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVPLAT_") and k != "NATS_URL"}
    env.update(
        ports,
        GOVPLAT_DATA_DIR=str(data_dir),
        GOVPLAT_NATS_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    databases = []
    if request.param == "postgresql":
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
    try:
        for line in process.stdout:
            output.append(line)
            if "Press Ctrl-C to stop" in line:
                break
        assert process.poll() is None, "govplat up exited:\n" + "".join(output)
        ready_after = time.monotonic() - started
        yield {
            "process": process,
            "data_dir": data_dir,
            "env": env,
            "output": "".join(output),
            "ready_after": ready_after,
            "http": {name: int(ports[f"GOVPLAT_{name.upper()}_HTTP_PORT"]) for name in COMPONENTS},
            "grpc": {name: int(ports[f"GOVPLAT_{name.upper()}_GRPC_PORT"]) for name in COMPONENTS},
        }
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        for url in databases:
            drop_postgres_database(url)


def grpc_health(port: int, service: str = "") -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return (
            health_pb2_grpc.HealthStub(channel)
            .Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            .status
        )


def requests_counted(metrics_text: str, component: str, status: str) -> float:
    pattern = re.compile(r"^govplat_http_requests_total\{([^}]*)\} ([0-9.e+]+)$", re.MULTILINE)
    total = 0.0
    for labels, value in pattern.findall(metrics_text):
        if f'component="{component}"' in labels and f'status="{status}"' in labels:
            total += float(value)
    return total


@pytest.mark.slow
def test_govplat_up_brings_every_component_to_ready_and_stops_them_all_on_sigterm(platform):
    http, grpc_ports = platform["http"], platform["grpc"]
    print(f"\ngovplat up: ready after {platform['ready_after']:.1f}s (process start to 'ready')")
    assert platform["ready_after"] < 20

    with httpx.Client(timeout=5) as client:
        for name in COMPONENTS:
            response = client.get(f"http://127.0.0.1:{http[name]}/readyz")
            assert response.status_code == 200, (name, response.text)
            assert response.json()["status"] == "ready"
            assert client.get(f"http://127.0.0.1:{http[name]}/healthz").json() == {"status": "ok"}
            assert (
                "govplat_http_requests_total"
                in client.get(f"http://127.0.0.1:{http[name]}/metrics").text
            )
            assert grpc_health(grpc_ports[name]) == health_pb2.HealthCheckResponse.SERVING
        for name, service in GRPC_SERVICE_NAMES.items():
            assert grpc_health(grpc_ports[name], service) == health_pb2.HealthCheckResponse.SERVING

        gateway = f"http://127.0.0.1:{http['gateway']}"
        assert client.get(f"{gateway}/readyz").json()["checks"] == {name: "ok" for name in SERVICES}
        for name, path in ROUTED.items():
            before = requests_counted(
                client.get(f"http://127.0.0.1:{http[name]}/metrics").text, name, "404"
            )
            response = client.get(gateway + path)
            after = requests_counted(
                client.get(f"http://127.0.0.1:{http[name]}/metrics").text, name, "404"
            )
            assert response.headers["x-request-id"]
            assert after == before + 1, f"{path} did not reach {name}"
        unknown = client.get(f"{gateway}/nowhere")
        assert unknown.status_code == 404 and unknown.json()["error"] == "not found"

    credentials = subprocess.run(
        [sys.executable, "-m", "govplat_cli", "sandbox", "credentials", "--json"],
        env=platform["env"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert credentials.returncode == 0, credentials.stderr
    assert json.loads(credentials.stdout)["gateway_url"] == f"http://127.0.0.1:{http['gateway']}"

    data_dir = str(platform["data_dir"])
    assert len(processes_mentioning(data_dir)) >= 6, "five components and NATS run"
    process = platform["process"]
    stop_started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(15)
    stopped_after = time.monotonic() - stop_started
    print(f"govplat up: stopped after {stopped_after:.1f}s")
    assert process.returncode == 0
    assert stopped_after < 10
    assert processes_mentioning(data_dir) == [], "no process is left behind"
