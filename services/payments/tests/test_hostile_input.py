"""Hostile input to payments in-process (the Pay API, the hosted pages, the admin API,
gRPC), on SQLite and PostgreSQL: bad input gets Pay's error, never a 500; the pages
answer with a page that carries the security headers; nothing accepted is lost; no card
number or security code goes anywhere but the acquirer.
"""

from __future__ import annotations

import logging
import uuid

import grpc
import httpx
import pytest
import sqlalchemy as sa

from govkit.principal import HEADER
from govplat.payments.v1 import payments_service_pb2 as pb
from payments import models
from payments.service import card_pages

NUL = "\x00"


def pay_error(response: httpx.Response) -> dict:
    """The body of a Pay error: ``code`` and ``description`` (``field``/``header``)."""
    body = response.json()
    assert set(body) <= {"code", "description", "field", "header"}, body
    assert isinstance(body["code"], str) and body["code"].startswith("P"), body
    return body


def assert_page_with_security_headers(response: httpx.Response) -> None:
    """An HTML page (never JSON or a bare body) with the pages' security headers."""
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"].startswith("no-store")
    assert "<html" in response.text and "Traceback" not in response.text


# --- the Pay API --------------------------------------------------------------------


async def test_a_set_up_agreement_with_nul_characters_is_an_unknown_agreement(pay, payment_body):
    """PostgreSQL refuses NUL in text: the agreement lookup raised and the answer was 500."""
    async with pay.http() as api:
        answer = await api.post("/v1/payments", json=payment_body(set_up_agreement=NUL * 26))
    assert answer.status_code == 400
    assert pay_error(answer) == {
        "field": "set_up_agreement",
        "code": "P0103",
        "description": "Invalid attribute value: set_up_agreement. Agreement ID does not exist",
    }


async def test_an_agreement_payment_with_nul_characters_in_its_agreement_id_is_refused(pay):
    body = {
        "amount": 500,
        "reference": "R",
        "description": "D",
        "authorisation_mode": "agreement",
        "agreement_id": NUL * 26,
    }
    async with pay.http() as api:
        answer = await api.post("/v1/payments", json=body)
    assert answer.status_code == 400
    assert pay_error(answer) == {
        "field": "agreement_id",
        "code": "P0102",
        "description": "Invalid attribute value: agreement_id. Agreement does not exist",
    }


@pytest.mark.parametrize(
    "return_url",
    [
        "https://@/",
        "https://a.example:0/",
        "https://a.example:99999/",
        "https://a.example:x/",
        "https://a.example;sandbox/x",
        "https://a.example'/x",
        "https://a..example/x",
        "https://xn--/x",
        "https://user:secret@a.example/x",
        "https://a.example/" + "a" * 1983,
        "javascript:alert(1)//https://a.example/",
        "data:text/html,<script>alert(1)</script>",
        "//a.example/x",
    ],
)
async def test_a_return_url_that_is_not_a_usable_web_address_is_refused(
    pay, payment_body, return_url
):
    """Accepted before: a host with ``;`` went into the pages' Content-Security-Policy as
    a directive of its own (``sandbox``), an empty host or a bad port made a link the
    payer's browser cannot follow, and credentials would be sent to every payer."""
    async with pay.http() as api:
        answer = await api.post("/v1/payments", json=payment_body(return_url=return_url))
    assert answer.status_code == 422, answer.text
    body = pay_error(answer)
    assert body["field"] == "return_url" and body["code"] == "P0102"
    assert body["description"].startswith("Invalid attribute value: return_url. Must be")


async def test_a_return_url_on_an_internationalised_domain_takes_the_payer_back_in_ascii(pay):
    """The pages put the host into the Content-Security-Policy header, which is Latin-1:
    opening ``next_url`` raised UnicodeEncodeError (a 500 for the payer)."""
    created = await pay.create(return_url="https://例え.jp/back?name=é")
    assert created["return_url"] == "https://例え.jp/back?name=é", "Pay returns it as sent"
    async with pay.browser() as browser:
        page = await pay.open_pages(browser, created)
        assert page.status_code == 200
        assert (
            "form-action 'self' https://xn--r8jz45g.jp" in page.headers["content-security-policy"]
        )
        sent = await browser.post(
            f"/pay/card-details/{created['payment_id']}",
            data={**pay.good_card, "nonce": pay.nonce_of(page.text)},
        )
        confirm = await browser.get(sent.headers["location"])
        done = await browser.post(
            sent.headers["location"], data={"nonce": pay.nonce_of(confirm.text)}
        )
    assert done.status_code == 303
    assert done.headers["location"] == "https://xn--r8jz45g.jp/back?name=%C3%A9"


@pytest.mark.parametrize(
    ("field", "value"),
    [("language", False), ("language", {}), ("language", 0), ("language", [])],
)
async def test_a_language_that_is_not_a_string_is_refused_not_taken_as_english(
    pay, payment_body, field, value
):
    async with pay.http() as api:
        answer = await api.post("/v1/payments", json=payment_body(**{field: value}))
    assert answer.status_code == 422
    assert pay_error(answer) == {
        "field": "language",
        "code": "P0102",
        "description": 'Invalid attribute value: language. Must be "en" or "cy"',
    }


@pytest.mark.parametrize("value", [False, 0, "", [], {}])
async def test_an_authorisation_mode_that_is_not_a_known_string_is_refused_not_taken_as_web(
    pay, payment_body, value
):
    async with pay.http() as api:
        answer = await api.post("/v1/payments", json=payment_body(authorisation_mode=value))
    assert answer.status_code == 400
    assert pay_error(answer)["field"] == "authorisation_mode"


async def test_a_metadata_key_with_a_nul_character_is_refused(pay, payment_body):
    async with pay.http() as api:
        answer = await api.post("/v1/payments", json=payment_body(metadata={"ledger" + NUL: 1}))
    assert answer.status_code == 422
    body = pay_error(answer)
    assert body["field"] == "metadata" and body["code"] == "P0102"


async def test_a_body_over_the_limit_is_refused_before_it_is_read_to_the_end(pay):
    """The whole body was read into memory before its size was checked."""
    pulled = 0

    async def endless():
        nonlocal pulled
        for _ in range(10_000):  # 640 MB if read to the end
            pulled += 1
            yield b" " * 65536

    async with pay.http() as api:
        answer = await api.post(
            "/v1/payments", content=endless(), headers={"content-type": "application/json"}
        )
    assert answer.status_code == 413
    assert pay_error(answer)["code"] == "P0920"
    assert pulled < 100


@pytest.mark.parametrize(
    "query",
    [
        "reference=%00",
        "email=a%00",
        "card_brand=%00",
        "cardholder_name=%00",
        "agreement_id=%00",
        "reference=%C0",
    ],
)
async def test_a_payment_search_with_a_nul_character_names_the_parameter(pay, query):
    """PostgreSQL refuses NUL in a text parameter: the search answered 500."""
    await pay.create()
    async with pay.http() as api:
        answer = await api.get(f"/v1/payments?{query}")
    if query == "reference=%C0":  # an invalid UTF-8 byte is U+FFFD, a plain value
        assert answer.status_code == 200 and answer.json()["total"] == 0
        return
    assert answer.status_code == 422
    name = query.split("=")[0]
    assert pay_error(answer) == {
        "code": "P0401",
        "description": f"Invalid parameters: {name}. See Public API documentation for the "
        "correct data formats",
    }


async def test_an_agreement_search_with_a_nul_character_names_the_parameter(pay):
    async with pay.http() as api:
        answer = await api.get("/v1/agreements?reference=%00")
    assert answer.status_code == 422
    assert pay_error(answer)["code"] == "P2401"
    assert "reference" in pay_error(answer)["description"]


@pytest.mark.parametrize("name", ["from_settled_date", "to_settled_date"])
async def test_a_settled_date_with_a_trailing_newline_is_refused(pay, name):
    async with pay.http() as api:
        payments = await api.get(f"/v1/payments?{name}=2024-01-01%0A")
        refunds = await api.get(f"/v1/refunds?{name}=2024-01-01%0A")
    assert payments.status_code == 422 and pay_error(payments)["code"] == "P0401"
    assert refunds.status_code == 422 and pay_error(refunds)["code"] == "P1101"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b'{"amount": 1e999}',
        b'{"amount": NaN}',
        b'{"amount": "\\ud800"}',
        b"[" * 10_000 + b"]" * 10_000,
        b'{"amount": ' + b"9" * 5000 + b"}",
    ],
)
@pytest.mark.parametrize(
    ("path", "code"),
    [("/v1/payments", "P0197"), ("/v1/agreements", "P2197"), ("refunds", "P0697")],
)
async def test_an_unreadable_body_is_pays_unable_to_parse_json_on_every_create(
    pay, payment_body, body, path, code
):
    if path == "refunds":
        path = f"/v1/payments/{(await pay.create())['payment_id']}/refunds"
    async with pay.http() as api:
        answer = await api.post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert pay_error(answer) == {"code": code, "description": "Unable to parse JSON"}


@pytest.mark.parametrize(
    "amount", [True, 1.0, -0.0, "100", 2**31, -(2**31) - 1, 10**30, None, [100], {"v": 1}]
)
async def test_a_refund_amount_of_the_wrong_type_or_size_is_refused_and_nothing_is_refunded(
    pay, amount
):
    created = await pay.create(amount=1000)
    await pay.take(created)
    async with pay.http() as api:
        answer = await api.post(
            f"/v1/payments/{created['payment_id']}/refunds", json={"amount": amount}
        )
    assert answer.status_code in (400, 422)
    assert pay_error(answer)["code"] in ("P0601", "P0602")
    assert (await pay.read(created["payment_id"]))["refund_summary"]["amount_available"] == 1000


# --- the admin API ------------------------------------------------------------------


async def test_a_webhook_description_with_a_nul_character_is_refused(pay):
    async with pay.admin() as admin:
        answer = await admin.post(
            f"/admin/payments/services/{pay.service_id}/webhooks",
            json={
                "callback_url": "https://agency.example/hook",
                "event_types": ["card_payment_succeeded"],
                "description": "hook" + NUL,
            },
        )
    assert answer.status_code == 400
    assert set(answer.json()) == {"error", "message"}


@pytest.mark.parametrize(
    "callback_url",
    [
        "https://user:secret@agency.example/hook",
        "https://agency.example:99999/hook",
        "https://agency.example:0/hook",
        "https://xn--/hook",
        "https://agency..example/hook",
        "https://agency.example;x/hook",
        "ftp://agency.example/hook",
        "file:///etc/passwd",
        "https:///hook",
    ],
)
async def test_a_webhook_callback_url_that_cannot_be_posted_to_is_refused(pay, callback_url):
    """Stored before: credentials shown in every listing, and ports or hosts that httpx
    refuses at delivery time with InvalidURL, which is not an HTTPError."""
    async with pay.admin() as admin:
        answer = await admin.post(
            f"/admin/payments/services/{pay.service_id}/webhooks",
            json={"callback_url": callback_url, "event_types": ["card_payment_succeeded"]},
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] in ("INVALID_CALLBACK_URL", "INVALID_REQUEST")


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/messages"), ("POST", "/activate"), ("POST", "/deactivate")],
)
async def test_a_webhook_id_with_a_nul_character_is_not_found(pay, method, suffix):
    async with pay.admin() as admin:
        answer = await admin.request(
            method, f"/admin/payments/services/{pay.service_id}/webhooks/%00{suffix}"
        )
    assert answer.status_code == 404
    assert answer.json()["error"] == "WEBHOOK_NOT_FOUND"


@pytest.mark.parametrize("day", ["2024-W01-1", "2024-001-1", "20240101xx", "2024-1-01 "])
async def test_the_ledger_takes_only_a_calendar_date(pay, day):
    async with pay.admin() as admin:
        answer = await admin.get("/admin/payments/ledger", params={"date": day})
    assert answer.status_code == 400
    assert answer.json()["error"] in ("INVALID_DATE", "INVALID_REQUEST")


# --- the hosted payment pages -------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["cardholder-name", "address-line-1", "address-line-2", "address-city", "address-postcode"],
)
@pytest.mark.parametrize("bad", [NUL, "\x1b[31m", "\x7f"])
async def test_a_card_form_field_with_a_control_character_is_asked_again_and_the_payment_goes_on(
    pay, field, bad
):
    """A NUL in the name was sent to the acquirer, authorised, then refused by
    PostgreSQL: a 500, the form's nonce used up, and an authorisation no one knew of."""
    created = await pay.create()
    async with pay.browser() as browser:
        sent = await pay.pay_with(browser, created, {**pay.good_card, field: "Ada" + bad + "x"})
        assert sent.status_code == 400
        assert_page_with_security_headers(sent)
        assert f'id="{field}-error"' in sent.text
        assert (await pay.read(created["payment_id"]))["state"]["status"] == "started"
        again = await browser.post(
            f"/pay/card-details/{created['payment_id']}",
            data={**pay.good_card, "nonce": pay.nonce_of(sent.text)},
        )
    assert again.status_code == 303
    assert again.headers["location"] == f"/pay/confirm/{created['payment_id']}"


@pytest.mark.parametrize("country", ["ÄÖ", "ß", "١٢", "G1"])
async def test_a_country_that_is_not_two_ascii_letters_is_asked_again(pay, country):
    """``ß`` became ``SS`` and ``ÄÖ`` passed ``isalpha``: both were stored as countries."""
    created = await pay.create()
    async with pay.browser() as browser:
        sent = await pay.pay_with(browser, created, {**pay.good_card, "address-country": country})
    assert sent.status_code == 400
    assert 'id="address-country-error"' in sent.text


@pytest.mark.parametrize(
    "number",
    [
        "\u0664\u0662" * 8,  # Arabic-Indic
        "\uff14\uff12" * 8,  # fullwidth
        "4242 4242 4242 424a",
        "\U0001d7d2\U0001d7d0" * 8,  # mathematical bold
    ],
)
async def test_a_card_number_in_other_digits_or_with_letters_is_not_a_card(pay, number):
    created = await pay.create()
    async with pay.browser() as browser:
        sent = await pay.pay_with(browser, created, {**pay.good_card, "card-number": number})
    assert sent.status_code == 400
    assert "Enter a valid card number" in sent.text
    assert number not in sent.text
    assert (await pay.read(created["payment_id"]))["state"]["status"] == "started"


async def test_a_cardholder_name_with_markup_is_shown_escaped(pay):
    created = await pay.create()
    async with pay.browser() as browser:
        sent = await pay.pay_with(
            browser,
            created,
            {**pay.good_card, "cardholder-name": '"><script>alert(1)</script>', "cvc": "١٢٣"},
        )
    assert sent.status_code == 400
    assert "<script>alert(1)" not in sent.text
    assert "&lt;script&gt;alert(1)" in sent.text


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (None, None),  # a file upload
        (b"garbage", "multipart/form-data"),
        (
            b"--x\r\nContent-Disposition: form-data\r\n\r\nx\r\n--x--\r\n",
            "multipart/form-data; boundary=x",
        ),
        (b"&".join(b"f%d=1" % i for i in range(200)), "application/x-www-form-urlencoded"),
        (b"cardholder-name=" + b"x" * 3_000_000, "application/x-www-form-urlencoded"),
    ],
)
async def test_a_form_post_the_pages_cannot_read_is_answered_with_a_page(pay, content, kind):
    """Starlette's own HTTPException (not FastAPI's) escaped the pages' form reader:
    the payer got Pay's JSON 404-style body, without the pages' security headers."""
    created = await pay.create()
    async with pay.browser() as browser:
        form = await pay.open_pages(browser, created)
        url = f"/pay/card-details/{created['payment_id']}"
        if content is None:
            answer = await browser.post(
                url,
                data={"nonce": pay.nonce_of(form.text)},
                files={"card": ("card.txt", b"4242424242424242")},
            )
        else:
            answer = await browser.post(url, content=content, headers={"content-type": kind})
        if answer.status_code == 303:
            answer = await browser.get(answer.headers["location"])
        assert answer.status_code in (200, 400, 413)
        assert_page_with_security_headers(answer)
        page = await browser.get(url)
        sent = await browser.post(url, data={**pay.good_card, "nonce": pay.nonce_of(page.text)})
    assert sent.status_code == 303, "the payer can still pay"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/pay/nothing-here"),
        ("GET", "/pay/assets/nothing.css"),
        ("GET", "/pay/cancel/abc"),
        ("PUT", "/pay/card-details/abc"),
        ("DELETE", "/pay/secure"),
    ],
)
async def test_an_unknown_page_or_method_is_a_page_with_the_security_headers(pay, method, path):
    async with pay.browser() as browser:
        answer = await browser.request(method, path)
    assert answer.status_code in (404, 405)
    assert_page_with_security_headers(answer)


async def test_an_unexpected_failure_on_the_pages_is_a_page_without_details_or_card_number(
    pay, caplog, monkeypatch
):
    """Any error the pages did not expect was Pay's JSON 500, without the pages' headers."""
    caplog.set_level(logging.DEBUG)
    number, cvc = "4000056655665556", "987"

    async def broken(payments, payment_id, nonce, card):
        raise RuntimeError(f"a bug with {card.card_number} {card.cvc}")

    monkeypatch.setattr(card_pages, "submit_card", broken)
    created = await pay.create()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=pay.app, raise_app_exceptions=False),
        base_url="http://gateway.test",
    ) as browser:
        answer = await pay.pay_with(
            browser, created, {**pay.good_card, "card-number": number, "cvc": cvc}
        )
    assert answer.status_code == 500
    assert_page_with_security_headers(answer)
    assert number not in answer.text and "RuntimeError" not in answer.text
    assert number not in caplog.text


async def test_a_cookie_signed_for_another_payment_does_not_open_this_one(pay):
    first, second = await pay.create(), await pay.create()
    async with pay.browser() as browser:
        await pay.open_pages(browser, first)
        answer = await browser.get(f"/pay/card-details/{second['payment_id']}")
        forged = await browser.post(
            f"/pay/card-details/{second['payment_id']}",
            data={**pay.good_card, "nonce": "x"},
            cookies={"govplat_pay": "x" * 400},
        )
    assert answer.status_code == 403 and forged.status_code == 403
    assert_page_with_security_headers(answer)
    assert (await pay.read(second["payment_id"]))["state"]["status"] == "created"


async def test_no_card_number_or_security_code_is_kept_after_refused_card_forms(pay, caplog):
    caplog.set_level(logging.DEBUG)
    number, cvc = "4000056655665556", "987"
    created = await pay.create()
    async with pay.browser() as browser:
        await pay.open_pages(browser, created)
        url = f"/pay/card-details/{created['payment_id']}"
        for change in (
            {"cardholder-name": NUL},
            {"address-country": "ß"},
            {"expiry-year": "1999"},
            {"cvc": "١٢٣"},
        ):
            form = await browser.get(url)
            sent = await browser.post(
                url,
                data={
                    **pay.good_card,
                    "card-number": number,
                    "cvc": cvc,
                    "nonce": pay.nonce_of(form.text),
                    **change,
                },
            )
            assert sent.status_code == 400
            assert number not in sent.text and f'value="{cvc}"' not in sent.text
    async with pay.db.read() as session:
        for table in models.Base.metadata.sorted_tables:
            for row in (await session.execute(sa.select(table))).all():
                assert not any(number in str(value) for value in row), table.name
    assert number not in caplog.text


# --- gRPC ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_message",
    [
        pb.ListPaymentsRequest(reference=NUL),
        pb.ListPaymentsRequest(page_token="x" * 10_000),
        pb.ListPaymentsRequest(page_token="OTk5OTk5OTk5OTk5"),
        pb.ListPaymentsRequest(page_size=-1),
    ],
)
async def test_a_grpc_search_with_bad_fields_is_invalid_argument(pay, stub, request_message):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ListPayments(
            request_message, metadata=((HEADER.lower(), pay.principal("test")),)
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    "fields",
    [
        {"amount": 2**62},
        {"amount": -1},
        {"reference": NUL},
        {"reference": "x" * 100_000},
        {"return_url": "https://a.example;sandbox/"},
        {"request_id": "not a key!"},
        {"request_id": "k" * 256},
        {"metadata": {NUL: "x"}},
        {"metadata": {f"k{i}": "v" for i in range(16)}},
        {"service_id": str(uuid.uuid4())},
    ],
)
async def test_a_grpc_create_with_bad_fields_is_refused_and_creates_nothing(pay, stub, fields):
    values = dict(
        amount=1250, reference="R", description="D", return_url="https://agency.example/r"
    )
    values.update(fields)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.CreatePayment(
            pb.CreatePaymentRequest(**values),
            metadata=((HEADER.lower(), pay.principal("test")),),
        )
    assert raised.value.code() in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
    )
    async with pay.http() as api:
        assert (await api.get("/v1/payments")).json()["total"] == 0


@pytest.mark.parametrize("payment_id", [NUL, "a" * 10_000, "../" * 10, "é" * 26])
async def test_a_grpc_read_of_a_bad_id_is_not_found(pay, stub, payment_id):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetPayment(
            pb.GetPaymentRequest(payment_id=payment_id),
            metadata=((HEADER.lower(), pay.principal("test")),),
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
