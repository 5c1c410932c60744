"""The hosted payment pages in Chromium, through the gateway of the real platform
(``govplat up``): a payment made with the sandbox Pay test key is paid on the page the
payer is sent to (``_links.next_url``), as a payer does it (labelled fields, Continue,
Confirm payment), and the service then sees the right final state through the API.

Every GOV.UK Pay sandbox test card is used (the good ones succeed; declined, expired
card and CVC error fail with ``P0010``; processing error is an ``error`` with
``P0050``). Also: a payment without JavaScript, the error summary for an invalid
card number, confirm sent twice (double click, back button, replay) taking the money
once, a used ``next_url`` that no longer opens the form, the payer's cancel
(``P0030``), and the pages' accessibility (axe-core, and directly: labels, ``lang``,
one ``h1``, the error summary taking focus).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest

#: Pay's sandbox test cards: number → (brand as the pages name it, card type, CVC).
SUCCEEDING = {
    "4242424242424242": ("Visa", "credit", "123"),
    "4444333322221111": ("Visa", "credit", "123"),
    "4000056655665556": ("Visa", "debit", "123"),
    "5105105105105100": ("Mastercard", "debit", "123"),
    "222100000000000": ("Mastercard", "credit", "123"),
    "371449635398431": ("American Express", "credit", "1234"),
    "3566002020360505": ("JCB", "credit", "123"),
    "6011000990139424": ("Discover", "credit", "123"),
    "36148900647913": ("Diners Club", "credit", "123"),
    "4917610000000000003": ("Visa", "debit", "123"),
    "4000000000000010": ("Visa", "credit", "123"),
    "4000160000000004": ("Visa", "debit", "123"),
    "4000020000000000": ("Visa", "credit", "123"),
    "4988080000000000": ("Visa", "credit", "123"),
    "4111111111111111": ("Visa", "credit", "123"),
    "4293189100000008": ("Visa", "credit", "123"),
    "5101180000000007": ("Mastercard", "credit", "123"),
    "4131840000000003": ("Visa", "debit", "123"),
    "4000180000000002": ("Visa", "debit", "123"),
    "5200828282828210": ("Mastercard", "debit", "123"),
}
#: number → (what the sandbox does, status, code, message, the result page's heading).
FAILING = {
    "4000000000000002": (
        "declined",
        "failed",
        "P0010",
        "Payment method rejected",
        "Your payment has been declined",
    ),
    "4000000000000069": (
        "expired card",
        "failed",
        "P0010",
        "Payment method rejected",
        "Your payment has been declined",
    ),
    "4000000000000127": (
        "CVC error",
        "failed",
        "P0010",
        "Payment method rejected",
        "Your payment has been declined",
    ),
    "4000000000000119": (
        "processing error",
        "error",
        "P0050",
        "Payment provider returned an error",
        "We could not take your payment",
    ),
}
EXPIRY_YEAR = str(date.today().year + 3)
EXPIRY = f"08/{EXPIRY_YEAR[2:]}"


class ServiceSite:
    """The agency's own site, where the payer comes back to (``return_url``): a tiny
    HTTP server on 127.0.0.1 that remembers each path it was asked for."""

    def __init__(self) -> None:
        visits: list[str] = []
        self.visits = visits
        #: path → a page of the service's own (else a "Thank you" page).
        pages: dict[str, bytes] = {}
        self.pages = pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                visits.append(self.path)
                body = pages.get(
                    self.path,
                    b"<!DOCTYPE html><html lang='en'><title>Back</title><h1>Thank you</h1>",
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"

    def return_url(self) -> str:
        """A return URL unique to one payment."""
        return f"{self.origin}/paid/{uuid.uuid4().hex}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def service_site():
    site = ServiceSite()
    yield site
    site.close()


@pytest.fixture(scope="module")
def pay(running_platform):
    """The Pay API through the gateway, with the sandbox Pay test key."""
    key = running_platform.credentials()["pay_api_key"]
    with httpx.Client(
        base_url=running_platform.gateway_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=15,
    ) as client:
        yield client


def create_payment(pay: httpx.Client, return_url: str, amount: int = 1250, **extra) -> dict:
    body = {
        "amount": amount,
        "reference": f"REF-{uuid.uuid4().hex[:8]}",
        "description": "Pay for a fishing licence",
        "return_url": return_url,
        "email": "payer@example.org",
        **extra,
    }
    response = pay.post("/v1/payments", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["state"] == {"status": "created", "finished": False}
    return created


def get_payment(pay: httpx.Client, payment_id: str) -> dict:
    response = pay.get(f"/v1/payments/{payment_id}")
    assert response.status_code == 200, response.text
    return response.json()


def fill_card_details(
    page, number: str, cvc: str = "123", *, name: str = "Ann Example", email: str | None = None
) -> None:
    """Fill the card-details form as a payer does, finding each field by its label."""
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Month").fill("08")
    page.get_by_label("Year").fill(EXPIRY_YEAR)
    page.get_by_label("Name on card").fill(name)
    page.get_by_label("Card security code").fill(cvc)
    page.get_by_label("Building and street", exact=True).fill("1 High Street")
    page.get_by_label("Town or city").fill("London")
    page.get_by_label("Postcode").fill("SW1A 1AA")
    if email is not None:
        page.get_by_label("Email").fill(email)


def assert_accessible_basics(page) -> None:
    """``lang``, a title, exactly one ``h1``, a label for every control (that the
    accessibility tree resolves back to it) and a skip link to the main content."""
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.title().endswith("govplat Pay")
    assert page.locator("h1").count() == 1
    controls = page.locator("input:not([type=hidden]), select, textarea")
    for index in range(controls.count()):
        control = controls.nth(index)
        control_id = control.get_attribute("id")
        assert control_id, f"an input named {control.get_attribute('name')} has no id"
        label = page.locator(f"label[for='{control_id}']")
        assert label.count() == 1, f"#{control_id} has no label"
        found = page.get_by_label(label.inner_text(), exact=True)
        assert found.get_attribute("id") == control_id
    assert page.get_by_role("link", name="Skip to main content").get_attribute("href") == (
        "#main-content"
    )
    assert page.locator("main#main-content").count() == 1


def assert_no_axe_violations(page) -> None:
    """axe-core (the copy axe-playwright-python ships) finds nothing wrong with the page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in results.response["violations"]
    ]
    assert violations == [], violations


def no_card_number_in(text: str, number: str) -> bool:
    return number not in re.sub(r"[\s-]", "", text)


def to_confirmation(page, created: dict, number: str, cvc: str = "123") -> None:
    """From ``next_url``, through the card details, to the confirmation page."""
    page.goto(created["_links"]["next_url"]["href"])
    page.wait_for_url(re.compile(r"/pay/card-details/"))
    fill_card_details(page, number, cvc)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/pay/confirm/"))
    assert page.locator("h1").inner_text() == "Confirm your payment"


def confirm_form(page) -> tuple[str, dict[str, str]]:
    """The confirmation form's nonce, and the browser's cookies (to send it again)."""
    nonce = page.locator("form[action^='/pay/confirm/'] input[name=nonce]").get_attribute("value")
    return nonce, {c["name"]: c["value"] for c in page.context.cookies()}


@pytest.mark.parametrize("number", list(SUCCEEDING))
def test_each_succeeding_sandbox_card_pays_and_the_api_shows_success(
    running_platform, pay, page, service_site, number
):
    brand, card_type, cvc = SUCCEEDING[number]
    return_url = service_site.return_url()
    created = create_payment(pay, return_url)

    to_confirmation(page, created, number, cvc)
    assert page.locator("#amount").inner_text() == "\u00a312.50"
    assert page.locator("#card").inner_text() == f"{brand} ending {number[-4:]}"
    assert no_card_number_in(page.content(), number)
    page.get_by_role("button", name="Confirm payment").click()
    page.wait_for_url(return_url)

    assert urlsplit(return_url).path in service_site.visits
    payment = get_payment(pay, created["payment_id"])
    assert payment["state"] == {"status": "success", "finished": True}
    wanted = {
        "last_digits_card_number": number[-4:],
        "cardholder_name": "Ann Example",
        "expiry_date": EXPIRY,
        "billing_address": {
            "line1": "1 High Street",
            "postcode": "SW1A 1AA",
            "city": "London",
            "country": "GB",
        },
        "card_brand": brand,
        "card_type": card_type,
    }
    assert {key: payment["card_details"].get(key) for key in wanted} == wanted
    assert payment["refund_summary"]["amount_available"] == 1250
    assert "next_url" not in payment["_links"]
    assert no_card_number_in(json.dumps(payment), number)


@pytest.mark.parametrize("number", list(FAILING))
def test_each_failing_sandbox_card_ends_as_pay_says_and_the_payer_can_go_back(
    running_platform, pay, page, service_site, number
):
    _what, status, code, message, heading = FAILING[number]
    return_url = service_site.return_url()
    created = create_payment(pay, return_url)

    page.goto(created["_links"]["next_url"]["href"])
    fill_card_details(page, number)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/pay/result/"))
    assert page.locator("h1").inner_text() == heading
    assert "No money has been taken" in page.locator("main").inner_text()
    assert_accessible_basics(page)
    page.get_by_role("link", name="Go back to the service").click()
    page.wait_for_url(return_url)

    payment = get_payment(pay, created["payment_id"])
    assert payment["state"] == {
        "status": status,
        "finished": True,
        "code": code,
        "message": message,
    }
    details = payment["card_details"]
    assert details["card_brand"] == "Visa"
    assert details["last_digits_card_number"] == number[-4:]
    assert details["expiry_date"] == EXPIRY
    assert no_card_number_in(json.dumps(payment), number)
    assert payment["refund_summary"]["status"] == "unavailable"


def test_a_payment_completes_without_javascript(running_platform, pay, chromium, service_site):
    context = chromium.new_context(java_script_enabled=False)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        assert page.evaluate("1 + 1") == 2  # Playwright's own; the page's scripts are off
        return_url = service_site.return_url()
        created = create_payment(pay, return_url, email=None)
        page.goto(created["_links"]["next_url"]["href"])
        fill_card_details(page, "4242424242424242", email="not an address")
        page.get_by_role("button", name="Continue").click()
        # The error summary takes the focus without any script.
        assert page.evaluate("document.activeElement.className") == "error-summary"
        assert page.get_by_role("alert").get_by_role("link").get_attribute("href") == "#email"
        fill_card_details(page, "4242424242424242", email="no-script@example.org")
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(re.compile(r"/pay/confirm/"))
        assert "no-script@example.org" in page.locator("main").inner_text()
        page.get_by_role("button", name="Confirm payment").click()
        page.wait_for_url(return_url)
    finally:
        context.close()
    payment = get_payment(pay, created["payment_id"])
    assert payment["state"] == {"status": "success", "finished": True}
    assert payment["email"] == "no-script@example.org"


def test_an_invalid_card_number_is_shown_in_an_error_summary_that_takes_focus(
    running_platform, pay, page, service_site
):
    created = create_payment(pay, service_site.return_url())
    page.goto(created["_links"]["next_url"]["href"])
    assert_accessible_basics(page)
    assert_no_axe_violations(page)
    fill_card_details(page, "4242 4242 4242 4241")  # fails the Luhn check
    page.get_by_role("button", name="Continue").click()

    assert page.title().startswith("Error: ")
    summary = page.get_by_role("alert")
    assert "There is a problem" in summary.inner_text()
    link = summary.get_by_role("link", name="Enter a valid card number")
    assert link.get_attribute("href") == "#card-number"
    # The summary is what has focus when the page opens (without any script).
    assert page.evaluate("document.activeElement.className") == "error-summary"
    field = page.get_by_label("Card number")
    assert field.get_attribute("aria-invalid") == "true"
    assert "card-number-error" in field.get_attribute("aria-describedby")
    assert "Enter a valid card number" in page.locator("#card-number-error").inner_text()
    # The number is not sent back; what else the payer typed is kept.
    assert field.input_value() == ""
    assert no_card_number_in(page.content(), "4242424242424241")
    assert page.get_by_label("Name on card").input_value() == "Ann Example"
    assert page.get_by_label("Card security code").input_value() == ""
    assert_accessible_basics(page)
    assert_no_axe_violations(page)
    link.click()
    assert page.evaluate("location.hash") == "#card-number"

    fill_card_details(page, "4242424242424242")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/pay/confirm/"))
    assert_accessible_basics(page)
    assert_no_axe_violations(page)
    assert get_payment(pay, created["payment_id"])["state"]["status"] == "submitted"


def success_events(pay: httpx.Client, payment_id: str) -> list[dict]:
    response = pay.get(f"/v1/payments/{payment_id}/events")
    assert response.status_code == 200, response.text
    return [e for e in response.json()["events"] if e["state"]["status"] == "success"]


def confirm_at_once(url: str, nonce: str, cookies: dict[str, str], times: int) -> set[int]:
    """Send the confirmation form ``times`` times at the same moment, with the
    browser's cookie: the status codes answered."""
    barrier = threading.Barrier(times)

    def confirm(_):
        with httpx.Client(cookies=cookies, timeout=15) as client:
            barrier.wait()
            return client.post(url, data={"nonce": nonce}).status_code

    with ThreadPoolExecutor(times) as pool:
        return set(pool.map(confirm, range(times)))


def test_confirm_sent_twice_takes_the_payment_once(running_platform, pay, page, service_site):
    # A payer who double-clicks Confirm.
    return_url = service_site.return_url()
    created = create_payment(pay, return_url)
    to_confirmation(page, created, "4242424242424242")
    confirm_url = page.url
    nonce, cookies = confirm_form(page)
    page.get_by_role("button", name="Confirm payment").dblclick()
    page.wait_for_url(return_url)

    # Back to the confirmation: it is not shown again, the payer is sent back.
    page.go_back()
    page.wait_for_url(return_url)
    page.goto(confirm_url)
    page.wait_for_url(return_url)
    # The same form sent again by the browser, and five more at once.
    again = page.request.post(
        confirm_url, form={"nonce": nonce}, max_redirects=0, fail_on_status_code=False
    )
    assert again.status == 303
    assert again.headers["location"] == return_url
    assert confirm_at_once(confirm_url, nonce, cookies, 5) == {303}

    payment = get_payment(pay, created["payment_id"])
    assert payment["state"] == {"status": "success", "finished": True}
    assert len(success_events(pay, created["payment_id"])) == 1


def test_concurrent_confirms_of_one_form_take_the_payment_once(
    running_platform, pay, page, service_site
):
    created = create_payment(pay, service_site.return_url())
    to_confirmation(page, created, "5105105105105100")
    nonce, cookies = confirm_form(page)

    assert confirm_at_once(page.url, nonce, cookies, 8) == {303}

    assert len(success_events(pay, created["payment_id"])) == 1
    assert get_payment(pay, created["payment_id"])["state"]["status"] == "success"


def test_a_service_page_can_send_the_payer_with_next_url_post(
    running_platform, pay, page, service_site
):
    return_url = service_site.return_url()
    created = create_payment(pay, return_url)
    post = created["_links"]["next_url_post"]
    assert post["type"] == "application/x-www-form-urlencoded"
    service_site.pages["/checkout"] = (
        "<!DOCTYPE html><html lang='en'><title>Checkout</title>"
        f"<form method='post' action='{post['href']}'>"
        f"<input type='hidden' name='chargeTokenId' value='{post['params']['chargeTokenId']}'>"
        "<button>Pay now</button></form>"
    ).encode()
    page.goto(f"{service_site.origin}/checkout")
    page.get_by_role("button", name="Pay now").click()
    page.wait_for_url(re.compile(r"/pay/card-details/"))
    fill_card_details(page, "4000056655665556")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Confirm payment").click()
    page.wait_for_url(return_url)
    assert get_payment(pay, created["payment_id"])["state"]["status"] == "success"


def test_a_used_next_url_does_not_open_the_form_again(
    running_platform, pay, page, chromium, service_site
):
    return_url = service_site.return_url()
    created = create_payment(pay, return_url)
    next_url = created["_links"]["next_url"]["href"]
    page.goto(next_url)
    assert page.locator("h1").inner_text() == "Enter card details"

    # The same link again, in this browser and in another one.
    response = page.goto(next_url)
    assert response.status == 400
    assert page.locator("h1").inner_text() == "This payment link has already been used"
    assert page.get_by_label("Card number").count() == 0
    assert_accessible_basics(page)
    other = chromium.new_context()
    try:
        elsewhere = other.new_page()
        response = elsewhere.goto(next_url)
        assert response.status == 400
        assert elsewhere.get_by_label("Card number").count() == 0
        # Without the payment's cookie its pages do not open either.
        payment_id = created["payment_id"]
        response = elsewhere.goto(f"{running_platform.gateway_url}/pay/card-details/{payment_id}")
        assert response.status == 403
        assert elsewhere.get_by_label("Card number").count() == 0
    finally:
        other.close()

    # The way Pay lets a payer resume: a fresh next_url from GET payment.
    fresh = get_payment(pay, created["payment_id"])["_links"]["next_url"]["href"]
    assert fresh != next_url
    page.goto(fresh)
    page.wait_for_url(re.compile(r"/pay/card-details/"))
    assert page.get_by_label("Card number").count() == 1


def test_the_payer_cancelling_ends_the_payment_as_cancelled_by_the_user(
    running_platform, pay, page, service_site
):
    return_url = service_site.return_url()
    created = create_payment(pay, return_url)
    page.goto(created["_links"]["next_url"]["href"])
    page.get_by_role("button", name="Cancel payment").click()
    page.wait_for_url(re.compile(r"/pay/result/"))
    assert page.locator("h1").inner_text() == "Your payment has been cancelled"
    assert_accessible_basics(page)
    page.get_by_role("link", name="Go back to the service").click()
    page.wait_for_url(return_url)

    payment = get_payment(pay, created["payment_id"])
    assert payment["state"] == {
        "status": "failed",
        "finished": True,
        "code": "P0030",
        "message": "Payment was cancelled by the user",
    }
    assert "cancel" not in payment["_links"]
    # The card form of a finished payment does not open again.
    page.go_back()
    page.goto(f"{running_platform.gateway_url}/pay/card-details/{created['payment_id']}")
    assert page.get_by_label("Card number").count() == 0


def test_the_payer_can_cancel_on_the_confirmation_page(running_platform, pay, page, service_site):
    created = create_payment(pay, service_site.return_url())
    to_confirmation(page, created, "4242424242424242")
    page.get_by_role("button", name="Cancel payment").click()
    page.wait_for_url(re.compile(r"/pay/result/"))
    assert page.locator("h1").inner_text() == "Your payment has been cancelled"
    payment = get_payment(pay, created["payment_id"])
    assert payment["state"]["code"] == "P0030"
    assert success_events(pay, created["payment_id"]) == []


def test_a_payment_the_service_cancelled_meanwhile_is_not_paid(
    running_platform, pay, page, service_site
):
    created = create_payment(pay, service_site.return_url())
    page.goto(created["_links"]["next_url"]["href"])
    fill_card_details(page, "4242424242424242")
    assert pay.post(f"/v1/payments/{created['payment_id']}/cancel").status_code == 204
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/pay/result/"))
    assert page.locator("h1").inner_text() == "Your payment has been cancelled"
    assert "The service cancelled this payment" in page.locator("main").inner_text()
    payment = get_payment(pay, created["payment_id"])
    assert payment["state"] == {
        "status": "cancelled",
        "finished": True,
        "code": "P0040",
        "message": "Payment was cancelled by the service",
    }
    assert "card_details" not in payment
