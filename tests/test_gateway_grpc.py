"""The gateway's gRPC edge forwards calls to each component with authentication enforced."""

from __future__ import annotations

import grpc
import pytest

from govkit.principal import Principal, PrincipalSigner
from govkit.testing.platform import notify_token
from govplat.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from govplat.notify.v1 import notify_service_pb2, notify_service_pb2_grpc
from govplat.payments.v1 import payments_service_pb2, payments_service_pb2_grpc
from govplat.registers.v1 import registers_service_pb2, registers_service_pb2_grpc


def access_token(platform) -> str:
    import httpx

    credentials = platform.credentials()
    answer = httpx.post(
        f"{platform.gateway_url}/token",
        data={"grant_type": "client_credentials", "scope": "registers:write:country"},
        auth=(credentials["oauth_client_id"], credentials["oauth_client_secret"]),
        timeout=10,
    )
    return answer.json()["access_token"]


@pytest.fixture
def edge(running_platform):
    with grpc.insecure_channel(f"127.0.0.1:{running_platform.grpc['gateway']}") as channel:
        yield channel


def calls(platform):
    """(stub call, request, credential) for each component reachable through the edge."""
    credentials = platform.credentials()
    return {
        "notify": (
            lambda ch: notify_service_pb2_grpc.NotifyServiceStub(ch).GetNotification,
            notify_service_pb2.GetNotificationRequest(),
            notify_token(credentials["notify_api_key"]),
        ),
        "payments": (
            lambda ch: payments_service_pb2_grpc.PaymentsServiceStub(ch).GetPayment,
            payments_service_pb2.GetPaymentRequest(),
            credentials["pay_api_key"],
        ),
        "registers": (
            lambda ch: registers_service_pb2_grpc.RegistersServiceStub(ch).GetRegister,
            registers_service_pb2.GetRegisterRequest(),
            access_token(platform),
        ),
    }


@pytest.mark.parametrize("component", ["notify", "payments", "registers"])
def test_a_call_without_a_credential_is_refused_and_with_one_reaches_the_component(
    running_platform, edge, component
):
    rpc, request, credential = calls(running_platform)[component]
    with pytest.raises(grpc.RpcError) as refused:
        rpc(edge)(request, timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as wrong:
        rpc(edge)(request, metadata=(("authorization", "Bearer nonsense"),), timeout=10)
    assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED

    with pytest.raises(grpc.RpcError) as reached:
        rpc(edge)(request, metadata=(("authorization", f"Bearer {credential}"),), timeout=10)
    # The component itself answers (an empty request is refused, or the RPC is not
    # built yet): the same answer as a direct call with a principal signed for it.
    signer = PrincipalSigner(running_platform.secrets()["principal_private_key"])
    credentials = running_platform.credentials()
    principal = Principal(
        organisation_id=credentials["sandbox_agency_id"],
        service_id=credentials["sandbox_service_id"],
        key_type="test",
        scopes=("notify:send", "notify:read", "payments:read", "payments:write"),
        api={"registers": "oauth"}.get(component, component),
    )
    address = f"127.0.0.1:{running_platform.grpc[component]}"
    with grpc.insecure_channel(address) as direct, pytest.raises(grpc.RpcError) as answered:
        rpc(direct)(
            request,
            metadata=(("x-govplat-principal", signer.sign(principal, component)),),
            timeout=10,
        )
    assert reached.value.code() != grpc.StatusCode.UNAUTHENTICATED
    assert (reached.value.code(), reached.value.details()) == (
        answered.value.code(),
        answered.value.details(),
    )


def test_identitys_internal_rpcs_are_not_exposed_on_the_edge(running_platform, edge):
    stub = identity_service_pb2_grpc.IdentityServiceStub(edge)
    with pytest.raises(grpc.RpcError) as hidden:
        stub.VerifyApiKey(identity_service_pb2.VerifyApiKeyRequest(key="x"), timeout=10)
    assert hidden.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert hidden.value.details() != "Method not implemented!"
