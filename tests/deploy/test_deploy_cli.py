"""``govplat secrets generate`` and ``govplat healthcheck``, the two commands the
deployment files call on besides ``serve`` and ``migrate``."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

from govkit.nats_server import free_port


def test_generated_secrets_are_long_enough_and_the_key_pair_is_one_ed25519_pair(secrets_env):
    for name in ("ADMIN_TOKEN", "IDENTITY_SECRET_KEY", "PAYMENTS_SECRET_KEY"):
        assert len(secrets_env[name]) >= 32, name
    private = json.loads(secrets_env["PRINCIPAL_PRIVATE_KEY"])
    public = json.loads(secrets_env["PRINCIPAL_PUBLIC_KEY"])
    assert private["crv"] == public["crv"] == "Ed25519"
    assert private["x"] == public["x"] and private["kid"] == public["kid"]
    assert "d" in private and "d" not in public
    assert len(base64.b64decode(secrets_env["REGISTERS_CHECKPOINT_KEY"])) == 32
    for service in ("IDENTITY", "PAYMENTS", "NOTIFY", "REGISTERS"):
        int(secrets_env[f"{service}_DB_PASSWORD"], 16)  # hex: safe inside a URL


def test_two_generated_sets_share_no_value():
    def generate() -> str:
        return subprocess.run(
            [sys.executable, "-m", "govplat_cli", "secrets", "generate"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout

    first, second = generate(), generate()
    values = [
        line.split("=", 1)[1] for line in first.splitlines() if "=" in line and line[0] != "#"
    ]
    assert values and not any(value in second for value in values)


def test_the_health_check_fails_with_a_reason_when_nothing_answers():
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "govplat_cli", "healthcheck"],
        env={"PATH": "/usr/bin:/bin", "GOVPLAT_HTTP_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "not ready" in result.stderr
