"""The gateway authenticates each API family's credential through identity and
answers refusals in that family's own format (running platform)."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from govkit.testing.platform import notify_token


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "Unauthorized: authentication token must be provided"),
        (
            {"Authorization": "Basic abc"},
            401,
            "Unauthorized: authentication bearer scheme must be used",
        ),
        ({"Authorization": "Bearer not-a-token"}, 403, None),
    ],
    ids=["missing", "not-bearer", "garbage"],
)
def test_a_notify_request_without_a_valid_token_is_refused_in_notifys_envelope(
    running_platform, headers, status, message
):
    before = running_platform.requests_seen_by("notify")
    answer = httpx.get(
        f"{running_platform.gateway_url}/v2/notifications", headers=headers, timeout=10
    )
    assert answer.status_code == status
    body = answer.json()
    assert body["status_code"] == status and body["errors"][0]["error"] == "AuthError"
    if message:
        assert body["errors"][0]["message"] == message
    else:
        assert body["errors"][0]["message"].startswith("Invalid token")
    assert running_platform.requests_seen_by("notify") == before, (
        "a refused request never reaches notify"
    )


def test_a_notify_token_signed_with_the_sandbox_key_reaches_notify_and_a_forged_one_gets_notifys_message(
    running_platform,
):
    key = running_platform.credentials()["notify_api_key"]
    before = running_platform.requests_seen_by("notify")
    accepted = httpx.get(
        f"{running_platform.gateway_url}/v2/notifications",
        headers={"Authorization": f"Bearer {notify_token(key)}"},
        timeout=10,
    )
    assert accepted.status_code not in (401, 403)
    assert running_platform.requests_seen_by("notify") == before + 1
    forged = key[:-36] + str(uuid.uuid4())
    refused = httpx.get(
        f"{running_platform.gateway_url}/v2/notifications",
        headers={"Authorization": f"Bearer {notify_token(forged)}"},
        timeout=10,
    )
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["message"] == "Invalid token: API key not found"
    stale = httpx.get(
        f"{running_platform.gateway_url}/v2/notifications",
        headers={"Authorization": f"Bearer {notify_token(key, iat=int(time.time()) - 120)}"},
        timeout=10,
    )
    assert (
        stale.json()["errors"][0]["message"]
        == "Error: Your system clock must be accurate to within 30 seconds"
    )


def test_payments_needs_a_pay_key_or_a_payments_access_token(running_platform):
    credentials = running_platform.credentials()
    gateway = running_platform.gateway_url
    for headers in (
        {},
        {"Authorization": "Bearer api_test_wrongwrongwrongwrongwrong"},
        {"Authorization": "Basic eA=="},
    ):
        refused = httpx.get(f"{gateway}/v1/payments", headers=headers, timeout=10)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith(
            "Bearer"
        )
    before = running_platform.requests_seen_by("payments")
    accepted = httpx.get(
        f"{gateway}/v1/payments",
        headers={"Authorization": f"Bearer {credentials['pay_api_key']}"},
        timeout=10,
    )
    assert accepted.status_code != 401
    assert running_platform.requests_seen_by("payments") == before + 1

    auth = (credentials["oauth_client_id"], credentials["oauth_client_secret"])

    def token(scope: str) -> str:
        answer = httpx.post(
            f"{gateway}/token",
            data={"grant_type": "client_credentials", "scope": scope},
            auth=auth,
            timeout=10,
        )
        return answer.json()["access_token"]

    with_scope = httpx.get(
        f"{gateway}/v1/payments",
        headers={"Authorization": f"Bearer {token('payments:write')}"},
        timeout=10,
    )
    without = httpx.get(
        f"{gateway}/v1/payments",
        headers={"Authorization": f"Bearer {token('notify:send')}"},
        timeout=10,
    )
    assert with_scope.status_code != 401 and without.status_code == 401


def test_register_reads_are_public_and_writes_need_an_access_token(running_platform):
    gateway = running_platform.gateway_url
    read = httpx.get(f"{gateway}/registers/country/records", timeout=10)
    write = httpx.post(f"{gateway}/registers/country/entries", json={}, timeout=10)
    assert read.status_code != 401
    assert write.status_code == 401 and write.json()["error"] == "invalid_token"


def test_a_spoofed_x_forwarded_for_does_not_escape_the_pay_quota(running_platform):
    key = running_platform.credentials()["pay_api_key"]
    statuses = []
    with httpx.Client(timeout=10) as client:
        for number in range(40):
            answer = client.post(
                f"{running_platform.gateway_url}/v1/payments",
                headers={
                    "Authorization": f"Bearer {key}",
                    "X-Forwarded-For": f"203.0.113.{number}",
                },
                json={},
            )
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert answer.json() == {"code": "P0900", "description": "Too many requests"}
    assert 429 in statuses, "40 POSTs well inside a few seconds hit the 15 per second quota"


@pytest.mark.slow
def test_a_revoked_key_stops_working_within_the_gateways_cache_time(tmp_path):
    import json
    import subprocess
    import sys

    from govkit.testing.platform import start_platform

    platform = start_platform(tmp_path, extra_env={"GOVPLAT_AUTH_CACHE_SECONDS": "2"})
    try:
        service_id = platform.credentials()["sandbox_service_id"]

        def govplat(*args: str) -> dict:
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "govplat_cli",
                    *args,
                    "--data-dir",
                    str(platform.data_dir),
                    "--json",
                ],
                env=platform.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, result.stderr
            return json.loads(result.stdout)

        created = govplat(
            "keys",
            "create",
            service_id,
            "--name",
            "short-lived",
            "--api",
            "payments",
            "--type",
            "test",
        )
        headers = {"Authorization": f"Bearer {created['key']}"}
        url = f"{platform.gateway_url}/v1/payments"
        assert httpx.get(url, headers=headers, timeout=10).status_code != 401
        govplat("keys", "revoke", created["id"])
        time.sleep(2.5)
        assert httpx.get(url, headers=headers, timeout=10).status_code == 401
    finally:
        platform.stop()
