"""A payer's browser on payments' hosted card pages, for the tests that go through the
gateway: a card form the sandbox authorises, the pages' one-time form nonce, and the
whole journey from a payment's ``next_url`` to the return to the service."""

from __future__ import annotations

import re

import httpx

#: A card form that payments' sandbox acquirer authorises (Visa debit, no 3-D Secure).
CARD = {
    "card-number": "4000160000000004",
    "expiry-month": "07",
    "expiry-year": "2038",
    "cardholder-name": "Ada Lovelace",
    "cvc": "739",
    "address-line-1": "1 High Street",
    "address-city": "Leeds",
    "address-postcode": "LS1 1AA",
    "address-country": "GB",
    "email": "ada@example.com",
}

_NONCE = re.compile(r'name="nonce" value="([^"]+)"')


def nonce_of(page: str) -> str:
    """The one-time form nonce of a payment page (HTML text).

    Raises:
        AssertionError: the page has no form nonce (its first 500 characters said).
    """
    found = _NONCE.search(page)
    assert found, page[:500]
    return found.group(1)


def pay_on_the_pages(gateway: str, next_url: str, card: dict = CARD) -> httpx.Response:
    """What a payer's browser does with a payment's ``next_url`` through the gateway at
    ``gateway`` (its base URL): open the card form, send ``card``, confirm. The last
    answer: a ``303`` back to the service's ``return_url`` when paid, else the card
    form's own answer."""
    with httpx.Client(base_url=gateway, timeout=30) as browser:
        form = browser.get(next_url, follow_redirects=True)
        assert form.status_code == 200, form.text[:300]
        sent = browser.post(str(form.url), data={**card, "nonce": nonce_of(form.text)})
        assert sent.status_code == 303, sent.text[:300]
        if not sent.headers["location"].startswith("/pay/confirm/"):
            return sent
        page = browser.get(sent.headers["location"])
        return browser.post(sent.headers["location"], data={"nonce": nonce_of(page.text)})
