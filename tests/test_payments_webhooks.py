"""Pay's webhooks from the real platform (``govplat up``) to a real receiver: an HTTP
server on 127.0.0.1 that answers 500 to the first delivery of every message and 200
after, and checks ``Pay-Signature`` (HMAC-SHA256 of the raw body, keyed by the
webhook's signing secret) with a constant-time comparison on every delivery.

Payments are driven through the gateway (the Pay API with the sandbox test key, and
the hosted pages posted as a browser posts them) into every event type the platform
sends: ``card_payment_succeeded`` and ``card_payment_captured`` (paid on the page,
and a delayed capture captured by the service), ``card_payment_refunded``,
``card_payment_failed`` (declined, provider error, cancelled by the payer and by the
service) and ``card_payment_expired``. Each arrives at least once, in GOV.UK Pay's
payload shape, the retry a second later (``GOVPLAT_PAYMENTS_WEBHOOK_RETRY_SECONDS``
shortens Pay's schedule of 60 s, 5 min, 1 h, 1 day, 2 days for the test).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from govkit.testing import database_backends
from govkit.testing.platform import start_platform

#: Seconds an unfinished payment lives on the test's platform (Pay: 90 minutes).
PAYMENT_EXPIRY_SECONDS = 10
PAY_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PAYLOAD_KEYS = {
    "webhook_message_id",
    "api_version",
    "created_date",
    "resource_id",
    "resource_type",
    "event_type",
    "resource",
}


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Receiver:
    """The agency's webhook receiver: every delivery kept with its raw bytes; the first
    delivery of each message (per path) answered 500, later ones 200."""

    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: path → what to do before refusing a message's first delivery there.
    before_refusing: dict = field(default_factory=dict)

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    message_id = json.loads(body)["webhook_message_id"]
                except (ValueError, KeyError, TypeError):
                    message_id = None
                with receiver.lock:
                    seen = any(
                        d.path == self.path and _message_id(d) == message_id
                        for d in receiver.deliveries
                    )
                    status = 200 if seen and message_id else 500
                    receiver.deliveries.append(
                        Delivery(self.path, dict(self.headers.items()), body, status)
                    )
                if status == 500 and self.path in receiver.before_refusing:
                    receiver.before_refusing[self.path]()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # the service's return page
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def at(self, path: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.path == path]


def _message_id(delivery: Delivery) -> str | None:
    try:
        return json.loads(delivery.body)["webhook_message_id"]
    except (ValueError, KeyError, TypeError):
        return None


def signed_by(secret: str, delivery: Delivery) -> bool:
    """What an agency's verifier does: HMAC-SHA256 of the raw body, compared in
    constant time with ``Pay-Signature``."""
    expected = hmac.new(secret.encode("utf-8"), delivery.body, hashlib.sha256).hexdigest()
    given = delivery.headers.get("Pay-Signature", "")
    return hmac.compare_digest(expected.encode(), given.encode())


@pytest.fixture(scope="module", params=database_backends())
def platform(request, tmp_path_factory):
    """A platform of its own: retries a second apart and payments that expire soon."""
    running = start_platform(
        tmp_path_factory.mktemp("webhooks"),
        request.param,
        extra_env={
            "GOVPLAT_PAYMENTS_WEBHOOK_RETRY_SECONDS": "1,1,1,1,1",
            "GOVPLAT_PAYMENTS_PAYMENT_EXPIRY_SECONDS": str(PAYMENT_EXPIRY_SECONDS),
            "GOVPLAT_PAYMENTS_EXPIRY_SWEEP_SECONDS": "1",
        },
    )
    yield running
    running.stop()


@pytest.fixture
def receiver():
    made = Receiver()
    made.start()
    yield made
    made.stop()


class Agency:
    """The sandbox service calling the Pay API through the gateway, and paying on the
    hosted pages as a browser does (forms posted with the page's cookie)."""

    def __init__(self, platform, return_url: str) -> None:
        self.platform = platform
        self.return_url = return_url
        key = platform.credentials()["pay_api_key"]
        self.api = httpx.Client(
            base_url=platform.gateway_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=15,
        )

    def create(self, **extra) -> dict:
        body = {
            "amount": 2000,
            "reference": f"WH-{uuid.uuid4().hex[:8]}",
            "description": "Renew a passport",
            "return_url": self.return_url,
            "email": "payer@example.org",
            **extra,
        }
        response = self.api.post("/v1/payments", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, payment_id: str) -> dict:
        response = self.api.get(f"/v1/payments/{payment_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def pay(self, created: dict, number: str, *, cancel: bool = False) -> dict:
        """Open ``next_url``, send the card (or cancel), confirm when authorised."""
        with httpx.Client(follow_redirects=True, timeout=15) as browser:
            page = browser.get(created["_links"]["next_url"]["href"])
            assert page.status_code == 200 and "Enter card details" in page.text
            payment_id = created["payment_id"]
            if cancel:
                browser.post(
                    f"{self.platform.gateway_url}/pay/cancel/{payment_id}",
                    data={"nonce": _nonce(page.text)},
                )
                return self.get(payment_id)
            page = browser.post(
                f"{self.platform.gateway_url}/pay/card-details/{payment_id}",
                data={
                    "nonce": _nonce(page.text),
                    "card-number": number,
                    "expiry-month": "11",
                    "expiry-year": str(date.today().year + 2),
                    "cardholder-name": "Sam Payer",
                    "cvc": "123",
                    "address-line-1": "2 Station Road",
                    "address-city": "Leeds",
                    "address-postcode": "LS1 4DY",
                    "address-country": "GB",
                },
            )
            if "Confirm your payment" in page.text:
                page = browser.post(
                    f"{self.platform.gateway_url}/pay/confirm/{payment_id}",
                    data={"nonce": _nonce(page.text)},
                )
                assert str(page.url) == self.return_url
        return self.get(payment_id)


def _nonce(html: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', html)
    assert found, "the page has no form"
    return found.group(1)


def subscribe_with_the_cli(platform, callback_url: str) -> dict:
    """``govplat payments webhooks create URL --json``: every event type, test account."""
    from typer.testing import CliRunner

    from govplat_cli.main import app

    args = ["payments", "webhooks", "create", callback_url, "--data-dir", str(platform.data_dir)]
    done = CliRunner().invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def admin(platform, method: str, path: str, **kwargs) -> dict:
    """Payments' admin API through the gateway, with the operator token."""
    response = httpx.request(
        method,
        f"{platform.gateway_url}/admin/payments{path}",
        headers={"Authorization": f"Bearer {platform.secrets()['identity_admin_token']}"},
        timeout=15,
        **kwargs,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def subscribe_with_the_admin_api(platform, callback_url: str, event_types: list[str]) -> dict:
    service_id = platform.credentials()["sandbox_service_id"]
    return admin(
        platform,
        "POST",
        f"/services/{service_id}/webhooks",
        json={"callback_url": callback_url, "event_types": event_types},
    )


def messages_of(platform, webhook: dict) -> list[dict]:
    """What the operators see of a webhook's messages."""
    service_id = platform.credentials()["sandbox_service_id"]
    return admin(platform, "GET", f"/services/{service_id}/webhooks/{webhook['id']}/messages")[
        "messages"
    ]


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


def test_every_event_arrives_signed_at_least_once_also_after_a_500(platform, receiver):
    agency = Agency(platform, f"{receiver.origin}/back")
    every = subscribe_with_the_cli(platform, f"{receiver.origin}/hooks/every")
    assert every["signing_secret"].startswith("webhook_test_")
    assert every["live"] is False and every["status"] == "active"
    assert sorted(every["event_types"]) == sorted(
        [
            "card_payment_succeeded",
            "card_payment_captured",
            "card_payment_refunded",
            "card_payment_failed",
            "card_payment_expired",
        ]
    )
    refunds_only = subscribe_with_the_admin_api(
        platform, f"{receiver.origin}/hooks/refunds", ["card_payment_refunded"]
    )
    assert refunds_only["signing_secret"] != every["signing_secret"]

    # Left alone: it expires.
    left = agency.create()
    expected: dict[tuple[str, str], dict] = {}

    def expect(payment: dict, event_type: str) -> None:
        expected[(payment["payment_id"], event_type)] = payment

    paid = agency.pay(agency.create(), "4242424242424242")
    assert paid["state"] == {"status": "success", "finished": True}
    expect(paid, "card_payment_succeeded")
    expect(paid, "card_payment_captured")

    for amount in (500, 300):
        refund = agency.api.post(
            f"/v1/payments/{paid['payment_id']}/refunds", json={"amount": amount}
        )
        assert refund.status_code == 202, refund.text
    expect(agency.get(paid["payment_id"]), "card_payment_refunded")

    declined = agency.pay(agency.create(), "4000000000000002")
    assert declined["state"]["code"] == "P0010"
    expect(declined, "card_payment_failed")
    provider_error = agency.pay(agency.create(), "4000000000000119")
    assert provider_error["state"]["status"] == "error"
    expect(provider_error, "card_payment_failed")
    by_payer = agency.pay(agency.create(), "", cancel=True)
    assert by_payer["state"]["code"] == "P0030"
    expect(by_payer, "card_payment_failed")
    by_service = agency.create()
    assert agency.api.post(f"/v1/payments/{by_service['payment_id']}/cancel").status_code == 204
    by_service = agency.get(by_service["payment_id"])
    assert by_service["state"]["code"] == "P0040"
    expect(by_service, "card_payment_failed")

    delayed = agency.pay(agency.create(delayed_capture=True), "5105105105105100")
    assert delayed["state"]["status"] == "capturable"
    assert agency.api.post(f"/v1/payments/{delayed['payment_id']}/capture").status_code == 204
    delayed = agency.get(delayed["payment_id"])
    assert delayed["state"]["status"] == "success"
    expect(delayed, "card_payment_succeeded")
    expect(delayed, "card_payment_captured")

    expired = wait_for(
        lambda: (p := agency.get(left["payment_id"]))["state"]["finished"] and p,
        PAYMENT_EXPIRY_SECONDS + 20,
        "the untouched payment expired",
    )
    assert expired["state"] == {
        "status": "failed",
        "finished": True,
        "code": "P0020",
        "message": "Payment expired",
    }
    expect(expired, "card_payment_expired")

    def taken(path: str) -> set[tuple[str, str]]:
        return {
            (json.loads(d.body)["resource_id"], json.loads(d.body)["event_type"])
            for d in receiver.at(path)
            if d.answered == 200
        }

    wait_for(
        lambda: taken("/hooks/every") >= set(expected) and len(taken("/hooks/refunds")) == 1,
        60,
        f"every event delivered (missing {set(expected) - taken('/hooks/every')})",
    )
    time.sleep(1.5)  # anything sent late or twice would arrive now

    # Every delivery is signed with its webhook's secret; every message was refused
    # once and then sent again, byte for byte.
    for path, secret in (
        ("/hooks/every", every["signing_secret"]),
        ("/hooks/refunds", refunds_only["signing_secret"]),
    ):
        deliveries = receiver.at(path)
        assert deliveries
        for delivery in deliveries:
            assert signed_by(secret, delivery), delivery.headers
            assert delivery.headers["Content-Type"] == "application/json"
        by_message: dict[str, list[Delivery]] = {}
        for delivery in deliveries:
            by_message.setdefault(_message_id(delivery), []).append(delivery)
        for message_id, sent in by_message.items():
            assert message_id
            assert sent[0].answered == 500 and any(d.answered == 200 for d in sent)
            assert {d.body for d in sent} == {sent[0].body}
    other = receiver.at("/hooks/refunds")[0]
    assert not signed_by(every["signing_secret"], other)

    # Exactly the events that happened, each in Pay's payload shape.
    assert taken("/hooks/every") == set(expected)
    assert taken("/hooks/refunds") == {(paid["payment_id"], "card_payment_refunded")}
    for delivery in receiver.at("/hooks/every"):
        payload = json.loads(delivery.body)
        assert set(payload) == PAYLOAD_KEYS
        assert payload["api_version"] == 1
        assert payload["resource_type"] == "payment"
        assert PAY_TIME.match(payload["created_date"])
        assert re.fullmatch(r"[0-9a-v]{26}", payload["webhook_message_id"])
        resource = payload["resource"]
        assert resource["payment_id"] == payload["resource_id"]
        assert "_links" not in resource
        now = expected[(payload["resource_id"], payload["event_type"])]
        assert resource["state"] == now["state"]
        for key in ("amount", "reference", "description", "email", "created_date"):
            assert resource[key] == now[key]
        if payload["event_type"] == "card_payment_refunded":
            assert resource["refund_summary"]["amount_submitted"] in (500, 800)
        if payload["event_type"] in ("card_payment_succeeded", "card_payment_captured"):
            assert resource["card_details"]["last_digits_card_number"] in ("4242", "5100")
            assert "4242424242424242" not in delivery.body.decode()
    refunded = [
        json.loads(d.body)["resource"]["refund_summary"]
        for d in receiver.at("/hooks/every")
        if json.loads(d.body)["event_type"] == "card_payment_refunded" and d.answered == 200
    ]
    assert {r["amount_submitted"] for r in refunded} == {500, 800}

    # The operators' view of the same deliveries.
    messages = messages_of(platform, every)
    assert len(messages) == len({_message_id(d) for d in receiver.at("/hooks/every")})
    for message in messages:
        assert message["status"] == "delivered"
        assert message["attempts"] >= 2
        assert message["last_status_code"] == 200


def test_a_webhook_turned_off_after_a_failed_attempt_is_not_tried_again(platform, receiver):
    agency = Agency(platform, f"{receiver.origin}/back")
    hook = subscribe_with_the_admin_api(
        platform, f"{receiver.origin}/hooks/off", ["card_payment_succeeded"]
    )
    service_id = platform.credentials()["sandbox_service_id"]
    receiver.before_refusing["/hooks/off"] = lambda: admin(
        platform, "POST", f"/services/{service_id}/webhooks/{hook['id']}/deactivate"
    )

    paid = agency.pay(agency.create(), "4242424242424242")
    assert paid["state"]["status"] == "success"
    wait_for(lambda: receiver.at("/hooks/off"), 30, "the first attempt")
    wait_for(
        lambda: messages_of(platform, hook)[0]["status"] == "will_not_send",
        30,
        "the retry found the webhook off",
    )

    (attempt,) = receiver.at("/hooks/off")
    assert attempt.answered == 500
    assert signed_by(hook["signing_secret"], attempt)
    (message,) = messages_of(platform, hook)
    assert message["attempts"] == 1 and message["last_status_code"] == 500
    time.sleep(1.5)  # a retry would have come a second later
    assert len(receiver.at("/hooks/off")) == 1
