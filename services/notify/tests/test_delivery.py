"""Delivery: the sandbox inbox, a real SMTP server, an HTTP text message provider,
retries, precompiled letter checks and delivery-status callbacks."""

from __future__ import annotations

import asyncio
import base64
import email as email_parser
import json
import threading
import uuid
from email import policy

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from govkit.events import Event, subject_for
from govkit.nats_server import free_port
from govplat.notify.v1 import events_pb2
from notify import repository
from notify.models import SandboxMessage, messaging
from notify.providers import HttpSmsProvider, Providers, SmtpEmailProvider
from notify.service import Caller, callbacks, notifications
from notify.service import services as services_service
from notify.service.delivery import EICAR_SIGNATURE, RetryLater
from notify.templating import letter


class Mailbox:
    """An SMTP server's handler (aiosmtpd) that keeps what it receives; recipients
    at ``refused.example`` get a permanent 550, ``later.example`` a temporary 451."""

    def __init__(self) -> None:
        self.messages: list[email_parser.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such user"
        if address.endswith("@later.example"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email_parser.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


async def send(notify, kind: str, key_type: str = "live", **fields) -> str:
    body = {
        "sms": {"phone_number": "07700900123", "personalisation": {"name": "Ann", "code": "1"}},
        "email": {
            "email_address": "ann@example.com",
            "personalisation": {"name": "Ann", "reference": "R"},
        },
        "letter": {
            "personalisation": {
                "name": "Ann",
                "address_line_1": "Ann",
                "address_line_2": "1 High Street",
                "address_line_3": "SW1A 1AA",
            }
        },
    }[kind]
    body = {**body, "template_id": notify.templates[kind], **fields}
    sent = await notifications.send(
        notify.db, notify.caller(key_type), kind, body, email_domain="n.test"
    )
    return sent.id


async def status_of(notify, notification_id: str) -> str:
    async with notify.db.read() as session:
        return (await repository.notification(session, notification_id)).status


async def events(notify, message_type) -> list:
    async with notify.db.read() as session:
        rows = (
            await session.execute(
                select(messaging.outbox.c.payload).where(
                    messaging.outbox.c.subject == subject_for(message_type)
                )
            )
        ).all()
    out = []
    for (payload,) in rows:
        message = message_type()
        message.ParseFromString(payload)
        out.append(message)
    return out


async def test_a_test_key_message_lands_in_the_sandbox_inbox_once_and_is_delivered(notify):
    notification_id = await send(notify, "email", key_type="test")
    delivery = notify.delivery()
    assert await delivery.deliver(notification_id) == "delivered"
    assert await delivery.deliver(notification_id) == "delivered", "a redelivery changes nothing"
    async with notify.db.read() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(SandboxMessage)
            .where(SandboxMessage.notification_id == notification_id)
        )
        message = await repository.sandbox_message(session, notification_id)
    assert count == 1
    assert message.subject == "Hello Ann" and "Dear Ann" in message.body
    assert message.html.startswith("<!DOCTYPE html>") and "Dear Ann" in message.html
    changes = [e.status for e in await events(notify, events_pb2.NotificationStatusChanged)]
    assert changes == ["sending", "delivered"]


@pytest.mark.parametrize(
    ("kind", "recipient", "status"),
    [
        ("sms", {"phone_number": "07700900003"}, "temporary-failure"),
        ("sms", {"phone_number": "+447700900002"}, "permanent-failure"),
        ("email", {"email_address": "temp-fail@simulator.notify"}, "temporary-failure"),
        ("email", {"email_address": "perm-fail@simulator.notify"}, "permanent-failure"),
        ("sms", {"phone_number": "07700900999"}, "delivered"),
    ],
)
async def test_simulated_recipients_give_notifys_simulated_results(notify, kind, recipient, status):
    notification_id = await send(notify, kind, key_type="test", **recipient)
    assert await notify.delivery().deliver(notification_id) == status
    async with notify.http("test") as client:
        got = (await client.get(f"/v2/notifications/{notification_id}")).json()
    assert got["status"] == status and got["completed_at"] is not None


async def test_a_live_email_goes_to_the_smtp_server_with_its_notification_id_as_message_id(
    notify, smtp_server
):
    controller, mailbox = smtp_server
    provider = SmtpEmailProvider(
        "127.0.0.1", controller.port, security="none", message_id_domain="n.test"
    )
    delivery = notify.delivery(Providers(email=provider))
    notification_id = await send(
        notify, "email", one_click_unsubscribe_url="https://agency.example/unsub"
    )
    assert await delivery.deliver(notification_id) == "delivered"
    assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert message["Message-ID"] == f"<{notification_id}@n.test>"
    assert message["To"] == "ann@example.com" and message["Subject"] == "Hello Ann"
    assert message["List-Unsubscribe"] == "<https://agency.example/unsub>"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert "Dear Ann" in parts["text/plain"] and "<!DOCTYPE html>" in parts["text/html"]
    assert await delivery.deliver(notification_id) == "delivered"
    assert len(mailbox.messages) == 1, "a final notification is never sent again"


async def test_a_test_key_email_never_reaches_the_smtp_server(notify, smtp_server):
    controller, mailbox = smtp_server
    provider = SmtpEmailProvider("127.0.0.1", controller.port, security="none")
    notification_id = await send(notify, "email", key_type="test")
    assert await notify.delivery(Providers(email=provider)).deliver(notification_id) == "delivered"
    assert mailbox.messages == []
    async with notify.db.read() as session:
        assert await repository.sandbox_message(session, notification_id) is not None


async def test_a_refused_recipient_is_a_permanent_failure_and_a_busy_server_is_retried(
    notify, smtp_server
):
    controller, _mailbox = smtp_server
    provider = SmtpEmailProvider("127.0.0.1", controller.port, security="none")
    delivery = notify.delivery(Providers(email=provider), retry_delays=(0.1, 0.1))
    refused = await send(notify, "email", email_address="nobody@refused.example")
    later = await send(notify, "email", email_address="someone@later.example")
    assert await delivery.deliver(refused) == "permanent-failure"
    with pytest.raises(RetryLater):
        await delivery.deliver(later, attempt=1)
    assert await status_of(notify, later) == "sending"
    with pytest.raises(RetryLater):
        await delivery.deliver(later, attempt=2)
    assert await delivery.deliver(later, attempt=3) == "technical-failure"
    async with notify.db.read() as session:
        assert (await repository.notification(session, later)).delivery_attempts == 3


async def test_an_unreachable_mail_server_is_a_temporary_failure(notify):
    provider = SmtpEmailProvider("127.0.0.1", free_port(), security="none", timeout=2)
    notification_id = await send(notify, "email")
    with pytest.raises(RetryLater):
        await notify.delivery(Providers(email=provider)).deliver(notification_id)
    assert await status_of(notify, notification_id) == "sending"


def sms_provider_app(calls: list, answers: dict):
    """A text message provider's API that honours ``Idempotency-Key``."""
    app = FastAPI()

    @app.post("/messages")
    async def messages(request: Request):
        key = request.headers["idempotency-key"]
        calls.append((key, request.headers.get("authorization"), await request.json()))
        if key not in answers:
            answers[key] = {"id": f"provider-{len(answers)}", "status": "delivered"}
        return answers[key]

    return app


async def test_a_live_text_message_goes_to_the_http_provider_keyed_by_notification_id(notify):
    calls: list = []
    answers: dict = {}
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sms_provider_app(calls, answers)),
        base_url="http://sms.test",
    )
    provider = HttpSmsProvider("http://sms.test/messages", "provider-token", client)
    await services_service.update_settings(
        notify.db,
        notify.service_id,
        services_service.SettingsChange(name="Agency", prefix_sms=True),
    )
    notification_id = await send(notify, "sms")
    assert await notify.delivery(Providers(sms=provider)).deliver(notification_id) == "delivered"
    key, authorization, body = calls[0]
    assert key == notification_id and authorization == "Bearer provider-token"
    assert body == {
        "to": "447700900123",
        "from": "govplat",
        "body": "Agency: Hello Ann, your code is 1.",
        "reference": notification_id,
    }
    async with notify.db.read() as session:
        assert (
            await repository.notification(session, notification_id)
        ).provider_reference == "provider-0"
    await client.aclose()


async def test_a_precompiled_letter_is_scanned_checked_and_printed(notify):
    good = letter.render_pdf(address_lines=["A", "B", "SW1A 1AA"], subject="s", body="b")
    infected = good + b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + EICAR_SIGNATURE + b"!$H+H*"
    caller = notify.caller("live")

    async def precompiled(pdf: bytes) -> str:
        sent = await notifications.send(
            notify.db,
            caller,
            "letter",
            {"reference": str(uuid.uuid4()), "content": base64.b64encode(pdf).decode()},
            email_domain="n.test",
        )
        return sent.id

    delivery = notify.delivery()
    ok, bad, broken = (
        await precompiled(good),
        await precompiled(infected),
        await precompiled(b"%PDF-1 junk"),
    )
    assert await delivery.deliver(ok) == "delivered"
    assert await delivery.deliver(bad) == "virus-scan-failed"
    assert await delivery.deliver(broken) == "validation-failed"
    assert await status_of(notify, broken) == "validation-failed"
    async with notify.http("live") as client:
        pdf = await client.get(f"/v2/notifications/{ok}/pdf")
        virus = await client.get(f"/v2/notifications/{bad}/pdf")
        listed = (await client.get(f"/v2/notifications/{ok}")).json()
    assert pdf.status_code == 200 and pdf.content == good
    assert virus.json()["errors"][0]["message"] == "File did not pass the virus scan"
    assert (
        listed["status"] == "received" and listed["cost_details"]["billable_sheets_of_paper"] == 1
    )


async def test_a_templated_letter_is_rendered_to_pdf_and_shown_as_received(notify):
    notification_id = await send(notify, "letter")
    assert await notify.delivery().deliver(notification_id) == "delivered"
    async with notify.http("live") as client:
        pdf = await client.get(f"/v2/notifications/{notification_id}/pdf")
        got = (await client.get(f"/v2/notifications/{notification_id}")).json()
        email_pdf = await client.get(f"/v2/notifications/{await send(notify, 'email')}/pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert letter.page_count(pdf.content) == 1
    assert got["status"] == "received" and got["is_cost_data_ready"] is True
    assert email_pdf.json()["errors"][0]["message"] == "Notification is not a letter"


def event_for(message) -> Event:
    return Event(
        id=str(uuid.uuid4()),
        type=message.DESCRIPTOR.full_name,
        source="//test",
        subject="",
        time=None,
        nats_subject=subject_for(message),
        data=message.SerializeToString(),
    )


def callback_receiver(received: list, status_code: list[int]):
    app = FastAPI()

    @app.post("/callback")
    async def callback(request: Request):
        received.append((request.headers.get("authorization"), await request.json()))
        return JSONResponse({"ok": status_code[0] == 200}, status_code=status_code[0])

    return app


async def test_a_final_status_is_posted_to_the_services_callback_url_with_its_token(notify):
    received: list = []
    status_code = [200]
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=callback_receiver(received, status_code))
    )
    await services_service.update_settings(
        notify.db,
        notify.service_id,
        services_service.SettingsChange(
            callback_url="https://agency.example/callback",
            callback_bearer_token="callback-token-123",
        ),
    )
    notification_id = await send(notify, "sms", key_type="test", reference="cb-ref")
    await notify.delivery().deliver(notification_id)
    sender = callbacks.Callbacks(notify.db, client)
    for changed in await events(notify, events_pb2.NotificationStatusChanged):
        await sender.on_event(event_for(changed))
    assert len(received) == 1, "only the final status is sent"
    authorization, body = received[0]
    assert authorization == "Bearer callback-token-123"
    assert set(body) == {
        "id", "reference", "to", "status", "created_at", "completed_at", "sent_at",
        "notification_type", "template_id", "template_version",
    }  # fmt: skip
    assert (body["id"], body["reference"], body["to"], body["status"]) == (
        notification_id,
        "cb-ref",
        "07700900123",
        "delivered",
    )
    assert body["notification_type"] == "sms" and body["template_version"] == 1
    status_code[0] = 500
    with pytest.raises(callbacks.CallbackFailed):
        await sender.on_event(
            event_for((await events(notify, events_pb2.NotificationStatusChanged))[-1])
        )
    status_code[0] = 400
    await sender.on_event(
        event_for((await events(notify, events_pb2.NotificationStatusChanged))[-1])
    )
    assert len(received) == 3, "a 4xx is not retried (no exception)"
    await client.aclose()


async def test_the_admin_api_needs_the_operator_token_and_manages_templates_and_settings(notify):
    async with notify.http(None) as anonymous:
        refused = await anonymous.get(f"/admin/notify/services/{notify.service_id}")
    assert refused.status_code == 401 and refused.json()["error"] == "UNAUTHENTICATED"
    async with notify.admin() as admin:
        created = await admin.post(
            f"/admin/notify/services/{notify.service_id}/templates",
            json={
                "type": "email",
                "name": "Receipt",
                "subject": "Paid ((amount))",
                "body": "Thanks ((name))",
            },
        )
        template_id = created.json()["id"]
        changed = await admin.put(
            f"/admin/notify/services/{notify.service_id}/templates/{template_id}",
            json={"body": "Thank you ((name))"},
        )
        settings = await admin.put(
            f"/admin/notify/services/{notify.service_id}",
            json={"receipt_template_id": template_id, "callback_bearer_token": "short"},
        )
        settings_ok = await admin.put(
            f"/admin/notify/services/{notify.service_id}",
            json={"receipt_template_id": template_id, "permissions": ["email", "sms"]},
        )
        bad_permission = await admin.put(
            f"/admin/notify/services/{notify.service_id}", json={"permissions": ["fax"]}
        )
        unknown_field = await admin.put(
            f"/admin/notify/services/{notify.service_id}", json={"colour": "red"}
        )
        archived = await admin.post(
            f"/admin/notify/services/{notify.service_id}/templates/{template_id}/archive"
        )
        no_sms_subject = await admin.post(
            f"/admin/notify/services/{notify.service_id}/templates",
            json={"type": "letter", "name": "L", "body": "b"},
        )
    assert created.status_code == 201 and created.json()["version"] == 1
    assert changed.json()["version"] == 2 and changed.json()["personalisation"] == [
        "amount",
        "name",
    ]
    assert settings.status_code == 400 and settings.json()["error"] == "INVALID_CALLBACK_TOKEN"
    assert settings_ok.json()["receipt_template_id"] == template_id
    assert settings_ok.json()["permissions"] == ["email", "sms"]
    assert "callback_bearer_token" not in settings_ok.json()
    assert bad_permission.json()["error"] == "UNKNOWN_PERMISSION"
    assert unknown_field.status_code == 400 and unknown_field.json()["error"] == "INVALID_REQUEST"
    assert archived.json()["archived"] is True
    assert no_sms_subject.json()["error"] == "INVALID_TEMPLATE_SUBJECT"


async def test_the_sandbox_inbox_lists_a_services_messages_newest_first(notify):
    first = await send(notify, "sms", key_type="test")
    second = await send(notify, "email", key_type="test")
    letter_id = await send(notify, "letter", key_type="test")
    delivery = notify.delivery()
    for notification_id in (first, second, letter_id):
        await delivery.deliver(notification_id)
    async with notify.admin() as admin:
        inbox = (
            await admin.get(f"/admin/notify/services/{notify.service_id}/sandbox-inbox")
        ).json()
        page = (
            await admin.get(
                f"/admin/notify/services/{notify.service_id}/sandbox-inbox?limit=1&before={letter_id}"
            )
        ).json()
        one = (await admin.get(f"/admin/notify/sandbox-inbox/{second}")).json()
        pdf = await admin.get(f"/admin/notify/sandbox-inbox/{letter_id}/pdf")
        other = (await admin.get(f"/admin/notify/services/{uuid.uuid4()}/sandbox-inbox")).json()
    assert [m["id"] for m in inbox["messages"]] == [letter_id, second, first]
    assert [m["id"] for m in page["messages"]] == [second]
    assert one["html"].startswith("<!DOCTYPE html>") and one["to"] == "ann@example.com"
    assert pdf.content.startswith(b"%PDF")
    assert other["messages"] == []


async def test_the_same_event_twice_makes_one_receipt(notify):
    from govplat.payments.v1 import events_pb2 as payments_events
    from notify.service.inbound import Inbound

    receipt = await notify.template(
        "email", "Paid ((amount)) for ((description)) on ((date))", subject="Receipt ((reference))"
    )
    await services_service.update_settings(
        notify.db, notify.service_id, services_service.SettingsChange(receipt_template_id=receipt)
    )
    event = event_for(
        payments_events.PaymentSucceeded(
            payment_id="pay-1",
            service_id=notify.service_id,
            amount=1250,
            reference="INV-1",
            email="payer@example.com",
            description="a licence",
            key_type="test",
        )
    )
    inbound = Inbound("n.test")
    for _ in range(2):
        async with notify.db.write() as session:
            await inbound.payment_succeeded(session, event)
    async with notify.http("test") as client:
        listed = (await client.get("/v2/notifications")).json()["notifications"]
    assert len(listed) == 1
    assert listed[0]["body"].startswith("Paid \u00a312.50 for a licence on ")
    assert (
        listed[0]["subject"] == "Receipt INV-1"
        and listed[0]["email_address"] == "payer@example.com"
    )


async def test_a_verification_code_is_sent_from_the_platforms_own_service(notify):
    from govplat.identity.v1 import events_pb2 as identity_events
    from notify.service.inbound import SYSTEM_SERVICE_ID, Inbound

    event = event_for(
        identity_events.VerificationCodeRequested(
            account_id="acc",
            channel=identity_events.VERIFICATION_CHANNEL_EMAIL,
            destination="citizen@example.com",
            code="482913",
            purpose=identity_events.VERIFICATION_PURPOSE_SIGN_UP,
        )
    )
    async with notify.db.write() as session:
        await Inbound("n.test").verification_code_requested(session, event)
    system = Caller(SYSTEM_SERVICE_ID, "live", "x")
    page = await notifications.list_notifications(notify.db, system, {})
    assert len(page.items) == 1
    sent = page.items[0]
    assert sent.recipient == "citizen@example.com" and "482913" in sent.body
    assert await notify.delivery().deliver(sent.id) == "delivered"
    async with notify.db.read() as session:
        inbox = await repository.sandbox_message(session, sent.id)
    assert "482913" in inbox.body


def test_a_real_http_provider_sees_one_send_per_key_even_when_called_twice():
    """The provider contract the kill test relies on, over a real socket."""
    import uvicorn

    calls: list = []
    answers: dict = {}
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            sms_provider_app(calls, answers), host="127.0.0.1", port=port, log_level="error"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:

        async def twice():
            async with httpx.AsyncClient() as client:
                for _ in range(100):
                    try:
                        await client.get(f"http://127.0.0.1:{port}/")
                        break
                    except httpx.HTTPError:
                        await asyncio.sleep(0.05)
                provider = HttpSmsProvider(f"http://127.0.0.1:{port}/messages", None, client)
                from notify.providers import OutgoingSms

                message = OutgoingSms("n-1", "447700900123", "govplat", "hi")
                return [await provider.send(message), await provider.send(message)]

        results = asyncio.run(twice())
    finally:
        server.should_exit = True
        thread.join(5)
    assert results[0] == results[1]
    assert len(answers) == 1 and len(calls) == 2
    assert json.loads(json.dumps(calls[0][2]))["reference"] == "n-1"
