"""The portal's sandbox inbox in Chromium, through the running platform's gateway: a
test email sent with the sandbox key appears there, and only for that service."""

from __future__ import annotations

import time
import uuid

import httpx
from notifications_python_client.notifications import NotificationsAPIClient


def wait_delivered(client: NotificationsAPIClient, notification_id: str) -> None:
    deadline = time.monotonic() + 20
    while client.get_notification_by_id(notification_id)["status"] not in ("delivered", "received"):
        assert time.monotonic() < deadline, "the sandbox never delivered it"
        time.sleep(0.1)


def open_inbox(page, gateway: str, key: str) -> None:
    page.goto(f"{gateway}/sandbox/")
    page.get_by_role("navigation", name="Sandbox").get_by_role("link", name="Sandbox inbox").click()
    page.get_by_label("Your service's Notify API key").fill(key)
    page.get_by_role("button", name="Open the inbox").click()


def test_a_test_email_sent_with_the_sandbox_key_appears_in_the_inbox(running_platform, page):
    gateway = running_platform.gateway_url
    credentials = running_platform.credentials()
    client = NotificationsAPIClient(credentials["notify_api_key"], base_url=gateway)
    marker = uuid.uuid4().hex[:8]
    email = client.send_email_notification(
        email_address=f"inbox-{marker}@example.org",
        template_id=credentials["notify_email_template_id"],
        personalisation={"name": f"Reader {marker}", "show_reference": "yes"},
    )
    letter = client.send_letter_notification(
        template_id=credentials["notify_letter_template_id"],
        personalisation={
            "name": marker,
            "address_line_1": "Ann Example",
            "address_line_2": "1 High Street",
            "address_line_3": "SW1A 1AA",
        },
    )
    wait_delivered(client, email["id"])
    wait_delivered(client, letter["id"])

    open_inbox(page, gateway, credentials["notify_api_key"])

    assert page.locator("h1").inner_text() == "Sandbox inbox"
    row = page.get_by_role("row").filter(has_text=f"inbox-{marker}@example.org")
    assert row.count() == 1
    assert "Email" in row.inner_text() and "test" in row.inner_text()
    row.get_by_role("link").click()
    assert page.locator("h1").inner_text() == f"Email to inbox-{marker}@example.org"
    assert f"Hello Reader {marker}" in page.locator("main").inner_text()
    page.get_by_role("link", name="See the email as the recipient sees it").click()
    assert f"Hello Reader {marker}," in page.locator("body").inner_text()
    assert page.locator("h2").first.inner_text() == "A message from the govplat sandbox"

    pdf = page.request.get(f"{gateway}/sandbox/inbox/{letter['id']}/letter.pdf")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")


def test_the_inbox_refuses_a_wrong_key_accessibly_and_never_shows_another_services_message(
    running_platform, page, chromium
):
    gateway = running_platform.gateway_url
    credentials = running_platform.credentials()
    client = NotificationsAPIClient(credentials["notify_api_key"], base_url=gateway)
    sent = client.send_sms_notification(
        phone_number="07700900123",
        template_id=credentials["notify_sms_template_id"],
        personalisation={"name": "Private"},
    )
    wait_delivered(client, sent["id"])

    forged = f"forged-{credentials['sandbox_service_id']}-{uuid.uuid4()}"
    open_inbox(page, gateway, forged)
    assert page.locator("h1").inner_text() == "Error: sandbox inbox"
    alert = page.get_by_role("alert")
    assert "not a Notify API key this platform accepts" in alert.inner_text()
    alert.get_by_role("link").click()
    assert page.evaluate("document.activeElement.id") == "api-key"

    # Another agency's developer, with keys of their own service.
    page.goto(f"{gateway}/sandbox/credentials")
    page.get_by_role("button", name="Create sandbox credentials").click()
    other_key = page.locator("#notify-api-key").inner_text().strip()
    open_inbox(page, gateway, other_key)
    assert "No messages yet" in page.locator("main").inner_text()
    page.goto(f"{gateway}/sandbox/inbox/{sent['id']}")
    assert page.locator("h1").inner_text() == "Message not found"

    anonymous = httpx.get(
        f"{gateway}/sandbox/inbox/{sent['id']}", timeout=10, follow_redirects=False
    )
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/sandbox/inbox"

    context = chromium.new_context(java_script_enabled=False)
    try:
        plain = context.new_page()
        open_inbox(plain, gateway, credentials["notify_api_key"])
        assert plain.get_by_role("row").filter(has_text="07700900123").count() >= 1
        plain.get_by_role("button", name="Close this inbox (use another key)").click()
        assert plain.get_by_label("Your service's Notify API key").count() == 1
    finally:
        context.close()
