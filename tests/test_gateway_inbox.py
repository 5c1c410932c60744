"""The portal's sandbox inbox over plain HTTP: CSRF-protected, only in the sandbox,
limited per client address, and each browser sees only the service it proved a key for."""

from __future__ import annotations

import re
import uuid

import httpx

from gateway.auth import Authenticator
from gateway.http_api import create_app
from gateway.inbox import SandboxInbox
from gateway.portal import PortalOptions
from gateway.proxy import upstream_client

PAGE = "/sandbox/inbox"


def form_token(page_html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def caller(app, address: str = "198.51.100.30") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://gov.example")


def inbox_for(platform, upstream, authenticator) -> SandboxInbox:
    token = platform.secrets()["identity_admin_token"]
    return SandboxInbox(platform.url("notify"), token, upstream, authenticator, token)


async def test_outside_the_sandbox_the_inbox_is_not_available(running_platform):
    authenticator = Authenticator(f"127.0.0.1:{running_platform.grpc['identity']}")
    async with upstream_client(5) as upstream:
        options = PortalOptions(
            environment="production", inbox=inbox_for(running_platform, upstream, authenticator)
        )
        async with caller(create_app({}, upstream, portal_options=options)) as browser:
            shown = await browser.get(PAGE)
            posted = await browser.post(PAGE, data={"csrf_token": "x", "api_key": "y"})
        async with caller(create_app({}, upstream, portal_options=PortalOptions())) as browser:
            unconfigured = await browser.get(PAGE)
    await authenticator.close()
    assert "not available" in shown.text and "production environment" in shown.text
    assert "<form" not in shown.text and "not available" in posted.text
    assert "no operator token" in unconfigured.text


async def test_opening_an_inbox_needs_the_pages_token_a_real_key_and_is_limited_per_address(
    running_platform,
):
    key = running_platform.credentials()["notify_api_key"]
    authenticator = Authenticator(f"127.0.0.1:{running_platform.grpc['identity']}")
    async with upstream_client(5) as upstream:
        options = PortalOptions(
            inbox=inbox_for(running_platform, upstream, authenticator), inbox_opens_per_hour=2
        )
        app = create_app({}, upstream, portal_options=options)
        async with caller(app) as browser:
            token = form_token((await browser.get(PAGE)).text)
            no_token = await browser.post(PAGE, data={"api_key": key})
            empty = await browser.post(PAGE, data={"csrf_token": token, "api_key": " "})
            wrong = await browser.post(
                PAGE, data={"csrf_token": token, "api_key": f"x-{uuid.uuid4()}-{uuid.uuid4()}"}
            )
            opened = await browser.post(PAGE, data={"csrf_token": token, "api_key": key})
            listed = await browser.get(PAGE)
            limited = await browser.post(PAGE, data={"csrf_token": token, "api_key": key})
        async with caller(app, "198.51.100.31") as elsewhere:
            token = form_token((await elsewhere.get(PAGE)).text)
            other_address = await elsewhere.post(PAGE, data={"csrf_token": token, "api_key": key})
    await authenticator.close()
    assert no_token.status_code == 403 and "expired" in no_token.text
    assert empty.status_code == 400 and "Enter your service" in empty.text
    assert wrong.status_code == 400 and "not a Notify API key this platform accepts" in wrong.text
    assert opened.status_code == 303 and "govplat_portal_inbox=" in opened.headers["set-cookie"]
    assert (
        "HttpOnly" in opened.headers["set-cookie"]
        and "SameSite=strict" in opened.headers["set-cookie"]
    )
    assert (
        listed.status_code == 200
        and running_platform.credentials()["sandbox_service_id"] in listed.text
    )
    assert limited.status_code == 429
    assert other_address.status_code == 303


async def test_a_forged_inbox_cookie_opens_nothing(running_platform):
    authenticator = Authenticator(f"127.0.0.1:{running_platform.grpc['identity']}")
    service_id = running_platform.credentials()["sandbox_service_id"]
    async with upstream_client(5) as upstream:
        options = PortalOptions(inbox=inbox_for(running_platform, upstream, authenticator))
        async with caller(create_app({}, upstream, portal_options=options)) as browser:
            browser.cookies.set("govplat_portal_inbox", service_id, path="/sandbox")
            page = await browser.get(PAGE)
    await authenticator.close()
    assert "Open the inbox" in page.text and service_id not in page.text
