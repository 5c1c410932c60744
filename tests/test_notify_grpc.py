"""Notify's gRPC contract, through the gateway's gRPC edge with a Notify key."""

from __future__ import annotations

import uuid

import grpc
import pytest

from govkit.testing.platform import notify_token
from govplat.notify.v1 import notify_service_pb2 as pb
from govplat.notify.v1 import notify_service_pb2_grpc


@pytest.fixture
def notify_stub(running_platform):
    with grpc.insecure_channel(f"127.0.0.1:{running_platform.grpc['gateway']}") as channel:
        yield notify_service_pb2_grpc.NotifyServiceStub(channel)


def metadata(platform) -> tuple:
    return (("authorization", f"Bearer {notify_token(platform.credentials()['notify_api_key'])}"),)


def test_a_text_message_sent_over_grpc_is_read_back_and_a_retry_with_its_request_id_sends_nothing_more(
    running_platform, notify_stub
):
    credentials = running_platform.credentials()
    request = pb.SendSmsRequest(
        request_id=str(uuid.uuid4()),
        template_id=credentials["notify_sms_template_id"],
        phone_number="07700 900123",
        personalisation={"name": "gRPC"},
        reference="grpc-1",
    )
    first = notify_stub.SendSms(
        request, metadata=metadata(running_platform), timeout=10
    ).notification
    again = notify_stub.SendSms(
        request, metadata=metadata(running_platform), timeout=10
    ).notification
    assert first.id == again.id
    assert first.type == pb.NOTIFICATION_TYPE_SMS and first.reference == "grpc-1"
    got = notify_stub.GetNotification(
        pb.GetNotificationRequest(notification_id=first.id),
        metadata=metadata(running_platform),
        timeout=10,
    ).notification
    assert got.id == first.id and got.template_id == credentials["notify_sms_template_id"]
    listed = notify_stub.ListNotifications(
        pb.ListNotificationsRequest(reference="grpc-1"),
        metadata=metadata(running_platform),
        timeout=10,
    )
    assert [n.id for n in listed.notifications] == [first.id]


def test_grpc_refusals_carry_notifys_reason_and_other_services_are_out_of_reach(
    running_platform, notify_stub
):
    credentials = running_platform.credentials()
    with pytest.raises(grpc.RpcError) as invalid:
        notify_stub.SendEmail(
            pb.SendEmailRequest(
                template_id=credentials["notify_email_template_id"], email_address="nope"
            ),
            metadata=metadata(running_platform),
            timeout=10,
        )
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "email_address Not a valid email address" in invalid.value.details()
    with pytest.raises(grpc.RpcError) as other:
        notify_stub.ListTemplates(
            pb.ListTemplatesRequest(service_id=str(uuid.uuid4())),
            metadata=metadata(running_platform),
            timeout=10,
        )
    assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
    templates = notify_stub.ListTemplates(
        pb.ListTemplatesRequest(type=pb.NOTIFICATION_TYPE_EMAIL),
        metadata=metadata(running_platform),
        timeout=10,
    ).templates
    assert {t.name for t in templates} >= {"Sandbox email", "Payment receipt"}
    assert all(t.type == pb.NOTIFICATION_TYPE_EMAIL for t in templates)
