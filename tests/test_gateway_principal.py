"""Services refuse a request whose principal is missing, expired or meant for another
service; the gateway's own principal gets through (running platform, payments)."""

from __future__ import annotations

import time

import httpx
import pytest

from govkit.principal import Principal, PrincipalSigner

CALLER = Principal(organisation_id="org-1", service_id="svc-1", key_type="test", api="payments")


@pytest.fixture(scope="module")
def signer(running_platform) -> PrincipalSigner:
    """Signs with the platform's own principal key (as the gateway does)."""
    return PrincipalSigner(running_platform.secrets()["principal_private_key"])


def test_payments_called_directly_refuses_a_missing_expired_or_misdirected_principal(
    running_platform, signer
):
    url = f"{running_platform.url('payments')}/v1/payments/pay_123"
    for headers in (
        {},
        {"X-Govplat-Principal": signer.sign(CALLER, "notify")},
        {"X-Govplat-Principal": signer.sign(CALLER, "payments", now=int(time.time()) - 120)},
    ):
        refused = httpx.get(url, headers=headers, timeout=10)
        assert refused.status_code == 401, headers
        assert refused.text == "Credentials are required to access this resource."
        assert refused.headers["www-authenticate"].startswith("Bearer")
    accepted = httpx.get(
        url, headers={"X-Govplat-Principal": signer.sign(CALLER, "payments")}, timeout=10
    )
    assert accepted.status_code == 404
    assert accepted.json() == {"code": "P0200", "description": "Not found"}


def test_a_pay_key_through_the_gateway_gets_past_both_checks_to_pays_not_found(running_platform):
    key = running_platform.credentials()["pay_api_key"]
    reply = httpx.get(
        f"{running_platform.gateway_url}/v1/payments/pay_123",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert reply.status_code == 404
    assert reply.json() == {"code": "P0200", "description": "Not found"}
