"""The payments REST API refuses every /v1 request without the gateway's principal for
payments, in GOV.UK Pay's 401, and answers Pay's own 404 for what is not built yet."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from govkit.principal import Principal, PrincipalSigner, new_key_pair
from payments.http_api import create_app

PAY_CALLER = Principal(organisation_id="org-1", service_id="svc-1", key_type="test", api="payments")
PAY_401 = "Credentials are required to access this resource."


@pytest.fixture(scope="module")
def keys() -> tuple[PrincipalSigner, str]:
    private, public = new_key_pair()
    return PrincipalSigner(private), public


@pytest.fixture
async def payments(keys) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(keys[1]))
    async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as client:
        yield client


def assert_pay_401(reply: httpx.Response) -> None:
    assert reply.status_code == 401
    assert reply.text == PAY_401
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.headers["www-authenticate"].startswith("Bearer")


def principal_headers(signer: PrincipalSigner, audience: str = "payments", **sign) -> dict:
    return {"X-Govplat-Principal": signer.sign(PAY_CALLER, audience, **sign)}


@pytest.mark.parametrize("path", ["/v1", "/v1/payments", "/v1/payments/abc", "/v1/nowhere"])
async def test_a_request_without_a_principal_gets_pays_401(payments, path: str) -> None:
    assert_pay_401(await payments.get(path))
    assert_pay_401(await payments.post(path, json={"amount": 100}))


async def test_a_principal_for_another_component_an_expired_one_or_a_forged_one_gets_pays_401(
    payments, keys
) -> None:
    signer, _ = keys
    stranger = PrincipalSigner(new_key_pair()[0])
    for headers in (
        principal_headers(signer, "notify"),
        principal_headers(signer, now=int(time.time()) - 120),
        principal_headers(stranger),
        {"X-Govplat-Principal": "not-a-token"},
        {"Authorization": f"Bearer {signer.sign(PAY_CALLER, 'payments')}"},
    ):
        assert_pay_401(await payments.get("/v1/payments/abc", headers=headers))


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/v1/payments/pay_123", "P0200"),
        ("GET", "/v1/payments/pay_123/events", "P0300"),
        ("POST", "/v1/payments/pay_123/cancel", "P0500"),
        ("POST", "/v1/payments/pay_123/capture", "P1000"),
        ("POST", "/v1/payments/pay_123/refunds", "P0600"),
        ("GET", "/v1/payments/pay_123/refunds", "P0800"),
        ("GET", "/v1/payments/pay_123/refunds/ref_1", "P0700"),
        ("GET", "/v1/agreements/agr_1", "P2200"),
        ("POST", "/v1/agreements/agr_1/cancel", "P2500"),
    ],
)
async def test_a_resource_that_does_not_exist_gets_pays_not_found_code(
    payments, keys, method: str, path: str, code: str
) -> None:
    reply = await payments.request(method, path, headers=principal_headers(keys[0]))

    assert reply.status_code == 404
    assert reply.json() == {"code": code, "description": "Not found"}


async def test_any_other_path_gets_the_dropwizard_default_404(payments, keys) -> None:
    reply = await payments.get("/v1/nowhere/at/all", headers=principal_headers(keys[0]))

    assert reply.status_code == 404
    assert reply.json() == {"code": 404, "message": "HTTP 404 Not Found"}


async def test_without_a_configured_key_every_request_is_refused(keys) -> None:
    transport = httpx.ASGITransport(app=create_app(None))
    async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as client:
        assert_pay_401(await client.get("/v1/payments/abc", headers=principal_headers(keys[0])))
