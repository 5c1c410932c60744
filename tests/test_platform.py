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

from govkit.testing import database_backends
from govkit.testing.platform import COMPONENTS, SERVICES, start_platform

GRPC_SERVICE_NAMES = {
    "identity": "govplat.identity.v1.IdentityService",
    "payments": "govplat.payments.v1.PaymentsService",
    "notify": "govplat.notify.v1.NotifyService",
    "registers": "govplat.registers.v1.RegistersService",
}
#: A path of each backend that needs no credential at the gateway (authenticated
#: routes are covered by test_gateway_auth.py).
ROUTED = {
    "identity": "/.well-known/openid-configuration",
    "payments": "/pay/card-details",
    "notify": "/admin/notify/templates",
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
    """A ``govplat up`` of its own (this test stops it)."""
    running = start_platform(tmp_path, request.param)
    yield {
        "process": running.process,
        "data_dir": running.data_dir,
        "env": running.env,
        "ready_after": running.ready_after,
        "http": running.http,
        "grpc": running.grpc,
    }
    running.stop()


def grpc_health(port: int, service: str = "") -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return (
            health_pb2_grpc.HealthStub(channel)
            .Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            .status
        )


def requests_counted(metrics_text: str, component: str) -> float:
    pattern = re.compile(r"^govplat_http_requests_total\{([^}]*)\} ([0-9.e+]+)$", re.MULTILINE)
    total = 0.0
    for labels, value in pattern.findall(metrics_text):
        if f'component="{component}"' in labels:
            total += float(value)
    return total


@pytest.mark.slow
def test_govplat_up_brings_every_component_to_ready_and_stops_them_all_on_sigterm(platform):
    http, grpc_ports = platform["http"], platform["grpc"]
    # The start-up time is measured by bench/startup.py, not asserted here (tests
    # share the machine with other tests, which makes a timing flaky).
    print(f"\ngovplat up: ready after {platform['ready_after']:.1f}s (process start to 'ready')")

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
                client.get(f"http://127.0.0.1:{http[name]}/metrics").text, name
            )
            response = client.get(gateway + path)
            after = requests_counted(
                client.get(f"http://127.0.0.1:{http[name]}/metrics").text, name
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
    assert stopped_after < 15, (
        "the platform's own stop deadline is 10 s (8 s for children, then SIGKILL)"
    )
    assert processes_mentioning(data_dir) == [], "no process is left behind"
