"""GOV.UK Notify's official Python client (``notifications-python-client``, from PyPI)
works unchanged against govplat through the gateway, for every call it makes."""

from __future__ import annotations

import io
import time
import uuid

import pytest
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient

from govplat_cli.identity_admin import IdentityAdmin
from govplat_cli.notify_admin import NotifyAdmin
from notify.templating import letter


class Agency:
    """A fresh agency service with its own Notify keys and templates on the running platform."""

    def __init__(self, platform) -> None:
        self.platform = platform
        token = platform.secrets()["identity_admin_token"]
        with IdentityAdmin(f"127.0.0.1:{platform.grpc['identity']}", token) as admin:
            self.service_id, self.keys = admin.new_service(
                f"Agency {uuid.uuid4()}",
                "Licences",
                {"live": ("notify", "live"), "test": ("notify", "test")},
            )
        self.notify_admin = NotifyAdmin(platform.gateway_url, token)
        self.templates = {
            "sms": self.template("sms", "Hello ((name)), your reference is ((ref)).", name="Text"),
            "email": self.template(
                "email",
                "Dear ((name)),\n\n* one\n* two\n\n((extra??Extra text.))",
                subject="About ((ref))",
                name="Email",
            ),
            "letter": self.template(
                "letter",
                "Dear ((name)),\n\nYour licence is ready.",
                subject="Your licence",
                name="Letter",
            ),
        }

    def template(self, kind: str, body: str, *, subject: str | None = None, name: str) -> str:
        payload = {"type": kind, "name": name, "body": body}
        if subject:
            payload["subject"] = subject
        return self.notify_admin.call("POST", f"/services/{self.service_id}/templates", payload)[
            "id"
        ]

    def client(self, key_type: str = "test") -> NotificationsAPIClient:
        return NotificationsAPIClient(self.keys[key_type], base_url=self.platform.gateway_url)


@pytest.fixture(scope="module")
def agency(running_platform):
    made = Agency(running_platform)
    yield made
    made.notify_admin.__exit__()


def wait_for_status(
    client, notification_id: str, statuses: set[str], timeout: float = 20.0
) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = client.get_notification_by_id(notification_id)
        if found["status"] in statuses or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_the_client_sends_a_text_message_and_reads_it_back_delivered(agency):
    client = agency.client("test")
    sent = client.send_sms_notification(
        phone_number="07700 900123",
        template_id=agency.templates["sms"],
        personalisation={"name": "Ann", "ref": "L-1"},
        reference="client-sms",
    )
    assert sent["content"]["body"] == "Hello Ann, your reference is L-1."
    assert sent["uri"] == f"{agency.platform.gateway_url}/v2/notifications/{sent['id']}"
    found = wait_for_status(client, sent["id"], {"delivered"})
    assert found["status"] == "delivered" and found["phone_number"] == "07700 900123"
    assert found["cost_details"]["billable_sms_fragments"] == 1


def test_the_client_sends_an_email_and_a_letter(agency):
    client = agency.client("test")
    sent = client.send_email_notification(
        email_address="ann@example.com",
        template_id=agency.templates["email"],
        personalisation={"name": "Ann", "ref": "L-2", "extra": "yes"},
        reference="client-email",
    )
    assert sent["content"]["subject"] == "About L-2"
    assert sent["content"]["body"] == "Dear Ann,\n\n* one\n* two\n\nExtra text."
    letter_sent = client.send_letter_notification(
        template_id=agency.templates["letter"],
        personalisation={
            "name": "Ann",
            "address_line_1": "Ann Example",
            "address_line_2": "10 Downing Street",
            "address_line_3": "SW1A 2AA",
        },
        reference="client-letter",
    )
    found = wait_for_status(client, letter_sent["id"], {"received"})
    assert found["status"] == "received" and found["line_3"] == "SW1A 2AA"
    pdf = client.get_pdf_for_letter(letter_sent["id"])
    assert isinstance(pdf, io.BytesIO) and pdf.getvalue().startswith(b"%PDF")


def test_the_client_sends_a_precompiled_letter(agency):
    client = agency.client("test")
    pdf = letter.render_pdf(
        address_lines=["Ann", "1 High St", "SW1A 1AA"], subject="Pre", body="Hello"
    )
    sent = client.send_precompiled_letter_notification(
        reference="client-precompiled", pdf_file=io.BytesIO(pdf), postage="first"
    )
    assert sent["reference"] == "client-precompiled" and sent["postage"] == "first"
    found = wait_for_status(client, sent["id"], {"received", "validation-failed"})
    assert found["status"] == "received"
    assert client.get_pdf_for_letter(sent["id"]).getvalue() == pdf


def test_both_list_iterators_walk_every_page(agency):
    client = agency.client("live")
    sent = []
    for n in range(255):
        sent.append(
            client.send_sms_notification(
                phone_number="07700900000" if n == 0 else "07700900123",
                template_id=agency.templates["sms"],
                personalisation={"name": f"n{n}", "ref": str(n)},
            )["id"]
        )
    listed = [n["id"] for n in client.get_all_notifications_iterator()]
    assert listed == sent[:0:-1], "newest first; the smoke-test recipient is never stored"
    first_page = client.get_all_notifications(template_type="sms")
    assert len(first_page["notifications"]) == 250 and "older_than=" in first_page["links"]["next"]
    assert client.get_all_notifications(reference="nothing-has-this")["notifications"] == []
    token = agency.platform.secrets()["identity_admin_token"]
    with NotifyAdmin(agency.platform.gateway_url, token) as admin:
        texts = [
            admin.call(
                "POST",
                f"/services/{agency.service_id}/received-text-messages",
                {"user_number": "07700900456", "content": f"reply {n}"},
            )["id"]
            for n in range(260)
        ]
    received = list(client.get_received_texts_iterator())
    assert [t["id"] for t in received] == texts[::-1]
    assert received[0]["content"] == "reply 259" and received[0]["user_number"] == "447700900456"
    assert len(client.get_received_texts()["received_text_messages"]) == 250


def test_the_client_reads_templates_their_versions_and_previews(agency):
    client = agency.client("live")
    token = agency.platform.secrets()["identity_admin_token"]
    with NotifyAdmin(agency.platform.gateway_url, token) as admin:
        admin.call(
            "PUT",
            f"/services/{agency.service_id}/templates/{agency.templates['letter']}",
            {"body": "Dear ((name)),\n\nYour licence number is ((number))."},
        )
    current = client.get_template(agency.templates["letter"])
    first = client.get_template_version(agency.templates["letter"], 1)
    assert current["version"] == 2 and first["version"] == 1
    assert set(current["personalisation"]) == {"name", "number"}
    every = client.get_all_templates()["templates"]
    assert {t["name"] for t in every} == {"Text", "Email", "Letter"}
    assert [t["type"] for t in client.get_all_templates(template_type="sms")["templates"]] == [
        "sms"
    ]
    preview = client.post_template_preview(
        agency.templates["email"], personalisation={"name": "Ann", "ref": "P", "extra": "no"}
    )
    assert preview["subject"] == "About P" and "<li" in preview["html"]


def test_errors_raised_by_the_client_carry_notifys_errors_list(agency):
    client = agency.client("live")
    with pytest.raises(HTTPError) as invalid:
        client.send_sms_notification(
            phone_number="not a number", template_id=agency.templates["sms"]
        )
    assert invalid.value.status_code == 400
    assert invalid.value.message == [
        {"error": "ValidationError", "message": "phone_number Must not contain letters or symbols"}
    ]
    with pytest.raises(HTTPError) as missing:
        client.send_sms_notification(
            phone_number="07700900123",
            template_id=agency.templates["sms"],
            personalisation={"name": "x"},
        )
    assert missing.value.message == [
        {"error": "BadRequestError", "message": "Missing personalisation: ref"}
    ]
    with pytest.raises(HTTPError) as unknown:
        client.get_notification_by_id(str(uuid.uuid4()))
    assert unknown.value.status_code == 404
    assert unknown.value.message == [{"error": "NoResultFound", "message": "No result found"}]
    with pytest.raises(HTTPError) as not_ready:
        client.get_pdf_for_letter(
            client.send_sms_notification(
                phone_number="07700900123",
                template_id=agency.templates["sms"],
                personalisation={"name": "a", "ref": "b"},
            )["id"]
        )
    assert not_ready.value.message[0]["message"] == "Notification is not a letter"
    forged = NotificationsAPIClient(
        f"bad-{agency.service_id}-{uuid.uuid4()}", base_url=agency.platform.gateway_url
    )
    with pytest.raises(HTTPError) as refused:
        forged.get_all_templates()
    assert refused.value.status_code == 403
    assert refused.value.message[0]["error"] == "AuthError"
