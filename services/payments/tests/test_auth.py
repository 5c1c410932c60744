"""Every /v1 request needs the gateway's principal for payments: without one, Pay's 401
(no JSON body); what does not exist gets Pay's own 404."""

from __future__ import annotations

import time

import httpx
import pytest

from govkit.principal import HEADER, Principal, PrincipalSigner, new_key_pair
from payments import http_api

PAY_401 = "Credentials are required to access this resource."


def assert_pay_401(reply: httpx.Response) -> None:
    assert reply.status_code == 401
    assert reply.text == PAY_401
    assert reply.headers["content-type"].startswith("text/plain")
    assert reply.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/v1", "/v1/payments", "/v1/payments/abc", "/v1/nowhere"])
async def test_a_request_without_a_principal_gets_pays_401(pay, path: str) -> None:
    async with pay.http(None) as client:
        assert_pay_401(await client.get(path))
        assert_pay_401(await client.post(path, json={"amount": 100}))


async def test_a_principal_for_another_component_an_expired_one_or_a_forged_one_gets_pays_401(
    pay,
) -> None:
    caller = Principal("org", pay.service_id, "test", (), "key", "payments")
    stranger = PrincipalSigner(new_key_pair()[0])
    for headers in (
        {HEADER: pay.signer.sign(caller, "notify")},
        {HEADER: pay.signer.sign(caller, "payments", now=int(time.time()) - 120)},
        {HEADER: stranger.sign(caller, "payments")},
        {HEADER: "not-a-token"},
        {"Authorization": f"Bearer {pay.signer.sign(caller, 'payments')}"},
    ):
        async with pay.http(None, headers=headers) as client:
            assert_pay_401(await client.get("/v1/payments"))


async def test_an_access_token_needs_the_payments_scope_for_what_it_does(pay, payment_body) -> None:
    reader = pay.principal("live", api="oauth", scopes=("payments:read",))
    async with pay.http(None, headers={HEADER: reader}) as client:
        assert (await client.get("/v1/payments")).status_code == 200
        refused = await client.post("/v1/payments", json=payment_body())
    assert refused.status_code == 403 and refused.json()["code"] == "P0930"
    notify_key = pay.principal("live", api="notify")
    async with pay.http(None, headers={HEADER: notify_key}) as client:
        assert (await client.get("/v1/payments")).status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/v1/payments/pay_123", "P0200"),
        ("GET", "/v1/payments/0123456789abcdefghijklmnop", "P0200"),
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
    pay, method, path, code
) -> None:
    async with pay.http("test") as client:
        reply = await client.request(method, path, json={"amount": 100})
    assert reply.status_code == 404
    assert reply.json() == {"code": code, "description": "Not found"}


async def test_any_other_path_gets_the_dropwizard_default_404(pay) -> None:
    async with pay.http("test") as client:
        reply = await client.get("/v1/nowhere/at/all")
    assert reply.status_code == 404
    assert reply.json() == {"code": 404, "message": "HTTP 404 Not Found"}


async def test_without_a_configured_key_every_request_is_refused(pay) -> None:
    from payments.context import Context

    unkeyed = Context.build(
        pay.context.settings.model_copy(update={"principal_public_key": None}),
        pay.db,
        pay.context.acquirer,
    )
    transport = httpx.ASGITransport(app=http_api.create_app(unkeyed))
    async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as client:
        assert_pay_401(await client.get("/v1/payments", headers={HEADER: pay.principal("test")}))
