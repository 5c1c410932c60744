"""The payments gRPC contract (``govplat.payments.v1.PaymentsService``) over a real
grpc.aio server in-process: the REST API's rules, the principal's account, paging."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from govkit.principal import HEADER
from govplat.payments.v1 import payments_service_pb2 as pb


def auth(pay, **overrides):
    return ((HEADER.lower(), pay.principal("test", **overrides)),)


def reason_of(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None, error
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    raise AssertionError("no ErrorInfo")


def new(**fields) -> pb.CreatePaymentRequest:
    values = dict(
        amount=1250,
        reference="REF-1",
        description="Dog licence",
        return_url="https://agency.example/return",
    )
    values.update(fields)
    return pb.CreatePaymentRequest(**values)


async def test_a_payment_created_over_grpc_is_the_one_the_rest_api_reads(stub, pay):
    created = await stub.CreatePayment(
        new(email="a@example.com", metadata={"code": "X1"}), metadata=auth(pay)
    )
    payment = created.payment
    assert payment.state.status == "created" and not payment.state.finished
    assert created.next_url.startswith("http://gateway.test/pay/secure/")
    assert payment.service_id == pay.service_id
    read = await pay.read(payment.payment_id)
    assert read["amount"] == payment.amount == 1250
    assert read["metadata"] == {"code": "X1"}
    got = await stub.GetPayment(
        pb.GetPaymentRequest(payment_id=payment.payment_id), metadata=auth(pay)
    )
    assert got.payment == payment


async def test_a_request_id_makes_create_idempotent_and_another_body_is_refused(stub, pay):
    first = await stub.CreatePayment(new(request_id="order-7"), metadata=auth(pay))
    again = await stub.CreatePayment(new(request_id="order-7"), metadata=auth(pay))
    assert first.payment.payment_id == again.payment.payment_id
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await stub.CreatePayment(new(request_id="order-7", amount=99), metadata=auth(pay))
    assert reused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert reason_of(reused.value) == "P0191"


async def test_pays_rules_hold_over_grpc(stub, pay):
    cases = [
        (new(amount=0), grpc.StatusCode.INVALID_ARGUMENT, "P0102"),
        (new(amount=10_000_001), grpc.StatusCode.INVALID_ARGUMENT, "P0102"),
        (new(reference=""), grpc.StatusCode.INVALID_ARGUMENT, "P0101"),
        (new(reference="a|b"), grpc.StatusCode.INVALID_ARGUMENT, "P0102"),
        (new(language="fr"), grpc.StatusCode.INVALID_ARGUMENT, "P0102"),
    ]
    for request, code, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreatePayment(request, metadata=auth(pay))
        assert refused.value.code() == code, request
        assert reason_of(refused.value) == reason, request


async def test_the_principal_decides_the_account(stub, pay):
    mine = await stub.CreatePayment(new(), metadata=auth(pay))
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await stub.GetPayment(pb.GetPaymentRequest(payment_id=mine.payment.payment_id))
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as other_service:
        await stub.GetPayment(
            pb.GetPaymentRequest(payment_id=mine.payment.payment_id, service_id="someone-else"),
            metadata=auth(pay),
        )
    assert other_service.value.code() == grpc.StatusCode.PERMISSION_DENIED
    stranger = "0b0b0b0b-0000-4000-8000-000000000000"
    with pytest.raises(grpc.aio.AioRpcError) as not_theirs:
        await stub.GetPayment(
            pb.GetPaymentRequest(payment_id=mine.payment.payment_id),
            metadata=auth(pay, service_id=stranger),
        )
    assert not_theirs.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as live_key:
        await stub.GetPayment(
            pb.GetPaymentRequest(payment_id=mine.payment.payment_id),
            metadata=((HEADER.lower(), pay.principal("live")),),
        )
    assert live_key.value.code() == grpc.StatusCode.NOT_FOUND


async def test_payments_and_refunds_are_listed_page_by_page(stub, pay):
    made = [
        (await stub.CreatePayment(new(reference="PAGED"), metadata=auth(pay))).payment.payment_id
        for _ in range(5)
    ]
    seen, token = [], ""
    while True:
        page = await stub.ListPayments(
            pb.ListPaymentsRequest(page_size=2, page_token=token, reference="PAGED"),
            metadata=auth(pay),
        )
        seen += [p.payment_id for p in page.payments]
        assert len(page.payments) <= 2
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(made)
    with pytest.raises(grpc.aio.AioRpcError) as bad_token:
        await stub.ListPayments(pb.ListPaymentsRequest(page_token="!!"), metadata=auth(pay))
    assert bad_token.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    created = await pay.create(amount=900)
    await pay.take(created)
    async with pay.http() as api:
        for amount in (100, 200, 300):
            answer = await api.post(
                f"/v1/payments/{created['payment_id']}/refunds", json={"amount": amount}
            )
            assert answer.status_code == 202
    first = await stub.ListRefunds(
        pb.ListRefundsRequest(payment_id=created["payment_id"], page_size=2), metadata=auth(pay)
    )
    rest = await stub.ListRefunds(
        pb.ListRefundsRequest(
            payment_id=created["payment_id"], page_size=2, page_token=first.next_page_token
        ),
        metadata=auth(pay),
    )
    amounts = [r.amount for r in first.refunds] + [r.amount for r in rest.refunds]
    assert sorted(amounts) == [100, 200, 300] and not rest.next_page_token
    one = await stub.GetRefund(
        pb.GetRefundRequest(payment_id=created["payment_id"], refund_id=first.refunds[0].refund_id),
        metadata=auth(pay),
    )
    assert one.refund.status == "success"
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetRefund(
            pb.GetRefundRequest(payment_id=created["payment_id"], refund_id="nope"),
            metadata=auth(pay),
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
