"""The OpenID Connect provider in-process: the code flow with Authlib's own client,
and every attack the identity issue lists, each refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from identity.service import oidc, signing

from .conftest import ISSUER, REDIRECT_URI, Identity

SCOPE = "openid email offline_access"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def authorize(identity: Identity, cookie: str, params: dict[str, str]) -> httpx.Response:
    """Send the browser to /authorize, then to /authorize/continue; the last response."""
    async with identity.http(cookies={"govplat_session": cookie}) as browser:
        first = await browser.get("/authorize", params=params)
        if first.status_code != 303 or not first.headers["location"].startswith(
            "/authorize/continue"
        ):
            return first
        return await browser.get(first.headers["location"])


def code_params(client_id: str, **overrides) -> tuple[dict[str, str], str]:
    verifier = generate_token(48)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "state": generate_token(16),
        "nonce": generate_token(16),
        "code_challenge": oidc.s256(verifier),
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return params, verifier


async def a_code(identity: Identity, client_id: str, cookie: str, **overrides) -> tuple[str, str]:
    params, verifier = code_params(client_id, **overrides)
    answer = await authorize(identity, cookie, params)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith(REDIRECT_URI), answer.headers["location"]
    return query(answer.headers["location"])["code"], verifier


async def exchange(
    identity: Identity, client_id: str, secret: str, code: str, verifier: str | None
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier is not None:
        form["code_verifier"] = verifier
    async with identity.http() as http:
        return await http.post("/token", data=form, auth=(client_id, secret))


async def jwks(identity: Identity) -> KeySet:
    async with identity.http() as http:
        return KeySet.import_key_set((await http.get("/.well-known/jwks.json")).json())


async def forge(identity: Identity, claims: dict, header: dict | None = None, key=None) -> str:
    """A token signed with the provider's real active key unless ``key`` is given."""
    async with identity.context.db.read() as session:
        kid, active = await signing.active_private_key(session, identity.context.box)
    head = {"alg": "ES256", "kid": kid, "typ": "at+jwt"}
    head.update(header or {})
    return jwt.encode(head, claims, key or active)


async def userinfo_status(identity: Identity, token: str) -> httpx.Response:
    async with identity.http() as http:
        return await http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})


async def valid_access_token(identity: Identity) -> tuple[str, dict]:
    client_id, secret = await identity.client()
    _, cookie = await identity.signed_in()
    code, verifier = await a_code(identity, client_id, cookie)
    tokens = (await exchange(identity, client_id, secret, code, verifier)).json()
    claims = jwt.decode(tokens["access_token"], await jwks(identity), algorithms=["ES256"]).claims
    return tokens["access_token"], claims


# -- the whole flow with Authlib's client --------------------------------------------


async def test_authlib_completes_discovery_code_flow_with_pkce_userinfo_refresh_and_client_credentials(
    identity,
):
    client_id, secret = await identity.client()
    account_id, cookie = await identity.signed_in()
    transport = httpx.ASGITransport(app=identity.app)
    async with AsyncOAuth2Client(
        client_id,
        secret,
        scope=SCOPE,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        transport=transport,
    ) as rp:
        metadata = (
            await rp.request(
                "GET", f"{ISSUER}/.well-known/openid-configuration", withhold_token=True
            )
        ).json()
        assert metadata["issuer"] == ISSUER
        assert metadata["code_challenge_methods_supported"] == ["S256"]
        verifier, nonce = generate_token(48), generate_token(16)
        url, state = rp.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        params = query(url)
        assert params["code_challenge_method"] == "S256"
        answer = await authorize(identity, cookie, params)
        callback = answer.headers["location"]
        assert query(callback)["state"] == state and query(callback)["iss"] == ISSUER

        token = await rp.fetch_token(
            metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
        )
        id_token = jwt.decode(token["id_token"], await jwks(identity), algorithms=["ES256"])
        assert id_token.claims["aud"] == client_id and id_token.claims["nonce"] == nonce
        assert id_token.claims["iss"] == ISSUER and id_token.claims["vot"] == "Cl.Cm"
        assert (
            id_token.claims["sub"].startswith("urn:fdc:govplat:2026:")
            and account_id not in id_token.claims["sub"]
        )

        info = (await rp.get(metadata["userinfo_endpoint"])).json()
        assert info["sub"] == id_token.claims["sub"] and info["email_verified"] is True

        old_refresh = token["refresh_token"]
        refreshed = await rp.refresh_token(metadata["token_endpoint"])
        assert refreshed["refresh_token"] != old_refresh
        assert (await rp.get(metadata["userinfo_endpoint"])).status_code == 200

        service = await rp.fetch_token(
            metadata["token_endpoint"], grant_type="client_credentials", scope="notify:send"
        )
        claims = jwt.decode(
            service["access_token"], await jwks(identity), algorithms=["ES256"]
        ).claims
        assert (
            claims["sub"] == client_id
            and claims["scope"] == "notify:send"
            and "refresh_token" not in service
        )


async def test_access_tokens_and_codes_are_short_lived(identity):
    _token, claims = await valid_access_token(identity)
    assert claims["exp"] - claims["iat"] == 180
    assert identity.context.settings.authorization_code_seconds <= 300


# -- access token attacks -------------------------------------------------------------


async def test_an_unsigned_alg_none_access_token_is_refused(identity):
    _, claims = await valid_access_token(identity)
    header = b64(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    forged = f"{header}.{b64(json.dumps(claims).encode())}."
    answer = await userinfo_status(identity, forged)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"


async def test_an_hs256_token_signed_with_the_public_key_is_refused(identity):
    _, claims = await valid_access_token(identity)
    public = (await jwks(identity)).keys[0]
    pem = ECKey.import_key(public.as_dict()).as_pem(private=False)
    head = {"alg": "HS256", "kid": public.kid, "typ": "at+jwt"}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    answer = await userinfo_status(identity, f"{signing_input}.{b64(signature)}")
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"


def _at(offset: int | None) -> int | None:
    """A time ``offset`` seconds from now, worked out when the test runs (values made
    at collection are minutes old by the time a long run reaches the test)."""
    return None if offset is None else int(time.time()) + offset


@pytest.mark.parametrize(
    "change",
    [
        {"exp": -5, "iat": -200},
        {"iat": 60},
        {"aud": "https://another.example"},
        {"iss": "https://another.example"},
    ],
    ids=["expired", "iat-more-than-30s-ahead", "wrong-aud", "wrong-iss"],
)
async def test_an_access_token_with_a_bad_claim_is_refused(identity, change):
    token, claims = await valid_access_token(identity)
    assert (await userinfo_status(identity, token)).status_code == 200
    change = {k: _at(v) if k in ("exp", "iat") else v for k, v in change.items()}
    forged = await forge(identity, {**claims, **change})
    answer = await userinfo_status(identity, forged)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"


async def test_an_unknown_kid_is_refused_without_reloading_the_keys_on_every_request(identity):
    _, claims = await valid_access_token(identity)
    stranger = ECKey.generate_key("P-256", private=True)
    reloads_before = identity.keys.reloads
    for _ in range(20):
        forged = await forge(
            identity, claims, header={"kid": f"unknown-{uuid.uuid4().hex}"}, key=stranger
        )
        assert (await userinfo_status(identity, forged)).status_code == 401
    assert identity.keys.reloads - reloads_before <= 1


async def test_an_id_token_is_not_accepted_as_an_access_token(identity):
    client_id, secret = await identity.client()
    _, cookie = await identity.signed_in()
    code, verifier = await a_code(identity, client_id, cookie)
    tokens = (await exchange(identity, client_id, secret, code, verifier)).json()
    assert (await userinfo_status(identity, tokens["id_token"])).status_code == 401


# -- PKCE -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge_method": "plain"},
        {"code_challenge_method": None},
    ],
    ids=["missing", "plain", "no-method"],
)
async def test_an_authorization_request_without_s256_pkce_is_refused(identity, change):
    client_id, _ = await identity.client()
    _, cookie = await identity.signed_in()
    params, _ = code_params(client_id)
    for key, value in change.items():
        if value is None:
            params.pop(key)
        else:
            params[key] = value
    answer = await authorize(identity, cookie, params)
    location = query(answer.headers["location"])
    assert location["error"] == "invalid_request" and "code" not in location
    assert location["state"] == params["state"] and location["iss"] == ISSUER


@pytest.mark.parametrize("verifier", [None, "wrong-" + "x" * 50], ids=["missing", "wrong"])
async def test_a_code_without_its_pkce_verifier_is_refused(identity, verifier):
    client_id, secret = await identity.client()
    _, cookie = await identity.signed_in()
    code, _ = await a_code(identity, client_id, cookie)
    answer = await exchange(identity, client_id, secret, code, verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


# -- redirect URIs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://rp.example/callback/extra",
        "https://rp.example/call",
        "https://rp.example/callback/",
        "https://RP.example/callback",
        "https://rp.example/Callback",
        "https://rp.example/callback?x=1",
        "https://rp.example.evil.test/callback",
        "http://rp.example/callback",
    ],
)
async def test_a_redirect_uri_that_is_not_exactly_registered_is_refused_without_redirecting(
    identity, redirect_uri
):
    client_id, _ = await identity.client()
    _, cookie = await identity.signed_in()
    params, _ = code_params(client_id, redirect_uri=redirect_uri)
    answer = await authorize(identity, cookie, params)
    assert answer.status_code == 400
    assert "location" not in answer.headers


# -- codes, refresh tokens, assertions --------------------------------------------------


async def test_a_second_use_of_a_code_is_refused_and_revokes_what_the_first_use_issued(identity):
    client_id, secret = await identity.client()
    _, cookie = await identity.signed_in()
    code, verifier = await a_code(identity, client_id, cookie)
    first = (await exchange(identity, client_id, secret, code, verifier)).json()
    assert (await userinfo_status(identity, first["access_token"])).status_code == 200

    second = await exchange(identity, client_id, secret, code, verifier)

    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    assert (await userinfo_status(identity, first["access_token"])).status_code == 401
    async with identity.http() as http:
        refreshed = await http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
            auth=(client_id, secret),
        )
    assert refreshed.json()["error"] == "invalid_grant"


async def test_a_reused_refresh_token_is_refused_and_ends_the_whole_grant(identity):
    client_id, secret = await identity.client()
    _, cookie = await identity.signed_in()
    code, verifier = await a_code(identity, client_id, cookie)
    first = (await exchange(identity, client_id, secret, code, verifier)).json()
    async with identity.http() as http:

        def refresh(token):
            return http.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": token},
                auth=(client_id, secret),
            )

        rotated = (await refresh(first["refresh_token"])).json()
        reused = await refresh(first["refresh_token"])
        after = await refresh(rotated["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert after.json()["error"] == "invalid_grant", "the rotated token died with the grant"
    assert (await userinfo_status(identity, rotated["access_token"])).status_code == 401


def assertion(client_id: str, key, **claims) -> str:
    now = int(time.time())
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{ISSUER}/token",
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    body.update(claims)
    return jwt.encode({"alg": "ES256", "kid": key.kid}, body, key)


async def private_key_client(identity: Identity) -> tuple[str, ECKey]:
    key = ECKey.generate_key("P-256", parameters={"kid": "rp-key-1"}, private=True)
    client_id, _ = await identity.client(
        auth_method="private_key_jwt", jwks=json.dumps({"keys": [key.as_dict(private=False)]})
    )
    return client_id, key


async def client_credentials(identity: Identity, token: str) -> httpx.Response:
    async with identity.http() as http:
        return await http.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": oidc.ASSERTION_TYPE,
                "client_assertion": token,
            },
        )


async def test_private_key_jwt_is_accepted_once_and_a_replayed_jti_is_refused(identity):
    client_id, key = await private_key_client(identity)
    signed = assertion(client_id, key)
    assert (await client_credentials(identity, signed)).status_code == 200
    replay = await client_credentials(identity, signed)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": -10},
        {"iat": 120},
        {"aud": "https://another.example/token"},
        {"iss": "someone-else"},
        {"jti": None},
    ],
    ids=["expired", "iat-ahead", "wrong-aud", "wrong-iss", "no-jti"],
)
async def test_a_client_assertion_with_a_bad_claim_is_refused(identity, claims):
    client_id, key = await private_key_client(identity)
    body = {k: _at(v) if k in ("exp", "iat") else v for k, v in claims.items() if v is not None}
    token = assertion(client_id, key, **body)
    if claims.get("jti", "") is None:
        now = int(time.time())
        token = jwt.encode(
            {"alg": "ES256", "kid": key.kid},
            {"iss": client_id, "sub": client_id, "aud": ISSUER, "exp": now + 60},
            key,
        )
    answer = await client_credentials(identity, token)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


async def test_a_client_assertion_expiring_over_ten_minutes_ahead_is_refused_saying_the_limit(
    identity,
):
    client_id, key = await private_key_client(identity)
    at_the_limit = await client_credentials(identity, assertion(client_id, key, exp=_at(595)))
    an_hour = await client_credentials(identity, assertion(client_id, key, exp=_at(3600)))
    assert at_the_limit.status_code == 200
    assert an_hour.status_code == 401 and an_hour.json() == {
        "error": "invalid_client",
        "error_description": "client_assertion exp is more than 600 seconds ahead: sign "
        "assertions that expire within 10 minutes",
    }


async def test_a_client_assertion_signed_with_another_key_or_alg_none_is_refused(identity):
    client_id, _key = await private_key_client(identity)
    stranger = ECKey.generate_key("P-256", parameters={"kid": "rp-key-1"}, private=True)
    assert (await client_credentials(identity, assertion(client_id, stranger))).status_code == 401
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER, "exp": now + 60, "jti": "j1"}
    unsigned = f"{b64(json.dumps({'alg': 'none'}).encode())}.{b64(json.dumps(claims).encode())}."
    assert (await client_credentials(identity, unsigned)).status_code == 401


async def test_an_unknown_assertion_kid_refetches_the_client_jwks_at_most_once(identity):
    key = ECKey.generate_key("P-256", parameters={"kid": "published"}, private=True)
    fetches = []

    def serve_jwks(request: httpx.Request) -> httpx.Response:
        fetches.append(request.url)
        return httpx.Response(200, json={"keys": [key.as_dict(private=False)]})

    identity.client_keys.http = httpx.AsyncClient(transport=httpx.MockTransport(serve_jwks))
    client_id, _ = await identity.client(
        auth_method="private_key_jwt", jwks_uri="https://rp.example/jwks.json"
    )
    assert (await client_credentials(identity, assertion(client_id, key))).status_code == 200
    stranger = ECKey.generate_key("P-256", private=True)
    for number in range(10):
        unknown = ECKey.import_key(
            stranger.as_dict(private=True), parameters={"kid": f"unknown-{number}"}
        )
        assert (
            await client_credentials(identity, assertion(client_id, unknown))
        ).status_code == 401
    assert len(fetches) <= 2


# -- levels of trust, introspection, revocation, logout -----------------------------------


async def test_cl_cm_sends_a_password_only_session_to_the_second_factor(identity):
    client_id, _ = await identity.client()
    _, cookie = await identity.signed_in(level="Cl")
    params, _ = code_params(client_id, vtr='["Cl.Cm"]')
    answer = await authorize(identity, cookie, params)
    assert answer.headers["location"].startswith("/sign-in/second-factor?request=")
    cl_params, _ = code_params(client_id, vtr='["Cl"]')
    assert (
        (await authorize(identity, cookie, cl_params)).headers["location"].startswith(REDIRECT_URI)
    )


async def test_p2_needs_an_identity_check_and_cl_p2_is_not_a_valid_vector(identity):
    client_id, _ = await identity.client()
    _, cookie = await identity.signed_in()
    params, _ = code_params(client_id, vtr='["Cl.Cm.P2"]')
    assert (
        (await authorize(identity, cookie, params))
        .headers["location"]
        .startswith("/identity-check?request=")
    )
    _, checked = await identity.signed_in(identity_level="P2")
    assert (await authorize(identity, checked, params)).headers["location"].startswith(REDIRECT_URI)
    bad, _ = code_params(client_id, vtr='["Cl.P2"]')
    refused = query((await authorize(identity, cookie, bad)).headers["location"])
    assert (
        refused["error"] == "invalid_request"
        and refused["error_description"] == "Request vtr not valid"
    )


async def test_introspection_shows_active_tokens_to_their_client_only_and_revocation_ends_them(
    identity,
):
    client_id, secret = await identity.client()
    other_id, other_secret = await identity.client()
    _, cookie = await identity.signed_in()
    code, verifier = await a_code(identity, client_id, cookie)
    tokens = (await exchange(identity, client_id, secret, code, verifier)).json()
    async with identity.http() as http:
        mine = (
            await http.post(
                "/introspect", data={"token": tokens["access_token"]}, auth=(client_id, secret)
            )
        ).json()
        theirs = (
            await http.post(
                "/introspect", data={"token": tokens["access_token"]}, auth=(other_id, other_secret)
            )
        ).json()
        unauthenticated = await http.post("/introspect", data={"token": tokens["access_token"]})
        revoked = await http.post(
            "/revoke", data={"token": tokens["refresh_token"]}, auth=(client_id, secret)
        )
        unknown = await http.post(
            "/revoke", data={"token": "no-such-token"}, auth=(client_id, secret)
        )
        after = (
            await http.post(
                "/introspect", data={"token": tokens["access_token"]}, auth=(client_id, secret)
            )
        ).json()
    assert mine["active"] is True and mine["client_id"] == client_id
    assert theirs == {"active": False}
    assert unauthenticated.status_code == 401
    assert revoked.status_code == 200 and unknown.status_code == 200
    assert after == {"active": False}


async def test_logout_ends_the_session_and_returns_to_the_registered_uri_with_state(identity):
    client_id, secret = await identity.client()
    _, cookie = await identity.signed_in()
    code, verifier = await a_code(identity, client_id, cookie)
    id_token = (await exchange(identity, client_id, secret, code, verifier)).json()["id_token"]
    async with identity.http(cookies={"govplat_session": cookie}) as browser:
        bad = await browser.get(
            "/logout",
            params={"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example/"},
        )
        good = await browser.get(
            "/logout",
            params={
                "id_token_hint": id_token,
                "post_logout_redirect_uri": "https://rp.example/signed-out",
                "state": "s1",
            },
        )
    assert bad.status_code == 400
    assert (
        good.status_code == 303
        and good.headers["location"] == "https://rp.example/signed-out?state=s1"
    )
    params, _ = code_params(client_id)
    assert (
        (await authorize(identity, cookie, params))
        .headers["location"]
        .startswith("/sign-in?request=")
    )


async def test_key_rotation_publishes_old_and_new_keys_and_old_tokens_still_verify(identity):
    token, _ = await valid_access_token(identity)
    before = {k.kid for k in (await jwks(identity)).keys}
    async with identity.http() as http:
        rotated = await http.post(
            "/admin/identity/signing-keys/rotate", headers={"Authorization": "Bearer " + "a" * 40}
        )
    assert rotated.status_code == 200
    after = {k.kid for k in (await jwks(identity)).keys}
    assert before <= after and len(after) == 3
    assert rotated.json()["active_kid"] in before, "the pre-published next key became active"
    assert (await userinfo_status(identity, token)).status_code == 200
    fresh, _claims = await valid_access_token(identity)
    assert (
        jwt.decode(fresh, await jwks(identity), algorithms=["ES256"]).header["kid"]
        == rotated.json()["active_kid"]
    )


# -- hostile input (each of these once gave a 5xx, a leak or a bypass) -----------------


async def test_an_error_page_escapes_what_the_request_put_in_it(identity):
    async with identity.http() as http:
        answer = await http.get(
            "/authorize?%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E=1&%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E=2"
        )
    assert answer.status_code == 400
    assert "<img" not in answer.text and "&lt;img" in answer.text
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "ES256", "typ": "at+jwt", "kid": [1]},
        {"alg": "ES256", "typ": "at+jwt", "kid": {}},
        {"alg": "ES256", "typ": "at+jwt"},
    ],
    ids=["kid-list", "kid-object", "no-kid"],
)
async def test_a_token_whose_kid_is_not_a_string_is_refused_not_a_500(identity, header):
    forged = f"{b64(json.dumps(header).encode())}.{b64(b'{}')}.AAAA"
    answer = await userinfo_status(identity, forged)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"


async def test_deeply_nested_input_is_refused_not_a_500(identity):
    client_id, _ = await identity.client()
    _, cookie = await identity.signed_in()
    params, _ = code_params(client_id, vtr="[" * 3000 + "]" * 3000)
    refused = query((await authorize(identity, cookie, params)).headers["location"])
    assert refused["error"] == "invalid_request"
    nested = (
        f"{b64(json.dumps({'alg': 'ES256'}).encode())}.{b64(('[' * 5000 + ']' * 5000).encode())}.AA"
    )
    answer = await client_credentials(identity, nested)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


async def test_framework_errors_at_oauth_endpoints_are_rfc_6749_json(identity):
    async with identity.http() as http:
        wrong_method = await http.get("/token")
        bad_form = await http.post(
            "/token",
            content=b"garbage",
            headers={"Content-Type": "multipart/form-data"},
        )
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "invalid_request"
    assert bad_form.status_code == 400 and bad_form.json()["error"] == "invalid_request"


async def test_prompt_none_without_a_session_returns_login_required_to_the_client(identity):
    client_id, _ = await identity.client()
    params, _ = code_params(client_id, prompt="none")
    async with identity.http() as browser:
        first = await browser.get("/authorize", params=params)
        answer = await browser.get(first.headers["location"])
    location = query(answer.headers["location"])
    assert answer.headers["location"].startswith(REDIRECT_URI)
    assert location["error"] == "login_required" and location["state"] == params["state"]


@pytest.mark.parametrize(
    "change", [{"prompt": "login"}, {"max_age": "0"}], ids=["prompt-login", "max-age-0"]
)
async def test_prompt_login_and_max_age_send_a_signed_in_citizen_to_sign_in_again(identity, change):
    client_id, _ = await identity.client()
    _, cookie = await identity.signed_in()
    await asyncio.sleep(1.1)
    params, _ = code_params(client_id, **change)
    assert (
        (await authorize(identity, cookie, params))
        .headers["location"]
        .startswith("/sign-in?request=")
    )
    plain, _ = code_params(client_id, max_age="3600")
    assert (await authorize(identity, cookie, plain)).headers["location"].startswith(REDIRECT_URI)


async def test_logout_without_an_id_token_hint_ends_no_session(identity):
    client_id, _ = await identity.client()
    _, cookie = await identity.signed_in()
    async with identity.http(cookies={"govplat_session": cookie}) as browser:
        page = await browser.get("/logout")
    assert page.status_code == 200 and "Sign out" in page.text
    params, _ = code_params(client_id)
    assert (await authorize(identity, cookie, params)).headers["location"].startswith(REDIRECT_URI)


async def test_revoking_another_clients_token_looks_like_an_unknown_token_and_changes_nothing(
    identity,
):
    client_id, secret = await identity.client()
    other_id, other_secret = await identity.client()
    _, cookie = await identity.signed_in()
    code, verifier = await a_code(identity, client_id, cookie)
    tokens = (await exchange(identity, client_id, secret, code, verifier)).json()
    async with identity.http() as http:
        theirs = await http.post(
            "/revoke", data={"token": tokens["refresh_token"]}, auth=(other_id, other_secret)
        )
        unknown = await http.post(
            "/revoke", data={"token": "nothing-like-a-token"}, auth=(other_id, other_secret)
        )
        missing = await http.post("/revoke", data={}, auth=(other_id, other_secret))
        refreshed = await http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(client_id, secret),
        )
    assert theirs.status_code == unknown.status_code == 200 and theirs.content == unknown.content
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert refreshed.status_code == 200, "the owner's refresh token still works"


async def test_a_failing_jwks_uri_is_not_fetched_again_for_every_request(identity):
    fetches = []

    def broken(request: httpx.Request) -> httpx.Response:
        fetches.append(request.url)
        return httpx.Response(200, json=[1, 2, 3])

    identity.client_keys.http = httpx.AsyncClient(transport=httpx.MockTransport(broken))
    client_id, _ = await identity.client(
        auth_method="private_key_jwt", jwks_uri="https://rp.example/jwks.json"
    )
    key = ECKey.generate_key("P-256", parameters={"kid": "k"}, private=True)
    for _ in range(10):
        answer = await client_credentials(identity, assertion(client_id, key))
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    assert len(fetches) == 1


async def test_userinfo_gives_the_postal_address_only_with_the_address_scope(identity):
    from datetime import UTC, datetime

    from identity.service import accounts, countries

    gb = countries.RegisterEntry(
        "GB", ['{"country":"GB","name":"United Kingdom"}'], 1, datetime(2026, 1, 1, tzinfo=UTC)
    )
    await countries.apply_records(identity.context.db, [gb])
    client_id, secret = await identity.client(scopes=["openid", "email", "address"])
    account_id, cookie = await identity.signed_in()
    await accounts.set_postal_address(
        identity.context,
        account_id,
        address_line_1="10 Downing Street",
        locality="London",
        postal_code="SW1A 2AA",
        country="GB",
    )
    claims = {}
    for scope in ("openid address", "openid"):
        code, verifier = await a_code(identity, client_id, cookie, scope=scope)
        token = (await exchange(identity, client_id, secret, code, verifier)).json()
        claims[scope] = (await userinfo_status(identity, token["access_token"])).json()
    assert claims["openid address"]["address"] == {
        "formatted": "10 Downing Street\nLondon\nSW1A 2AA\nUnited Kingdom",
        "street_address": "10 Downing Street",
        "locality": "London",
        "postal_code": "SW1A 2AA",
        "country": "GB",
    }
    assert "address" not in claims["openid"]
    async with identity.http() as http:
        metadata = (await http.get("/.well-known/openid-configuration")).json()
    assert "address" in metadata["scopes_supported"] and "address" in metadata["claims_supported"]
