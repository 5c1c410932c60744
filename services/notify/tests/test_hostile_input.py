"""Hostile and malformed input to notify's v2 and admin APIs, in-process.

Each test states what must hold whatever a caller sends: an answer in GOV.UK
Notify's v2 envelope (``{"status_code", "errors": [{"error", "message"}]}``) with
Notify's words where Notify has them, never a 500, never a hang, nothing accepted
and then lost or mangled. Rendering that must finish promptly is run in a child
process with a time limit, because a runaway regular expression holds the GIL and
cannot be interrupted from inside the test process.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import subprocess
import sys
import textwrap

import httpx
import pytest
from aiosmtpd.controller import Controller
from pypdf import PdfReader

from govkit.nats_server import free_port
from govkit.principal import HEADER
from notify.providers import Providers, SmtpEmailProvider
from notify.templating import letter

ROOT = "http://gateway.test"

INVALID_JSON = {
    "status_code": 400,
    "errors": [{"error": "BadRequestError", "message": "Invalid JSON supplied in POST data"}],
}
#: Seconds a child process may take to render one hostile message (linear-time
#: rendering of these inputs takes well under a second; today they take minutes).
RENDER_LIMIT_SECONDS = 15


def api(notify, key_type: str = "live") -> httpx.AsyncClient:
    """A client of the app with a live key's principal that, like a real HTTP client,
    sees a 500 as an answer instead of the app's exception."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=notify.app, raise_app_exceptions=False),
        base_url=ROOT,
        headers={HEADER: notify.principal(key_type)},
    )


def envelope(response) -> dict:
    body = response.json()
    assert set(body) == {"status_code", "errors"}, body
    assert body["status_code"] == response.status_code
    assert body["errors"] and all(set(e) == {"error", "message"} for e in body["errors"])
    return body


#: A valid send of each kind for the ``notify`` fixture's templates, apart from the
#: template id.
VALID = {
    "sms": {"phone_number": "07700 900123", "personalisation": {"name": "Ann", "code": "1234"}},
    "email": {
        "email_address": "ann@example.com",
        "personalisation": {"name": "Ann", "reference": "R1"},
    },
}


def sms_body(notify, **overrides) -> dict:
    return {"template_id": notify.templates["sms"], **VALID["sms"], **overrides}


def email_body(notify, **overrides) -> dict:
    return {"template_id": notify.templates["email"], **VALID["email"], **overrides}


def letter_body(notify, **personalisation) -> dict:
    values = {
        "name": "Ann",
        "address_line_1": "Ann Example",
        "address_line_2": "1 High Street",
        "address_line_3": "SW1A 1AA",
    }
    values.update(personalisation)
    return {"template_id": notify.templates["letter"], "personalisation": values}


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


# --- JSON that Python parses but that is not text or not a finite number ---------


def post_raw(client: httpx.AsyncClient, path: str, body: object, *, raw: str | None = None):
    """POST ``body`` as JSON (``json.dumps`` writes a lone surrogate as its ``\\uXXXX``
    escape, exactly what a client in another language may send), or ``raw`` text."""
    content = raw if raw is not None else json.dumps(body)
    return client.post(path, content=content.encode(), headers={"Content-Type": "x"})


LONE_SURROGATES = {
    "in a personalisation value": ("sms", {"personalisation": {"name": "\ud800", "code": "1"}}),
    "in a personalisation key": (
        "sms",
        {"personalisation": {"name": "Ann", "code": "1", "\udfff": "x"}},
    ),
    "in the reference": ("sms", {"reference": "\udfff"}),
    "in an email's personalisation": (
        "email",
        {"personalisation": {"name": "\ud83d", "reference": "R"}},
    ),
    "in a letter's address": ("letter", {"address_line_1": "Ann \udc00"}),
}


def body_for(notify, kind: str, fields: dict) -> dict:
    if kind == "letter":
        return letter_body(notify, **fields)
    return {"sms": sms_body, "email": email_body}[kind](notify, **fields)


@pytest.mark.parametrize("kind, fields", LONE_SURROGATES.values(), ids=list(LONE_SURROGATES))
async def test_a_lone_surrogate_escape_in_a_send_is_invalid_json_not_a_500(notify, kind, fields):
    async with api(notify) as client:
        response = await post_raw(
            client, f"/v2/notifications/{kind}", body_for(notify, kind, fields)
        )
    assert response.status_code == 400, response.text
    assert envelope(response) == INVALID_JSON


async def test_a_lone_surrogate_escape_in_a_preview_is_invalid_json_not_a_500(notify):
    body = {"personalisation": {"name": "\ud800", "reference": "R"}}
    async with api(notify) as client:
        response = await post_raw(client, f"/v2/template/{notify.templates['email']}/preview", body)
    assert response.status_code == 400, response.text
    assert envelope(response) == INVALID_JSON


async def test_an_escaped_emoji_pair_is_still_accepted_and_sent_as_a_question_mark(notify):
    body = sms_body(notify, personalisation={"name": "\U0001f600", "code": "1"})
    async with api(notify) as client:
        response = await post_raw(client, "/v2/notifications/sms", body)
    assert response.status_code == 201, response.text
    assert response.json()["content"]["body"] == "Hello ?, your code is 1."


async def test_a_number_too_large_for_a_float_is_refused_like_infinity(notify):
    """``1e999`` parses as ``inf`` in Python: notify refuses ``Infinity`` itself, and a
    citizen must never receive "Hello inf"."""
    body = sms_body(notify, personalisation={"name": 12345, "code": "1"})
    async with api(notify) as client:
        response = await post_raw(
            client, "/v2/notifications/sms", None, raw=json.dumps(body).replace("12345", "1e999")
        )
    assert response.status_code == 400, response.text
    assert envelope(response) == INVALID_JSON


async def test_a_deeply_nested_list_value_is_answered_without_a_500(notify):
    """600 levels of lists parse as JSON (the parser's limit is higher); rendering them
    as a bullet list recursed until Python's stack ran out."""
    value: object = "Ann"
    for _ in range(600):
        value = [value]
    body = email_body(notify, personalisation={"name": value, "reference": "R"})
    async with api(notify) as client:
        response = await post_raw(client, "/v2/notifications/email", body)
    assert response.status_code in (201, 400), response.text
    if response.status_code == 400:
        envelope(response)


NUL_SENDS = {
    "a text message's reference": ("sms", {"reference": "ref\u0000with a NUL"}),
    "an email's personalisation": (
        "email",
        {"personalisation": {"name": "Ann\u0000", "reference": "R"}},
    ),
    "a letter's address line": (
        "letter",
        {
            "personalisation": {
                "name": "Ann",
                "address_line_1": "Ann\u0000Example",
                "address_line_2": "1 High Street",
                "address_line_3": "SW1A 1AA",
            }
        },
    ),
}


@pytest.mark.parametrize("kind, fields", NUL_SENDS.values(), ids=list(NUL_SENDS))
async def test_a_nul_character_is_stored_or_refused_on_every_database(notify, kind, fields):
    """SQLite keeps NUL characters; PostgreSQL's text type cannot. Either way the
    caller gets a clear answer, and an accepted message can be read back."""
    body = body_for(notify, kind, {})
    body.update(fields)
    async with api(notify) as client:
        response = await client.post(f"/v2/notifications/{kind}", json=body)
        if response.status_code == 201:
            got = await client.get(f"/v2/notifications/{response.json()['id']}")
            assert got.status_code == 200
            assert got.json()["reference"] == body.get("reference")
            return
    assert response.status_code == 400, response.text
    assert envelope(response)["errors"][0]["error"] in ("ValidationError", "BadRequestError")


@pytest.mark.parametrize(
    "path",
    [
        "/v2/notifications?reference=%00",
        "/v2/notifications?status=sent%00",
        "/v2/notifications?older_than=%00",
        "/v2/received-text-messages?older_than=%00",
        "/v2/templates?type=sms%00",
        "/v2/notifications?refer%00ence=x",
    ],
)
async def test_a_list_filter_with_a_nul_character_is_a_validation_error_naming_it(notify, path):
    """No stored notification holds a NUL (sends refuse it), and PostgreSQL cannot compare
    text with one: ``?reference=%00`` was a 500 there."""
    async with api(notify) as client:
        response = await client.get(path)
    assert response.status_code == 400, response.text
    [error] = envelope(response)["errors"]
    assert error["error"] == "ValidationError"
    assert error["message"].endswith("must not contain the NUL character")
    assert error["message"].split()[0] in ("reference", "status", "older_than", "type")


async def test_a_letter_whose_address_is_longer_than_an_email_address_is_stored_whole(notify):
    """A letter's recipient is its whole address; the column held 320 characters, and a
    longer address was a 500 on PostgreSQL."""
    line = "Flat 1, " + "Very Long House Name " * 40
    body = letter_body(notify, address_line_1=line)
    async with api(notify) as client:
        response = await client.post("/v2/notifications/letter", json=body)
        assert response.status_code == 201, response.text
        got = await client.get(f"/v2/notifications/{response.json()['id']}")
    assert got.status_code == 200
    assert got.json()["line_1"] == line


async def test_a_failed_send_logs_no_personal_data(notify, caplog):
    """Whatever goes wrong inside a send, the log holds neither the recipient nor the
    personalisation (a database error's text carries the statement's parameters)."""
    caplog.set_level(logging.INFO)
    bodies = [
        sms_body(
            notify,
            phone_number="07700 900987",
            personalisation={"name": "Zebedee\u0000", "code": "1"},
        ),
        sms_body(notify, phone_number="07700 900987", reference="Zebedee\u0000"),
    ]
    hostile = sms_body(
        notify, phone_number="07700 900987", personalisation={"name": "Zebedee\ud800", "code": "1"}
    )
    async with api(notify) as client:
        for body in bodies:
            await client.post("/v2/notifications/sms", json=body)
        await post_raw(client, "/v2/notifications/sms", hostile)
    logged = caplog.text
    for secret in ("Zebedee", "900987", "447700900987"):
        assert secret not in logged


# --- personalisation that Notify treats specially --------------------------------


async def test_a_file_to_send_by_email_is_refused_as_notify_refuses_it_without_the_permission(
    notify,
):
    """``prepare_upload``'s ``{"file": base64, ...}`` is not built: Notify answers a
    service without the permission with this error, never by mailing the base64 text."""
    upload = {"file": base64.b64encode(b"%PDF-1.4 secret").decode(), "filename": "a.pdf"}
    async with api(notify) as client:
        response = await client.post(
            "/v2/notifications/email",
            json=email_body(notify, personalisation={"name": "Ann", "reference": upload}),
        )
    assert response.status_code == 400, response.text
    assert envelope(response) == {
        "status_code": 400,
        "errors": [
            {"error": "BadRequestError", "message": "Service is not allowed to send documents"}
        ],
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://agency.example/unsub\r\nBcc: everyone@example.com",
        "https://agency.example/unsub\nX-Injected: 1",
        "https://agency.example/unsub\r",
        "https://agency.example/unsub\u2028more",
    ],
    ids=["crlf", "lf", "cr", "line-separator"],
)
async def test_an_unsubscribe_link_with_a_line_break_is_not_a_valid_https_url(notify, url):
    """It becomes the ``List-Unsubscribe`` header of a live email: accepted, the SMTP
    provider cannot build the message and the email stays ``sending`` for ever."""
    async with api(notify) as client:
        response = await client.post(
            "/v2/notifications/email", json=email_body(notify, one_click_unsubscribe_url=url)
        )
    assert response.status_code == 400, response.text
    assert envelope(response) == {
        "status_code": 400,
        "errors": [
            {
                "error": "ValidationError",
                "message": "one_click_unsubscribe_url is not a valid https url",
            }
        ],
    }


class _Mailbox:
    def __init__(self) -> None:
        self.recipients: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.recipients += envelope.rcpt_tos
        return "250 OK"


async def test_an_email_to_an_internationalised_domain_is_delivered_to_its_ascii_form(notify):
    """``test@例え.テスト`` is valid for Notify; a mail server without SMTPUTF8 needs the
    IDNA (punycode) domain. The email must be delivered, not retried until it fails."""
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        async with api(notify) as client:
            sent = await client.post(
                "/v2/notifications/email", json=email_body(notify, email_address="test@例え.テスト")
            )
        assert sent.status_code == 201, sent.text
        provider = SmtpEmailProvider("127.0.0.1", controller.port, security="none", timeout=5)
        delivery = notify.delivery(Providers(email=provider), retry_delays=())
        status = await delivery.deliver(sent.json()["id"])
    finally:
        controller.stop()
    assert status == "delivered"
    assert mailbox.recipients == ["test@xn--r8jz45g.xn--zckzah"]


# --- rendering that must stay linear ---------------------------------------------

_RENDER_EMAIL = textwrap.dedent(
    """
    import json, sys
    from notify.templating.render import render
    value = json.loads(sys.stdin.read())
    render("email", "Dear ((name)),\\n\\nThank you.", "About ((name))", {"name": value})
    """
)
_RENDER_SMS = textwrap.dedent(
    """
    import json, sys
    from notify.templating.render import render
    value = json.loads(sys.stdin.read())
    render("sms", "Hello ((name)), thank you.", None, {"name": value})
    """
)
_RENDER_LETTER = textwrap.dedent(
    """
    import json, sys
    from notify.templating import letter
    from notify.templating.render import render
    value = json.loads(sys.stdin.read())
    filled = render("letter", "Dear ((name)),\\n\\nThank you.", "About you", {"name": value})
    letter.render_pdf(
        address_lines=["Ann", "1 High Street", "SW1A 1AA"], subject=filled.subject, body=filled.body
    )
    """
)

_SANITISE = textwrap.dedent(
    """
    import json, sys
    from notify.templating.render import sanitise_personalisation
    value = json.loads(sys.stdin.read())
    sanitise_personalisation({"name": value}, ["name"])
    """
)

#: Personalisation values under the gateway's 1 MiB body limit that one request can send.
HOSTILE_VALUES = {
    "a heading line with many spaces": "x\n# a" + " " * 8000 + "b",
    "many unclosed links": "[a](https://" * 40_000,
    "many unclosed images": "![" * 200_000,
    "many opening brackets": "[" * 400_000,
    "a long run of spaces": "a" + " " * 400_000 + "b",
}


def _renders_within_limit(script: str, value: str) -> None:
    try:
        subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(value),
            text=True,
            capture_output=True,
            check=True,
            timeout=RENDER_LIMIT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"rendering {len(value)} characters took over {RENDER_LIMIT_SECONDS}s: one such "
            "request freezes notify's event loop for every caller"
        )


@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=list(HOSTILE_VALUES))
def test_an_email_with_hostile_personalisation_renders_promptly(value):
    _renders_within_limit(_RENDER_EMAIL, value)


def test_sanitise_content_for_on_a_long_hyphenated_value_finishes_promptly():
    """``sanitise_content_for`` (emails) runs its domain pattern from every word start."""
    _renders_within_limit(_SANITISE, "a-" * 200_000)


def test_a_text_message_with_a_long_run_of_spaces_renders_promptly():
    _renders_within_limit(_RENDER_SMS, HOSTILE_VALUES["a long run of spaces"])


def test_a_letter_with_a_hostile_heading_line_renders_promptly():
    _renders_within_limit(_RENDER_LETTER, HOSTILE_VALUES["a heading line with many spaces"])


# --- letters -----------------------------------------------------------------------


async def test_bullet_points_in_a_letter_are_printed_as_bullets_not_question_marks(notify):
    template_id = await notify.template(
        "letter", "Dear ((name)),\n\n* first point\n* second point", subject="Points"
    )
    body = letter_body(notify)
    body["template_id"] = template_id
    async with api(notify) as client:
        sent = await client.post("/v2/notifications/letter", json=body)
        assert sent.status_code == 201, sent.text
        assert await notify.delivery().deliver(sent.json()["id"]) == "delivered"
        pdf = await client.get(f"/v2/notifications/{sent.json()['id']}/pdf")
    text = pdf_text(pdf.content)
    assert "first point" in text and "second point" in text
    assert "?" not in text, text


async def test_a_letter_address_the_printer_cannot_show_is_refused_not_printed_as_question_marks(
    notify,
):
    """The built-in fonts are Latin-1: a Chinese address became ``???`` on the envelope
    and the letter was reported ``received``. Refuse it (400), or print it legibly."""
    body = letter_body(notify, address_line_1="王小明", address_line_2="北京市朝阳区")
    async with api(notify) as client:
        sent = await client.post("/v2/notifications/letter", json=body)
        if sent.status_code != 201:
            assert sent.status_code == 400, sent.text
            assert envelope(sent)["errors"][0]["error"] == "ValidationError"
            return
        await notify.delivery().deliver(sent.json()["id"])
        pdf = await client.get(f"/v2/notifications/{sent.json()['id']}/pdf")
    text = pdf_text(pdf.content)
    assert "王小明" in text and "北京市朝阳区" in text, text


async def test_a_templated_letter_longer_than_ten_pages_is_validation_failed_not_billed(notify):
    """Notify's limit is 10 pages (template preview reports longer letters and the API
    marks them ``validation-failed``); notify printed and billed 100 sheets."""
    long_text = "\n\n".join(["This paragraph is long enough to fill a few lines. " * 8] * 150)
    async with api(notify) as client:
        sent = await client.post(
            "/v2/notifications/letter", json=letter_body(notify, name=long_text)
        )
        assert sent.status_code == 201, sent.text
        await notify.delivery().deliver(sent.json()["id"])
        got = (await client.get(f"/v2/notifications/{sent.json()['id']}")).json()
    assert got["status"] == "validation-failed"
    assert got["cost_details"] == {} and got["cost_in_pounds"] is None


async def test_a_precompiled_letter_in_base64_wrapped_over_lines_is_accepted(notify):
    """MIME base64 (76-character lines, what ``base64`` and many libraries write) decodes
    in Notify, which calls ``b64decode`` without ``validate``."""
    pdf = letter.render_pdf(address_lines=["A", "B", "SW1A 1AA"], subject="s", body="b")
    encoded = base64.encodebytes(pdf).decode()
    assert "\n" in encoded
    async with api(notify) as client:
        sent = await client.post(
            "/v2/notifications/letter", json={"reference": "wrapped", "content": encoded}
        )
        assert sent.status_code == 201, sent.text
        assert await notify.delivery().deliver(sent.json()["id"]) == "delivered"
        got = await client.get(f"/v2/notifications/{sent.json()['id']}/pdf")
    assert got.content == pdf


def minimal_pdf(objects: list[bytes]) -> bytes:
    """A PDF of ``objects`` (object 1 is the catalogue) with a correct xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def deep_page_tree(depth: int) -> bytes:
    kids = [b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (n + 3) for n in range(depth)]
    return minimal_pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", *kids, b"<< /Type /Page /MediaBox [0 0 595 842] >>"]
    )


def wide_page_tree(pages: int) -> bytes:
    return minimal_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + b"3 0 R " * pages + b"] /Count %d >>" % pages,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        ]
    )


@pytest.mark.parametrize(
    "pdf",
    [deep_page_tree(200), wide_page_tree(200_000)],
    ids=["page tree 200 levels deep", "page tree 200,000 kids wide"],
)
async def test_a_precompiled_letter_pypdf_refuses_to_read_is_validation_failed_not_stuck(
    notify, pdf
):
    """pypdf stops at its limits with ``LimitReachedError``, which the PDF check did not
    catch: delivery raised on every attempt, the event was dead-lettered and the letter
    stayed ``pending-virus-check`` for ever."""
    async with api(notify) as client:
        sent = await client.post(
            "/v2/notifications/letter",
            json={"reference": "bomb", "content": base64.b64encode(pdf).decode()},
        )
        assert sent.status_code == 201, sent.text
        try:
            status = await notify.delivery().deliver(sent.json()["id"])
        except Exception as exc:  # what the consumer would retry, then dead-letter
            pytest.fail(f"delivery raised {type(exc).__name__}: {exc}")
        got = (await client.get(f"/v2/notifications/{sent.json()['id']}")).json()
    assert status == "validation-failed"
    assert got["status"] == "validation-failed"


# --- query strings and paths -----------------------------------------------------


async def test_a_repeated_type_filter_on_templates_uses_the_first_value_as_notify_does(notify):
    """Notify reads ``request.args.to_dict()``: the first value of a repeated key."""
    async with api(notify) as client:
        first_good = await client.get("/v2/templates?type=sms&type=fax")
        first_bad = await client.get("/v2/templates?type=fax&type=sms")
    assert first_good.status_code == 200, first_good.text
    assert {t["type"] for t in first_good.json()["templates"]} == {"sms"}
    assert first_bad.status_code == 400
    assert envelope(first_bad)["errors"] == [
        {"error": "ValidationError", "message": "type fax is not one of [sms, email, letter]"}
    ]


async def test_a_template_version_in_non_ascii_digits_is_not_found(notify):
    """``/version/\\u0661`` (Arabic-Indic digit one) is not Notify's ``<int:version>``: Flask's 404,
    not version 1 of the template."""
    async with api(notify) as client:
        response = await client.get(f"/v2/template/{notify.templates['sms']}/version/\u0661")
    assert response.status_code == 404
    assert response.json()["result"] == "error"


# --- the admin API -----------------------------------------------------------------


async def test_the_admin_api_answers_a_bad_received_text_number_in_its_own_error_shape(notify):
    """Admin errors are ``{"error": REASON, "message": text}``; this one came in Notify's
    v2 envelope."""
    async with notify.admin() as client:
        response = await client.post(
            f"/admin/notify/services/{notify.service_id}/received-text-messages",
            json={"user_number": "not a number", "content": "hello"},
        )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert "Must not contain letters or symbols" in body["message"]
