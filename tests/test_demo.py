"""``govplat demo`` against the running platform, run as an agency developer runs it
(a subprocess of the ``govplat`` command): each step printed, the sandbox receipt,
and a trace id that is the platform's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from govkit.telemetry import read_spans
from govkit.testing.traces import complete_trace, orphans

STEPS = [
    "1. The agency creates a payment      POST /v1/payments -> 201",
    "2. The citizen opens next_url",
    "3. ... types the sandbox card        4444 3333 2222 1111",
    "4. ... confirms, and is sent back to",
    "5. The agency reads the payment",
    "6. Notify sent the receipt",
]


def run_demo(platform, *args: str, cwd: Path, trace_file: Path | None = None) -> str:
    """``govplat demo ARGS`` in ``cwd``, with none of the platform's settings in its
    environment (as in a second terminal beside ``make up``) but ``GOVPLAT_TRACE_FILE``
    when given; its output, once it exited 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVPLAT_", "OTEL_"))}
    if trace_file is not None:
        env["GOVPLAT_TRACE_FILE"] = str(trace_file)
    done = subprocess.run(
        [sys.executable, "-m", "govplat_cli", "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def printed_trace_id(output: str) -> str:
    found = re.findall(r"^trace id: ([0-9a-f]{32})$", output, re.M)
    assert len(found) == 1, output
    return found[0]


def sandbox_inbox(platform) -> list[dict]:
    service_id = platform.credentials()["sandbox_service_id"]
    response = httpx.get(
        f"{platform.gateway_url}/admin/notify/services/{service_id}/sandbox-inbox",
        headers={"Authorization": f"Bearer {platform.secrets()['identity_admin_token']}"},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def test_the_demo_prints_each_step_the_receipt_and_a_trace_id_the_platform_traced(
    running_platform,
):
    trace_file = Path(running_platform.env["GOVPLAT_TRACE_FILE"])
    output = run_demo(
        running_platform,
        "--data-dir",
        str(running_platform.data_dir),
        "--webhook",
        cwd=Path.cwd(),
        trace_file=trace_file,
    )
    lines = output.splitlines()
    positions = [next(i for i, line in enumerate(lines) if line.startswith(s)) for s in STEPS]
    assert positions == sorted(positions), output
    assert re.search(
        r"^0\. The agency subscribes http://127\.0\.0\.1:\d+/webhooks/pay", output, re.M
    )
    assert re.search(
        r"^7\. The agency's webhook got card_payment_succeeded for \w+, Pay-Signature valid$",
        output,
        re.M,
    )
    assert "-> success, Visa ending 1111" in output
    reference = re.search(r"reference (DEMO-[0-9A-F]{8})", output).group(1)

    # The receipt it printed is the one in the sandbox service's inbox.
    assert "     to:      demo.payer@example.com" in lines
    assert f"     | * Payment reference: {reference}" in lines
    assert "     | Thank you for your payment of \u00a312.50 for govplat demo payment." in lines
    receipts = [m for m in sandbox_inbox(running_platform) if reference in (m["body"] or "")]
    assert [m["to"] for m in receipts] == ["demo.payer@example.com"]

    # Its trace id is the platform's: one trace under the demo's own span, from the
    # create to the receipt's hand-over to the email provider, every parent in it.
    trace_id = printed_trace_id(output)
    spans = complete_trace(
        trace_file,
        trace_id,
        [
            ("govplat-demo", "INTERNAL", "govplat demo"),
            ("govplat-gateway", "SERVER", "POST /v1"),
            ("govplat-payments", "SERVER", "POST /pay/confirm/{payment_id}"),
            ("govplat-notify", "CONSUMER", "govplat.payments.v1.payment_succeeded process"),
            ("govplat-notify", "CLIENT", "email send"),
        ],
    )
    roots = [s for s in spans if s["parent_span_id"] is None]
    assert [s["name"] for s in roots] == ["govplat demo"]
    assert orphans(spans) == []
    assert "  notify client email send" in "\n".join(lines), "the demo prints the trace's spans"


def test_the_demo_finds_make_ups_data_folder_and_its_trace_is_the_platforms_without_a_trace_file(
    running_platform,
):
    """As after ``make up``: run beside the ``var/`` folder ``govplat up`` wrote, with no
    option and no tracing set up in the demo's own environment."""
    assert running_platform.data_dir.name == "var"
    output = run_demo(running_platform, cwd=running_platform.data_dir.parent)
    assert "6. Notify sent the receipt" in output
    assert "The trace " not in output, "without a trace file there are no spans to print"
    trace_id = printed_trace_id(output)
    trace_file = Path(running_platform.env["GOVPLAT_TRACE_FILE"])
    wanted = {"POST /v1", "POST /pay/confirm/{payment_id}", "email send"}
    deadline = time.monotonic() + 15
    while not wanted <= (names := {s["name"] for s in read_spans(trace_file, trace_id)}):
        assert time.monotonic() < deadline, f"trace {trace_id} has only {sorted(names)}"
        time.sleep(0.1)
