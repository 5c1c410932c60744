"""API keys, Notify JWTs and the admin APIs."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import grpc
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import select

from govkit.db import utcnow
from govkit.testing.grpc import grpc_channel
from govplat.identity.v1 import identity_service_pb2 as pb
from govplat.identity.v1 import identity_service_pb2_grpc
from identity import grpc_api
from identity.errors import CredentialError, NotifyAuthError
from identity.models import ApiKey
from identity.service import credentials

from .conftest import Identity

ADMIN = {"Authorization": "Bearer " + "a" * 40}


async def new_key(
    identity: Identity, api: str, key_type: str = "test", service_id: str | None = None
):
    async with identity.context.db.write() as session:
        return await credentials.create_api_key(
            session,
            identity.context.box,
            service_id=service_id or identity.service_id,
            name="My key",
            api=api,
            key_type=key_type,
        )


def notify_token(key_string: str, **claims) -> str:
    """What notifications-python-client sends: HS256, iss = service id, iat = now."""
    service_id, secret = key_string[-73:-37], key_string[-36:]
    body = {"iss": service_id, "iat": int(time.time())}
    body.update(claims)
    return jwt.encode(
        {"typ": "JWT", "alg": "HS256"},
        {k: v for k, v in body.items() if v is not None},
        OctKey.import_key(secret),
    )


async def verify_notify(identity: Identity, token: str):
    async with identity.context.db.read() as session:
        return await credentials.verify_notify_jwt(session, identity.context.box, token=token)


async def test_a_notify_key_has_notifys_format_and_its_jwt_gives_the_principal(identity):
    stored, key_string = await new_key(identity, "notify", "team")
    assert key_string.startswith("my_key-") and key_string[-73:-37] == identity.service_id
    assert str(uuid.UUID(key_string[-36:])) == key_string[-36:]
    assert (
        key_string[-36:] not in (stored.secret_encrypted or "")
        and stored.secret_hash != key_string[-36:]
    )

    principal = await verify_notify(identity, notify_token(key_string))

    assert (principal.service_id, principal.key_type, principal.api) == (
        identity.service_id,
        "team",
        "notify",
    )
    assert (
        principal.organisation_id == identity.organisation_id
        and principal.credential_id == stored.id
    )


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"iss": None}, "Invalid token: iss field not provided"),
        ({"iss": "not-a-uuid"}, "Invalid token: service id is not the right data type"),
        ({"iss": str(uuid.UUID(int=7))}, "Invalid token: service not found"),
        (
            {"iat": -31},
            "Error: Your system clock must be accurate to within 30 seconds",
        ),
        (
            {"iat": 31},
            "Error: Your system clock must be accurate to within 30 seconds",
        ),
        ({"iat": None}, "Invalid token: API key not found"),
    ],
    ids=["no-iss", "iss-not-uuid", "unknown-service", "iat-old", "iat-future", "no-iat"],
)
async def test_a_bad_notify_token_gets_notifys_own_message(identity, claims, message):
    _, key_string = await new_key(identity, "notify")
    if isinstance(claims.get("iat"), int):
        claims = {"iat": int(time.time()) + claims["iat"]}  # an offset from now, in seconds
    with pytest.raises(NotifyAuthError) as refused:
        await verify_notify(identity, notify_token(key_string, **claims))
    assert refused.value.message == message and refused.value.status == 403


async def test_a_notify_token_signed_with_another_secret_or_algorithm_is_refused(identity):
    _, key_string = await new_key(identity, "notify")
    forged = key_string[:-36] + str(uuid.uuid4())
    with pytest.raises(NotifyAuthError) as wrong_secret:
        await verify_notify(identity, notify_token(forged))
    assert wrong_secret.value.message == "Invalid token: API key not found"
    hs512 = jwt.encode(
        {"alg": "HS512"},
        {"iss": identity.service_id, "iat": int(time.time())},
        OctKey.import_key(key_string[-36:]),
        algorithms=["HS512"],
    )
    with pytest.raises(NotifyAuthError) as wrong_alg:
        await verify_notify(identity, hs512)
    assert wrong_alg.value.message == "Invalid token: algorithm used is not HS256"
    with pytest.raises(NotifyAuthError) as garbage:
        await verify_notify(identity, "not a jwt")
    assert garbage.value.message.startswith(
        "Invalid token: make sure your API token matches the example"
    )


async def test_any_of_a_services_keys_is_tried_and_a_revoked_key_is_reported_as_revoked(identity):
    first, first_string = await new_key(identity, "notify", "live")
    _, second_string = await new_key(identity, "notify", "test")
    assert (await verify_notify(identity, notify_token(second_string))).key_type == "test"
    assert (await verify_notify(identity, notify_token(first_string))).key_type == "live"
    async with identity.context.db.write() as session:
        await credentials.revoke_api_key(session, identity.context, api_key_id=first.id)
    with pytest.raises(NotifyAuthError) as refused:
        await verify_notify(identity, notify_token(first_string))
    assert refused.value.message == "Invalid token: API key revoked"
    async with identity.context.db.write() as session:
        key = await session.get(ApiKey, first.id)
        key.revoked_at = utcnow() - timedelta(days=8)
    with pytest.raises(NotifyAuthError) as old:
        await verify_notify(identity, notify_token(first_string))
    assert old.value.message == "Invalid token: API key not found"


async def test_a_service_without_notify_keys_says_so(identity):
    async with identity.context.db.write() as session:
        service = await credentials.create_service(
            session, organisation_id=identity.organisation_id, name="Empty"
        )
    token = jwt.encode(
        {"alg": "HS256"}, {"iss": service.id, "iat": int(time.time())}, OctKey.import_key("x" * 36)
    )
    with pytest.raises(NotifyAuthError) as refused:
        await verify_notify(identity, token)
    assert refused.value.message == "Invalid token: service has no API keys"


async def test_a_payments_key_is_prefixed_stored_as_a_hash_and_stops_working_when_revoked(identity):
    stored, key_string = await new_key(identity, "payments", "live")
    assert key_string.startswith("api_live_") and len(key_string) > 40
    assert stored.secret_encrypted is None and key_string not in stored.secret_hash
    async with identity.context.db.read() as session:
        principal = await credentials.verify_payments_key(session, key=key_string)
        rows = (await session.scalars(select(ApiKey.secret_hash))).all()
    assert (
        principal.api == "payments"
        and principal.key_type == "live"
        and "payments:write" in principal.scopes
    )
    assert all(key_string not in row for row in rows)
    async with identity.context.db.write() as session:
        await credentials.revoke_api_key(session, identity.context, api_key_id=stored.id)
    for presented in (
        key_string,
        key_string[:-1] + "x",
        "api_live_short",
        "",
        "Bearer " + key_string,
    ):
        async with identity.context.db.read() as session:
            with pytest.raises(CredentialError):
                await credentials.verify_payments_key(session, key=presented)


async def test_team_keys_exist_only_for_notify(identity):
    from govkit.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError):
        await new_key(identity, "payments", "team")


async def test_the_admin_rest_api_needs_the_operator_token_and_manages_agencies_keys_and_clients(
    identity,
):
    async with identity.http() as http:
        assert (
            await http.post("/admin/identity/organisations", json={"name": "Nope"})
        ).status_code == 401
        wrong = await http.post(
            "/admin/identity/organisations",
            json={"name": "Nope"},
            headers={"Authorization": "Bearer wrong"},
        )
        assert wrong.status_code == 401
        organisation = (
            await http.post(
                "/admin/identity/organisations", json={"name": "Agency A"}, headers=ADMIN
            )
        ).json()
        duplicate = await http.post(
            "/admin/identity/organisations", json={"name": "Agency A"}, headers=ADMIN
        )
        assert duplicate.status_code == 409 and duplicate.json()["error"] == "ORGANISATION_EXISTS"
        unknown_field = await http.post(
            "/admin/identity/organisations", json={"name": "B", "x": 1}, headers=ADMIN
        )
        assert (
            unknown_field.status_code == 400 and unknown_field.json()["error"] == "INVALID_REQUEST"
        )
        service = (
            await http.post(
                f"/admin/identity/organisations/{organisation['id']}/services",
                json={"name": "Licences"},
                headers=ADMIN,
            )
        ).json()
        created = await http.post(
            f"/admin/identity/services/{service['id']}/api-keys",
            json={"name": "ci", "api": "payments", "key_type": "test"},
            headers=ADMIN,
        )
        assert created.status_code == 201 and created.json()["key"].startswith("api_test_")
        listed = (
            await http.get(f"/admin/identity/services/{service['id']}/api-keys", headers=ADMIN)
        ).json()["api_keys"]
        assert [k["id"] for k in listed] == [created.json()["id"]] and "key" not in listed[0]
        revoked = await http.post(
            f"/admin/identity/api-keys/{created.json()['id']}/revoke", headers=ADMIN
        )
        assert revoked.json()["revoked_at"] is not None
        missing = await http.post(f"/admin/identity/api-keys/{uuid.uuid4()}/revoke", headers=ADMIN)
        assert missing.status_code == 404
        client = await http.post(
            "/admin/identity/oauth-clients",
            json={
                "organisation_id": organisation["id"],
                "name": "RP",
                "auth_method": "client_secret_basic",
                "redirect_uris": ["https://rp.example/cb"],
                "scopes": ["openid"],
                "grant_types": ["authorization_code"],
            },
            headers=ADMIN,
        )
        assert client.status_code == 201 and client.json()["client_secret"]
        insecure = await http.post(
            "/admin/identity/oauth-clients",
            json={
                "organisation_id": organisation["id"],
                "name": "Bad",
                "auth_method": "client_secret_basic",
                "redirect_uris": ["http://rp.example/cb"],
                "grant_types": ["authorization_code"],
            },
            headers=ADMIN,
        )
        assert insecure.status_code == 400 and insecure.json()["error"] == "INVALID_REDIRECT_URI"


async def test_the_admin_api_refuses_nul_and_lone_surrogates_in_bodies_queries_and_paths(
    identity,
):
    """PostgreSQL cannot store a NUL in text and UTF-8 has no lone surrogates: each is
    the caller's mistake (400 in the admin format), never a database error (500)."""
    async with identity.http() as http:
        answers = [
            await http.get(
                "/admin/identity/services", params={"organisation_id": "a\x00b"}, headers=ADMIN
            ),
            await http.post(
                "/admin/identity/oauth-clients",
                content=b'{"auth_method": "client_secret_basic", "name": "x",'
                b' "organisation_id": "\\ud800x"}',
                headers={**ADMIN, "Content-Type": "application/json"},
            ),
            await http.post(
                "/admin/identity/organisations", json={"name": "Agency\x00"}, headers=ADMIN
            ),
            await http.get("/admin/identity/organisations/a%00b/oauth-clients", headers=ADMIN),
            await http.post(
                "/admin/identity/oauth-clients",
                json={
                    "auth_method": "client_secret_basic",
                    "name": "x",
                    "organisation_id": "o",
                    "scopes": ["openid", "x\x00"],
                },
                headers=ADMIN,
            ),
        ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "INVALID_REQUEST"
        assert "NUL" in answer.json()["message"]


@pytest.fixture
async def stub(identity):
    registrar = grpc_api.registrar(identity.context, identity.keys)
    async with grpc_channel("identity", registrar, [grpc_api.SERVICE_NAME]) as channel:
        yield identity_service_pb2_grpc.IdentityServiceStub(channel)


async def test_the_grpc_admin_api_needs_the_operator_token_and_verification_gives_principals(
    identity, stub
):
    operator = (("authorization", "Bearer " + "a" * 40),)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.CreateOrganisation(pb.CreateOrganisationRequest(name="X"))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    organisation = (
        await stub.CreateOrganisation(
            pb.CreateOrganisationRequest(name="gRPC agency"), metadata=operator
        )
    ).organisation
    service = (
        await stub.CreateService(
            pb.CreateServiceRequest(organisation_id=organisation.id, name="S"), metadata=operator
        )
    ).service
    created = await stub.CreateApiKey(
        pb.CreateApiKeyRequest(
            service_id=service.id, name="k", api=pb.API_NOTIFY, key_type=pb.KEY_TYPE_TEST
        ),
        metadata=operator,
    )
    principal = (
        await stub.VerifyNotifyJwt(pb.VerifyNotifyJwtRequest(token=notify_token(created.key)))
    ).principal
    assert (principal.service_id, principal.key_type, principal.api) == (
        service.id,
        pb.KEY_TYPE_TEST,
        "notify",
    )
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.VerifyNotifyJwt(
            pb.VerifyNotifyJwtRequest(token=notify_token(created.key, iat=int(time.time()) - 100))
        )
    assert bad.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert bad.value.details() == "Error: Your system clock must be accurate to within 30 seconds"
    pay = await stub.CreateApiKey(
        pb.CreateApiKeyRequest(
            service_id=service.id, name="p", api=pb.API_PAYMENTS, key_type=pb.KEY_TYPE_LIVE
        ),
        metadata=operator,
    )
    assert (
        await stub.VerifyApiKey(pb.VerifyApiKeyRequest(key=pay.key))
    ).principal.key_type == pb.KEY_TYPE_LIVE
    await stub.RevokeApiKey(pb.RevokeApiKeyRequest(api_key_id=pay.api_key.id), metadata=operator)
    with pytest.raises(grpc.aio.AioRpcError) as revoked:
        await stub.VerifyApiKey(pb.VerifyApiKeyRequest(key=pay.key))
    assert revoked.value.code() == grpc.StatusCode.UNAUTHENTICATED
    listed = (
        await stub.ListOrganisations(pb.ListOrganisationsRequest(page_size=1), metadata=operator)
    ).organisations
    assert len(listed) == 1


async def test_a_notify_token_with_a_non_finite_iat_or_exp_is_refused(identity):
    _, key_string = await new_key(identity, "notify")
    secret = OctKey.import_key(key_string[-36:])
    for claims in ('{"iss":"%s","iat":NaN}', '{"iss":"%s","iat":%d,"exp":NaN}'):
        text = claims % (
            (identity.service_id,)
            if "exp" not in claims
            else (identity.service_id, int(time.time()))
        )
        from joserfc import jws

        token = jws.serialize_compact({"alg": "HS256", "typ": "JWT"}, text.encode(), secret)
        with pytest.raises(NotifyAuthError):
            await verify_notify(identity, token)


@pytest.mark.parametrize(
    "form", ["{%s}", "urn:uuid:%s", "UPPER"], ids=["braces", "urn", "upper-case"]
)
async def test_only_the_canonical_service_id_is_accepted_as_a_notify_issuer(identity, form):
    _, key_string = await new_key(identity, "notify")
    issuer = identity.service_id.upper() if form == "UPPER" else form % identity.service_id
    with pytest.raises(NotifyAuthError) as refused:
        await verify_notify(identity, notify_token(key_string, iss=issuer))
    assert refused.value.message == "Invalid token: service id is not the right data type"


async def test_a_huge_page_token_is_a_clear_400_and_names_with_control_characters_are_refused(
    identity,
):
    import base64

    huge = base64.urlsafe_b64encode(b"99999999999999999999999").decode()
    async with identity.http() as http:
        listed = await http.get(f"/admin/identity/organisations?page_token={huge}", headers=ADMIN)
        nul = await http.post(
            "/admin/identity/organisations", json={"name": "a\u0000b"}, headers=ADMIN
        )
        bidi = await http.post(
            "/admin/identity/organisations", json={"name": "a\u202eb"}, headers=ADMIN
        )
    assert listed.status_code == 400 and listed.json()["error"] == "INVALID_PAGE_TOKEN"
    assert nul.status_code == 400 and bidi.status_code == 400


async def test_redirect_uris_with_user_info_are_refused(identity):
    from govkit.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError):
        await identity.client(redirect_uris=["https://good.example@evil.example/cb"])
