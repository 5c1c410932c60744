"""Identity through the gateway of the running platform, as an agency's relying party
and a citizen's browser would use it: Authlib's own OAuth 2.0 client for the protocol,
the sign-in form submitted over real HTTP, the sandbox credentials that ``govplat up`` seeds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pyotp
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def submit(
    browser: httpx.AsyncClient, page_url: str, fields: dict[str, str]
) -> httpx.Response:
    """GET a form page, then POST its form with its CSRF token and the request id it carries."""
    page = await browser.get(page_url)
    assert page.status_code == 200, page.text[:500]
    token = CSRF.search(page.text).group(1)
    form = {"csrf_token": token, **fields}
    request_id = query(page_url).get("request")
    if request_id:
        form["request"] = request_id
    return await browser.post(urlsplit(page_url).path, data=form)


async def sign_in_and_authorize(
    gateway: str, authorization_url: str, credentials: dict, redirect_uri: str
) -> str:
    """Play the citizen's browser from the authorization URL to the redirect back to the
    relying party, signing in with password and TOTP; returns that callback URL."""
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as browser:
        location = authorization_url
        for _ in range(12):
            if location.startswith(redirect_uri):
                return location
            path = location if location.startswith("/") else location[len(gateway) :]
            if path.startswith("/sign-in/second-factor"):
                answer = await submit(
                    browser, path, {"code": pyotp.TOTP(credentials["citizen_totp_secret"]).now()}
                )
            elif path.startswith("/sign-in"):
                answer = await submit(
                    browser,
                    path,
                    {
                        "email": credentials["citizen_email"],
                        "password": credentials["citizen_password"],
                    },
                )
            else:
                answer = await browser.get(path)
            assert answer.status_code in (302, 303), (
                f"{path}: {answer.status_code} {answer.text[:300]}"
            )
            location = urljoin(gateway + "/", answer.headers["location"])
            if location.startswith(gateway):
                location = location[len(gateway) :]
        raise AssertionError(
            f"the sign-in journey did not come back to the relying party: {location}"
        )


async def test_authlib_signs_a_citizen_in_through_the_gateway_and_uses_every_grant(
    running_platform,
):
    gateway = running_platform.gateway_url
    credentials = running_platform.credentials()
    for key in (
        "notify_api_key",
        "notify_live_api_key",
        "pay_api_key",
        "oauth_client_id",
        "oauth_client_secret",
        "citizen_email",
        "citizen_password",
        "citizen_totp_secret",
        "gateway_url",
    ):
        assert credentials[key], key
    redirect_uri = credentials["oauth_redirect_uri"]
    async with AsyncOAuth2Client(
        credentials["oauth_client_id"],
        credentials["oauth_client_secret"],
        scope="openid email offline_access",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=30,
    ) as rp:
        metadata = (
            await rp.request(
                "GET", f"{gateway}/.well-known/openid-configuration", withhold_token=True
            )
        ).json()
        assert metadata["issuer"] == gateway and metadata["token_endpoint"] == f"{gateway}/token"
        verifier, nonce = generate_token(48), generate_token(16)
        url, state = rp.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, vtr='["Cl.Cm"]'
        )

        callback = await sign_in_and_authorize(gateway, url, credentials, redirect_uri)

        assert query(callback)["state"] == state and query(callback)["iss"] == gateway
        token = await rp.fetch_token(
            metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
        keys = KeySet.import_key_set(
            (await rp.request("GET", metadata["jwks_uri"], withhold_token=True)).json()
        )
        id_token = jwt.decode(token["id_token"], keys, algorithms=["ES256"]).claims
        assert (
            id_token["nonce"] == nonce
            and id_token["vot"] == "Cl.Cm"
            and id_token["aud"] == credentials["oauth_client_id"]
        )

        info = (await rp.get(metadata["userinfo_endpoint"])).json()
        assert info == {
            "sub": id_token["sub"],
            "email": credentials["citizen_email"],
            "email_verified": True,
        }

        refreshed = await rp.refresh_token(metadata["token_endpoint"])
        assert refreshed["access_token"] != token["access_token"]
        assert (await rp.get(metadata["userinfo_endpoint"])).json()["sub"] == id_token["sub"]

        service = await rp.fetch_token(
            metadata["token_endpoint"], grant_type="client_credentials", scope="notify:send"
        )
        assert (
            jwt.decode(service["access_token"], keys, algorithms=["ES256"]).claims["scope"]
            == "notify:send"
        )


def govplat(running_platform, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "govplat_cli",
            *args,
            "--data-dir",
            str(running_platform.data_dir),
            "--json",
        ],
        env=running_platform.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_the_cli_creates_an_agency_a_service_and_keys_that_identity_then_accepts_and_revokes(
    running_platform,
):
    agency = govplat(running_platform, "agencies", "create", f"CLI agency {generate_token(6)}")
    assert agency.returncode == 0, agency.stderr
    agency_id = json.loads(agency.stdout)["id"]
    service = govplat(running_platform, "agencies", "add-service", agency_id, "Fishing licences")
    service_id = json.loads(service.stdout)["id"]
    created = json.loads(
        govplat(
            running_platform,
            "keys",
            "create",
            service_id,
            "--name",
            "ci",
            "--api",
            "payments",
            "--type",
            "live",
        ).stdout
    )
    assert created["key"].startswith("api_live_")
    listed = json.loads(govplat(running_platform, "keys", "list", service_id).stdout)
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]

    import grpc

    from govplat.identity.v1 import identity_service_pb2 as pb
    from govplat.identity.v1 import identity_service_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{running_platform.grpc['identity']}") as channel:
        stub = identity_service_pb2_grpc.IdentityServiceStub(channel)
        principal = stub.VerifyApiKey(
            pb.VerifyApiKeyRequest(key=created["key"]), timeout=10
        ).principal
        assert principal.service_id == service_id and principal.organisation_id == agency_id
        assert govplat(running_platform, "keys", "revoke", created["id"]).returncode == 0
        with pytest.raises(grpc.RpcError) as refused:
            stub.VerifyApiKey(pb.VerifyApiKeyRequest(key=created["key"]), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
