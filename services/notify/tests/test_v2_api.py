"""The v2 API in-process: Notify's fields, messages, order of checks, key types and paging."""

from __future__ import annotations

import base64
import re
import uuid

import pytest

from govkit.principal import HEADER
from notify.service import services as services_service
from notify.templating import letter

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def sms(notify, **overrides):
    body = {
        "phone_number": "07700 900123",
        "template_id": notify.templates["sms"],
        "personalisation": {"name": "Ann", "code": "1234"},
    }
    body.update(overrides)
    return body


def email(notify, **overrides):
    body = {
        "email_address": "Ann.Example@Example.com",
        "template_id": notify.templates["email"],
        "personalisation": {"name": "Ann", "reference": "R1"},
    }
    body.update(overrides)
    return body


def letter_body(notify, **lines):
    personalisation = {
        "name": "Ann",
        "address_line_1": "Ann Example",
        "address_line_2": "1 High Street",
        "address_line_3": "sw1a1aa",
    }
    personalisation.update(lines)
    return {"template_id": notify.templates["letter"], "personalisation": personalisation}


def messages(response) -> list[str]:
    body = response.json()
    assert set(body) == {"status_code", "errors"}, "v2 errors never carry a top-level message"
    assert body["status_code"] == response.status_code
    return [e["message"] for e in body["errors"]]


async def test_a_text_message_is_accepted_with_notifys_answer(notify):
    async with notify.http("live") as client:
        response = await client.post("/v2/notifications/sms", json=sms(notify, reference="my-ref"))
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "reference", "content", "uri", "template", "scheduled_for"}
    assert body["reference"] == "my-ref"
    assert body["content"] == {"body": "Hello Ann, your code is 1234.", "from_number": "govplat"}
    assert body["uri"] == f"http://gateway.test/v2/notifications/{body['id']}"
    assert body["template"] == {
        "id": notify.templates["sms"],
        "version": 1,
        "uri": f"http://gateway.test/services/{notify.service_id}/templates/{notify.templates['sms']}",
    }
    assert body["scheduled_for"] is None


async def test_an_email_is_accepted_with_its_markdown_body_subject_and_sender(notify):
    async with notify.http("live") as client:
        response = await client.post("/v2/notifications/email", json=email(notify))
    body = response.json()
    assert response.status_code == 201
    assert body["content"] == {
        "from_email": "notifications@notifications.test",
        "body": "Dear Ann,\n\nYour reference is R1.",
        "subject": "Hello Ann",
        "one_click_unsubscribe_url": None,
    }
    assert body["sanitised_content"] == {}


async def test_getting_a_notification_gives_every_notify_field_in_notifys_formats(notify):
    async with notify.http("live") as client:
        sent = (await client.post("/v2/notifications/email", json=email(notify))).json()
        got = (await client.get(f"/v2/notifications/{sent['id']}")).json()
    assert set(got) == {
        "id", "reference", "email_address", "phone_number", "line_1", "line_2", "line_3",
        "line_4", "line_5", "line_6", "postcode", "type", "status", "template", "body",
        "subject", "created_at", "created_by_name", "sent_at", "completed_at", "scheduled_for",
        "postage", "one_click_unsubscribe_url", "cost_details", "cost_in_pounds",
        "is_cost_data_ready",
    }  # fmt: skip
    assert got["email_address"] == "Ann.Example@Example.com", "the recipient as supplied"
    assert got["phone_number"] is None and got["line_1"] is None
    assert got["type"] == "email" and got["status"] == "created"
    assert TIMESTAMP.match(got["created_at"])
    assert got["sent_at"] is None and got["completed_at"] is None
    assert got["template"]["uri"].endswith(f"/v2/template/{notify.templates['email']}/version/1")
    assert (got["cost_details"], got["cost_in_pounds"], got["is_cost_data_ready"]) == (
        {},
        0.0,
        True,
    )


async def test_a_request_with_many_problems_gets_every_one_in_notifys_words(notify):
    async with notify.http("live") as client:
        response = await client.post(
            "/v2/notifications/sms", json={"reference": 5, "template_id": "nope", "foo": 1}
        )
    assert response.status_code == 400
    assert {e["error"] for e in response.json()["errors"]} == {"ValidationError"}
    assert messages(response) == [
        "reference 5 is not of type string",
        "template_id is not a valid UUID",
        "phone_number is a required property",
        "Additional properties are not allowed (foo was unexpected)",
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, ["phone_number is a required property", "template_id is a required property"]),
        ({"phone_number": 7700900123, "template_id": "x"}, None),
        ({"personalisation": "x"}, None),
    ],
)
async def test_schema_messages_name_the_field_without_quotes(notify, body, expected):
    async with notify.http("live") as client:
        response = await client.post("/v2/notifications/sms", json=body)
    found = messages(response)
    if expected is not None:
        assert found == expected
    assert all("'" not in m for m in found)
    if "personalisation" in body:
        assert "personalisation x is not of type object" in found
    if body.get("phone_number") == 7700900123:
        assert "phone_number 7700900123 is not of type string" in found


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("0770090012a", "phone_number Must not contain letters or symbols"),
        ("0770", "phone_number Not enough digits"),
        ("+99912345678", "phone_number Not a valid country prefix"),
    ],
)
async def test_a_bad_phone_number_gets_notifys_message(notify, phone, message):
    async with notify.http("live") as client:
        response = await client.post("/v2/notifications/sms", json=sms(notify, phone_number=phone))
    assert messages(response) == [message]


async def test_a_bad_email_address_and_a_too_long_reference_are_both_reported(notify):
    async with notify.http("live") as client:
        response = await client.post(
            "/v2/notifications/email",
            json=email(notify, email_address="not-an-email", reference="r" * 1001),
        )
    found = messages(response)
    assert "email_address Not a valid email address" in found
    assert any(m.startswith("reference r") and m.endswith("is too long") for m in found)


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b'{"a": NaN}', b"[" * 100_000])
async def test_a_body_that_is_not_json_is_a_bad_request(notify, raw):
    async with notify.http("live") as client:
        response = await client.post(
            "/v2/notifications/sms", content=raw, headers={"Content-Type": "text/plain"}
        )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"error": "BadRequestError", "message": "Invalid JSON supplied in POST data"}
    ]


async def test_a_json_body_that_is_not_an_object_is_a_validation_error(notify):
    async with notify.http("live") as client:
        response = await client.post("/v2/notifications/sms", json=["a"])
    assert messages(response) == ["[a] is not of type object"]


async def test_template_problems_come_in_notifys_words(notify):
    archived = await notify.template("sms", "gone")
    from notify.service import templates

    await templates.archive_template(notify.db, service_id=notify.service_id, template_id=archived)
    async with notify.http("live") as client:
        unknown = await client.post(
            "/v2/notifications/sms", json=sms(notify, template_id=str(uuid.uuid4()))
        )
        wrong = await client.post(
            "/v2/notifications/sms", json=sms(notify, template_id=notify.templates["email"])
        )
        deleted = await client.post("/v2/notifications/sms", json=sms(notify, template_id=archived))
        missing = await client.post(
            "/v2/notifications/sms", json=sms(notify, personalisation={"Name": "x"})
        )
    assert messages(unknown) == ["Template not found"]
    assert messages(wrong) == ["email template is not suitable for sms notification"]
    assert messages(deleted) == ["Template has been deleted"]
    assert messages(missing) == ["Missing personalisation: code"]
    assert {r.json()["errors"][0]["error"] for r in (unknown, wrong, deleted, missing)} == {
        "BadRequestError"
    }


async def test_an_empty_message_and_a_too_long_message_are_refused(notify):
    blank = await notify.template("sms", "((text))")
    async with notify.http("live") as client:
        empty = await client.post(
            "/v2/notifications/sms",
            json={
                "phone_number": "07700900123",
                "template_id": blank,
                "personalisation": {"text": "  "},
            },
        )
        too_long = await client.post(
            "/v2/notifications/sms",
            json={
                "phone_number": "07700900123",
                "template_id": blank,
                "personalisation": {"text": "a" * 919},
            },
        )
        just_right = await client.post(
            "/v2/notifications/sms",
            json={
                "phone_number": "07700900123",
                "template_id": blank,
                "personalisation": {"text": "a" * 918},
            },
        )
    assert messages(empty) == ["Your message is empty."]
    assert messages(too_long) == [
        "Your message is too long. Text messages cannot be longer than 918 characters. "
        "Your message is 919 characters long."
    ]
    assert just_right.status_code == 201


async def test_a_service_without_the_permission_cannot_send_that_channel_or_abroad(notify):
    await services_service.update_settings(
        notify.db, notify.service_id, services_service.SettingsChange(permissions=["email"])
    )
    async with notify.http("live") as client:
        refused = await client.post("/v2/notifications/sms", json=sms(notify))
    assert messages(refused) == ["Service is not allowed to send text messages"]
    await services_service.update_settings(
        notify.db, notify.service_id, services_service.SettingsChange(permissions=["sms"])
    )
    async with notify.http("live") as client:
        abroad = await client.post(
            "/v2/notifications/sms", json=sms(notify, phone_number="+33612345678")
        )
        landline = await client.post(
            "/v2/notifications/sms", json=sms(notify, phone_number="02079460000")
        )
    assert messages(abroad) == ["Cannot send to international mobile numbers"]
    assert landline.json()["errors"] == [
        {"error": "InvalidPhoneError", "message": "Not a UK mobile number"}
    ]
    await services_service.update_settings(
        notify.db,
        notify.service_id,
        services_service.SettingsChange(permissions=["sms", "international_sms"]),
    )
    async with notify.http("live") as client:
        allowed = await client.post(
            "/v2/notifications/sms", json=sms(notify, phone_number="+33612345678")
        )
    assert allowed.status_code == 201


async def test_a_team_key_sends_only_to_the_team_and_the_guest_list(notify):
    await services_service.update_settings(
        notify.db,
        notify.service_id,
        services_service.SettingsChange(
            team_members=["Team@Example.com"], guest_list=["07700 900456"]
        ),
    )
    async with notify.http("team") as client:
        stranger = await client.post("/v2/notifications/sms", json=sms(notify))
        guest = await client.post(
            "/v2/notifications/sms", json=sms(notify, phone_number="+447700900456")
        )
        member = await client.post(
            "/v2/notifications/email", json=email(notify, email_address="team@example.com")
        )
        letter_refused = await client.post("/v2/notifications/letter", json=letter_body(notify))
    assert messages(stranger) == ["Can\u2019t send to this recipient using a team-only API key"]
    assert guest.status_code == 201 and member.status_code == 201
    assert letter_refused.status_code == 403
    assert messages(letter_refused) == ["Cannot send letters with a team api key"]


async def test_a_service_in_trial_mode_sends_to_the_team_with_live_keys_and_to_anyone_with_test_keys(
    notify,
):
    await services_service.update_settings(
        notify.db, notify.service_id, services_service.SettingsChange(restricted=True)
    )
    async with notify.http("live") as client:
        refused = await client.post("/v2/notifications/sms", json=sms(notify))
        letter_refused = await client.post("/v2/notifications/letter", json=letter_body(notify))
    async with notify.http("test") as client:
        allowed = await client.post("/v2/notifications/sms", json=sms(notify))
    assert messages(refused) == [
        "Can\u2019t send to this recipient when service is in trial mode \u2013 see "
        "https://www.notifications.service.gov.uk/trial-mode"
    ]
    assert letter_refused.status_code == 403
    assert allowed.status_code == 201


@pytest.mark.parametrize(
    ("kind", "recipient"),
    [
        ("sms", {"phone_number": "07700900000"}),
        ("sms", {"phone_number": "+447700900111"}),
        ("email", {"email_address": "simulate-delivered-2@notifications.service.gov.uk"}),
    ],
)
async def test_smoke_test_recipients_are_answered_but_never_stored(notify, kind, recipient):
    body = sms(notify, **recipient) if kind == "sms" else email(notify, **recipient)
    async with notify.http("live") as client:
        sent = await client.post(f"/v2/notifications/{kind}", json=body)
        again = await client.get(f"/v2/notifications/{sent.json()['id']}")
        listed = await client.get("/v2/notifications")
    assert sent.status_code == 201
    assert again.status_code == 404
    assert again.json()["errors"] == [{"error": "NoResultFound", "message": "No result found"}]
    assert listed.json()["notifications"] == []


async def test_lists_show_only_the_callers_key_type_newest_first_250_a_page_with_next_links(notify):
    async with notify.http("test") as client:
        await client.post("/v2/notifications/sms", json=sms(notify))
    sent = []
    async with notify.http("live") as client:
        for n in range(260):
            response = await client.post(
                "/v2/notifications/sms", json=sms(notify, reference=f"r{n}")
            )
            sent.append(response.json()["id"])
        first = (await client.get("/v2/notifications")).json()
        assert len(first["notifications"]) == 250
        assert [n["id"] for n in first["notifications"]] == sent[::-1][:250]
        assert first["links"]["current"] == "http://gateway.test/v2/notifications"
        assert (
            first["links"]["next"] == f"http://gateway.test/v2/notifications?older_than={sent[10]}"
        )
        second = (
            await client.get(first["links"]["next"].removeprefix("http://gateway.test"))
        ).json()
        assert [n["id"] for n in second["notifications"]] == sent[9::-1]
        third = (
            await client.get(second["links"]["next"].removeprefix("http://gateway.test"))
        ).json()
    assert third["notifications"] == [] and "next" not in third["links"]


async def test_list_filters_are_kept_in_the_links_and_validated(notify):
    async with notify.http("live") as client:
        await client.post("/v2/notifications/sms", json=sms(notify, reference="find-me"))
        await client.post("/v2/notifications/email", json=email(notify, reference="find-me"))
        found = (
            await client.get("/v2/notifications?template_type=sms&reference=find-me&status=created")
        ).json()
        bad = await client.get("/v2/notifications?status=nope&template_type=fax&older_than=x&foo=1")
        unknown = await client.get(f"/v2/notifications?older_than={uuid.uuid4()}")
    assert [n["type"] for n in found["notifications"]] == ["sms"]
    assert found["links"]["next"].startswith("http://gateway.test/v2/notifications?older_than=")
    assert (
        "template_type=sms" in found["links"]["next"]
        and "reference=find-me" in found["links"]["current"]
    )
    found_messages = messages(bad)
    assert any(
        m.startswith("status nope is not one of [cancelled, created, sending")
        for m in found_messages
    )
    assert "template_type fax is not one of [sms, email, letter]" in found_messages
    assert "older_than is not a valid UUID" in found_messages
    assert "Additional properties are not allowed (foo was unexpected)" in found_messages
    assert unknown.json()["notifications"] == []


async def test_a_non_uuid_id_is_named_notification_id_and_an_unknown_one_is_not_found(notify):
    async with notify.http("live") as client:
        bad = await client.get("/v2/notifications/not-a-uuid")
        missing = await client.get(f"/v2/notifications/{uuid.uuid4()}")
    assert messages(bad) == ["notification_id is not a valid UUID"]
    assert missing.status_code == 404


async def test_another_services_notification_cannot_be_read(notify):
    async with notify.http("live") as client:
        sent = (await client.post("/v2/notifications/sms", json=sms(notify))).json()
    other = notify.principal("live", service_id=str(uuid.uuid4()))
    async with notify.http(None, headers={HEADER: other}) as client:
        response = await client.get(f"/v2/notifications/{sent['id']}")
    assert response.status_code == 404


async def test_templates_are_read_by_id_by_version_and_listed_by_name_then_type(notify):
    from notify.service import templates

    await templates.update_template(
        notify.db,
        service_id=notify.service_id,
        template_id=notify.templates["sms"],
        body="v2 ((name))",
    )
    async with notify.http("live") as client:
        current = (await client.get(f"/v2/template/{notify.templates['sms']}")).json()
        first = (await client.get(f"/v2/template/{notify.templates['sms']}/version/1")).json()
        zero = (await client.get(f"/v2/template/{notify.templates['sms']}/version/0")).json()
        none = await client.get(f"/v2/template/{notify.templates['sms']}/version/7")
        bad = await client.get("/v2/template/nope")
        listed = (await client.get("/v2/templates")).json()["templates"]
        emails = (await client.get("/v2/templates?type=email")).json()["templates"]
        bad_type = await client.get("/v2/templates?type=fax")
    assert current["version"] == 2 and current["body"] == "v2 ((name))"
    assert current["personalisation"] == {"name": {"required": True}}
    assert TIMESTAMP.match(current["updated_at"])
    assert first["version"] == 1 and first["body"] == "Hello ((name)), your code is ((code))."
    assert first["personalisation"] == {"name": {"required": True}, "code": {"required": True}}
    assert zero["version"] == 2
    assert none.status_code == 404
    assert messages(bad) == ["id is not a valid UUID"]
    assert [t["name"] for t in listed] == sorted(t["name"] for t in listed)
    assert {t["type"] for t in emails} == {"email"}
    assert messages(bad_type) == ["type fax is not one of [sms, email, letter]"]
    assert set(current) == {
        "id", "type", "created_at", "updated_at", "created_by", "version", "body", "subject",
        "name", "personalisation", "postage", "letter_contact_block",
    }  # fmt: skip


async def test_a_preview_fills_the_template_and_gives_email_html(notify):
    async with notify.http("live") as client:
        preview = await client.post(
            f"/v2/template/{notify.templates['email']}/preview",
            json={"personalisation": {"name": "Ann", "reference": "<b>R</b>"}},
        )
        missing = await client.post(f"/v2/template/{notify.templates['email']}/preview", json={})
        null = await client.post(
            f"/v2/template/{notify.templates['email']}/preview", json={"personalisation": None}
        )
    body = preview.json()
    assert set(body) == {"id", "type", "version", "body", "html", "subject", "postage"}
    assert body["body"] == "Dear Ann,\n\nYour reference is <b>R</b>."
    assert "&lt;b&gt;R&lt;/b&gt;" in body["html"] and body["subject"] == "Hello Ann"
    assert messages(missing) == ["Missing personalisation: name, reference"]
    assert messages(null) == ["personalisation None is not of type object"]


async def test_a_letter_is_accepted_and_read_back_with_its_address_lines(notify):
    async with notify.http("live") as client:
        sent = await client.post(
            "/v2/notifications/letter", json=letter_body(notify, postcode="SW1A 1AA")
        )
        got = (await client.get(f"/v2/notifications/{sent.json()['id']}")).json()
        not_ready = await client.get(f"/v2/notifications/{sent.json()['id']}/pdf")
    assert sent.status_code == 201
    assert sent.json()["content"] == {
        "body": "Dear Ann,\n\nYour application was received.",
        "subject": "Your application",
    }
    assert (
        got["line_1"] == "Ann Example"
        and got["line_3"] == "sw1a1aa"
        and got["postcode"] == "SW1A 1AA"
    )
    assert got["status"] == "accepted" and got["postage"] == "second"
    assert TIMESTAMP.match(got["estimated_delivery"])
    assert not_ready.json()["errors"] == [
        {"error": "PDFNotReadyError", "message": "PDF not available yet, try again later"}
    ]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ({"address_line_2": None, "address_line_3": None}, "Address must be at least 3 lines"),
        (
            {"address_line_1": "!!!"},
            "The first 2 lines of the address must both include at least one alphanumeric character",
        ),
        (
            {"address_line_2": "@home"},
            "Address lines must not start with any of the following characters: @ ( ) = [ ] \u201d \\ / , < >",
        ),
        (
            {"address_line_3": "Nowhere land"},
            "Last line of address must be a real UK postcode or another country",
        ),
        (
            {f"address_line_{n}": f"line {n}" for n in range(4, 8)} | {"postcode": "SW1A 1AA"},
            "Address must be no more than 7 lines",
        ),
    ],
)
async def test_letter_addresses_are_checked_as_notify_checks_them(notify, lines, message):
    async with notify.http("live") as client:
        response = await client.post("/v2/notifications/letter", json=letter_body(notify, **lines))
    assert messages(response) == [message]


async def test_a_letter_to_another_country_is_international(notify):
    async with notify.http("live") as client:
        sent = await client.post(
            "/v2/notifications/letter", json=letter_body(notify, address_line_3="France")
        )
        got = (await client.get(f"/v2/notifications/{sent.json()['id']}")).json()
    assert got["postage"] == "europe"


async def test_a_precompiled_letter_is_accepted_and_bad_base64_is_refused(notify):
    pdf = letter.render_pdf(address_lines=["A", "B", "SW1A 1AA"], subject="s", body="b")
    async with notify.http("live") as client:
        sent = await client.post(
            "/v2/notifications/letter",
            json={
                "reference": "pre-1",
                "content": base64.b64encode(pdf).decode(),
                "postage": "first",
            },
        )
        bad = await client.post(
            "/v2/notifications/letter", json={"reference": "pre-2", "content": "not base64!"}
        )
        postage = await client.post(
            "/v2/notifications/letter",
            json={"reference": "pre-3", "content": "QQ==", "postage": "fast"},
        )
        got = (await client.get(f"/v2/notifications/{sent.json()['id']}")).json()
    assert sent.status_code == 201
    assert sent.json() == {"id": sent.json()["id"], "reference": "pre-1", "postage": "first"}
    assert messages(bad) == ["Cannot decode letter content (invalid base64 encoding)"]
    assert messages(postage) == ["postage invalid. It must be either first, second or economy."]
    assert got["status"] == "pending-virus-check"


async def test_received_texts_are_listed_newest_first_with_links(notify):
    from notify.service import notifications

    ids = []
    for n in range(3):
        text = await notifications.receive_text(
            notify.db,
            service_id=notify.service_id,
            user_number="07700 900123",
            content=f"hello {n}",
        )
        ids.append(text.id)
    async with notify.http("live") as client:
        page = (await client.get("/v2/received-text-messages")).json()
        older = (await client.get(f"/v2/received-text-messages?older_than={ids[1]}")).json()
        bad = await client.get("/v2/received-text-messages?status=x")
    assert [t["id"] for t in page["received_text_messages"]] == ids[::-1]
    first = page["received_text_messages"][0]
    assert set(first) == {
        "id",
        "user_number",
        "notify_number",
        "created_at",
        "service_id",
        "content",
    }
    assert first["user_number"] == "447700900123" and first["content"] == "hello 2"
    assert page["links"] == {
        "current": "http://gateway.test/v2/received-text-messages",
        "next": f"http://gateway.test/v2/received-text-messages?older_than={ids[0]}",
    }
    assert [t["id"] for t in older["received_text_messages"]] == [ids[0]]
    assert messages(bad) == ["Additional properties are not allowed (status was unexpected)"]


async def test_requests_without_the_gateways_principal_are_refused(notify):
    async with notify.http(None) as client:
        missing = await client.get("/v2/templates")
    async with notify.http(None, headers={HEADER: "forged.token.value"}) as client:
        forged = await client.get("/v2/templates")
    pay_key = notify.principal("live", api="payments")
    async with notify.http(None, headers={HEADER: pay_key}) as client:
        wrong_api = await client.get("/v2/templates")
    assert missing.status_code == 401
    assert missing.json()["errors"][0]["error"] == "AuthError"
    assert forged.status_code == 403 and wrong_api.status_code == 403


async def test_unknown_paths_and_methods_get_notifys_internal_answer(notify):
    async with notify.http("live") as client:
        unknown = await client.get("/v2/nothing-here")
        fax = await client.post("/v2/notifications/fax", json={})
        method = await client.delete("/v2/templates")
    assert unknown.status_code == 404 and unknown.json()["result"] == "error"
    assert fax.status_code == 404
    assert method.status_code == 405 and method.json()["result"] == "error"


async def test_an_expired_principal_or_one_meant_for_another_service_is_refused(notify):
    import time as clock

    from govkit.principal import Principal

    principal = Principal("org", notify.service_id, "live", ("notify:send",), "key", "notify")
    expired = notify.signer.sign(principal, "notify", now=int(clock.time()) - 120)
    for_payments = notify.signer.sign(principal, "payments")
    for token in (expired, for_payments):
        async with notify.http(None, headers={HEADER: token}) as client:
            response = await client.post("/v2/notifications/sms", json=sms(notify))
        assert response.status_code == 403
        assert response.json()["errors"][0]["error"] == "AuthError"
    async with notify.http("live") as client:
        assert (await client.get("/v2/notifications")).status_code == 200
