"""The hosted payment pages as a payer's browser uses them (in-process, no JavaScript):
each sandbox card's outcome, single-use links, the one-time form nonce against CSRF
and double submission, accessible errors, and card numbers kept nowhere."""

from __future__ import annotations

import logging
import re
from html import unescape

import pytest
import sqlalchemy as sa

from payments import models


@pytest.mark.parametrize(
    "number, status, code, card_type",
    [
        ("4242424242424242", "success", None, "credit"),
        ("4000056655665556", "success", None, "debit"),
        ("5105105105105100", "success", None, "debit"),
        ("371449635398431", "success", None, "credit"),
        ("4000000000000002", "failed", "P0010", None),
        ("4000000000000069", "failed", "P0010", None),
        ("4000000000000127", "failed", "P0010", None),
        ("4000000000000119", "error", "P0050", None),
    ],
)
async def test_each_sandbox_card_ends_in_pays_state_for_it(pay, number, status, code, card_type):
    created = await pay.create()
    payment_id = created["payment_id"]
    cvc = "1234" if number.startswith("37") else "123"
    async with pay.browser() as browser:
        sent = await pay.pay_with(
            browser, created, {**pay.good_card, "card-number": number, "cvc": cvc}
        )
        assert sent.status_code == 303
        if status == "success":
            assert sent.headers["location"] == f"/pay/confirm/{payment_id}"
            page = await browser.get(sent.headers["location"])
            assert "Confirm your payment" in page.text
            assert f"ending {number[-4:]}" in page.text
            done = await browser.post(
                f"/pay/confirm/{payment_id}", data={"nonce": pay.nonce_of(page.text)}
            )
            assert done.status_code == 303
            assert done.headers["location"] == "https://agency.example/return"
        else:
            assert sent.headers["location"] == f"/pay/result/{payment_id}"
            result = await browser.get(sent.headers["location"])
            assert "No money has been taken" in result.text
    payment = await pay.read(payment_id)
    assert payment["state"]["status"] == status
    assert payment["state"]["finished"] is True
    assert payment["state"].get("code") == code
    if status == "success":
        details = payment["card_details"]
        assert details["last_digits_card_number"] == number[-4:]
        assert details["expiry_date"] == "12/40"
        assert details["cardholder_name"] == "Ada Lovelace"
        assert details["card_type"] == card_type
        assert details["billing_address"]["postcode"] == "SW1A 1AA"
        assert payment["email"] == "ada@example.com"
        assert "next_url" not in payment["_links"]


async def test_a_next_url_opens_the_pages_once_and_only_in_the_browser_that_used_it(pay):
    created = await pay.create()
    link = pay.path_of(created["_links"]["next_url"]["href"])
    async with pay.browser() as browser, pay.browser() as other:
        first = await browser.get(link)
        assert first.status_code == 303
        again = await other.get(link)
        assert again.status_code == 400
        assert "already been used" in again.text
        elsewhere = await other.get(f"/pay/card-details/{created['payment_id']}")
        assert elsewhere.status_code == 403
        assert "not valid in this browser" in elsewhere.text
        assert 'name="card-number"' not in elsewhere.text
    unknown = await pay.browser().get("/pay/secure/not-a-token")
    assert unknown.status_code == 404


async def test_next_url_post_opens_the_pages_with_the_charge_token(pay):
    created = await pay.create()
    post = created["_links"]["next_url_post"]
    assert post["method"] == "POST" and post["type"] == "application/x-www-form-urlencoded"
    async with pay.browser() as browser:
        opened = await browser.post(pay.path_of(post["href"]), data=post["params"])
        assert opened.status_code == 303
        form = await browser.get(opened.headers["location"])
        assert 'name="card-number"' in form.text
    assert (await pay.read(created["payment_id"]))["state"]["status"] == "started"


async def test_a_form_sent_twice_or_without_its_nonce_changes_nothing(pay):
    created = await pay.create()
    payment_id = created["payment_id"]
    async with pay.browser() as browser:
        form = await pay.open_pages(browser, created)
        nonce = pay.nonce_of(form.text)
        forged = await browser.post(f"/pay/card-details/{payment_id}", data=pay.good_card)
        assert forged.status_code == 303  # back to the page for the payment's state
        assert (await pay.read(payment_id))["state"]["status"] == "started"
        wrong = await browser.post(
            f"/pay/card-details/{payment_id}", data={**pay.good_card, "nonce": "x" * 32}
        )
        assert wrong.status_code == 303
        assert (await pay.read(payment_id))["state"]["status"] == "started"

        first = await browser.post(
            f"/pay/card-details/{payment_id}", data={**pay.good_card, "nonce": nonce}
        )
        assert first.headers["location"] == f"/pay/confirm/{payment_id}"
        second = await browser.post(
            f"/pay/card-details/{payment_id}", data={**pay.good_card, "nonce": nonce}
        )
        assert second.headers["location"] == f"/pay/confirm/{payment_id}"

        page = await browser.get(f"/pay/confirm/{payment_id}")
        confirm_nonce = pay.nonce_of(page.text)
        done = await browser.post(f"/pay/confirm/{payment_id}", data={"nonce": confirm_nonce})
        twice = await browser.post(f"/pay/confirm/{payment_id}", data={"nonce": confirm_nonce})
        assert done.headers["location"] == twice.headers["location"] == created["return_url"]
        cancel_after = await browser.post(
            f"/pay/cancel/{payment_id}", data={"nonce": confirm_nonce}
        )
        assert cancel_after.status_code == 303
    async with pay.db.read() as session:
        events = (
            await session.scalars(
                sa.select(models.PaymentEvent.status).where(
                    models.PaymentEvent.payment_id == payment_id
                )
            )
        ).all()
        captured = await session.scalar(
            sa.select(sa.func.count())
            .select_from(models.LedgerLine)
            .where(models.LedgerLine.payment_id == payment_id)
        )
    assert events.count("submitted") == 1 and events.count("success") == 1
    assert captured == 2  # one balanced pair: charged once
    assert (await pay.read(payment_id))["state"]["status"] == "success"


async def test_a_bad_card_gets_an_error_summary_linked_to_each_field_and_no_number_echoed(pay):
    created = await pay.create(email="payer@example.com")
    payment_id = created["payment_id"]
    bad = {
        **pay.good_card,
        "card-number": "4242424242424241",
        "expiry-month": "13",
        "cvc": "12",
        "cardholder-name": " ",
        "address-city": "",
    }
    async with pay.browser() as browser:
        sent = await pay.pay_with(browser, created, bad)
        assert sent.status_code == 400
        page = sent.text
        for field, words in [
            ("card-number", "Enter a valid card number"),
            ("expiry-month", "Enter a valid expiry date"),
            ("cvc", "Enter a valid card security code"),
            ("cardholder-name", "Enter the name as it appears on the card"),
            ("address-city", "Enter a town or city"),
        ]:
            assert f'href="#{field}"' in page, field
            assert words in unescape(page)
            assert f'id="{field}-error"' in page, field
            assert re.search(rf'aria-describedby="[^"]*\b{field}-error\b', page), field
        assert "4242424242424241" not in page and "4241" not in page
        assert 'value="12"' not in page.split('name="cvc"')[1].split(">")[0]
        assert "<title>Error: " in page
        again = await browser.post(
            f"/pay/card-details/{payment_id}", data={**pay.good_card, "nonce": pay.nonce_of(page)}
        )
        assert again.headers["location"] == f"/pay/confirm/{payment_id}"
    assert (await pay.read(payment_id))["email"] == "payer@example.com"


async def test_the_email_is_asked_for_only_when_the_service_gave_none(pay):
    without = await pay.create()
    given = await pay.create(email="given@example.com")
    async with pay.browser() as browser:
        assert 'name="email"' in (await pay.open_pages(browser, without)).text
    async with pay.browser() as browser:
        assert 'name="email"' not in (await pay.open_pages(browser, given)).text
    async with pay.browser() as browser:
        fresh = await pay.read(without["payment_id"])  # a new next_url on every read
        sent = await pay.pay_with(browser, fresh, {**pay.good_card, "email": "not an email"})
        assert sent.status_code == 400
        assert "Enter a valid email address" in sent.text


async def test_prefilled_cardholder_details_fill_the_form(pay):
    created = await pay.create(
        prefilled_cardholder_details={
            "cardholder_name": "J Bloggs",
            "billing_address": {
                "line1": "2 Low Road",
                "city": "Leeds",
                "postcode": "LS1 1AA",
                "country": "GB",
            },
        },
    )
    async with pay.browser() as browser:
        page = (await pay.open_pages(browser, created)).text
    assert 'value="J Bloggs"' in page
    assert 'value="2 Low Road"' in page and 'value="LS1 1AA"' in page


async def test_the_payer_cancels_and_the_payment_fails_with_p0030(pay):
    created = await pay.create()
    payment_id = created["payment_id"]
    async with pay.browser() as browser:
        form = await pay.open_pages(browser, created)
        cancelled = await browser.post(
            f"/pay/cancel/{payment_id}", data={"nonce": pay.nonce_of(form.text)}
        )
        assert cancelled.headers["location"] == f"/pay/result/{payment_id}"
        result = await browser.get(cancelled.headers["location"])
        assert "Your payment has been cancelled" in result.text
        assert 'href="https://agency.example/return"' in result.text
    state = (await pay.read(payment_id))["state"]
    assert (state["status"], state["code"]) == ("failed", "P0030")


async def test_a_payment_cancelled_by_the_service_or_expired_shows_why_not_the_form(pay):
    created = await pay.create()
    payment_id = created["payment_id"]
    async with pay.browser() as browser:
        await pay.open_pages(browser, created)
        async with pay.http() as api:
            assert (await api.post(f"/v1/payments/{payment_id}/cancel")).status_code == 204
        page = await browser.get(f"/pay/card-details/{payment_id}")
        assert page.status_code == 303
        result = await browser.get(page.headers["location"])
        assert "The service cancelled this payment" in result.text


async def test_a_delayed_capture_payment_is_capturable_after_the_payer_confirms(pay):
    created = await pay.create(delayed_capture=True)
    payment_id = created["payment_id"]
    async with pay.browser() as browser:
        sent = await pay.pay_with(browser, created, pay.good_card)
        page = await browser.get(sent.headers["location"])
        done = await browser.post(
            f"/pay/confirm/{payment_id}", data={"nonce": pay.nonce_of(page.text)}
        )
        assert done.headers["location"] == created["return_url"]
    payment = await pay.read(payment_id)
    assert payment["state"] == {"status": "capturable", "finished": False}
    assert "capture" in payment["_links"]


async def test_every_page_sends_security_headers_and_a_form_action_policy(pay):
    created = await pay.create()
    async with pay.browser() as browser:
        page = await pay.open_pages(browser, created)
    policy = page.headers["content-security-policy"]
    assert "form-action 'self' https://agency.example" in policy
    assert "script-src" in policy or "default-src 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY" or "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"].startswith("no-store")
    assert '<html lang="en"' in page.text
    assert page.text.count("<h1") == 1
    for field in ("card-number", "expiry-month", "cardholder-name", "cvc", "address-line-1"):
        assert f'<label class="label" for="{field}"' in page.text, field


async def test_no_card_number_or_security_code_is_stored_or_logged(pay, caplog):
    caplog.set_level(logging.DEBUG)
    number, cvc = "4000056655665556", "987"
    created = await pay.create()
    async with pay.browser() as browser:
        sent = await pay.pay_with(
            browser, created, {**pay.good_card, "card-number": number, "cvc": cvc}
        )
        page = await browser.get(sent.headers["location"])
        assert number not in page.text
        await browser.post(
            f"/pay/confirm/{created['payment_id']}", data={"nonce": pay.nonce_of(page.text)}
        )
    async with pay.db.read() as session:
        for table in models.Base.metadata.sorted_tables:
            for row in (await session.execute(sa.select(table))).all():
                values = [str(value) for value in row]
                assert not any(number in value for value in values), table.name
                assert cvc not in values, table.name
    assert number not in caplog.text
    assert (await pay.read(created["payment_id"]))["state"]["status"] == "success"


async def test_odd_form_posts_get_pages_not_errors(pay):
    created = await pay.create()
    payment_id = created["payment_id"]
    async with pay.browser() as browser:
        form = await pay.open_pages(browser, created)
        nonce = pay.nonce_of(form.text)
        for body, kind in [
            (b"\xff\xfe", "application/x-www-form-urlencoded"),
            (b"card-number=" + b"4" * 100_000, "application/x-www-form-urlencoded"),
            (b"--x\r\n\r\n", "multipart/form-data; boundary=x"),
            (b"{}", "application/json"),
        ]:
            answer = await browser.post(
                f"/pay/card-details/{payment_id}", content=body, headers={"content-type": kind}
            )
            assert answer.status_code in (303, 400), (body[:20], answer.status_code)
        accepted = await browser.post(
            f"/pay/card-details/{payment_id}", data={**pay.good_card, "nonce": nonce}
        )
        assert accepted.status_code == 303
        assert (await browser.get("/pay/card-details/not-a-payment")).status_code == 403
        assert (await browser.get("/pay/assets/nothing.css")).status_code == 404
