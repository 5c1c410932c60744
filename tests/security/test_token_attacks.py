"""Forged, stale and misplaced credentials against every protected route family,
through the gateway: each is refused, in the family's own format, and (where the
gateway checks the credential) never reaches the service.

The attacks on access tokens (ES256 JWTs from identity): ``alg: none``, HS256 signed
with identity's public key as the secret, expired, not yet valid, another audience,
another issuer, a changed signature, changed claims under the old signature, an
unknown key id, the right key id on another key, and a credential of another API
(a Notify token, a Pay key). On Notify's HS256 API tokens: ``alg: none``, a changed
signature, an ``iat`` an hour old or an hour ahead, another service's issuer, no
issuer, an OAuth access token, a Pay key, an ES256 token from a stranger.

The same attacks on identity's verifier alone are in
``services/identity/tests/test_oidc.py`` and ``test_credentials.py``.
"""

from __future__ import annotations

import httpx
import pytest

ACCESS_TOKEN_ATTACKS = [
    "alg-none",
    "hs256-with-the-public-key",
    "expired",
    "not-yet-valid",
    "wrong-audience",
    "wrong-issuer",
    "tampered-signature",
    "tampered-claims",
    "unknown-kid",
    "known-kid-other-key",
    "notify-api-token",
    "pay-api-key",
]

NOTIFY_ATTACKS = [
    "alg-none",
    "tampered-signature",
    "expired",
    "not-yet-valid",
    "another-services-issuer",
    "no-issuer",
    "an-oauth-access-token",
    "pay-api-key",
    "es256-signed-by-a-stranger",
]


def call(platform, method: str, path: str, token: str, **kwargs) -> httpx.Response:
    return httpx.request(
        method,
        f"{platform.gateway_url}{path}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        **kwargs,
    )


def assert_rfc6750_invalid_token(answer: httpx.Response) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_token"
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("attack", NOTIFY_ATTACKS)
def test_a_forged_or_misplaced_notify_token_is_refused_in_notifys_envelope_before_notify(
    running_platform, tokens, attack
):
    token = tokens.forged_notify_tokens()[attack]
    before = running_platform.requests_seen_by("notify")
    for method, path, body in (
        ("GET", "/v2/notifications", None),
        ("POST", "/v2/notifications/sms", {"phone_number": "07700900123", "template_id": "x"}),
        ("GET", "/v2/templates", None),
    ):
        answer = call(running_platform, method, path, token, json=body)
        assert answer.status_code in (401, 403), (attack, path, answer.text)
        envelope = answer.json()
        assert envelope["status_code"] == answer.status_code
        assert envelope["errors"][0]["error"] == "AuthError"
    assert running_platform.requests_seen_by("notify") == before


@pytest.mark.parametrize("attack", [*ACCESS_TOKEN_ATTACKS, "a-notify-scoped-access-token"])
def test_a_forged_or_misplaced_credential_gets_pays_401_before_payments(
    running_platform, tokens, attack
):
    forged = tokens.forged_access_tokens("payments:write")
    forged["a-notify-scoped-access-token"] = tokens.access_token("notify:send")
    token = forged[attack]
    if attack == "pay-api-key":
        pytest.skip("the Pay key is this family's own credential")
    before = running_platform.requests_seen_by("payments")
    for method, path in (("GET", "/v1/payments"), ("POST", "/v1/payments")):
        answer = call(running_platform, method, path, token, json={})
        assert answer.status_code == 401, (attack, path, answer.text)
        assert answer.text == "Credentials are required to access this resource."
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert running_platform.requests_seen_by("payments") == before


@pytest.mark.parametrize("attack", ACCESS_TOKEN_ATTACKS)
def test_a_forged_or_misplaced_token_cannot_write_to_a_register(running_platform, tokens, attack):
    forged = tokens.forged_access_tokens("registers:write:country")
    before = running_platform.requests_seen_by("registers")
    answer = call(
        running_platform, "POST", "/registers/country/entries", forged[attack], json=ENTRY
    )
    assert_rfc6750_invalid_token(answer)
    assert running_platform.requests_seen_by("registers") == before
    assert_nothing_written(running_platform)


def test_a_real_token_without_the_registers_scope_is_refused_by_registers_in_its_format(
    running_platform, tokens
):
    token = tokens.access_token("payments:write")
    answer = call(running_platform, "POST", "/registers/country/entries", token, json=ENTRY)
    assert answer.status_code == 403
    assert answer.json() == {
        "code": 403,
        "message": "writing to the country register needs the scope registers:write:country",
    }
    assert_nothing_written(running_platform)


ENTRY = {"country": "ZZ", "name": "Forged"}


def assert_nothing_written(platform) -> None:
    record = httpx.get(f"{platform.gateway_url}/registers/country/records/ZZ", timeout=10)
    assert record.status_code == 404


@pytest.mark.parametrize("attack", [*ACCESS_TOKEN_ATTACKS, "a-client-credentials-token"])
def test_a_forged_or_misplaced_token_gets_no_userinfo(running_platform, tokens, attack):
    forged = tokens.forged_access_tokens("payments:write")
    forged["a-client-credentials-token"] = tokens.access_token("payments:write")
    for method in ("GET", "POST"):
        answer = call(running_platform, method, "/userinfo", forged[attack])
        assert answer.status_code in (401, 403), (attack, answer.text)
        body = answer.json()
        assert body["error"] in ("invalid_token", "insufficient_scope"), body
        assert "sub" not in body


@pytest.mark.parametrize("attack", [*ACCESS_TOKEN_ATTACKS, "operator-token-one-character-changed"])
def test_no_token_but_the_operators_opens_identitys_admin_api(running_platform, tokens, attack):
    forged = tokens.forged_access_tokens("payments:write")
    operator = running_platform.secrets()["identity_admin_token"]
    forged["operator-token-one-character-changed"] = operator[:-1] + (
        "A" if operator[-1] != "A" else "B"
    )
    for method, path, body in (
        ("GET", "/admin/identity/organisations", None),
        ("POST", "/admin/identity/organisations", {"name": "Forged agency"}),
    ):
        answer = call(running_platform, method, path, forged[attack], json=body)
        assert answer.status_code == 401, (attack, answer.text)
        assert answer.json()["error"] == "UNAUTHENTICATED"
    names = call(running_platform, "GET", "/admin/identity/organisations", operator).text
    assert "Forged agency" not in names
