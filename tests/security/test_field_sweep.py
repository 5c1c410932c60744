"""A sweep of hostile values through every field, through the running gateway.

Each string field of Notify v2's sends and list filters, Pay v1's create, refund and
search, the registers' JSON append and identity's ``/token`` form gets SQL-injection
shaped text, a NUL, a literal ``%00``, a 100,000-character string and (as the raw
body) bytes that are not UTF-8; each integer field gets a string, floats, a boolean,
``NaN``/``Infinity`` written raw in the JSON text, ``1e400``, ``-1`` and ``2**63``.

Every answer is below 500. A refusal is a 4xx in the family's own format (Notify's
``status_code``/``errors``, Pay's ``code``/``description``, OpenRegister's
``code``/``message``, RFC 6749's ``error``). A value the family's rules allow (an
SQL-looking reference is just text) is answered 2xx and read back exactly as sent.

One platform per database (the session's ``running_platform``); the tables are
walked inside a few tests so the sweep stays within seconds per database.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import httpx
import pytest

from govkit.testing.payer import pay_on_the_pages
from govkit.testing.platform import notify_token

SQL_OR = "' OR 1=1 --"
SQL_DROP = "1; DROP TABLE payment;--"
NUL = "\u0000"
PERCENT_NUL = "%00"
LONG = "x" * 100_000

#: hostile strings by name
STRINGS = {
    "sql-or": SQL_OR,
    "sql-drop": SQL_DROP,
    "nul": NUL,
    "percent-nul": PERCENT_NUL,
    "long": LONG,
}

#: hostile integers as written in the JSON text
INTEGERS = {
    "string": '"100"',
    "whole-float": "100.0",
    "float": "100.5",
    "boolean": "true",
    "null": "null",
    "nan": "NaN",
    "infinity": "Infinity",
    "minus-infinity": "-Infinity",
    "huge-exponent": "1e400",
    "negative": "-1",
    "two-to-the-63": str(2**63),
}

INVALID_UTF8 = b'{"reference": "\xff\xfe"}'

# --- each family's error format ------------------------------------------------------


def _problem(response: httpx.Response) -> str:
    return f"{response.request.method} {response.request.url!s:.200} -> {response.status_code} {response.text[:300]}"


def assert_notify_error(response: httpx.Response) -> None:
    """A 4xx as ``{"status_code": N, "errors": [{"error", "message"}, ...]}``."""
    assert 400 <= response.status_code < 500, _problem(response)
    body = response.json()
    assert set(body) == {"status_code", "errors"}, _problem(response)
    assert body["status_code"] == response.status_code, _problem(response)
    assert body["errors"], _problem(response)
    for error in body["errors"]:
        assert isinstance(error["error"], str) and isinstance(error["message"], str), _problem(
            response
        )


def assert_pay_error(response: httpx.Response) -> None:
    """A 4xx as ``{"code": "P....", "description": ...}`` (plus ``field``/``header``)."""
    assert 400 <= response.status_code < 500, _problem(response)
    body = response.json()
    assert re.fullmatch(r"P\d{4}", body.get("code", "")), _problem(response)
    assert isinstance(body.get("description"), str), _problem(response)
    assert set(body) <= {"code", "description", "field", "header"}, _problem(response)


def assert_oauth_error(response: httpx.Response) -> None:
    """A 4xx as RFC 6749's ``{"error", "error_description"?}``."""
    assert 400 <= response.status_code < 500, _problem(response)
    body = response.json()
    assert isinstance(body.get("error"), str), _problem(response)
    assert re.fullmatch(r"[a-z_]+", body["error"]), _problem(response)


def assert_register_error(response: httpx.Response) -> None:
    """A 4xx as OpenRegister's ``{"code": N, "message": ...}``."""
    assert 400 <= response.status_code < 500, _problem(response)
    body = response.json()
    assert body.get("code") == response.status_code, _problem(response)
    assert isinstance(body.get("message"), str), _problem(response)


# --- clients -------------------------------------------------------------------------


class Sweep:
    """The running platform's gateway with each family's sandbox credentials."""

    def __init__(self, platform, http: httpx.Client, registers_token: str):
        self.platform = platform
        self.http = http
        self.credentials = platform.credentials()
        self.registers_token = registers_token

    def notify(self, method: str, path: str, *, content: bytes | None = None, params=None):
        """A Notify v2 request with a fresh API token."""
        token = notify_token(self.credentials["notify_api_key"])
        return self.http.request(
            method,
            path,
            content=content,
            params=params,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )

    def pay(self, method: str, path: str, *, content: bytes | None = None, params=None):
        """A Pay v1 request with the sandbox API key, sent again after a second when
        refused by Pay's rate limit (15 POSTs a second per account)."""
        for _attempt in range(10):
            answer = self.http.request(
                method,
                path,
                content=content,
                params=params,
                headers={
                    "Authorization": f"Bearer {self.credentials['pay_api_key']}",
                    "Content-Type": "application/json",
                },
            )
            if answer.status_code != 429:
                return answer
            time.sleep(1)
        return answer


@pytest.fixture(scope="module")
def sweep(running_platform):
    credentials = running_platform.credentials()
    with httpx.Client(base_url=running_platform.gateway_url, timeout=60) as http:
        answer = http.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": "registers:write:country"},
            auth=(credentials["oauth_client_id"], credentials["oauth_client_secret"]),
        )
        assert answer.status_code == 200, answer.text
        yield Sweep(running_platform, http, answer.json()["access_token"])


def dumps(body: object) -> bytes:
    """``body`` as JSON text (a NUL as its ``\\u0000`` escape)."""
    return json.dumps(body).encode()


# --- Notify v2 -----------------------------------------------------------------------

#: what becomes of each hostile string in each Notify field: "stored" (201 and read
#: back exactly), "refused" (4xx) or "either" (refused, or stored exactly)
NOTIFY_FIELDS = {
    # field: (kinds, {value name: expectation}, default expectation)
    "template_id": (("sms", "email", "letter"), {}, "refused"),
    "phone_number": (("sms",), {}, "refused"),
    "email_address": (("email",), {}, "refused"),
    "sms_sender_id": (("sms",), {}, "refused"),
    "email_reply_to_id": (("email",), {}, "refused"),
    "one_click_unsubscribe_url": (("email",), {}, "refused"),
    "scheduled_for": (("sms",), {}, "refused"),
    "reference": (
        ("sms", "email", "letter"),
        {"long": "refused", "nul": "either"},
        "stored",
    ),
    "personalisation.name": (
        ("sms", "email", "letter"),
        {"nul": "either"},
        "stored",
    ),
    "personalisation.address_line_1": (("letter",), {"nul": "either"}, "stored"),
}


def notify_body(sweep: Sweep, kind: str) -> dict:
    credentials = sweep.credentials
    body: dict = {
        "template_id": credentials[f"notify_{kind}_template_id"],
        "reference": f"sweep-{uuid.uuid4()}",
    }
    if kind == "sms":
        body |= {"phone_number": "07700 900123", "personalisation": {"name": "Ann"}}
    elif kind == "email":
        body |= {
            "email_address": "resident@example.org",
            "personalisation": {"name": "Ann", "show_reference": "no"},
        }
    else:
        body["personalisation"] = {
            "name": "Ann",
            "address_line_1": "Ann Example",
            "address_line_2": "1 High Street",
            "address_line_3": "SW1A 1AA",
        }
    return body


def with_field(body: dict, field: str, value: object) -> dict:
    if field.startswith("personalisation."):
        return {**body, "personalisation": {**body["personalisation"], field[16:]: value}}
    return {**body, field: value}


NOTIFY_CASES = [
    (field, kind, name)
    for field, (kinds, special, _default) in NOTIFY_FIELDS.items()
    for kind in kinds
    for name in STRINGS
]


def test_every_notify_send_field_stores_a_hostile_string_exactly_or_refuses_it_in_notifys_format(
    sweep,
):
    failures = []
    for field, kind, name in NOTIFY_CASES:
        _kinds, special, default = NOTIFY_FIELDS[field]
        expected = special.get(name, default)
        if field == "personalisation.name" and kind == "sms" and name == "long":
            expected = "refused"  # longer than a text message may be
        value = STRINGS[name]
        body = with_field(notify_body(sweep, kind), field, value)
        answer = sweep.notify("POST", f"/v2/notifications/{kind}", content=dumps(body))
        try:
            check_notify_answer(sweep, answer, expected, field, value)
        except AssertionError as error:
            failures.append(f"{kind} {field} {name}: {error}")
    assert not failures, "\n".join(failures)


def check_notify_answer(sweep, answer, expected: str, field: str, value: str) -> None:
    if expected == "refused" or (expected == "either" and answer.status_code >= 400):
        assert_notify_error(answer)
        return
    assert answer.status_code == 201, _problem(answer)
    created = answer.json()
    read = sweep.notify("GET", f"/v2/notifications/{created['id']}")
    assert read.status_code == 200, _problem(read)
    stored = read.json()
    if field == "reference":
        assert created["reference"] == value
        assert stored["reference"] == value, "the reference changed on storage"
    elif field == "personalisation.address_line_1":
        assert stored["line_1"] == value, "the address line changed on storage"
    else:
        assert value in stored["body"], "the personalisation changed on storage"


#: a one-page PDF, enough for a precompiled letter's schema and decoding checks
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]"
    b"/Count 1>>endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def test_every_precompiled_letter_field_stores_a_hostile_string_exactly_or_refuses_it(sweep):
    import base64

    content = base64.b64encode(PDF).decode()
    failures = []
    for field in ("reference", "content", "postage"):
        for name, value in STRINGS.items():
            body = {"reference": f"sweep-{uuid.uuid4()}", "content": content, field: value}
            answer = sweep.notify("POST", "/v2/notifications/letter", content=dumps(body))
            try:
                if field == "content" and name == "long":
                    # 100,000 x's are base64: accepted, then validation-failed (not a PDF)
                    assert answer.status_code == 201, _problem(answer)
                    continue
                if field != "reference" or name in ("nul", "long"):
                    assert_notify_error(answer)
                    continue
                assert answer.status_code == 201, _problem(answer)
                assert answer.json()["reference"] == value
                read = sweep.notify("GET", f"/v2/notifications/{answer.json()['id']}")
                assert read.json()["reference"] == value, "changed on storage"
            except AssertionError as error:
                failures.append(f"{field} {name}: {error}")
    assert not failures, "\n".join(failures)


def test_a_template_preview_shows_a_hostile_personalisation_value_or_refuses_it(sweep):
    failures = []
    for kind in ("sms", "email"):
        template_id = sweep.credentials[f"notify_{kind}_template_id"]
        for name, value in STRINGS.items():
            body = {"personalisation": {"name": value, "show_reference": "no"}}
            answer = sweep.notify(
                "POST", f"/v2/template/{template_id}/preview", content=dumps(body)
            )
            try:
                if name == "nul":  # a preview has no length limit, as Notify's
                    assert_notify_error(answer)
                    continue
                assert answer.status_code == 200, _problem(answer)
                assert value in answer.json()["body"], "changed in the preview"
            except AssertionError as error:
                failures.append(f"{kind} {name}: {error}")
        for raw in (INVALID_UTF8, b'{"personalisation": {"name": NaN}}'):
            answer = sweep.notify("POST", f"/v2/template/{template_id}/preview", content=raw)
            try:
                assert_notify_error(answer)
            except AssertionError as error:
                failures.append(f"{kind} raw {raw[:20]!r}: {error}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("kind", ["sms", "email", "letter"])
def test_a_notify_send_that_is_not_utf8_or_holds_non_finite_numbers_is_notifys_bad_request(
    sweep, kind
):
    for raw in (INVALID_UTF8, b'{"reference": NaN}', b'{"reference": Infinity}',
                b'{"reference": 1e400}', b'{"personalisation": {"name": NaN}}'):  # fmt: skip
        answer = sweep.notify("POST", f"/v2/notifications/{kind}", content=raw)
        assert_notify_error(answer)
        assert answer.status_code == 400, _problem(answer)


NOTIFY_LIST_FILTERS = {
    "/v2/notifications": ("status", "template_type", "reference", "older_than", "include_jobs"),
    "/v2/received-text-messages": ("older_than",),
    "/v2/templates": ("type",),
}
LONG_QUERY = "x" * 4000  # 100,000 characters are over the gateway's URL limit (414)


def test_every_notify_list_filter_answers_a_hostile_string_in_notifys_format(sweep):
    failures = []
    for path, names in NOTIFY_LIST_FILTERS.items():
        for parameter in names:
            for name, value in {**STRINGS, "long": LONG_QUERY}.items():
                answer = sweep.notify("GET", path, params={parameter: value})
                try:
                    if name == "nul":
                        assert_notify_error(answer)
                    elif parameter == "reference":
                        assert answer.status_code == 200, _problem(answer)
                        listed = answer.json()["notifications"]
                        assert all(n["reference"] == value for n in listed), _problem(answer)
                    else:
                        assert_notify_error(answer)
                except AssertionError as error:
                    failures.append(f"{path}?{parameter}={name}: {error}")
    assert not failures, "\n".join(failures)


def test_a_notify_reference_filter_finds_an_sql_shaped_reference_exactly(sweep):
    reference = f"{SQL_OR} {uuid.uuid4()}"
    body = with_field(notify_body(sweep, "sms"), "reference", reference)
    sent = sweep.notify("POST", "/v2/notifications/sms", content=dumps(body))
    assert sent.status_code == 201, _problem(sent)
    like = sweep.notify("GET", "/v2/notifications", params={"reference": "%"})
    assert all(n["reference"] == "%" for n in like.json()["notifications"]), _problem(like)
    found = sweep.notify("GET", "/v2/notifications", params={"reference": reference})
    assert [n["id"] for n in found.json()["notifications"]] == [sent.json()["id"]]


#: Notify's answer to a path its routes do not match (Flask's ``int`` converter takes
#: only digits, so ``-1`` or ``1.5`` as a version is such a path)
NOTIFY_NOT_FOUND = {
    "result": "error",
    "message": (
        "The requested URL was not found on the server. If you entered the URL manually "
        "please check your spelling and try again."
    ),
}


def test_a_notify_template_version_that_is_not_a_whole_number_is_refused_in_notifys_format(sweep):
    template_id = sweep.credentials["notify_sms_template_id"]
    failures = []
    for name, text in {**INTEGERS, "string": "%22100%22", "huge": "9" * 30}.items():
        answer = sweep.notify("GET", f"/v2/template/{template_id}/version/{text}")
        try:
            if answer.status_code == 404 and answer.json() == NOTIFY_NOT_FOUND:
                continue
            assert_notify_error(answer)
        except AssertionError as error:
            failures.append(f"{name}: {error}")
    assert not failures, "\n".join(failures)


# --- Pay v1 --------------------------------------------------------------------------


def pay_body(**fields) -> dict:
    return {
        "amount": 1999,
        "reference": f"SWEEP-{uuid.uuid4().hex[:12]}",
        "description": "Fishing licence",
        "return_url": "https://agency.example/done",
        **fields,
    }


def pay_field(body: dict, field: str, value: object) -> dict:
    """``body`` with the dotted ``field`` set to ``value``."""
    head, _, rest = field.partition(".")
    if not rest:
        return {**body, head: value}
    return {**body, head: pay_field(body.get(head, {}), rest, value)}


PAY_PREFILLED = {
    "cardholder_name": "Ann Example",
    "billing_address": {
        "line1": "1 High Street",
        "line2": "Flat 2",
        "city": "Leeds",
        "postcode": "LS1 1AA",
        "country": "GB",
    },
}

#: Pay create fields: {value name: expectation} and the default expectation
PAY_FIELDS = {
    "reference": ({"nul": "refused", "long": "refused"}, "stored"),
    "description": ({"nul": "refused", "long": "refused"}, "stored"),
    "email": ({"nul": "refused", "long": "refused"}, "stored"),
    "return_url": ({}, "refused"),
    "language": ({}, "refused"),
    "authorisation_mode": ({}, "refused"),
    "set_up_agreement": ({}, "refused"),
    "agreement_id": ({}, "refused"),
    "metadata.ledger_code": ({"nul": "refused", "long": "refused"}, "stored"),
    "prefilled_cardholder_details.cardholder_name": (
        {"nul": "refused", "long": "refused"},
        "stored",
    ),
    "prefilled_cardholder_details.billing_address.line1": (
        {"nul": "refused", "long": "refused"},
        "stored",
    ),
    "prefilled_cardholder_details.billing_address.city": (
        {"nul": "refused", "long": "refused"},
        "stored",
    ),
    "prefilled_cardholder_details.billing_address.postcode": (
        {"nul": "refused", "long": "refused", "sql-drop": "stored", "sql-or": "stored"},
        "stored",
    ),
    "prefilled_cardholder_details.billing_address.country": ({}, "either"),
}


def stored_value(payment: dict, field: str) -> object:
    if field.startswith("metadata."):
        return payment["metadata"][field[9:]]
    if field.startswith("prefilled_cardholder_details."):
        value: object = payment["card_details"]
        for part in field.split(".")[1:]:
            value = value[part]  # type: ignore[index]
        return value
    return payment[field]


def test_every_pay_create_field_stores_a_hostile_string_exactly_or_refuses_it_in_pays_format(
    sweep,
):
    failures = []
    for field, (special, default) in PAY_FIELDS.items():
        for name, value in STRINGS.items():
            expected = special.get(name, default)
            base = pay_body(
                metadata={"ledger_code": "AB100"},
                prefilled_cardholder_details=PAY_PREFILLED,
            )
            answer = sweep.pay("POST", "/v1/payments", content=dumps(pay_field(base, field, value)))
            try:
                if expected == "refused" or (expected == "either" and answer.status_code >= 400):
                    assert_pay_error(answer)
                    continue
                assert answer.status_code == 201, _problem(answer)
                assert stored_value(answer.json(), field) == value
                read = sweep.pay("GET", f"/v1/payments/{answer.json()['payment_id']}")
                assert stored_value(read.json(), field) == value, "changed on storage"
            except AssertionError as error:
                failures.append(f"{field} {name}: {error}")
    assert not failures, "\n".join(failures)


def test_every_pay_agreement_field_stores_a_hostile_string_exactly_or_refuses_it(sweep):
    failures = []
    for field in ("reference", "description", "user_identifier"):
        for name, value in STRINGS.items():
            body = {"reference": f"SWEEP-{uuid.uuid4().hex[:12]}", "description": "Rent"}
            body[field] = value
            answer = sweep.pay("POST", "/v1/agreements", content=dumps(body))
            try:
                if name in ("nul", "long"):
                    assert_pay_error(answer)
                    continue
                assert answer.status_code == 201, _problem(answer)
                read = sweep.pay("GET", f"/v1/agreements/{answer.json()['agreement_id']}")
                assert read.json()[field] == value, "changed on storage"
            except AssertionError as error:
                failures.append(f"{field} {name}: {error}")
    assert not failures, "\n".join(failures)


def test_a_pay_metadata_key_that_looks_like_sql_is_stored_exactly(sweep):
    answer = sweep.pay("POST", "/v1/payments", content=dumps(pay_body(metadata={SQL_OR: SQL_DROP})))
    assert answer.status_code == 201, _problem(answer)
    read = sweep.pay("GET", f"/v1/payments/{answer.json()['payment_id']}")
    assert read.json()["metadata"] == {SQL_OR: SQL_DROP}


def raw_pay_create(amount_text: str, **fields) -> bytes:
    body = json.dumps(pay_body(**fields))
    return body.replace('"amount": 1999', f'"amount": {amount_text}').encode()


def test_a_pay_amount_that_is_not_a_whole_number_in_range_is_refused_in_pays_format(sweep):
    failures = []
    for name, text in {**INTEGERS, "zero": "0"}.items():
        answer = sweep.pay("POST", "/v1/payments", content=raw_pay_create(text))
        try:
            assert_pay_error(answer)
        except AssertionError as error:
            failures.append(f"{name}: {error}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("field", ["delayed_capture", "moto"])
def test_a_pay_boolean_given_as_a_string_or_number_is_refused_in_pays_format(sweep, field):
    for value in ("true", 1, 0, SQL_OR, [], {}):
        answer = sweep.pay("POST", "/v1/payments", content=dumps(pay_body(**{field: value})))
        assert_pay_error(answer)


@pytest.mark.parametrize(
    "path", ["/v1/payments", "/v1/payments/{payment_id}/refunds", "/v1/agreements"]
)
def test_a_pay_body_that_is_not_utf8_or_holds_non_finite_numbers_is_pays_bad_request(sweep, path):
    created = sweep.pay("POST", "/v1/payments", content=dumps(pay_body()))
    path = path.format(payment_id=created.json()["payment_id"])
    for raw in (INVALID_UTF8, b'{"amount": NaN}', b'{"amount": Infinity}',
                b'{"amount": 1e400}', b'{"reference": "\\ud800"}'):  # fmt: skip
        answer = sweep.pay("POST", path, content=raw)
        assert_pay_error(answer)
        assert answer.status_code == 400, _problem(answer)


@pytest.fixture(scope="module")
def paid_payment(sweep) -> dict:
    """A payment of £19.99 paid on the hosted pages, to refund."""
    created = sweep.pay("POST", "/v1/payments", content=dumps(pay_body()))
    assert created.status_code == 201, created.text
    payment = created.json()
    done = pay_on_the_pages(sweep.platform.gateway_url, payment["_links"]["next_url"]["href"])
    assert done.status_code == 303, done.text[:300]
    return payment


def test_a_refund_amount_or_amount_available_that_is_not_a_whole_number_refunds_nothing(
    sweep, paid_payment
):
    path = f"/v1/payments/{paid_payment['payment_id']}/refunds"
    failures = []
    for field in ("amount", "refund_amount_available"):
        for name, text in {**INTEGERS, "zero": "0"}.items():
            body = {"amount": "AMOUNT", "refund_amount_available": 1999}
            body[field] = "VALUE"
            raw = json.dumps(body).replace('"VALUE"', text).replace('"AMOUNT"', "100").encode()
            answer = sweep.pay("POST", path, content=raw)
            try:
                if field == "refund_amount_available" and name == "null":
                    # null is the field not given, as for Pay's Jackson: refunded
                    assert answer.status_code == 202, _problem(answer)
                    assert answer.json()["amount"] == 100
                else:
                    assert_pay_error(answer)
            except AssertionError as error:
                failures.append(f"{field} {name}: {error}")
    read = sweep.pay("GET", f"/v1/payments/{paid_payment['payment_id']}")
    assert read.json()["refund_summary"]["amount_available"] == 1899, read.text
    assert not failures, "\n".join(failures)


PAY_SEARCH = (
    "reference",
    "email",
    "state",
    "card_brand",
    "from_date",
    "to_date",
    "first_digits_card_number",
    "last_digits_card_number",
    "cardholder_name",
    "agreement_id",
    "from_settled_date",
    "to_settled_date",
)


def test_every_pay_search_parameter_answers_a_hostile_string_in_pays_format(sweep):
    failures = []
    for parameter in PAY_SEARCH:
        for name, value in {**STRINGS, "long": LONG_QUERY}.items():
            answer = sweep.pay("GET", "/v1/payments", params={parameter: value})
            try:
                if answer.status_code == 200:
                    results = answer.json()["results"]
                    if parameter == "reference":
                        assert all(p["reference"] == value for p in results)
                    elif parameter in ("email", "cardholder_name"):
                        assert all(
                            value.lower() in (p.get(parameter) or p["card_details"]
                                              ["cardholder_name"] or "").lower()
                            for p in results
                        )  # fmt: skip
                    else:  # card_brand, agreement_id: no payment has such a value
                        assert results == [], "matched"
                    assert name != "nul", "a NUL accepted"
                else:
                    assert_pay_error(answer)
            except AssertionError as error:
                failures.append(f"{parameter}={name}: {error}")
    for parameter in ("page", "display_size"):
        for name, text in {**INTEGERS, "string": "%22100%22", "zero": "0"}.items():
            answer = sweep.pay("GET", f"/v1/payments?{parameter}={text}")
            try:
                assert_pay_error(answer)
            except AssertionError as error:
                failures.append(f"{parameter}={name}: {error}")
    assert not failures, "\n".join(failures)


def test_a_pay_search_finds_an_sql_shaped_reference_exactly_and_a_wildcard_matches_nothing_else(
    sweep,
):
    reference = f"{SQL_OR}%_{uuid.uuid4().hex[:8]}"
    created = sweep.pay("POST", "/v1/payments", content=dumps(pay_body(reference=reference)))
    assert created.status_code == 201, _problem(created)
    found = sweep.pay("GET", "/v1/payments", params={"reference": reference}).json()
    assert [p["payment_id"] for p in found["results"]] == [created.json()["payment_id"]]
    for pattern in ("%", "_", "' OR 1=1 --%"):
        listed = sweep.pay("GET", "/v1/payments", params={"reference": pattern}).json()
        assert all(p["reference"] == pattern for p in listed["results"]), pattern
    wildcard = sweep.pay("GET", "/v1/payments", params={"email": "%"}).json()
    assert all("%" in (p.get("email") or "") for p in wildcard["results"])


# --- registers -----------------------------------------------------------------------


def register_append(sweep: Sweep, body: bytes) -> httpx.Response:
    return sweep.http.post(
        "/registers/country/entries",
        content=body,
        headers={
            "Authorization": f"Bearer {sweep.registers_token}",
            "Content-Type": "application/json",
        },
    )


def register_size(sweep: Sweep) -> int:
    return sweep.http.get("/registers/country/register").json()["total-entries"]


def test_every_register_entry_field_refuses_a_hostile_key_or_code_and_appends_nothing(sweep):
    before = register_size(sweep)
    failures = []
    cases = []
    for name, value in STRINGS.items():
        cases += [
            (f"key {name}", {"entries": [{"key": value, "item": {"country": "AQ"}}]}),
            (f"item key field {name}", {"entries": [{"key": value, "item": {"country": value}}]}),
            (f"end-date {name}", {"entries": [{"key": "AQ", "item": {"country": "AQ", "end-date": value}}]}),
            (f"unknown field {name}", {"entries": [{"key": "AQ", "item": {"country": "AQ", value: "x"}}]}),
            (f"assert-root-hash {name}", {"entries": [{"key": "AQ", "item": {"country": "AQ"}}], "assert-root-hash": value}),
        ]  # fmt: skip
    for label, body in cases:
        answer = register_append(sweep, dumps(body))
        try:
            assert_register_error(answer)
        except AssertionError as error:
            failures.append(f"{label}: {error}")
    for raw in (INVALID_UTF8, b'{"entries": NaN}', b'{"entries": [{"key": "AQ", "item": {"country": "AQ", "name": 1e400}}]}'):  # fmt: skip
        answer = register_append(sweep, raw)
        try:
            assert_register_error(answer)
        except AssertionError as error:
            failures.append(f"raw {raw[:30]!r}: {error}")
    assert register_size(sweep) == before, "a refused write appended"
    assert not failures, "\n".join(failures)


def test_a_register_name_that_looks_like_sql_is_stored_exactly_and_the_record_restored(sweep):
    original = sweep.http.get("/registers/country/records/AQ").json()["AQ"]["item"][0]
    failures = []
    try:
        for name in ("sql-or", "sql-drop", "percent-nul", "long", "nul"):
            value = STRINGS[name]
            answer = register_append(
                sweep,
                dumps({"entries": [{"key": "AQ", "item": {**original, "official-name": value}}]}),
            )
            try:
                if name in ("nul", "long") and answer.status_code >= 400:
                    assert_register_error(answer)
                    continue
                assert answer.status_code == 201, _problem(answer)
                read = sweep.http.get("/registers/country/records/AQ").json()
                assert read["AQ"]["item"][0]["official-name"] == value, "changed on storage"
            except AssertionError as error:
                failures.append(f"{name}: {error}")
    finally:
        restored = register_append(sweep, dumps({"entries": [{"key": "AQ", "item": original}]}))
        assert restored.status_code == 201, _problem(restored)
    assert not failures, "\n".join(failures)


# --- identity /token -----------------------------------------------------------------

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def token_forms(sweep: Sweep) -> dict[str, dict]:
    """For each form field, a request that uses it (with the seeded client's id)."""
    client_id = sweep.credentials["oauth_client_id"]
    return {
        "grant_type": {"grant_type": "client_credentials"},
        "scope": {"grant_type": "client_credentials", "scope": "notify:send"},
        "client_id": {"grant_type": "client_credentials", "client_id": client_id},
        "client_secret": {"grant_type": "client_credentials", "client_id": client_id,
                          "client_secret": "x"},
        "client_assertion": {"grant_type": "client_credentials", "client_id": client_id,
                             "client_assertion_type": ASSERTION_TYPE, "client_assertion": "x"},
        "client_assertion_type": {"grant_type": "client_credentials", "client_id": client_id,
                                  "client_assertion_type": ASSERTION_TYPE,
                                  "client_assertion": "a.b.c"},
        "code": {"grant_type": "authorization_code", "code": "x",
                 "redirect_uri": "https://agency.example/callback", "code_verifier": "v" * 43},
        "redirect_uri": {"grant_type": "authorization_code", "code": "x",
                         "redirect_uri": "https://agency.example/callback"},
        "code_verifier": {"grant_type": "authorization_code", "code": "x",
                          "redirect_uri": "https://agency.example/callback",
                          "code_verifier": "v" * 43},
        "refresh_token": {"grant_type": "refresh_token", "refresh_token": "x"},
    }  # fmt: skip


def test_every_token_form_field_refuses_a_hostile_string_in_rfc_6749s_format(sweep):
    credentials = sweep.credentials
    basic = (credentials["oauth_client_id"], credentials["oauth_client_secret"])
    failures = []
    for field, form in token_forms(sweep).items():
        uses_basic = field not in ("client_id", "client_secret", "client_assertion",
                                   "client_assertion_type")  # fmt: skip
        for name, value in STRINGS.items():
            answer = sweep.http.post(
                "/token", data={**form, field: value}, auth=basic if uses_basic else None
            )
            try:
                assert_oauth_error(answer)
            except AssertionError as error:
                failures.append(f"{field} {name}: {error}")
        others = "&".join(f"{key}={value}" for key, value in form.items() if key != field)
        raw = f"{others}&{field}=".encode() + b"\xff\xfe%FF%FE"
        answer = sweep.http.post(
            "/token",
            content=raw,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=basic if uses_basic else None,
        )
        try:
            assert_oauth_error(answer)
        except AssertionError as error:
            failures.append(f"{field} not UTF-8: {error}")
    assert not failures, "\n".join(failures)
