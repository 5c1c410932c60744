"""Journey 4, end to end on the real platform (``govplat up``, real NATS): a
notification's delivery status reaches the agency's callback URL, as GOV.UK Notify
sends it (``POST`` with ``Authorization: Bearer <the service's token>`` and the
notification's ``id``, ``reference``, ``to``, ``status``, times, type and template).

The agency is onboarded fresh (identity's admin gRPC API for the service and its
Notify keys, notify's admin API for its templates and callback) and sends with the
official ``notifications-python-client``. With a test key, as in Notify's research
mode, the status is simulated and the callback still fires (``delivered``, and
``permanent-failure`` for a text message to a number ending 7700900002); with a live
key the email goes to a real SMTP server (aiosmtpd) and the callback follows the
provider's answer. The receiver is a real HTTP server on 127.0.0.1. Nothing of the
recipients, the personalisation or the credentials is in a log line or a span.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from notifications_python_client.notifications import NotificationsAPIClient

from govkit.nats_server import free_port
from govkit.testing import database_backends
from govkit.testing.platform import start_platform
from govkit.testing.privacy import findings
from govplat_cli.demo import WebhookReceiver
from govplat_cli.identity_admin import IdentityAdmin
from govplat_cli.notify_admin import NotifyAdmin

NOTIFY_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
CALLBACK_KEYS = {
    "id",
    "reference",
    "to",
    "status",
    "created_at",
    "completed_at",
    "sent_at",
    "notification_type",
    "template_id",
    "template_version",
}


class CallbackAgency:
    """A fresh service with Notify test and live keys, an email and a text message
    template, and its delivery-status callback set to ``callback_url`` with a bearer
    token of its own."""

    def __init__(self, platform, callback_url: str) -> None:
        self.platform = platform
        admin_token = platform.secrets()["identity_admin_token"]
        with IdentityAdmin(f"127.0.0.1:{platform.grpc['identity']}", admin_token) as admin:
            self.service_id, self.keys = admin.new_service(
                f"Council {uuid.uuid4()}",
                "Bin collections",
                {"test": ("notify", "test"), "live": ("notify", "live")},
            )
        self.callback_token = "cb-" + secrets.token_urlsafe(24)
        with NotifyAdmin(platform.gateway_url, admin_token) as notify:
            notify.call(
                "PUT",
                f"/services/{self.service_id}",
                {
                    "name": "Bin collections",
                    "callback_url": callback_url,
                    "callback_bearer_token": self.callback_token,
                },
            )
            settings = notify.call("GET", f"/services/{self.service_id}")
            assert settings["callback_url"] == callback_url
            assert settings["callback_bearer_token_set"] is True
            assert self.callback_token not in str(settings)
            self.email_template = notify.call(
                "POST",
                f"/services/{self.service_id}/templates",
                {
                    "type": "email",
                    "name": "Collection day",
                    "subject": "Your bins, ((name))",
                    "body": "Dear ((name)), your bins are collected on ((day)).",
                },
            )["id"]
            self.sms_template = notify.call(
                "POST",
                f"/services/{self.service_id}/templates",
                {"type": "sms", "name": "Collection text", "body": "((name)): bins on ((day))."},
            )["id"]

    def client(self, key_type: str) -> NotificationsAPIClient:
        return NotificationsAPIClient(self.keys[key_type], base_url=self.platform.gateway_url)


def callbacks_for(receiver: WebhookReceiver, notification_id: str, timeout: float = 30):
    """The callback about ``notification_id``, waiting for it."""
    return receiver.wait_for(lambda d: d.json().get("id") == notification_id, timeout)


def assert_is_the_callback(delivery, agency: CallbackAgency, sent: dict, **expected) -> dict:
    """A delivery-status callback in Notify's shape, with the agency's token."""
    assert delivery is not None, f"no callback for {sent['id']}"
    assert delivery.path == "/notify-status"
    assert delivery.headers["Authorization"] == f"Bearer {agency.callback_token}"
    assert delivery.headers["Content-Type"] == "application/json"
    body = delivery.json()
    assert set(body) == CALLBACK_KEYS
    assert body["template_id"] == sent["template"]["id"]
    assert body["template_version"] == sent["template"]["version"] == 1
    for key in ("created_at", "completed_at", "sent_at"):
        assert NOTIFY_TIME.match(body[key]), (key, body[key])
    for key, value in expected.items():
        assert body[key] == value, (key, body)
    return body


def assert_nothing_personal_in_the_logs(platform, values: list[str]) -> None:
    trace_file = platform.env.get("GOVPLAT_TRACE_FILE")
    leaks = findings(platform.data_dir, values, Path(trace_file) if trace_file else None)
    assert leaks == []


@pytest.fixture(scope="module")
def receiver():
    made = WebhookReceiver()
    yield made
    made.close()


def test_a_test_keys_simulated_statuses_reach_the_agencys_callback_url(running_platform, receiver):
    agency = CallbackAgency(running_platform, f"{receiver.origin}/notify-status")
    client = agency.client("test")
    email = client.send_email_notification(
        email_address="resident.journey4@example.org",
        template_id=agency.email_template,
        personalisation={"name": "Morwenna Trelawny", "day": "Tuesday"},
        reference="bins-email-1",
    )
    sms = client.send_sms_notification(
        phone_number="07700 900002",
        template_id=agency.sms_template,
        personalisation={"name": "Morwenna Trelawny", "day": "Tuesday"},
        reference="bins-sms-1",
    )

    assert_is_the_callback(
        callbacks_for(receiver, email["id"]),
        agency,
        email,
        reference="bins-email-1",
        to="resident.journey4@example.org",
        status="delivered",
        notification_type="email",
    )
    assert_is_the_callback(
        callbacks_for(receiver, sms["id"]),
        agency,
        sms,
        reference="bins-sms-1",
        to="07700 900002",
        status="permanent-failure",
        notification_type="sms",
    )
    # What the agency reads agrees with what it was called back with.
    assert client.get_notification_by_id(email["id"])["status"] == "delivered"
    assert client.get_notification_by_id(sms["id"])["status"] == "permanent-failure"
    time.sleep(1.0)  # a second callback for a final status would come within this
    for sent in (email, sms):
        assert len([d for d in receiver.deliveries if d.json()["id"] == sent["id"]]) == 1

    assert_nothing_personal_in_the_logs(
        running_platform,
        [
            "resident.journey4@example.org",
            "07700 900002",
            "+447700900002",
            "Morwenna Trelawny",
            agency.callback_token,
            *agency.keys.values(),
        ],
    )


class Mailbox:
    """A real SMTP server's (aiosmtpd's) received messages."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.mark.parametrize("backend", database_backends())
def test_a_live_emails_delivery_by_smtp_reaches_the_agencys_callback_url(
    tmp_path, backend, receiver
):
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    platform = start_platform(
        tmp_path,
        backend,
        extra_env={
            "GOVPLAT_NOTIFY_SMTP_HOST": "127.0.0.1",
            "GOVPLAT_NOTIFY_SMTP_PORT": str(smtp.port),
            "GOVPLAT_NOTIFY_SMTP_SECURITY": "none",
            "GOVPLAT_TRACE_FILE": str(tmp_path / "traces.jsonl"),
        },
    )
    try:
        agency = CallbackAgency(platform, f"{receiver.origin}/notify-status")
        sent = agency.client("live").send_email_notification(
            email_address="householder.live@example.org",
            template_id=agency.email_template,
            personalisation={"name": "Tegwen Pritchard", "day": "Friday"},
            reference="bins-live-1",
        )
        body = assert_is_the_callback(
            callbacks_for(receiver, sent["id"]),
            agency,
            sent,
            reference="bins-live-1",
            to="householder.live@example.org",
            status="delivered",
            notification_type="email",
        )
        # The callback came after the SMTP server took the message.
        assert [e.rcpt_tos for e in mailbox.envelopes] == [["householder.live@example.org"]]
        assert body["sent_at"] <= body["completed_at"]

        assert_nothing_personal_in_the_logs(
            platform,
            [
                "householder.live@example.org",
                "Tegwen Pritchard",
                agency.callback_token,
                *agency.keys.values(),
            ],
        )
    finally:
        platform.stop()
        smtp.stop()
