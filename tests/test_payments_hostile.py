"""Hostile input to payments through the gateway of the running platform, as an
agency's code or a payer's browser would send it: Pay's errors, never a 500; the hosted
pages answer with a page; the payment goes on afterwards; no card number or security
code in the logs."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from govkit.testing.payer import CARD, nonce_of

NEXT_URL_PATH = re.compile(r"^https?://[^/]+")


def api(platform) -> httpx.Client:
    key = platform.credentials()["pay_api_key"]
    return httpx.Client(
        base_url=platform.gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def create(platform, **fields) -> dict:
    body = {
        "amount": 1999,
        "reference": f"HOSTILE-{uuid.uuid4().hex[:8]}",
        "description": "Fishing licence",
        "return_url": "https://agency.example/done",
        **fields,
    }
    with api(platform) as client:
        answer = client.post("/v1/payments", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def assert_page(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "query", ["reference=%00", "email=%00", "cardholder_name=x%00", "agreement_id=%00"]
)
def test_a_payment_search_with_a_nul_character_is_pays_422_through_the_gateway(
    running_platform, query
):
    with api(running_platform) as client:
        answer = client.get(f"/v1/payments?{query}")
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "P0401"


def test_a_create_with_nul_characters_in_set_up_agreement_is_pays_400_through_the_gateway(
    running_platform,
):
    with api(running_platform) as client:
        answer = client.post(
            "/v1/payments",
            json={
                "amount": 100,
                "reference": "R",
                "description": "D",
                "return_url": "https://agency.example/done",
                "set_up_agreement": "\x00" * 26,
            },
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "P0103"


def test_a_return_url_with_a_csp_directive_in_its_host_is_refused_through_the_gateway(
    running_platform,
):
    with api(running_platform) as client:
        answer = client.post(
            "/v1/payments",
            json={
                "amount": 100,
                "reference": "R",
                "description": "D",
                "return_url": "https://agency.example;sandbox/done",
            },
        )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "return_url"


def test_a_payment_returning_to_an_internationalised_domain_is_paid_through_the_gateway(
    running_platform,
):
    created = create(running_platform, return_url="https://bücher.example/zurück")
    with httpx.Client(base_url=running_platform.gateway_url, timeout=30) as browser:
        form = browser.get(created["_links"]["next_url"]["href"], follow_redirects=True)
        assert form.status_code == 200, form.text[:300]
        assert "https://xn--bcher-kva.example" in form.headers["content-security-policy"]
        sent = browser.post(str(form.url), data={**CARD, "nonce": nonce_of(form.text)})
        page = browser.get(sent.headers["location"])
        done = browser.post(sent.headers["location"], data={"nonce": nonce_of(page.text)})
    assert done.status_code == 303
    assert done.headers["location"] == "https://xn--bcher-kva.example/zur%C3%BCck"


def test_a_card_form_with_a_nul_in_the_name_is_asked_again_and_then_paid_through_the_gateway(
    running_platform,
):
    created = create(running_platform)
    with httpx.Client(base_url=running_platform.gateway_url, timeout=30) as browser:
        form = browser.get(created["_links"]["next_url"]["href"], follow_redirects=True)
        refused = browser.post(
            str(form.url),
            data={**CARD, "cardholder-name": "Ada\x00Lovelace", "nonce": nonce_of(form.text)},
        )
        assert refused.status_code == 400, refused.text[:300]
        assert_page(refused)
        sent = browser.post(str(form.url), data={**CARD, "nonce": nonce_of(refused.text)})
        assert sent.status_code == 303
        page = browser.get(sent.headers["location"])
        done = browser.post(sent.headers["location"], data={"nonce": nonce_of(page.text)})
    assert done.headers["location"] == "https://agency.example/done"
    with api(running_platform) as client:
        payment = client.get(f"/v1/payments/{created['payment_id']}").json()
    assert payment["state"]["status"] == "success"
    assert payment["card_details"]["cardholder_name"] == "Ada Lovelace"


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/pay/nothing-here"), ("PUT", "/pay/card-details/x")]
)
def test_an_unknown_page_through_the_gateway_is_a_page_with_the_security_headers(
    running_platform, method, path
):
    answer = httpx.request(method, f"{running_platform.gateway_url}{path}", timeout=30)
    assert answer.status_code in (404, 405)
    assert_page(answer)


def test_a_multipart_card_form_through_the_gateway_is_answered_with_a_page(running_platform):
    created = create(running_platform)
    with httpx.Client(base_url=running_platform.gateway_url, timeout=30) as browser:
        form = browser.get(created["_links"]["next_url"]["href"], follow_redirects=True)
        answer = browser.post(
            str(form.url),
            data={**CARD, "nonce": nonce_of(form.text)},
            files={"card": ("card.txt", CARD["card-number"].encode())},
        )
        if answer.status_code == 303:
            answer = browser.get(answer.headers["location"])
    assert answer.status_code in (200, 400)
    assert_page(answer)


def test_hostile_card_forms_leave_no_card_number_or_security_code_in_the_logs(running_platform):
    hostile = [
        {"cardholder-name": "\x00"},
        {"address-line-1": "\x1b[2J"},
        {"address-country": "ß"},
        {"expiry-year": "1999"},
    ]
    created = create(running_platform)
    with httpx.Client(base_url=running_platform.gateway_url, timeout=30) as browser:
        form = browser.get(created["_links"]["next_url"]["href"], follow_redirects=True)
        for change in hostile:
            page = browser.get(str(form.url))
            browser.post(str(form.url), data={**CARD, "nonce": nonce_of(page.text), **change})
        browser.post(
            str(form.url),
            data={**CARD, "nonce": "stale"},
            files={"card": ("card.txt", CARD["card-number"].encode())},
        )
    time.sleep(1)  # let the log lines land
    for component in ("payments", "gateway"):
        log = (running_platform.data_dir / "log" / f"{component}.log").read_text(errors="replace")
        assert CARD["card-number"] not in log, component
        assert "cvc=" not in log and '"cvc"' not in log, component
