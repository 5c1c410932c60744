"""Hostile input to Notify through the gateway of a running platform, as an agency's
developer would send it: what must hold for the next caller, for what is accepted,
and for the logs.

The platform is this module's own (``govplat up``), because one of these requests
can keep notify busy for minutes today and must not slow other modules' tests.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import grpc
import httpx
import pytest

from govkit.testing import database_backends
from govkit.testing.platform import notify_token, start_platform
from govplat.notify.v1 import notify_service_pb2 as pb
from govplat.notify.v1 import notify_service_pb2_grpc


@pytest.fixture(scope="module", params=database_backends())
def platform(request, tmp_path_factory):
    running = start_platform(tmp_path_factory.mktemp("hostile"), request.param)
    yield running
    running.stop()


def headers(key: str) -> dict:
    return {"Authorization": f"Bearer {notify_token(key)}", "Content-Type": "application/json"}


def send(
    platform, kind: str, body: object, *, timeout: float = 60, client: httpx.Client | None = None
) -> httpx.Response:
    """POST ``body`` (``json.dumps`` writes a lone surrogate as its ``\\uXXXX`` escape)."""
    key = platform.credentials()["notify_api_key"]
    return (client or httpx).post(
        f"{platform.gateway_url}/v2/notifications/{kind}",
        content=json.dumps(body).encode(),
        headers=headers(key),
        timeout=timeout,
    )


def sms(platform, **fields) -> dict:
    credentials = platform.credentials()
    return {
        "phone_number": "07700 900123",
        "template_id": credentials["notify_sms_template_id"],
        "personalisation": {"name": "Ann"},
        **fields,
    }


def email(platform, name: object, **fields) -> dict:
    credentials = platform.credentials()
    return {
        "email_address": "resident@example.org",
        "template_id": credentials["notify_email_template_id"],
        "personalisation": {"name": name, "show_reference": "no"},
        **fields,
    }


def wait_until_notify_answers(platform, seconds: float = 400) -> None:
    """Poll until notify answers promptly again (it may be busy rendering)."""
    key = platform.credentials()["notify_api_key"]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            started = time.monotonic()
            answer = httpx.get(
                f"{platform.gateway_url}/v2/templates", headers=headers(key), timeout=60
            )
            if answer.status_code == 200 and time.monotonic() - started < 2:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise AssertionError("notify did not recover")


def deep_list(depth: int) -> object:
    value: object = "Ann"
    for _ in range(depth):
        value = [value]
    return value


#: Requests that notify answered with a 500 (a lone surrogate stored in the
#: database; a nested list rendered recursively).
FAILING_INSIDE_NOTIFY = {
    "lone surrogate": ("sms", {"personalisation": {"name": "\ud800"}}),
    "600 nested lists": ("email", None),
}


@pytest.mark.parametrize("case", list(FAILING_INSIDE_NOTIFY))
def test_a_valid_send_straight_after_a_request_notify_failed_on_is_accepted(platform, case):
    """After notify answers 500, uvicorn closes the kept-alive connection and the
    gateway sent the next POST down it: that caller got 502 ``service unavailable``
    for a perfectly good message (idempotent GETs are retried, POSTs are not)."""
    kind, fields = FAILING_INSIDE_NOTIFY[case]
    hostile = sms(platform, **fields) if kind == "sms" else email(platform, deep_list(600))
    answers = []
    with httpx.Client() as client:  # one kept-alive connection, as an agency's client has
        for _ in range(5):
            send(platform, kind, hostile, client=client)
            valid = send(
                platform, "sms", sms(platform, reference=f"after-{uuid.uuid4()}"), client=client
            )
            answers.append((valid.status_code, valid.text[:120]))
    assert [status for status, _text in answers] == [201] * 5, answers


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_send_the_gateway_timed_out_on_is_not_sent_afterwards(platform):
    """An email whose personalisation holds a Markdown heading padded with 4,000 spaces
    (4 kB) kept notify's event loop busy for over a minute: the caller got 504 from
    the gateway, every other caller waited, and then the email was stored and sent
    anyway, so a client that retries the 504 sends it twice."""
    reference = f"ghost-{uuid.uuid4()}"
    hostile = email(platform, "x\n# a" + " " * 4000 + "b", reference=reference)
    try:
        response = send(platform, "email", hostile, timeout=120)
    finally:
        wait_until_notify_answers(platform)
    if response.status_code != 504:
        assert response.status_code in (201, 400), response.text
        return
    time.sleep(5)
    wait_until_notify_answers(platform)
    key = platform.credentials()["notify_api_key"]
    listed = httpx.get(
        f"{platform.gateway_url}/v2/notifications",
        params={"reference": reference},
        headers=headers(key),
        timeout=60,
    ).json()["notifications"]
    assert listed == [], "answered 504 Gateway Timeout, yet accepted and sent"


def test_the_logs_hold_no_recipient_personalisation_or_credential_after_hostile_requests(
    platform,
):
    credentials = platform.credentials()
    phone, name, reference = "07700 900765", "Zebedee-Quux", "NI-QQ123456C"
    hostile = [
        ("sms", sms(platform, phone_number=phone, reference=reference + "\u0000")),
        ("sms", sms(platform, phone_number=phone, personalisation={"name": name + "\ud800"})),
        ("email", email(platform, [name, deep_list(600)])),
        ("email", email(platform, name + "\u0000", email_address="zebedee@example.net")),
        (
            "letter",
            {
                "template_id": credentials["notify_letter_template_id"],
                "personalisation": {
                    "name": name,
                    "address_line_1": name + "\u0000",
                    "address_line_2": "1 High Street",
                    "address_line_3": "SW1A 1AA",
                },
            },
        ),
    ]
    for kind, body in hostile:
        send(platform, kind, body)
    httpx.get(
        f"{platform.gateway_url}/v2/notifications",
        params={"reference": reference, "status": "nope"},
        headers=headers(credentials["notify_api_key"]),
        timeout=30,
    )
    time.sleep(3)  # let delivery run and the log lines land
    logs = {
        component: (platform.data_dir / "log" / f"{component}.log").read_text(errors="replace")
        for component in ("notify", "gateway")
    }
    secrets = {
        "phone number": "900765",
        "email address": "zebedee@example.net",
        "personalisation": name,
        "reference": reference,
        "API key secret": credentials["notify_api_key"][-36:],
    }
    for component, text in logs.items():
        assert text, f"{component}.log is empty"
        for what, value in secrets.items():
            assert value not in text, f"{component}.log holds the {what}"


NOTIFY_NOT_FOUND = {
    "result": "error",
    "message": (
        "The requested URL was not found on the server. If you entered the URL manually "
        "please check your spelling and try again."
    ),
}


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/v2/notifications/sms/"),
        ("GET", "/v2/notifications/"),
        ("GET", "/v2/templates/"),
    ],
)
def test_a_trailing_slash_is_not_found_and_never_redirected_to_notifys_internal_address(
    platform, method, path
):
    """Notify (Flask, strict slashes) answers 404; notify's 307 went back through the
    gateway unchanged, with ``Location: http://127.0.0.1:<notify's own port>/...``: the
    backend's address leaked and a client that follows it bypasses the gateway."""
    key = platform.credentials()["notify_api_key"]
    response = httpx.request(
        method, f"{platform.gateway_url}{path}", headers=headers(key), json={}, timeout=30
    )
    assert str(platform.http["notify"]) not in response.headers.get("location", "")
    assert response.status_code == 404, (response.status_code, response.headers)
    assert response.json() == NOTIFY_NOT_FOUND


@pytest.mark.parametrize(
    "path",
    [
        "/v2/notifications/..%2F..%2Fadmin",
        "/v2/notifications/%2e%2e/%2e%2e/admin/notify/services",
        "/v2/notifications/%00",
        "/v2/notifications%2Fsms",
    ],
)
def test_an_encoded_slash_dot_segment_or_nul_in_a_v2_path_gets_notifys_not_found(platform, path):
    """The gateway answered these itself as ``{"error": "not found", "path": ...}``: not
    Notify's shape (the official client then shows ``None``), echoing the decoded path."""
    key = platform.credentials()["notify_api_key"]
    response = httpx.get(f"{platform.gateway_url}{path}", headers=headers(key), timeout=30)
    assert response.status_code == 404
    assert response.json() == NOTIFY_NOT_FOUND


def test_the_same_grpc_send_sent_thirty_times_at_once_returns_one_notification_every_time(
    platform,
):
    """``SendSms`` is idempotent by ``request_id``; concurrent copies raced to insert the
    same id: some callers got ``INTERNAL``, and the database error, with the phone number,
    personalisation and reference in its parameters, went into notify.log."""
    credentials = platform.credentials()
    request_id = str(uuid.uuid4())
    request = pb.SendSmsRequest(
        request_id=request_id,
        template_id=credentials["notify_sms_template_id"],
        phone_number="07700 900654",
        personalisation={"name": "Quuxley"},
        reference=f"grpc-{request_id}",
    )

    async def all_at_once() -> list[tuple[str, str]]:
        address = f"127.0.0.1:{platform.grpc['gateway']}"
        async with grpc.aio.insecure_channel(address) as channel:
            stub = notify_service_pb2_grpc.NotifyServiceStub(channel)

            async def one() -> tuple[str, str]:
                metadata = (
                    ("authorization", f"Bearer {notify_token(credentials['notify_api_key'])}"),
                )
                try:
                    answer = await stub.SendSms(request, metadata=metadata, timeout=30)
                except grpc.aio.AioRpcError as error:
                    return error.code().name, error.details() or ""
                return "OK", answer.notification.id

            return await asyncio.gather(*[one() for _ in range(30)])

    answers = asyncio.run(all_at_once())
    assert {code for code, _ in answers} == {"OK"}, answers
    assert len({identifier for _, identifier in answers}) == 1
    log = (platform.data_dir / "log" / "notify.log").read_text(errors="replace")
    assert "900654" not in log and "Quuxley" not in log
