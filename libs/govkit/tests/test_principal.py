"""The internal principal the gateway signs and services verify."""

from __future__ import annotations

import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, OKPKey

from govkit import principal as principal_module
from govkit.principal import (
    LIFETIME_SECONDS,
    REUSE_SECONDS,
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


def test_the_signer_hands_out_one_token_per_principal_and_component_for_ten_seconds(
    keys, monkeypatch
):
    signer, public = keys
    clock = [1_900_000_000.0]
    monkeypatch.setattr(principal_module.time, "time", lambda: clock[0])
    first = signer.sign(PRINCIPAL, "notify")
    assert signer.sign(PRINCIPAL, "notify") == first
    assert signer.sign(PRINCIPAL, "payments") != first
    other = Principal(organisation_id="org-1", service_id="svc-2", key_type="test")
    assert signer.sign(other, "notify") != first
    clock[0] += REUSE_SECONDS - 1
    assert signer.sign(PRINCIPAL, "notify") == first
    clock[0] += 1
    renewed = signer.sign(PRINCIPAL, "notify")
    assert renewed != first
    claims = jwt.decode(
        renewed, OKPKey.import_key(json.loads(public)), algorithms=["Ed25519"]
    ).claims
    assert claims["exp"] == int(clock[0]) + LIFETIME_SECONDS


def test_a_verified_principal_is_refused_once_it_has_expired(keys, monkeypatch):
    signer, public = keys
    clock = [1_900_000_000.0]
    monkeypatch.setattr(principal_module.time, "time", lambda: clock[0])
    token = signer.sign(PRINCIPAL, "notify")
    verifier = PrincipalVerifier(public, "notify")
    assert verifier.verify(token) == PRINCIPAL
    clock[0] += LIFETIME_SECONDS  # remembered: still inside its lifetime and leeway
    assert verifier.verify(token) == PRINCIPAL
    clock[0] += 3
    with pytest.raises(PrincipalError, match="expired"):
        verifier.verify(token)
    with pytest.raises(PrincipalError):
        verifier.verify(token)


def test_a_refused_token_is_refused_every_time(keys):
    signer, public = keys
    verifier = PrincipalVerifier(public, "payments")
    token = signer.sign(PRINCIPAL, "notify")
    for _ in range(3):
        with pytest.raises(PrincipalError):
            verifier.verify(token)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    notify = PrincipalVerifier(public, "notify")
    assert notify.verify(token) == PRINCIPAL
    with pytest.raises(PrincipalError):
        notify.verify(tampered)


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
