"""The internal principal the gateway signs and services verify."""

from __future__ import annotations

import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, OKPKey

from govkit.principal import (
    Principal,
    PrincipalError,
    PrincipalSigner,
    PrincipalVerifier,
    new_key_pair,
)

PRINCIPAL = Principal(
    organisation_id="org-1",
    service_id="svc-1",
    key_type="test",
    scopes=("notify:send",),
    api="notify",
)


@pytest.fixture
def keys():
    private, public = new_key_pair()
    return PrincipalSigner(private), public


def test_a_principal_signed_for_a_component_is_read_back_by_that_component(keys):
    signer, public = keys
    token = signer.sign(PRINCIPAL, "notify")
    assert PrincipalVerifier(public, "notify").verify(token) == PRINCIPAL


def test_a_principal_for_another_component_is_refused(keys):
    signer, public = keys
    with pytest.raises(PrincipalError):
        PrincipalVerifier(public, "payments").verify(signer.sign(PRINCIPAL, "notify"))


def test_an_expired_principal_is_refused(keys):
    signer, public = keys
    old = signer.sign(PRINCIPAL, "notify", now=int(time.time()) - 60)
    with pytest.raises(PrincipalError):
        PrincipalVerifier(public, "notify").verify(old)


@pytest.mark.parametrize("token", [None, "", "x", "a.b.c", "e" * 9000])
def test_a_missing_or_malformed_principal_is_refused(keys, token):
    _, public = keys
    with pytest.raises(PrincipalError):
        PrincipalVerifier(public, "notify").verify(token)


def test_a_principal_signed_by_another_key_or_with_hmac_is_refused(keys):
    _, public = keys
    stranger, _ = new_key_pair()
    with pytest.raises(PrincipalError):
        PrincipalVerifier(public, "notify").verify(
            PrincipalSigner(stranger).sign(PRINCIPAL, "notify")
        )
    claims = {
        "iss": "govplat-gateway",
        "aud": "notify",
        "exp": int(time.time()) + 30,
        "principal": {},
    }
    forged = jwt.encode(
        {"alg": "HS256", "typ": "govplat-principal+jwt"}, claims, OctKey.import_key(public)
    )
    with pytest.raises(PrincipalError):
        PrincipalVerifier(public, "notify").verify(forged)


def test_only_a_private_key_can_sign():
    _, public = new_key_pair()
    assert json.loads(public)["kty"] == "OKP" and "d" not in json.loads(public)
    with pytest.raises(ValueError):
        PrincipalSigner(public)
    assert OKPKey.import_key(json.loads(public)).is_private is False


def test_the_guard_reads_a_principal_signed_for_its_component(keys):
    from govkit.principal import PrincipalGuard

    signer, public = keys
    assert PrincipalGuard(public, "notify").verify(signer.sign(PRINCIPAL, "notify")) == PRINCIPAL


@pytest.mark.parametrize("audience", ["payments", "registers"])
def test_the_guard_refuses_a_principal_for_another_component_as_unauthenticated(keys, audience):
    from govkit.errors import UnauthenticatedError
    from govkit.principal import PrincipalGuard

    signer, public = keys
    with pytest.raises(UnauthenticatedError) as refused:
        PrincipalGuard(public, audience).verify(signer.sign(PRINCIPAL, "notify"))
    assert refused.value.reason == "PRINCIPAL_INVALID"


def test_a_guard_without_a_public_key_refuses_every_principal(keys):
    from govkit.errors import UnauthenticatedError
    from govkit.principal import PrincipalGuard

    signer, _ = keys
    with pytest.raises(UnauthenticatedError):
        PrincipalGuard(None, "notify").verify(signer.sign(PRINCIPAL, "notify"))


def test_the_guard_reads_the_principal_from_grpc_metadata(keys):
    from govkit.errors import UnauthenticatedError
    from govkit.principal import PrincipalGuard

    signer, public = keys
    guard = PrincipalGuard(public, "notify")

    class Context:
        def __init__(self, metadata):
            self.metadata = metadata

        def invocation_metadata(self):
            return self.metadata

    token = signer.sign(PRINCIPAL, "notify")
    assert guard.from_grpc(Context([("x-govplat-principal", token)])) == PRINCIPAL
    with pytest.raises(UnauthenticatedError):
        guard.from_grpc(Context([("authorization", f"Bearer {token}")]))


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("Bearer " + "t" * 40, True),
        ("bearer " + "t" * 40, True),
        ("Bearer " + "t" * 39, False),
        ("Basic " + "t" * 40, False),
        (None, False),
        ("Bearer ", False),
    ],
)
def test_the_operator_credential_is_a_bearer_admin_token(authorization, expected):
    from govkit.http import operator_authorized

    assert operator_authorized(authorization, "t" * 40) is expected
    assert operator_authorized(authorization, None) is False
