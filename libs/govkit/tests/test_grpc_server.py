"""The components' gRPC server (``govkit.grpc_server.GrpcServer``), served for
real on a loopback port: health checking, reflection and error mapping."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from govkit.errors import InvalidArgumentError, NotFoundError
from govkit.grpc_server import GrpcServer
from govkit.nats_server import free_port
from govplat.payments.v1 import payments_service_pb2, payments_service_pb2_grpc

SERVICE_NAME = payments_service_pb2.DESCRIPTOR.services_by_name["PaymentsService"].full_name
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class FailingPayments(payments_service_pb2_grpc.PaymentsServiceServicer):
    """A payments servicer whose calls fail the ways real handlers can."""

    async def GetPayment(self, request, context):
        raise NotFoundError(
            "PAYMENT_NOT_FOUND", "No payment matches", metadata={"payment_id": request.payment_id}
        )

    async def ListPayments(self, request, context):
        raise RuntimeError("secret internal detail")

    async def CreatePayment(self, request, context):
        raise InvalidArgumentError("AMOUNT_TOO_SMALL", "The amount must be at least 1 penny")

    async def GetRefund(self, request, context):
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "handler chose this status")


def register(server: grpc.aio.Server) -> None:
    payments_service_pb2_grpc.add_PaymentsServiceServicer_to_server(FailingPayments(), server)


@pytest.fixture
async def server() -> AsyncIterator[GrpcServer]:
    """A started ``GrpcServer`` for the payments component on a free loopback port."""
    grpc_server = GrpcServer(
        component="payments",
        address=f"127.0.0.1:{free_port()}",
        register=register,
        service_names=[SERVICE_NAME],
    )
    await grpc_server.start()
    yield grpc_server
    await grpc_server.server.stop(None)


@pytest.fixture
async def channel(server: GrpcServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


async def health_status(channel: grpc.aio.Channel, service: str) -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=5
    )
    return reply.status


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    status = rpc_status.from_call(error)
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


# -- health ------------------------------------------------------------------------


async def test_a_started_server_reports_serving_overall_and_for_each_service(
    channel: grpc.aio.Channel,
) -> None:
    assert await health_status(channel, "") == SERVING
    assert await health_status(channel, SERVICE_NAME) == SERVING


async def test_a_service_the_server_does_not_have_is_unknown_to_health_checks(
    channel: grpc.aio.Channel,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as excinfo:
        await health_status(channel, "govplat.nothing.v1.NothingService")

    assert excinfo.value.code() == grpc.StatusCode.NOT_FOUND


async def test_stopping_reports_not_serving_to_health_watchers_before_the_server_goes(
    server: GrpcServer, channel: grpc.aio.Channel
) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    overall = stub.Watch(health_pb2.HealthCheckRequest(service=""))
    service = stub.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
    assert (await overall.read()).status == SERVING
    assert (await service.read()).status == SERVING

    stopping = asyncio.create_task(server.stop(grace=1.0))

    assert (await asyncio.wait_for(overall.read(), timeout=5)).status == NOT_SERVING
    assert (await asyncio.wait_for(service.read(), timeout=5)).status == NOT_SERVING
    await asyncio.wait_for(stopping, timeout=10)


async def test_a_stopped_server_reports_not_serving_from_its_health_servicer(
    server: GrpcServer,
) -> None:
    await server.stop(grace=0)

    for name in ("", SERVICE_NAME):
        reply = await server.health.Check(health_pb2.HealthCheckRequest(service=name), None)
        assert reply.status == NOT_SERVING


async def test_a_server_told_it_is_shutting_down_answers_not_serving_while_still_up(
    server: GrpcServer, channel: grpc.aio.Channel
) -> None:
    await server.not_serving()

    assert await health_status(channel, "") == NOT_SERVING
    assert await health_status(channel, SERVICE_NAME) == NOT_SERVING


async def test_the_server_listens_on_the_port_it_reports(server: GrpcServer) -> None:
    assert server.address.endswith(f":{server.port}")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=5)


async def test_a_server_whose_port_is_taken_says_so_when_built() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises((OSError, RuntimeError), match=str(port)):
            GrpcServer(component="payments", address=f"127.0.0.1:{port}", register=register)


# -- reflection --------------------------------------------------------------------


async def test_reflection_lists_the_registered_service_and_health(
    channel: grpc.aio.Channel,
) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    await call.done_writing()
    reply = await asyncio.wait_for(call.read(), timeout=5)

    names = {service.name for service in reply.list_services_response.service}
    assert SERVICE_NAME in names
    assert "grpc.health.v1.Health" in names


async def test_reflection_describes_the_service_contract(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE_NAME))
    await call.done_writing()
    reply = await asyncio.wait_for(call.read(), timeout=5)

    assert not reply.HasField("error_response")
    assert reply.file_descriptor_response.file_descriptor_proto


async def test_reflection_is_absent_when_disabled() -> None:
    grpc_server = GrpcServer(
        component="payments",
        address=f"127.0.0.1:{free_port()}",
        register=register,
        service_names=[SERVICE_NAME],
        reflection_enabled=False,
    )
    await grpc_server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.port}") as channel:
            call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo()
            # The refusal may come back while writing or while reading: it is a race, and
            # a write that loses it fails locally ("Internal error from Core"). The
            # call's own status is the server's answer either way.
            with pytest.raises(grpc.aio.AioRpcError):
                await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
                await call.done_writing()
                await asyncio.wait_for(call.read(), timeout=5)
            code = await asyncio.wait_for(call.code(), timeout=5)
        assert code == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await grpc_server.stop(grace=0)


# -- error mapping -----------------------------------------------------------------


async def test_a_not_found_domain_error_becomes_not_found_with_an_error_info_detail(
    channel: grpc.aio.Channel,
) -> None:
    stub = payments_service_pb2_grpc.PaymentsServiceStub(channel)

    with pytest.raises(grpc.aio.AioRpcError) as excinfo:
        await stub.GetPayment(
            payments_service_pb2.GetPaymentRequest(service_id="svc", payment_id="pay_123"),
            timeout=5,
        )

    assert excinfo.value.code() == grpc.StatusCode.NOT_FOUND
    assert excinfo.value.details() == "No payment matches"
    info = error_info(excinfo.value)
    assert info is not None
    assert info.reason == "PAYMENT_NOT_FOUND"
    assert info.domain == "govplat.payments"
    assert dict(info.metadata) == {"payment_id": "pay_123"}


async def test_an_invalid_argument_domain_error_keeps_its_own_status_code(
    channel: grpc.aio.Channel,
) -> None:
    stub = payments_service_pb2_grpc.PaymentsServiceStub(channel)

    with pytest.raises(grpc.aio.AioRpcError) as excinfo:
        await stub.CreatePayment(payments_service_pb2.CreatePaymentRequest(), timeout=5)

    assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = error_info(excinfo.value)
    assert info is not None
    assert (info.reason, info.domain) == ("AMOUNT_TOO_SMALL", "govplat.payments")


async def test_an_unexpected_exception_becomes_internal_without_its_detail(
    channel: grpc.aio.Channel,
) -> None:
    stub = payments_service_pb2_grpc.PaymentsServiceStub(channel)

    with pytest.raises(grpc.aio.AioRpcError) as excinfo:
        await stub.ListPayments(
            payments_service_pb2.ListPaymentsRequest(service_id="svc"), timeout=5
        )

    assert excinfo.value.code() == grpc.StatusCode.INTERNAL
    assert excinfo.value.details() == "internal error"
    everything_sent = (
        repr(excinfo.value)
        + str(excinfo.value.trailing_metadata())
        + str(rpc_status.from_call(excinfo.value))
    )
    assert "secret internal detail" not in everything_sent
    assert "RuntimeError" not in everything_sent
    assert "Traceback" not in everything_sent
    assert error_info(excinfo.value) is None


async def test_a_status_the_handler_chose_itself_reaches_the_caller_unchanged(
    channel: grpc.aio.Channel,
) -> None:
    stub = payments_service_pb2_grpc.PaymentsServiceStub(channel)

    with pytest.raises(grpc.aio.AioRpcError) as excinfo:
        await stub.GetRefund(payments_service_pb2.GetRefundRequest(), timeout=5)

    assert excinfo.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert excinfo.value.details() == "handler chose this status"


async def test_an_rpc_the_servicer_does_not_implement_answers_unimplemented(
    channel: grpc.aio.Channel,
) -> None:
    stub = payments_service_pb2_grpc.PaymentsServiceStub(channel)

    with pytest.raises(grpc.aio.AioRpcError) as excinfo:
        await stub.ListRefunds(payments_service_pb2.ListRefundsRequest(), timeout=5)

    assert excinfo.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_the_server_keeps_serving_after_a_handler_fails(channel: grpc.aio.Channel) -> None:
    stub = payments_service_pb2_grpc.PaymentsServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.ListPayments(payments_service_pb2.ListPaymentsRequest(), timeout=5)

    assert await health_status(channel, "") == SERVING


async def test_a_servicer_answers_unimplemented_for_rpcs_it_does_not_define() -> None:
    def register(server: grpc.aio.Server) -> None:
        payments_service_pb2_grpc.add_PaymentsServiceServicer_to_server(
            payments_service_pb2_grpc.PaymentsServiceServicer(), server
        )

    grpc_server = GrpcServer(
        component="payments",
        address=f"127.0.0.1:{free_port()}",
        register=register,
        service_names=[SERVICE_NAME],
    )
    await grpc_server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.port}") as channel:
            stub = payments_service_pb2_grpc.PaymentsServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as excinfo:
                await stub.GetPayment(
                    payments_service_pb2.GetPaymentRequest(payment_id="pay_1"), timeout=5
                )
        assert excinfo.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "NotImplementedError" not in (excinfo.value.details() or "")
    finally:
        await grpc_server.stop(grace=0)
