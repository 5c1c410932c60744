"""Journey 2, end to end on the real platform (``govplat up``, every component a
process, real NATS), with the citizen in Chromium:

an agency onboarded once (a fresh organisation and service with a Pay test key,
through identity's admin gRPC API; its receipt template in notify; its webhook in
payments) creates a payment through the gateway; the citizen pays on the hosted
page, typing the email the receipt goes to; the payment is ``success``; payments'
``PaymentSucceeded`` crosses JetStream and notify sends the service's receipt (a test
payment's receipt lands in the sandbox inbox); the agency's webhook receiver, a real
HTTP server on 127.0.0.1, gets ``card_payment_succeeded`` signed with its secret. And
nothing the citizen typed, nor any credential, is in a log line or a span.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest

from govkit.telemetry import read_spans
from govkit.testing.privacy import findings
from govkit.testing.traces import ancestry, complete_trace, gateway_span_of_request, span_key
from govplat_cli.demo import WebhookReceiver, signature_matches
from govplat_cli.identity_admin import IdentityAdmin
from govplat_cli.notify_admin import NotifyAdmin

CITIZEN = {
    "card_number": "5105105105105100",  # Pay's sandbox Mastercard debit: succeeds
    "name": "Ada Lovelace-Byron",
    "email": "ada.journey@example.net",
    "address": "12 Analytical Row",
    "postcode": "EC1A 1BB",
}
RECEIPT = {
    "type": "email",
    "name": "Licence fee receipt",
    "subject": "Receipt for your licence fee of ((amount))",
    "body": (
        "Thank you for paying ((amount)) for ((description)).\n\n"
        "* Your reference: ((reference))\n* Paid on ((date))"
    ),
}


class OnboardedAgency:
    """A fresh agency on the running platform: organisation, service, Pay test key
    (identity's admin gRPC), Notify settings and receipt template (notify's admin
    API), and a webhook for ``card_payment_succeeded`` (payments' admin API) to
    ``receiver``."""

    def __init__(self, platform, receiver: WebhookReceiver) -> None:
        self.platform = platform
        self.operator = {"Authorization": f"Bearer {platform.secrets()['identity_admin_token']}"}
        token = platform.secrets()["identity_admin_token"]
        with IdentityAdmin(f"127.0.0.1:{platform.grpc['identity']}", token) as admin:
            self.service_id, keys = admin.new_service(
                f"Licensing agency {uuid.uuid4()}",
                "Fishing licences",
                {"pay": ("payments", "test")},
            )
            self.pay_key = keys["pay"]
        with NotifyAdmin(platform.gateway_url, token) as notify:
            notify.call(
                "PUT",
                f"/services/{self.service_id}",
                {"name": "Fishing licences", "email_from": "licences"},
            )
            self.receipt_template_id = notify.call(
                "POST", f"/services/{self.service_id}/templates", RECEIPT
            )["id"]
            notify.call(
                "PUT",
                f"/services/{self.service_id}",
                {"receipt_template_id": self.receipt_template_id},
            )
        self.webhook = self.admin(
            "POST",
            f"/admin/payments/services/{self.service_id}/webhooks",
            json={
                "callback_url": f"{receiver.origin}/pay-events",
                "event_types": ["card_payment_succeeded"],
            },
        )
        self.api = httpx.Client(
            base_url=platform.gateway_url,
            headers={"Authorization": f"Bearer {self.pay_key}"},
            timeout=15,
        )

    def admin(self, method: str, path: str, **kwargs) -> dict:
        response = httpx.request(
            method, self.platform.gateway_url + path, headers=self.operator, timeout=15, **kwargs
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    def sandbox_inbox(self) -> list[dict]:
        return self.admin("GET", f"/admin/notify/services/{self.service_id}/sandbox-inbox")[
            "messages"
        ]


@pytest.fixture(scope="module")
def receiver():
    made = WebhookReceiver()
    yield made
    made.close()


@pytest.fixture(scope="module")
def agency(running_platform, receiver):
    made = OnboardedAgency(running_platform, receiver)
    yield made
    made.api.close()


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"not within {timeout} s: {what}"
            return result
        time.sleep(0.1)


#: The spans of the create request, root first along their parent chain.
CREATE_CHAIN = [
    ("govplat-gateway", "SERVER", "POST /v1"),
    ("govplat-payments", "SERVER", "POST /v1/payments"),
    ("govplat-payments", "PRODUCER", "govplat.payments.v1.payment_created publish"),
]
#: The payer's confirming POST down to the receipt's hand-over to the email provider.
RECEIPT_CHAIN = [
    ("govplat-gateway", "SERVER", "POST /pay"),
    ("govplat-payments", "SERVER", "POST /pay/confirm/{payment_id}"),
    ("govplat-payments", "PRODUCER", "govplat.payments.v1.payment_succeeded publish"),
    ("govplat-notify", "CONSUMER", "govplat.payments.v1.payment_succeeded process"),
    ("govplat-notify", "PRODUCER", "govplat.notify.v1.notification_created publish"),
    ("govplat-notify", "CONSUMER", "govplat.notify.v1.notification_created process"),
    ("govplat-notify", "CLIENT", "email send"),
]
#: The same POST's other branch: the agency's webhook message.
WEBHOOK_CHAIN = [
    *RECEIPT_CHAIN[:2],
    ("govplat-payments", "PRODUCER", "govplat.payments.v1.webhook_message_queued publish"),
    ("govplat-payments", "CONSUMER", "govplat.payments.v1.webhook_message_queued process"),
]


def assert_journey_traces(trace_file: Path, create_request_id: str, confirm_request_id: str):
    """Journey 2's traces (docs/architecture.md, decision 40): the create is one
    request's trace; the payer's confirming POST is the root of the trace that leads
    to payment_succeeded, notify and the provider, every parent in it, and to the
    webhook message; the two traces are apart."""
    create_root = gateway_span_of_request(trace_file, create_request_id)
    confirm_root = gateway_span_of_request(trace_file, confirm_request_id)
    assert create_root["trace_id"] != confirm_root["trace_id"]
    for root, chains in (
        (create_root, [CREATE_CHAIN]),
        (confirm_root, [RECEIPT_CHAIN, WEBHOOK_CHAIN]),
    ):
        assert root["parent_span_id"] is None, "a browser and this agency send no traceparent"
        spans = complete_trace(trace_file, root["trace_id"], [c[-1] for c in chains])
        assert [s for s in spans if s["parent_span_id"] is None] == [root]
        for chain in chains:
            leaf = next(s for s in spans if span_key(s) == chain[-1])
            assert ancestry(spans, leaf) == chain
    spans = read_spans(trace_file, confirm_root["trace_id"])
    published = next(s for s in spans if span_key(s) == RECEIPT_CHAIN[2])
    consumed = next(s for s in spans if span_key(s) == RECEIPT_CHAIN[3])
    assert (
        published["attributes"]["messaging.message.id"]
        == consumed["attributes"]["messaging.message.id"]
    )


def test_a_citizen_pays_in_the_browser_and_gets_the_receipt_and_the_agency_a_signed_webhook(
    running_platform, agency, receiver, page
):
    reference = f"LIC-{uuid.uuid4().hex[:8].upper()}"
    return_url = f"{receiver.origin}/licences/paid/{reference}"
    created = agency.api.post(
        "/v1/payments",
        json={
            "amount": 4250,
            "reference": reference,
            "description": "Annual fishing licence",
            "return_url": return_url,
        },
    )
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["state"] == {"status": "created", "finished": False}
    next_url = payment["_links"]["next_url"]["href"]
    assert next_url.startswith(f"{running_platform.gateway_url}/pay/secure/")

    # The citizen, in Chromium, on the hosted pages.
    page.goto(next_url)
    page.wait_for_url(re.compile(r"/pay/card-details/"))
    assert "\u00a342.50" in page.locator("main").inner_text()
    page.get_by_label("Card number").fill(CITIZEN["card_number"])
    page.get_by_label("Month").fill("09")
    page.get_by_label("Year").fill(str(date.today().year + 2))
    page.get_by_label("Name on card").fill(CITIZEN["name"])
    page.get_by_label("Card security code").fill("123")
    page.get_by_label("Building and street", exact=True).fill(CITIZEN["address"])
    page.get_by_label("Town or city").fill("London")
    page.get_by_label("Postcode").fill(CITIZEN["postcode"])
    page.get_by_label("Email").fill(CITIZEN["email"])
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/pay/confirm/"))
    assert page.locator("h1").inner_text() == "Confirm your payment"
    assert CITIZEN["email"] in page.locator("main").inner_text()
    with page.expect_response(
        lambda r: r.request.method == "POST" and "/pay/confirm/" in r.url
    ) as confirmed:
        page.get_by_role("button", name="Confirm payment").click()
    page.wait_for_url(return_url)
    assert page.locator("h1").inner_text() == "Thank you"

    # The agency sees the payment taken.
    found = agency.api.get(f"/v1/payments/{payment['payment_id']}")
    assert found.status_code == 200, found.text
    paid = found.json()
    assert paid["state"] == {"status": "success", "finished": True}
    assert paid["email"] == CITIZEN["email"]
    assert paid["card_details"]["last_digits_card_number"] == "5100"
    assert paid["card_details"]["cardholder_name"] == CITIZEN["name"]

    # payment_succeeded became the service's receipt, to the email the citizen typed.
    receipts = wait_for(
        lambda: [m for m in agency.sandbox_inbox() if reference in (m["body"] or "")],
        30,
        "the receipt in the sandbox inbox",
    )
    time.sleep(1.0)  # a second receipt would come within this
    receipts = [m for m in agency.sandbox_inbox() if reference in (m["body"] or "")]
    assert len(receipts) == 1, receipts
    receipt = receipts[0]
    assert (receipt["type"], receipt["key_type"], receipt["to"]) == (
        "email",
        "test",
        CITIZEN["email"],
    )
    assert receipt["subject"] == "Receipt for your licence fee of \u00a342.50"
    assert "Thank you for paying \u00a342.50 for Annual fishing licence." in receipt["body"]
    today = date.today()
    assert f"Paid on {today.day} {today:%B %Y}" in receipt["body"]

    # The agency's receiver got card_payment_succeeded, signed with its secret.
    delivery = receiver.wait_for(
        lambda d: d.path == "/pay-events" and d.json()["resource_id"] == payment["payment_id"],
        30,
    )
    assert delivery is not None, "no card_payment_succeeded within 30 s"
    assert signature_matches(
        agency.webhook["signing_secret"], delivery.body, delivery.headers["Pay-Signature"]
    )
    assert not signature_matches(
        "webhook_test_" + "x" * 32, delivery.body, delivery.headers["Pay-Signature"]
    )
    event = delivery.json()
    assert event["event_type"] == "card_payment_succeeded"
    assert event["resource"]["state"] == {"status": "success", "finished": True}
    assert event["resource"]["reference"] == reference
    assert event["resource"]["amount"] == 4250
    assert CITIZEN["card_number"] not in delivery.body.decode()

    # One trace, from the gateway to the provider: the payer's confirming POST.
    trace_file = Path(running_platform.env["GOVPLAT_TRACE_FILE"])
    assert_journey_traces(
        trace_file, created.headers["x-request-id"], confirmed.value.headers["x-request-id"]
    )

    # Nothing the citizen typed, and no credential, in any log line or span.
    token = next_url.rsplit("/", 1)[1]
    secrets = [agency.pay_key, agency.webhook["signing_secret"], token]
    leaks = findings(
        running_platform.data_dir,
        [*CITIZEN.values(), *secrets],
        Path(running_platform.env["GOVPLAT_TRACE_FILE"]),
    )
    assert leaks == []
