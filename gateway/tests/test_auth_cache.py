"""The gateway asks identity once per credential it has not cached, however many
requests carry that credential at the same moment (a gRPC identity that counts calls)."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from gateway.auth import Authenticator, Refusal
from govkit.nats_server import free_port
from govkit.principal import Principal
from govplat.identity.v1 import identity_service_pb2 as pb
from govplat.identity.v1 import identity_service_pb2_grpc


class CountingIdentity(identity_service_pb2_grpc.IdentityServiceServicer):
    """Answers ``VerifyNotifyJwt`` after ``delay`` seconds: ``good-*`` tokens are a
    live key of service ``svc-1``, anything else is refused."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: list[str] = []

    async def VerifyNotifyJwt(self, request, context):
        self.calls.append(request.token)
        await asyncio.sleep(self.delay)
        if not request.token.startswith("good-"):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "Invalid token: signature")
        return pb.VerifyNotifyJwtResponse(
            principal=pb.Principal(
                organisation_id="org-1",
                service_id="svc-1",
                key_type=pb.KEY_TYPE_LIVE,
                scopes=["notify:send"],
                credential_id="key-1",
                api="notify",
            )
        )


@pytest.fixture
async def identity():
    servicer = CountingIdentity(delay=0.2)
    server = grpc.aio.server()
    identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(servicer, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    authenticator = Authenticator(f"127.0.0.1:{port}", timeout=5.0)
    yield servicer, authenticator
    await authenticator.close()
    await server.stop(0)


async def test_concurrent_requests_with_a_new_credential_share_one_identity_call(identity):
    servicer, authenticator = identity
    outcomes = await asyncio.gather(*(authenticator.notify("Bearer good-1") for _ in range(32)))
    assert servicer.calls == ["good-1"]
    assert all(isinstance(outcome, Principal) for outcome in outcomes)
    assert {outcome.service_id for outcome in outcomes} == {"svc-1"}
    assert isinstance(await authenticator.notify("Bearer good-1"), Principal)  # cached
    assert servicer.calls == ["good-1"]


async def test_concurrent_requests_with_a_bad_credential_share_one_refusal(identity):
    servicer, authenticator = identity
    outcomes = await asyncio.gather(*(authenticator.notify("Bearer bad-1") for _ in range(8)))
    assert servicer.calls == ["bad-1"]
    assert all(isinstance(outcome, Refusal) for outcome in outcomes)
    assert {outcome.response.status_code for outcome in outcomes} == {403}


async def test_a_caller_that_gives_up_does_not_cancel_the_others_answer(identity):
    servicer, authenticator = identity
    impatient = asyncio.create_task(authenticator.notify("Bearer good-2"))
    patient = asyncio.create_task(authenticator.notify("Bearer good-2"))
    await asyncio.sleep(0.05)
    impatient.cancel()
    assert isinstance(await patient, Principal)
    assert impatient.cancelled()
    assert servicer.calls == ["good-2"]


async def test_different_credentials_are_each_asked_about(identity):
    servicer, authenticator = identity
    await asyncio.gather(
        authenticator.notify("Bearer good-a"), authenticator.notify("Bearer good-b")
    )
    assert sorted(servicer.calls) == ["good-a", "good-b"]
