"""Every answer of the Pay API validates against GOV.UK Pay's OpenAPI document.

``pay_response_schemas.json`` holds the response schemas of Pay's OpenAPI document
(``alphagov/pay-publicapi`` ``openapi/publicapi_spec.json``, OpenAPI 3.0.1, version
1.0.3) converted to JSON Schema 2020-12 and nothing else (its ``$comment`` says how);
the tests never read anything outside the project. Each answer is checked twice:

1. against the schema the document names for the operation and status (types, enums,
   ``int32``/``int64`` ranges, lengths), with ``jsonschema``;
2. for fields the schema does not name at all: the document leaves
   ``additionalProperties`` open, so a misspelt or invented field would pass (1);
   here it fails, unless real Pay sends it too (:data:`UNNAMED_BY_THE_DOCUMENT`).

Where real GOV.UK Pay answers differently from its own document, the project answers
as Pay does, and the schemas are changed for that and only that in
:func:`as_pay_answers` (each change says what Pay sends and where that is seen);
:func:`test_the_schemas_differ_from_pays_document_only_where_pay_answers_otherwise`
holds the changes to that list. The answers come from the app driven in-process
through every state a payment reaches, by the hosted pages as a payer uses them.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from govkit.db import utcnow
from govkit.principal import HEADER
from payments.acquirer import SandboxAcquirer
from payments.models import Payment
from payments.service import payments as payments_service

DOCUMENT = json.loads(
    Path(__file__).with_name("pay_response_schemas.json").read_text(encoding="utf-8")
)

GET_PAYMENT = "GET /v1/payments/{paymentId}"
CREATE_PAYMENT = "POST /v1/payments"
SEARCH_PAYMENTS = "GET /v1/payments"
EVENTS = "GET /v1/payments/{paymentId}/events"
CANCEL = "POST /v1/payments/{paymentId}/cancel"
CAPTURE = "POST /v1/payments/{paymentId}/capture"
CREATE_REFUND = "POST /v1/payments/{paymentId}/refunds"
LIST_REFUNDS = "GET /v1/payments/{paymentId}/refunds"
GET_REFUND = "GET /v1/payments/{paymentId}/refunds/{refundId}"
SEARCH_REFUNDS = "GET /v1/refunds"
CREATE_AGREEMENT = "POST /v1/agreements"
GET_AGREEMENT = "GET /v1/agreements/{agreementId}"
SEARCH_AGREEMENTS = "GET /v1/agreements"
CANCEL_AGREEMENT = "POST /v1/agreements/{agreementId}/cancel"
SEARCH_DISPUTES = "GET /v1/disputes"
MOTO_AUTH = "POST /v1/auth"


def as_pay_answers(document: dict) -> dict:
    """The document's schemas, changed only where GOV.UK Pay's answers differ from it."""
    pay = copy.deepcopy(document)
    schemas = pay["$defs"]

    # Metadata. The document models it as {"metadata": {"metadata": {key: object}}}
    # (a Java Map<String, Object> wrapped in a class); on the wire it is flat,
    # {"ledger_code": "AB1", "count": 3}: 1 to 15 keys of 1 to 30 characters, values
    # strings (at most 100 characters), numbers or booleans (pay-java-commons
    # ExternalMetadataSerialiser; Pay's docs' examples).
    schemas["ExternalMetadata"] = {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 15,
        "propertyNames": {"minLength": 1, "maxLength": 30},
        "additionalProperties": {"type": ["string", "number", "boolean"], "maxLength": 100},
    }

    # A POST link's params. The document says each value is an object (Java's Object
    # again); Pay sends strings: next_url_post's {"chargeTokenId": "<token>"} and
    # auth_url_post's {"one_time_token": "<token>"}.
    schemas["PostLink"]["properties"]["params"]["additionalProperties"] = {"type": "string"}

    # An agreement's card. The document names it "CardDetails"; Pay sends
    # "card_details" (pay-publicapi Agreement.PaymentInstrument, snake_case naming).
    instrument = schemas["PaymentInstrument"]["properties"]
    instrument["card_details"] = instrument.pop("CardDetails")

    # authorisation_mode. The document lists web, moto_api and external; a recurring
    # payment taken on an agreement is "agreement" (pay-java-commons AuthorisationMode).
    for name in ("PaymentWithAllLinks", "PaymentDetailForSearch"):
        schemas[name]["properties"]["authorisation_mode"]["enum"].append("agreement")

    # card_details' values. The document types them as strings; pay-publicapi's
    # CardDetails is @JsonInclude(ALWAYS), so every key is there and null when not
    # known (first_digits_card_number always, here: no card's first digits are kept;
    # the rest until the payer gives a card after prefilled cardholder details).
    for name in ("CardDetails", "CardDetailsFromResponse"):
        properties = schemas[name]["properties"]
        for key, schema in properties.items():
            if key == "wallet_type":
                continue  # not sent: there are no wallet payments
            if "$ref" in schema:
                properties[key] = {"anyOf": [schema, {"type": "null"}]}
            else:
                schema["type"] = [schema["type"], "null"]
                if "enum" in schema:
                    schema["enum"].append(None)
    return pay


#: The $defs :func:`as_pay_answers` changes (and no others).
CHANGED_FOR_PAYS_ANSWERS = {
    "ExternalMetadata",
    "PostLink",
    "PaymentInstrument",
    "PaymentWithAllLinks",
    "PaymentDetailForSearch",
    "CardDetails",
    "CardDetailsFromResponse",
}
PAY = as_pay_answers(DOCUMENT)

#: Fields real Pay sends that the document's schema for the operation does not name.
UNNAMED_BY_THE_DOCUMENT = {
    # pay-publicapi CardPayment.getAgreementId() is @Schema(hidden = true): a payment
    # made on or setting up an agreement shows agreement_id, search results never do.
    GET_PAYMENT: {"agreement_id"},
    CREATE_PAYMENT: {"agreement_id"},
}

FORMATS = FormatChecker()


@FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@FORMATS.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """A validator of the (Pay-adjusted) schema ``name``, formats checked."""
    root = {"$schema": PAY["$schema"], "$ref": f"#/$defs/{name}", "$defs": PAY["$defs"]}
    return Draft202012Validator(root, format_checker=FORMATS)


def schemas_for(operation: str, status: int) -> tuple[str, ...]:
    """The $defs an answer of ``operation`` with ``status`` must satisfy: the one the
    document names, except where Pay answers with a status the document does not list."""
    listed = DOCUMENT["responses"][operation]
    if operation == CREATE_PAYMENT and status in (200, 201):
        # Pay answers a create with the payment as GET shows it (authorisation_mode,
        # agreement_payment_type ...), and an idempotent replay with 200, which the
        # document does not list: both schemas hold.
        return (listed["201"], DOCUMENT["responses"][GET_PAYMENT]["200"])
    if operation == CREATE_REFUND and status == 202:
        # The document lists 200 with the refund and 202 with no body; Pay answers a
        # new refund with 202 and the refund.
        return (listed["200"],)
    name = listed.get(str(status))
    if name is None and status >= 400:
        # Errors Pay answers that the document does not list for the operation (404
        # P0402 past the last page, 409 P0191, 412 P0604, 403 P0930, 400 P0603 ...) or
        # lists without a body: Pay's one error body.
        return ("RequestError",)
    assert name, f"the document names no schema for {operation} {status}"
    return (name,)


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = PAY["$defs"][schema["$ref"].removeprefix("#/$defs/")]
    return schema


def undeclared(schema: dict, instance: object, where: str = "") -> set[str]:
    """The paths (``_links.next_url``, ``results[].agreement_id``) of fields in
    ``instance`` that ``schema`` neither names nor allows by ``additionalProperties``."""
    schema = _resolve(schema)
    found: set[str] = set()
    for branch in schema.get("anyOf", ()):
        if not list(validator_for_schema(branch).iter_errors(instance)):
            return undeclared(branch, instance, where)
    if isinstance(instance, dict) and "properties" in schema:
        properties, extra = schema["properties"], schema.get("additionalProperties")
        for key, value in instance.items():
            path = f"{where}.{key}" if where else key
            if key in properties:
                found |= undeclared(properties[key], value, path)
            elif isinstance(extra, dict):
                found |= undeclared(extra, value, path)
            elif extra is None:
                found.add(path)
    elif isinstance(instance, list) and "items" in schema:
        for item in instance:
            found |= undeclared(schema["items"], item, f"{where}[]")
    return found


def validator_for_schema(schema: dict) -> Draft202012Validator:
    """A validator of a sub-schema of :data:`PAY`."""
    return Draft202012Validator({**schema, "$defs": PAY["$defs"]}, format_checker=FORMATS)


def assert_pays_shape(operation: str, status: int, body: object) -> None:
    """``body`` validates against every schema of :func:`schemas_for`, and has no field
    they do not name (beyond :data:`UNNAMED_BY_THE_DOCUMENT`)."""
    names = schemas_for(operation, status)
    for name in names:
        problems = [
            f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
            for error in validator(name).iter_errors(body)
        ]
        assert not problems, f"{operation} {status} is not a {name}:\n" + "\n".join(problems)
    unnamed = set.intersection(*(undeclared({"$ref": f"#/$defs/{n}"}, body) for n in names))
    unnamed -= UNNAMED_BY_THE_DOCUMENT.get(operation, set())
    assert not unnamed, f"{operation} {status}: fields {names} do not name: {sorted(unnamed)}"


async def answer(api, operation: str, status: int, path: str | None = None, **kwargs) -> dict:
    """Call ``operation`` (on ``path``, else its own path), expect ``status`` and a JSON
    body in Pay's shape for it; the body."""
    method, template = operation.split(" ", 1)
    response = await api.request(method, path or template, **kwargs)
    assert response.status_code == status, f"{operation}: {response.status_code} {response.text}"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert_pays_shape(operation, status, body)
    return body


async def no_content(api, operation: str, path: str) -> None:
    """Call ``operation``; Pay's 204 with an empty body."""
    method = operation.split(" ", 1)[0]
    response = await api.request(method, path)
    assert response.status_code == 204, f"{operation}: {response.status_code} {response.text}"
    assert response.content == b""
    assert DOCUMENT["responses"][operation]["204"] is None


def card(pay, number: str, cvc: str = "123") -> dict:
    """The payer's card form with another sandbox card number."""
    return {**pay.good_card, "card-number": number, "cvc": cvc}


# How a payment gets to each state: as its payer, the service and the sweeper make it.
Journey = Callable[..., Awaitable[None]]


async def _nothing(pay, api, created: dict) -> None:
    """The payer has not opened next_url."""


async def _opened(pay, api, created: dict) -> None:
    async with pay.browser() as browser:
        page = await pay.open_pages(browser, created)
        assert page.status_code == 200


async def _card_sent(pay, api, created: dict) -> None:
    async with pay.browser() as browser:
        sent = await pay.pay_with(browser, created)
        assert sent.headers["location"] == f"/pay/confirm/{created['payment_id']}"


def _paid_with(number: str, cvc: str = "123") -> Journey:
    async def journey(pay, api, created: dict) -> None:
        await pay.take(created, card(pay, number, cvc))

    return journey


async def _paid(pay, api, created: dict) -> None:
    await pay.take(created)


async def _paid_then_captured(pay, api, created: dict) -> None:
    await pay.take(created)
    await no_content(api, CAPTURE, f"/v1/payments/{created['payment_id']}/capture")


async def _cancelled_by_the_payer(pay, api, created: dict) -> None:
    payment_id = created["payment_id"]
    async with pay.browser() as browser:
        await pay.pay_with(browser, created)
        page = await browser.get(f"/pay/confirm/{payment_id}")
        sent = await browser.post(
            f"/pay/cancel/{payment_id}", data={"nonce": pay.nonce_of(page.text)}
        )
        assert sent.status_code == 303


async def _cancelled_by_the_service(pay, api, created: dict) -> None:
    await no_content(api, CANCEL, f"/v1/payments/{created['payment_id']}/cancel")


async def _paid_then_cancelled_by_the_service(pay, api, created: dict) -> None:
    await pay.take(created)
    await _cancelled_by_the_service(pay, api, created)


async def _left_for(pay, payment_id: str, age: timedelta) -> None:
    async with pay.db.write() as session:
        (await session.get(Payment, payment_id)).created_at = utcnow() - age
    assert await payments_service.expire_due(pay.context.payments) == 1


async def _left_unpaid(pay, api, created: dict) -> None:
    await _left_for(pay, created["payment_id"], timedelta(minutes=91))


async def _paid_never_captured(pay, api, created: dict) -> None:
    await pay.take(created)
    await _left_for(pay, created["payment_id"], timedelta(hours=121))


EVERYTHING = {
    "email": "payer@example.org",
    "metadata": {"ledger_code": "AB1", "count": 3, "ratio": 0.5, "paid": False, "note": ""},
    "prefilled_cardholder_details": {
        "cardholder_name": "Ann Example",
        "billing_address": {
            "line1": "1 High Street",
            "line2": "Flat 2",
            "postcode": "SW1A 1AA",
            "city": "London",
            "country": "GB",
        },
    },
    "language": "cy",
}
CREATED = {"status": "created", "finished": False}
SUCCESS = {"status": "success", "finished": True}
REJECTED = {
    "status": "failed",
    "finished": True,
    "code": "P0010",
    "message": "Payment method rejected",
}
EXPIRED = {"status": "failed", "finished": True, "code": "P0020", "message": "Payment expired"}
SERVICE_CANCELLED = {
    "status": "cancelled",
    "finished": True,
    "code": "P0040",
    "message": "Payment was cancelled by the service",
}
JOURNEYS: dict[str, tuple[dict, Journey, dict]] = {
    "created": ({}, _nothing, CREATED),
    "created with email, metadata, prefilled details, in Welsh": (EVERYTHING, _nothing, CREATED),
    "created for delayed capture": ({"delayed_capture": True}, _nothing, CREATED),
    "started": ({}, _opened, {"status": "started", "finished": False}),
    "submitted": ({}, _card_sent, {"status": "submitted", "finished": False}),
    "capturable": ({"delayed_capture": True}, _paid, {"status": "capturable", "finished": False}),
    "success": ({}, _paid, SUCCESS),
    "success with every optional field": (EVERYTHING, _paid, SUCCESS),
    "success with a debit card": ({}, _paid_with("4000056655665556"), SUCCESS),
    "success with a 15-digit Amex": ({}, _paid_with("371449635398431", "1234"), SUCCESS),
    "success when captured": ({"delayed_capture": True}, _paid_then_captured, SUCCESS),
    "failed: declined": ({}, _paid_with("4000000000000002"), REJECTED),
    "failed: expired card": ({}, _paid_with("4000000000000069"), REJECTED),
    "failed: CVC error": ({}, _paid_with("4000000000000127"), REJECTED),
    "failed: cancelled by the payer": (
        {},
        _cancelled_by_the_payer,
        {
            "status": "failed",
            "finished": True,
            "code": "P0030",
            "message": "Payment was cancelled by the user",
        },
    ),
    "failed: expired after 90 minutes": (EVERYTHING, _left_unpaid, EXPIRED),
    "failed: not captured in 120 hours": ({"delayed_capture": True}, _paid_never_captured, EXPIRED),
    "error: processing error": (
        {},
        _paid_with("4000000000000119"),
        {
            "status": "error",
            "finished": True,
            "code": "P0050",
            "message": "Payment provider returned an error",
        },
    ),
    "cancelled by the service": ({}, _cancelled_by_the_service, SERVICE_CANCELLED),
    "cancelled while capturable": (
        {"delayed_capture": True},
        _paid_then_cancelled_by_the_service,
        SERVICE_CANCELLED,
    ),
}


@pytest.mark.parametrize(
    ("fields", "journey", "state"), list(JOURNEYS.values()), ids=list(JOURNEYS)
)
async def test_create_get_events_search_and_refunds_answer_in_pays_shapes_in_each_state(
    pay, payment_body, fields, journey, state
):
    reference = "SHAPE-1"
    async with pay.http("test") as api:
        created = await answer(
            api, CREATE_PAYMENT, 201, json=payment_body(reference=reference, **fields)
        )
        path = f"/v1/payments/{created['payment_id']}"
        await journey(pay, api, created)
        got = await answer(api, GET_PAYMENT, 200, path)
        events = await answer(api, EVENTS, 200, f"{path}/events")
        found = await answer(api, SEARCH_PAYMENTS, 200, params={"reference": reference})
        refunds = await answer(api, LIST_REFUNDS, 200, f"{path}/refunds")
    assert created["state"] == CREATED and got["state"] == state
    assert [e["state"] for e in events["events"]][-1] == state
    assert [p["payment_id"] for p in found["results"]] == [created["payment_id"]]
    assert found["results"][0]["state"] == state
    assert refunds["_embedded"]["refunds"] == []
    if "prefilled_cardholder_details" in fields:
        prefilled = fields["prefilled_cardholder_details"]
        assert created["card_details"]["cardholder_name"] == prefilled["cardholder_name"]
        assert created["card_details"]["billing_address"] == prefilled["billing_address"]
    if "metadata" in fields:
        assert got["metadata"] == fields["metadata"] == found["results"][0]["metadata"]


async def test_card_details_always_carry_pays_seven_keys(pay, payment_body):
    async with pay.http("test") as api:
        prefilled = await answer(api, CREATE_PAYMENT, 201, json=payment_body(**EVERYTHING))
        plain = await answer(api, CREATE_PAYMENT, 201, json=payment_body())
        await pay.take(prefilled, {**card(pay, "4000056655665556"), "cardholder-name": "Bo Payer"})
        paid = await answer(api, GET_PAYMENT, 200, f"/v1/payments/{prefilled['payment_id']}")
    assert prefilled["card_details"] == {
        "last_digits_card_number": None,
        "first_digits_card_number": None,
        "cardholder_name": "Ann Example",
        "expiry_date": None,
        "billing_address": EVERYTHING["prefilled_cardholder_details"]["billing_address"],
        "card_brand": None,
        "card_type": None,
    }
    assert "card_brand" not in prefilled, "the top-level card_brand is left out while unknown"
    assert "card_details" not in plain
    assert paid["card_details"] == {
        "last_digits_card_number": "5556",
        "first_digits_card_number": None,
        "cardholder_name": "Bo Payer",
        "expiry_date": "12/40",
        "billing_address": {
            "line1": "1 High Street",
            "postcode": "SW1A 1AA",
            "city": "London",
            "country": "GB",
        },
        "card_brand": "Visa",
        "card_type": "debit",
    }
    assert paid["card_brand"] == "Visa"


class _Unanswering(SandboxAcquirer):
    """A sandbox acquirer that never answers a refund."""

    async def refund(self, refund_id: str, provider_id: str, amount: int) -> bool:
        raise ConnectionError("no answer")


class _Refusing(SandboxAcquirer):
    """A sandbox acquirer that refuses every refund."""

    async def refund(self, refund_id: str, provider_id: str, amount: int) -> bool:
        return False


async def test_refunds_answer_in_pays_shapes_submitted_success_and_error(pay, payment_body):
    async with pay.http("test") as api:
        created = await answer(api, CREATE_PAYMENT, 201, json=payment_body(amount=1000))
        await pay.take(created)
        path = f"/v1/payments/{created['payment_id']}"
        first = await answer(
            api,
            CREATE_REFUND,
            202,
            f"{path}/refunds",
            json={"amount": 300, "refund_amount_available": 1000},
        )
        partly = await answer(api, GET_PAYMENT, 200, path)
        pay.context.acquirer = _Unanswering()
        pending = await answer(api, CREATE_REFUND, 202, f"{path}/refunds", json={"amount": 200})
        pay.context.acquirer = _Refusing()
        refused = await answer(api, CREATE_REFUND, 202, f"{path}/refunds", json={"amount": 100})
        pay.context.acquirer = SandboxAcquirer()
        rest = await answer(api, CREATE_REFUND, 202, f"{path}/refunds", json={"amount": 500})
        full = await answer(api, GET_PAYMENT, 200, path)
        one = [
            await answer(api, GET_REFUND, 200, f"{path}/refunds/{r['refund_id']}")
            for r in (first, pending, refused, rest)
        ]
        listed = await answer(api, LIST_REFUNDS, 200, f"{path}/refunds")
        searched = await answer(api, SEARCH_REFUNDS, 200)
        events = await answer(api, EVENTS, 200, f"{path}/events")
        found = await answer(api, SEARCH_PAYMENTS, 200)
    assert [r["status"] for r in (first, pending, refused, rest)] == [
        "success",
        "submitted",
        "error",
        "success",
    ]
    assert one[0]["settlement_summary"]["settled_date"] and one[1]["settlement_summary"] == {}
    assert partly["refund_summary"] == {
        "status": "available",
        "amount_available": 700,
        "amount_submitted": 300,
    }
    assert full["refund_summary"] == {
        "status": "full",
        "amount_available": 0,
        "amount_submitted": 1000,
    }
    assert {r["refund_id"] for r in listed["_embedded"]["refunds"]} == {r["refund_id"] for r in one}
    assert searched["total"] == 4 and searched["count"] == 4
    assert events["events"][-1]["state"] == SUCCESS
    assert found["results"][0]["refund_summary"]["status"] == "full"


async def test_search_pages_and_empty_searches_answer_in_pays_shapes(pay, payment_body):
    async with pay.http("test") as api:
        for n in range(5):
            created = await answer(
                api, CREATE_PAYMENT, 201, json=payment_body(reference="PAGED", amount=100 + n)
            )
            if n < 3:
                await pay.take(created)
                await answer(
                    api,
                    CREATE_REFUND,
                    202,
                    f"/v1/payments/{created['payment_id']}/refunds",
                    json={"amount": 1},
                )
        pages = [
            await answer(
                api,
                SEARCH_PAYMENTS,
                200,
                params={"reference": "PAGED", "display_size": "2", "page": str(n)},
            )
            for n in (1, 2, 3)
        ]
        refund_pages = [
            await answer(api, SEARCH_REFUNDS, 200, params={"display_size": "2", "page": str(n)})
            for n in (1, 2)
        ]
        by_state = await answer(
            api, SEARCH_PAYMENTS, 200, params={"state": "success", "email": "nobody"}
        )
        nothing = await answer(api, SEARCH_PAYMENTS, 200, params={"reference": "NO-SUCH"})
        no_refunds = await answer(
            api,
            SEARCH_REFUNDS,
            200,
            params={"from_date": "2001-01-01T00:00:00Z", "to_date": "2001-01-02T00:00:00Z"},
        )
        no_agreements = await answer(api, SEARCH_AGREEMENTS, 200)
    assert [len(p["results"]) for p in pages] == [2, 2, 1] and {p["total"] for p in pages} == {5}
    assert [set(p["_links"]) for p in pages] == [
        {"self", "first_page", "last_page", "next_page"},
        {"self", "first_page", "last_page", "prev_page", "next_page"},
        {"self", "first_page", "last_page", "prev_page"},
    ]
    assert [len(p["results"]) for p in refund_pages] == [2, 1]
    assert set(refund_pages[1]["_links"]) == {"self", "first_page", "last_page", "prev_page"}
    for empty in (by_state, nothing, no_refunds, no_agreements):
        assert empty["total"] == 0 and empty["count"] == 0 and empty["results"] == []
        assert empty["page"] == 1 and set(empty["_links"]) == {"self", "first_page", "last_page"}


async def test_agreements_and_recurring_payments_answer_in_pays_shapes(pay, payment_body):
    async with pay.http("test") as api:
        agreement = await answer(
            api,
            CREATE_AGREEMENT,
            201,
            json={"reference": "SUB-1", "description": "Monthly", "user_identifier": "u-1"},
        )
        bare = await answer(
            api, CREATE_AGREEMENT, 201, json={"reference": "SUB-2", "description": "Yearly"}
        )
        agreement_id = agreement["agreement_id"]
        created = await answer(api, GET_AGREEMENT, 200, f"/v1/agreements/{agreement_id}")
        setup = await answer(
            api, CREATE_PAYMENT, 201, json=payment_body(set_up_agreement=agreement_id)
        )
        await pay.take(setup)
        active = await answer(api, GET_AGREEMENT, 200, f"/v1/agreements/{agreement_id}")
        recurring_body = {
            "amount": 500,
            "reference": "MONTH-1",
            "description": "January",
            "authorisation_mode": "agreement",
            "agreement_id": agreement_id,
            "agreement_payment_type": "recurring",
        }
        key = {"Idempotency-Key": "month-1"}
        recurring = await answer(api, CREATE_PAYMENT, 201, json=recurring_body, headers=key)
        replayed = await answer(api, CREATE_PAYMENT, 200, json=recurring_body, headers=key)
        await pay.take_on_agreement(recurring["payment_id"])
        taken = await answer(api, GET_PAYMENT, 200, f"/v1/payments/{recurring['payment_id']}")
        on_it = await answer(api, SEARCH_PAYMENTS, 200, params={"agreement_id": agreement_id})
        active_ones = await answer(api, SEARCH_AGREEMENTS, 200, params={"status": "active"})
        await no_content(api, CANCEL_AGREEMENT, f"/v1/agreements/{agreement_id}/cancel")
        cancelled = await answer(api, GET_AGREEMENT, 200, f"/v1/agreements/{agreement_id}")
        every = await answer(api, SEARCH_AGREEMENTS, 200, params={"display_size": "1", "page": "2"})
    assert created["status"] == "created" and "payment_instrument" not in created
    assert "user_identifier" not in bare
    assert setup["agreement_id"] == agreement_id
    assert active["status"] == "active"
    assert active["payment_instrument"]["type"] == "card"
    assert active["payment_instrument"]["card_details"]["last_digits_card_number"] == "4242"
    assert replayed["payment_id"] == recurring["payment_id"]
    assert recurring["authorisation_mode"] == "agreement" and "next_url" not in recurring["_links"]
    assert taken["state"] == SUCCESS and taken["agreement_id"] == agreement_id
    assert [p["payment_id"] for p in on_it["results"]] == [recurring["payment_id"]]
    assert [a["agreement_id"] for a in active_ones["results"]] == [agreement_id]
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_date"]
    assert every["total"] == 2 and every["count"] == 1


async def test_a_recurring_payment_declined_on_its_card_answers_in_pays_shape(pay, payment_body):
    async with pay.http("test") as api:
        agreement = await answer(
            api, CREATE_AGREEMENT, 201, json={"reference": "SUB-3", "description": "Weekly"}
        )
        setup = await answer(
            api, CREATE_PAYMENT, 201, json=payment_body(set_up_agreement=agreement["agreement_id"])
        )
        await pay.take(setup, card(pay, "5105105105105100"))
        recurring = await answer(
            api,
            CREATE_PAYMENT,
            201,
            json={
                "amount": 700,
                "reference": "WEEK-1",
                "description": "Week 1",
                "authorisation_mode": "agreement",
                "agreement_id": agreement["agreement_id"],
            },
        )
        await pay.take_on_agreement(recurring["payment_id"])
        declined = await answer(api, GET_PAYMENT, 200, f"/v1/payments/{recurring['payment_id']}")
        events = await answer(api, EVENTS, 200, f"/v1/payments/{recurring['payment_id']}/events")
    assert declined["state"] == REJECTED
    assert declined["card_details"]["card_brand"] == "Mastercard"
    assert events["events"][-1]["state"] == REJECTED


async def test_disputes_search_answers_in_pays_shape_with_links_not_underscore_links(pay):
    async with pay.http("test") as api:
        disputes = await answer(api, SEARCH_DISPUTES, 200)
    # Pay's DisputesSearchResults names its page links "links", as its document does.
    assert set(disputes) == {"total", "count", "page", "results", "links"}
    assert set(disputes["links"]) == {"self", "first_page", "last_page"}


async def test_every_pay_error_answers_with_pays_error_body(pay, payment_body):
    unknown = "0" * 26
    async with pay.http("test") as api:
        created = await answer(api, CREATE_PAYMENT, 201, json=payment_body(amount=1000))
        paid = await answer(api, CREATE_PAYMENT, 201, json=payment_body(amount=1000))
        await pay.take(paid)
        agreement = await answer(
            api, CREATE_AGREEMENT, 201, json={"reference": "S", "description": "D"}
        )
        await no_content(
            api, CANCEL_AGREEMENT, f"/v1/agreements/{agreement['agreement_id']}/cancel"
        )
        await answer(
            api, CREATE_PAYMENT, 201, json=payment_body(), headers={"Idempotency-Key": "once"}
        )
        without_amount = {k: v for k, v in payment_body().items() if k != "amount"}
        mine = f"/v1/payments/{created['payment_id']}"
        taken = f"/v1/payments/{paid['payment_id']}"
        cases = [
            (CREATE_PAYMENT, None, {"json": without_amount}, 400, "P0101", "amount"),
            (CREATE_PAYMENT, None, {"json": payment_body(amount="12")}, 400, "P0102", "amount"),
            (
                CREATE_PAYMENT,
                None,
                {"json": payment_body(amount=10_000_001)},
                422,
                "P0102",
                "amount",
            ),
            (
                CREATE_PAYMENT,
                None,
                {"json": payment_body(agreement_id=unknown)},
                400,
                "P0104",
                "agreement_id",
            ),
            (
                CREATE_PAYMENT,
                None,
                {"json": payment_body(set_up_agreement=unknown)},
                400,
                "P0103",
                None,
            ),
            (CREATE_PAYMENT, None, {"json": payment_body(moto=True)}, 422, "P0196", None),
            (
                CREATE_PAYMENT,
                None,
                {"content": b"{", "headers": {"Content-Type": "application/json"}},
                400,
                "P0197",
                None,
            ),
            (
                CREATE_PAYMENT,
                None,
                {"json": payment_body(), "headers": {"Idempotency-Key": "no spaces"}},
                422,
                "P0102",
                None,
            ),
            (
                CREATE_PAYMENT,
                None,
                {"json": payment_body(amount=2), "headers": {"Idempotency-Key": "once"}},
                409,
                "P0191",
                None,
            ),
            (GET_PAYMENT, f"/v1/payments/{unknown}", {}, 404, "P0200", None),
            (
                SEARCH_PAYMENTS,
                None,
                {"params": {"state": "capturable", "page": "0"}},
                422,
                "P0401",
                None,
            ),
            (SEARCH_PAYMENTS, None, {"params": {"page": "9"}}, 404, "P0402", None),
            (EVENTS, f"/v1/payments/{unknown}/events", {}, 404, "P0300", None),
            (CANCEL, f"/v1/payments/{unknown}/cancel", {}, 404, "P0500", None),
            (CANCEL, f"{taken}/cancel", {}, 400, "P0501", None),
            (CAPTURE, f"/v1/payments/{unknown}/capture", {}, 404, "P1000", None),
            (CAPTURE, f"{mine}/capture", {}, 409, "P1003", None),
            (
                CREATE_REFUND,
                f"/v1/payments/{unknown}/refunds",
                {"json": {"amount": 1}},
                404,
                "P0600",
                None,
            ),
            (CREATE_REFUND, f"{taken}/refunds", {"json": {}}, 400, "P0601", "amount"),
            (CREATE_REFUND, f"{taken}/refunds", {"json": {"amount": 0}}, 422, "P0602", None),
            (CREATE_REFUND, f"{mine}/refunds", {"json": {"amount": 1}}, 400, "P0603", None),
            (CREATE_REFUND, f"{taken}/refunds", {"json": {"amount": 1001}}, 400, "P0603", None),
            (
                CREATE_REFUND,
                f"{taken}/refunds",
                {"json": {"amount": 1, "refund_amount_available": 5}},
                412,
                "P0604",
                None,
            ),
            (
                CREATE_REFUND,
                f"{taken}/refunds",
                {"content": b"[", "headers": {"Content-Type": "application/json"}},
                400,
                "P0697",
                None,
            ),
            (LIST_REFUNDS, f"/v1/payments/{unknown}/refunds", {}, 404, "P0800", None),
            (GET_REFUND, f"{taken}/refunds/{unknown}", {}, 404, "P0700", None),
            (SEARCH_REFUNDS, None, {"params": {"from_date": "yesterday"}}, 422, "P1101", None),
            (SEARCH_REFUNDS, None, {"params": {"page": "2"}}, 404, "P1100", None),
            (CREATE_AGREEMENT, None, {"json": {"description": "D"}}, 400, "P2101", "reference"),
            (
                CREATE_AGREEMENT,
                None,
                {"json": {"reference": "r" * 256, "description": "D"}},
                422,
                "P2102",
                "reference",
            ),
            (GET_AGREEMENT, f"/v1/agreements/{unknown}", {}, 404, "P2200", None),
            (SEARCH_AGREEMENTS, None, {"params": {"status": "paused"}}, 422, "P2401", None),
            (SEARCH_AGREEMENTS, None, {"params": {"page": "3"}}, 404, "P2402", None),
            (CANCEL_AGREEMENT, f"/v1/agreements/{unknown}/cancel", {}, 404, "P2500", None),
            (
                CANCEL_AGREEMENT,
                f"/v1/agreements/{agreement['agreement_id']}/cancel",
                {},
                400,
                "P2501",
                None,
            ),
            (SEARCH_DISPUTES, None, {"params": {"display_size": "0"}}, 422, "P0401", None),
            (MOTO_AUTH, None, {"json": {"one_time_token": "x"}}, 400, "P1211", None),
        ]
        bodies = [await answer(api, op, status, path, **kw) for op, path, kw, status, _, _ in cases]
    assert [body["code"] for body in bodies] == [case[4] for case in cases]
    assert all(body["description"] for body in bodies)
    for body, (operation, _, _, _, code, field) in zip(bodies, cases, strict=True):
        if field is not None:
            assert body["field"] == field, f"{operation} {code}"


async def test_an_access_token_without_the_scope_gets_pays_403_error_body(pay, payment_body):
    token = pay.principal("test", api="oauth", scopes=("payments:read",))
    async with pay.http(None, headers={HEADER: token}) as api:
        refused = await answer(api, CREATE_PAYMENT, 403, json=payment_body())
    assert refused["code"] == "P0930"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/payments"),
        ("GET", "/v1/payments"),
        ("GET", "/v1/refunds"),
        ("GET", "/v1/agreements"),
    ],
)
async def test_a_401_has_no_json_body_as_pays_document_and_pay_say(pay, method, path):
    async with pay.http(None) as api:
        response = await api.request(method, path, json={})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/plain")
    assert DOCUMENT["responses"][f"{method} {path}"]["401"] is None


def test_the_schemas_differ_from_pays_document_only_where_pay_answers_otherwise():
    changed = {name for name, schema in DOCUMENT["$defs"].items() if PAY["$defs"][name] != schema}
    assert changed == CHANGED_FOR_PAYS_ANSWERS
    assert PAY["responses"] == DOCUMENT["responses"]


def test_the_schema_file_is_self_contained_json_schema():
    Draft202012Validator.check_schema(DOCUMENT)
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(DOCUMENT["$defs"])
    assert refs and all(ref.removeprefix("#/$defs/") in DOCUMENT["$defs"] for ref in refs)
    named = {name for statuses in DOCUMENT["responses"].values() for name in statuses.values()}
    assert named - {None} <= set(DOCUMENT["$defs"])
