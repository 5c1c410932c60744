"""The Pay API in-process: Pay's field rules and words, shapes, lifecycle, search, refunds,
agreements, idempotency and expiry."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from govkit.db import utcnow
from payments import repository
from payments.models import Payment
from payments.service import payments as payments_service

CREATED_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def error(response) -> dict:
    body = response.json()
    assert set(body) <= {"code", "description", "field", "header"}
    return body


async def test_a_payment_is_created_with_pays_answer_and_headers(pay, payment_body):
    async with pay.http("test") as api:
        response = await api.post(
            "/v1/payments",
            json=payment_body(
                email="payer@example.org", metadata={"ledger_code": "AB1", "count": 3, "paid": True}
            ),
        )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == body["_links"]["self"]["href"]
    assert response.headers["cache-control"] == "no-store"
    assert re.match(r"^[0-9a-v]{26}$", body["payment_id"])
    assert body["state"] == {"status": "created", "finished": False}
    assert (
        body["amount"] == 1250 and body["language"] == "en" and body["email"] == "payer@example.org"
    )
    assert body["metadata"] == {"ledger_code": "AB1", "count": 3, "paid": True}
    assert body["refund_summary"] == {
        "status": "pending",
        "amount_available": 1250,
        "amount_submitted": 0,
    }
    assert body["settlement_summary"] == {}
    assert CREATED_DATE.match(body["created_date"])
    links = body["_links"]
    assert set(links) == {"self", "next_url", "next_url_post", "events", "refunds", "cancel"}
    assert links["next_url"]["href"].startswith("http://gateway.test/pay/secure/")
    assert links["next_url_post"]["params"]["chargeTokenId"] in links["next_url"]["href"]
    assert links["cancel"] == {"href": f"{links['self']['href']}/cancel", "method": "POST"}
    assert "card_details" not in body and "provider_id" not in body, "nulls are left out"


async def test_every_read_of_an_unfinished_payment_gives_a_new_next_url(pay, payment_body):
    async with pay.http("test") as api:
        created = (await api.post("/v1/payments", json=payment_body())).json()
        first = (await api.get(f"/v1/payments/{created['payment_id']}")).json()
        second = (await api.get(f"/v1/payments/{created['payment_id']}")).json()
    urls = {
        created["_links"]["next_url"]["href"],
        first["_links"]["next_url"]["href"],
        second["_links"]["next_url"]["href"],
    }
    assert len(urls) == 3


@pytest.mark.parametrize(
    ("change", "status", "code", "field", "description"),
    [
        ({"amount": None}, 400, "P0101", "amount", "Missing mandatory attribute: amount"),
        (
            {"amount": "1250"},
            400,
            "P0102",
            "amount",
            "Invalid attribute value: amount. Must be a valid numeric format",
        ),
        (
            {"amount": 1250.0},
            400,
            "P0102",
            "amount",
            "Invalid attribute value: amount. Must be a valid numeric format",
        ),
        (
            {"amount": True},
            400,
            "P0102",
            "amount",
            "Invalid attribute value: amount. Must be a valid numeric format",
        ),
        (
            {"amount": 2**31},
            400,
            "P0102",
            "amount",
            "Invalid attribute value: amount. Must be a valid numeric format",
        ),
        (
            {"amount": 10_000_001},
            422,
            "P0102",
            "amount",
            "Invalid attribute value: amount. Must be less than or equal to 10000000",
        ),
        (
            {"amount": 0},
            422,
            "P0102",
            "amount",
            "Invalid attribute value: amount. Must be greater than or equal to 1",
        ),
        ({"reference": "  "}, 400, "P0101", "reference", "Missing mandatory attribute: reference"),
        (
            {"reference": "a<b"},
            400,
            "P0102",
            "reference",
            "Invalid attribute value: reference. Must be a valid string format",
        ),
        (
            {"reference": 5},
            400,
            "P0102",
            "reference",
            "Invalid attribute value: reference. Must be a valid string format",
        ),
        (
            {"reference": "r" * 256},
            422,
            "P0102",
            "reference",
            "Invalid attribute value: reference. Must be less than or equal to 255 characters length",
        ),
        (
            {"description": "pipe | here"},
            400,
            "P0102",
            "description",
            "Invalid attribute value: description. Must be a valid string format",
        ),
        (
            {"return_url": None},
            400,
            "P0101",
            "return_url",
            "Missing mandatory attribute: return_url",
        ),
        (
            {"return_url": "not a url"},
            422,
            "P0102",
            "return_url",
            "Invalid attribute value: return_url. Must be a valid URL format",
        ),
        (
            {"return_url": "https://x.example/" + "a" * 2000},
            422,
            "P0102",
            "return_url",
            "Invalid attribute value: return_url. Must be less than or equal to 2000 characters length",
        ),
        (
            {"language": "fr"},
            422,
            "P0102",
            "language",
            'Invalid attribute value: language. Must be "en" or "cy"',
        ),
        (
            {"email": "e" * 255},
            422,
            "P0102",
            "email",
            "Invalid attribute value: email. Must be less than or equal to 254 characters length",
        ),
        (
            {"delayed_capture": "yes"},
            400,
            "P0102",
            "delayed_capture",
            "Invalid attribute value: delayed_capture. Must be true or false",
        ),
        (
            {"metadata": {f"k{n}": n for n in range(16)}},
            422,
            "P0102",
            "metadata",
            "Invalid attribute value: metadata. Cannot have more than 15 key-value pairs",
        ),
        (
            {"metadata": {"k" * 31: 1}},
            422,
            "P0102",
            "metadata",
            "Invalid attribute value: metadata. Keys must be between 1 and 30 characters long",
        ),
        (
            {"metadata": {"k": "v" * 101}},
            422,
            "P0102",
            "metadata",
            "Invalid attribute value: metadata. Values must be no greater than 100 characters long",
        ),
        (
            {"metadata": {"k": None}},
            422,
            "P0102",
            "metadata",
            "Invalid attribute value: metadata. Values must be of type String, Boolean or Number",
        ),
        (
            {"agreement_id": "a" * 26},
            400,
            "P0104",
            "agreement_id",
            "Unexpected attribute: agreement_id",
        ),
    ],
)
async def test_create_refusals_have_pays_code_status_field_and_words(
    pay, payment_body, change, status, code, field, description
):
    body = payment_body(**change)
    body = {k: v for k, v in body.items() if v is not None}
    async with pay.http("test") as api:
        response = await api.post("/v1/payments", json=body)
    assert response.status_code == status
    assert error(response) == {"field": field, "code": code, "description": description}


async def test_a_live_account_needs_an_https_return_url_and_a_test_one_does_not(pay, payment_body):
    body = payment_body(return_url="http://agency.example/return")
    async with pay.http("live") as api:
        live = await api.post("/v1/payments", json=body)
    async with pay.http("test") as api:
        test = await api.post("/v1/payments", json=body)
    assert live.status_code == 422
    assert error(live) == {
        "field": "return_url",
        "code": "P0920",
        "description": "Invalid attribute value: return_url. Must begin with https:// for a live gateway account",
    }
    assert test.status_code == 201


@pytest.mark.parametrize(
    "raw", [b"{bad", b"", b"[1, 2]", b'{"amount": NaN}', b'{"amount": 1e999}', b'"\\ud800"']
)
async def test_a_body_that_is_not_a_json_object_is_unable_to_parse(pay, raw):
    async with pay.http("test") as api:
        response = await api.post(
            "/v1/payments", content=raw, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert error(response) == {"code": "P0197", "description": "Unable to parse JSON"}


async def test_unknown_fields_are_ignored_as_pay_ignores_them(pay, payment_body):
    async with pay.http("test") as api:
        response = await api.post(
            "/v1/payments", json=payment_body(colour="blue", internal={"source": "x"})
        )
    assert response.status_code == 201 and "colour" not in response.json()


async def test_moto_and_moto_api_are_not_enabled_for_any_account(pay, payment_body):
    async with pay.http("test") as api:
        moto = await api.post("/v1/payments", json=payment_body(moto=True))
        moto_api = await api.post(
            "/v1/payments",
            json={
                k: v
                for k, v in payment_body(authorisation_mode="moto_api").items()
                if k != "return_url"
            },
        )
    assert moto.status_code == 422 and error(moto)["code"] == "P0196"
    assert moto_api.status_code == 422 and error(moto_api)["code"] == "P0195"


async def test_the_same_idempotency_key_and_body_give_the_same_payment_another_body_409(
    pay, payment_body
):
    async with pay.http("test") as api:
        first = await api.post(
            "/v1/payments", json=payment_body(), headers={"Idempotency-Key": "order-1"}
        )
        again = await api.post(
            "/v1/payments", json=payment_body(), headers={"Idempotency-Key": "order-1"}
        )
        other = await api.post(
            "/v1/payments", json=payment_body(amount=99), headers={"Idempotency-Key": "order-1"}
        )
        bad = await api.post(
            "/v1/payments", json=payment_body(), headers={"Idempotency-Key": "no spaces!"}
        )
        long = await api.post(
            "/v1/payments", json=payment_body(), headers={"Idempotency-Key": "k" * 256}
        )
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["payment_id"] == first.json()["payment_id"]
    assert other.status_code == 409 and error(other)["code"] == "P0191"
    assert error(bad) == {
        "header": "Idempotency-Key",
        "code": "P0102",
        "description": "Header [Idempotency-Key] can only contain alphanumeric characters and hyphens",
    }
    assert long.status_code == 422 and error(long)["header"] == "Idempotency-Key"


async def test_an_idempotency_key_older_than_a_day_makes_a_new_payment(pay, payment_body):
    async with pay.http("test") as api:
        first = (
            await api.post("/v1/payments", json=payment_body(), headers={"Idempotency-Key": "k-1"})
        ).json()
        async with pay.db.write() as session:
            from payments.models import IdempotencyKey

            key = await session.get(IdempotencyKey, (pay.caller().account, "payment", "k-1"))
            key.created_at = utcnow() - timedelta(hours=25)
        later = await api.post(
            "/v1/payments", json=payment_body(), headers={"Idempotency-Key": "k-1"}
        )
    assert later.status_code == 201 and later.json()["payment_id"] != first["payment_id"]


async def test_cancel_and_capture_follow_pays_rules(pay, payment_body):
    async with pay.http("test") as api:
        created = (await api.post("/v1/payments", json=payment_body())).json()
        path = f"/v1/payments/{created['payment_id']}"
        not_capturable = await api.post(f"{path}/capture")
        cancelled = await api.post(f"{path}/cancel")
        again = await api.post(f"{path}/cancel")
        got = (await api.get(path)).json()
        events = (await api.get(f"{path}/events")).json()
    assert not_capturable.status_code == 409 and error(not_capturable) == {
        "code": "P1003",
        "description": "Payment cannot be captured",
    }
    assert cancelled.status_code == 204 and cancelled.content == b""
    assert again.status_code == 400 and error(again) == {
        "code": "P0501",
        "description": "Cancellation of payment failed",
    }
    assert got["state"] == {
        "status": "cancelled",
        "finished": True,
        "code": "P0040",
        "message": "Payment was cancelled by the service",
    }
    assert "next_url" not in got["_links"] and "cancel" not in got["_links"]
    assert got["refund_summary"]["status"] == "unavailable"
    assert [e["state"]["status"] for e in events["events"]] == ["created", "cancelled"]
    assert events["_links"]["self"]["href"].endswith("/events")
    assert all(
        e["_links"]["payment_url"]["href"].endswith(created["payment_id"]) for e in events["events"]
    )


async def test_search_filters_pages_and_refuses_bad_parameters_all_at_once(pay, payment_body):
    async with pay.http("test") as api:
        for n in range(5):
            await api.post(
                "/v1/payments",
                json=payment_body(reference=f"REF-{n % 2}", email=f"Person{n}@Example.org"),
            )
        by_reference = (await api.get("/v1/payments?reference=REF-1")).json()
        by_email = (await api.get("/v1/payments?email=person3")).json()
        paged = (await api.get("/v1/payments?display_size=2&page=2")).json()
        past = await api.get("/v1/payments?display_size=2&page=9")
        bad = await api.get(
            "/v1/payments?state=capturable&page=0&display_size=501&from_date=yesterday"
        )
        by_state = (await api.get("/v1/payments?state=created")).json()
    assert by_reference["total"] == 2 and {p["reference"] for p in by_reference["results"]} == {
        "REF-1"
    }
    assert [p["email"] for p in by_email["results"]] == ["Person3@Example.org"]
    assert paged["total"] == 5 and paged["count"] == 2 and paged["page"] == 2
    assert set(paged["_links"]) == {"self", "first_page", "last_page", "prev_page", "next_page"}
    assert paged["_links"]["last_page"]["href"].endswith("page=3&display_size=2")
    assert all("next_url" not in p["_links"] for p in paged["results"]), (
        "search results have no next_url"
    )
    assert past.status_code == 404 and error(past) == {
        "code": "P0402",
        "description": "Page not found",
    }
    assert bad.status_code == 422
    assert error(bad) == {
        "code": "P0401",
        "description": "Invalid parameters: page, display_size, state, from_date. See Public API documentation for the correct data formats",
    }
    assert by_state["total"] == 5


async def test_another_account_never_sees_a_payment(pay, payment_body):
    async with pay.http("test") as api:
        created = (await api.post("/v1/payments", json=payment_body())).json()
    async with pay.http("live") as live:
        assert (await live.get(f"/v1/payments/{created['payment_id']}")).status_code == 404
        assert (await live.get("/v1/payments")).json()["total"] == 0


async def succeed(pay, payment_id: str, *, delayed: bool = False) -> None:
    """Take a payment as the payer would (authorised with a good card, confirmed)."""
    async with pay.db.write() as session:
        payment = await repository.payment(session, payment_id, lock=True)
        payment.provider_id = f"sandbox-{payment_id}"
        payment.card_brand, payment.card_last_digits, payment.card_expiry = "Visa", "4242", "10/30"
        payment.cardholder_name = "Ann"
        for status in ("started", "submitted", "capturable" if delayed else "success"):
            await payments_service.transition(
                session, payment, status, origin="http://gateway.test"
            )


async def test_refunds_follow_pays_order_of_checks_and_never_exceed_the_payment(pay, payment_body):
    async with pay.http("test") as api:
        created = (await api.post("/v1/payments", json=payment_body(amount=1000))).json()
        path = f"/v1/payments/{created['payment_id']}/refunds"
        pending = await api.post(path, json={"amount": 100})
        await succeed(pay, created["payment_id"])
        first = await api.post(path, json={"amount": 300, "refund_amount_available": 1000})
        stale = await api.post(path, json={"amount": 100, "refund_amount_available": 1000})
        too_much = await api.post(path, json={"amount": 701})
        rest = await api.post(path, json={"amount": 700})
        full = await api.post(path, json={"amount": 1})
        listed = (await api.get(path)).json()
        one = (await api.get(f"{path}/{first.json()['refund_id']}")).json()
        got = (await api.get(f"/v1/payments/{created['payment_id']}")).json()
        searched = (await api.get("/v1/refunds")).json()
        bad_amounts = [
            await api.post(path, json={"amount": value}) for value in ("1", 1.5, 0, 10_000_001)
        ]
        missing = await api.post(path, json={})
    assert error(pending) == {
        "code": "P0603",
        "description": "The payment is not available for refund. Payment refund status: pending",
    }
    assert (
        first.status_code == 202
        and first.json()["status"] == "success"
        and first.json()["amount"] == 300
    )
    assert stale.status_code == 412 and error(stale) == {
        "code": "P0604",
        "description": "Refund amount available mismatch.",
    }
    assert error(too_much) == {
        "code": "P0603",
        "description": "The payment is not available for refund. Payment refund status: amount_not_available",
    }
    assert rest.status_code == 202
    assert error(full)["description"].endswith("Payment refund status: full")
    assert [r["amount"] for r in listed["_embedded"]["refunds"]] == [300, 700]
    assert listed["_links"]["payment"]["href"].endswith(created["payment_id"])
    assert one["refund_id"] == first.json()["refund_id"] and one["_links"]["self"]["href"].endswith(
        one["refund_id"]
    )
    assert got["refund_summary"] == {
        "status": "full",
        "amount_available": 0,
        "amount_submitted": 1000,
    }
    assert searched["total"] == 2
    assert [r.status_code for r in bad_amounts] == [422, 422, 422, 422]
    assert {error(r)["code"] for r in bad_amounts} == {"P0602"}
    assert missing.status_code == 400 and error(missing) == {
        "field": "amount",
        "code": "P0601",
        "description": "Missing mandatory attribute: amount",
    }


async def test_a_delayed_capture_payment_waits_capturable_until_the_service_captures(
    pay, payment_body
):
    async with pay.http("test") as api:
        created = (await api.post("/v1/payments", json=payment_body(delayed_capture=True))).json()
        await succeed(pay, created["payment_id"], delayed=True)
        path = f"/v1/payments/{created['payment_id']}"
        waiting = (await api.get(path)).json()
        captured = await api.post(f"{path}/capture")
        again = await api.post(f"{path}/capture")
        done = (await api.get(path)).json()
    assert waiting["state"] == {"status": "capturable", "finished": False}
    assert set(waiting["_links"]) >= {"capture", "cancel"} and "next_url" not in waiting["_links"]
    assert captured.status_code == 204 and again.status_code == 204, "capture is idempotent"
    assert done["state"]["status"] == "success" and "capture" not in done["_links"]


async def test_unfinished_payments_expire_after_90_minutes_and_capturable_after_120_hours(
    pay, payment_body
):
    async with pay.http("test") as api:
        old = (await api.post("/v1/payments", json=payment_body())).json()
        fresh = (await api.post("/v1/payments", json=payment_body())).json()
        held = (await api.post("/v1/payments", json=payment_body(delayed_capture=True))).json()
    await succeed(pay, held["payment_id"], delayed=True)
    async with pay.db.write() as session:
        (await session.get(Payment, old["payment_id"])).created_at = utcnow() - timedelta(
            minutes=91
        )
        (await session.get(Payment, held["payment_id"])).created_at = utcnow() - timedelta(
            hours=119
        )
    assert await payments_service.expire_due(pay.context.payments) == 1
    async with pay.db.write() as session:
        (await session.get(Payment, held["payment_id"])).created_at = utcnow() - timedelta(
            hours=121
        )
    async with pay.admin() as admin:
        assert (await admin.post("/admin/payments/expire")).json() == {"expired": 1}
    async with pay.http("test") as api:
        states = {
            name: (await api.get(f"/v1/payments/{p['payment_id']}")).json()["state"]
            for name, p in (("old", old), ("fresh", fresh), ("held", held))
        }
    assert states["old"] == {
        "status": "failed",
        "finished": True,
        "code": "P0020",
        "message": "Payment expired",
    }
    assert states["held"]["code"] == "P0020"
    assert states["fresh"]["status"] == "created"


def agreement_payment(agreement_id: str, amount: int = 500) -> dict:
    """A recurring payment on an agreement (no return_url: the payer is not there)."""
    return {
        "amount": amount,
        "reference": "r",
        "description": "d",
        "authorisation_mode": "agreement",
        "agreement_id": agreement_id,
    }


async def test_an_agreement_is_set_up_by_a_first_payment_and_then_charged_without_the_payer(
    pay, payment_body
):
    async with pay.http("test") as api:
        agreement = await api.post(
            "/v1/agreements",
            json={"reference": "SUB-1", "description": "Monthly", "user_identifier": "u-1"},
        )
        agreement_id = agreement.json()["agreement_id"]
        unknown = await api.post("/v1/payments", json=payment_body(set_up_agreement="0" * 26))
        not_active = await api.post("/v1/payments", json=agreement_payment(agreement_id))
        setup = (
            await api.post("/v1/payments", json=payment_body(set_up_agreement=agreement_id))
        ).json()
    assert agreement.status_code == 201 and agreement.json()["status"] == "created"
    assert error(unknown)["code"] == "P0103"
    assert error(not_active) == {
        "field": "agreement_id",
        "code": "P0102",
        "description": "Invalid attribute value: agreement_id. Agreement must be active",
    }
    await pay.take(setup)  # the payer pays the first payment on the hosted pages
    async with pay.http("test") as api:
        active = (await api.get(f"/v1/agreements/{agreement_id}")).json()
        recurring = (await api.post("/v1/payments", json=agreement_payment(agreement_id))).json()
    assert active["status"] == "active"
    assert active["payment_instrument"]["card_details"]["last_digits_card_number"] == "4242"
    assert "next_url" not in recurring["_links"] and "cancel" not in recurring["_links"]
    await pay.take_on_agreement(recurring["payment_id"])
    async with pay.http("test") as api:
        taken = (await api.get(f"/v1/payments/{recurring['payment_id']}")).json()
        cancelled = await api.post(f"/v1/agreements/{agreement_id}/cancel")
        again = await api.post(f"/v1/agreements/{agreement_id}/cancel")
        after = await api.post("/v1/payments", json=agreement_payment(agreement_id))
        listed = (await api.get("/v1/agreements?status=cancelled")).json()
    assert taken["state"] == {"status": "success", "finished": True}
    assert taken["card_details"]["last_digits_card_number"] == "4242"
    assert taken["amount"] == 500
    assert cancelled.status_code == 204 and error(again)["code"] == "P2501"
    assert error(after)["code"] == "P0102"
    assert [a["agreement_id"] for a in listed["results"]] == [agreement_id]


async def test_disputes_are_an_empty_search_and_moto_tokens_are_never_valid(pay):
    async with pay.http("test") as api:
        disputes = (await api.get("/v1/disputes")).json()
        auth = await api.post(
            "/v1/auth", json={"one_time_token": "x", "card_number": "4242424242424242"}
        )
    assert disputes["total"] == 0 and disputes["results"] == []
    assert auth.status_code == 400 and error(auth)["code"] == "P1211"
