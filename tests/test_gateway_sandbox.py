"""The portal's sandbox credentials page (running platform, plain HTTP): the form is
CSRF-protected, creation happens only in the sandbox environment and is rate-limited
per client address, and what it creates authenticates at the gateway."""

from __future__ import annotations

import re

import httpx
import pytest

from gateway.http_api import create_app
from gateway.portal import PortalOptions
from gateway.proxy import upstream_client
from gateway.sandbox import SandboxCredentials
from govplat.identity.v1 import identity_service_pb2 as pb
from govplat_cli.identity_admin import IdentityAdmin

PAGE = "/sandbox/credentials"


def organisations(platform) -> int:
    """How many agencies identity has."""
    address = f"127.0.0.1:{platform.grpc['identity']}"
    with IdentityAdmin(address, platform.secrets()["identity_admin_token"]) as admin:
        return len(
            admin.call(
                "ListOrganisations", pb.ListOrganisationsRequest(page_size=1000)
            ).organisations
        )


def form_token(page_html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def created(page_html: str, ident: str) -> str:
    found = re.search(rf'<code id="{ident}">([^<]+)</code>', page_html)
    assert found, ident
    return found.group(1)


def test_the_page_explains_the_seeded_credentials_and_gives_a_csrf_protected_form(
    running_platform,
):
    with httpx.Client(base_url=running_platform.gateway_url, timeout=10) as browser:
        shown = browser.get(PAGE)
    assert shown.status_code == 200
    assert "govplat sandbox credentials --json" in shown.text
    assert '<a href="/sandbox/credentials">Sandbox credentials</a>' in shown.text
    form_token(shown.text)
    cookie = shown.headers["set-cookie"].lower()
    assert cookie.startswith("govplat_portal_csrf=")
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/sandbox" in cookie


def test_a_post_without_the_pages_token_or_cookie_creates_nothing(running_platform):
    before = organisations(running_platform)
    with httpx.Client(base_url=running_platform.gateway_url, timeout=10) as browser:
        token = form_token(browser.get(PAGE).text)
        forged = browser.post(PAGE, data={"csrf_token": token + "x"})
        browser.cookies.clear()
        cookieless = browser.post(PAGE, data={"csrf_token": token})
        other = httpx.Client(base_url=running_platform.gateway_url, timeout=10)
        other_browser_token = form_token(other.get(PAGE).text)
        other.close()
        browser.get(PAGE)
        crossed = browser.post(PAGE, data={"csrf_token": other_browser_token})
    for refused in (forged, cookieless, crossed):
        assert refused.status_code == 403
        assert "Nothing was created" in refused.text
    assert organisations(running_platform) == before


def test_created_credentials_authenticate_at_the_gateway(running_platform):
    gateway = running_platform.gateway_url
    before = organisations(running_platform)
    with httpx.Client(base_url=gateway, timeout=10) as browser:
        token = form_token(browser.get(PAGE).text)
        answer = browser.post(PAGE, data={"csrf_token": token})
    assert answer.status_code == 201
    assert answer.headers["cache-control"] == "no-store"
    assert organisations(running_platform) == before + 1
    pay_key = created(answer.text, "pay-api-key")
    assert pay_key.startswith("api_test_")
    paid = httpx.get(
        f"{gateway}/v1/payments/pay_123",
        headers={"Authorization": f"Bearer {pay_key}"},
        timeout=10,
    )
    assert paid.status_code == 404 and paid.json()["code"] == "P0200", "past the gateway"
    client = (created(answer.text, "oauth-client-id"), created(answer.text, "oauth-client-secret"))
    issued = httpx.post(
        f"{gateway}/token",
        data={"grant_type": "client_credentials", "scope": "payments:read"},
        auth=client,
        timeout=10,
    )
    assert issued.status_code == 200 and issued.json()["token_type"].lower() == "bearer"
    notify_key = created(answer.text, "notify-api-key")
    assert notify_key[-73:-37] == created(answer.text, "service-id")


def test_portal_credentials_cannot_write_to_the_shared_registers(running_platform):
    gateway = running_platform.gateway_url
    with httpx.Client(base_url=gateway, timeout=10) as browser:
        token = form_token(browser.get(PAGE).text)
        answer = browser.post(PAGE, data={"csrf_token": token})
    assert answer.status_code == 201
    assert "registers:write" not in created(answer.text, "oauth-scopes")
    client = (created(answer.text, "oauth-client-id"), created(answer.text, "oauth-client-secret"))
    refused = httpx.post(
        f"{gateway}/token",
        data={"grant_type": "client_credentials", "scope": "registers:write:country"},
        auth=client,
        timeout=10,
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"
    # The seeded client, which only whoever runs the platform can read, still may.
    seeded = running_platform.credentials()
    allowed = httpx.post(
        f"{gateway}/token",
        data={"grant_type": "client_credentials", "scope": "registers:write:country"},
        auth=(seeded["oauth_client_id"], seeded["oauth_client_secret"]),
        timeout=10,
    )
    assert allowed.status_code == 200, allowed.text


@pytest.fixture
def identity_admin_for(running_platform):
    """A creator of sandbox credentials with the running platform's identity."""

    def make() -> SandboxCredentials:
        return SandboxCredentials(
            f"127.0.0.1:{running_platform.grpc['identity']}",
            running_platform.secrets()["identity_admin_token"],
        )

    return make


def caller(app, address: str) -> httpx.AsyncClient:
    """A client of ``app`` (an in-process gateway) calling from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://gov.example")


async def test_outside_the_sandbox_the_page_says_it_is_not_available_and_creates_nothing(
    running_platform, identity_admin_for
):
    credentials = identity_admin_for()
    before = organisations(running_platform)
    async with upstream_client(5) as upstream:
        options = PortalOptions(environment="production", credentials=credentials)
        async with caller(
            create_app({}, upstream, portal_options=options), "198.51.100.20"
        ) as browser:
            shown = await browser.get(PAGE)
            posted = await browser.post(PAGE, data={"csrf_token": "anything"})
    await credentials.close()
    assert shown.status_code == 200
    assert "not available" in shown.text and "production environment" in shown.text
    assert "<form" not in shown.text
    assert "govplat sandbox credentials --json" in shown.text
    assert posted.status_code == 403 and "not available" in posted.text
    assert organisations(running_platform) == before


async def test_creation_is_rate_limited_per_client_address(running_platform, identity_admin_for):
    credentials = identity_admin_for()
    statuses: dict[str, list[int]] = {}
    async with upstream_client(5) as upstream:
        options = PortalOptions(credentials=credentials, credentials_per_hour=2)
        app = create_app({}, upstream, portal_options=options)
        for address, attempts in (("198.51.100.30", 3), ("198.51.100.31", 1)):
            async with caller(app, address) as browser:
                statuses[address] = []
                for _ in range(attempts):
                    token = form_token((await browser.get(PAGE)).text)
                    reply = await browser.post(PAGE, data={"csrf_token": token})
                    statuses[address].append(reply.status_code)
                    if reply.status_code == 429:
                        assert reply.headers["retry-after"] == "3600"
                        assert "Nothing was created" in reply.text
    await credentials.close()
    assert statuses == {"198.51.100.30": [201, 201, 429], "198.51.100.31": [201]}


def test_the_portals_test_cards_do_what_the_sandbox_acquirer_does():
    from gateway.portal import TEST_CARDS
    from payments.acquirer import AUTHORISED, DECLINED, ERROR, SANDBOX_CARDS

    expected = {"Succeeds": AUTHORISED, "Declined": DECLINED, "Expired": DECLINED}
    expected |= {"Incorrect": DECLINED, "Processing": ERROR}
    for number, _brand, result in TEST_CARDS:
        assert number in SANDBOX_CARDS, number
        assert SANDBOX_CARDS[number][0] == expected[result.split()[0]], number
