"""Payments on the running platform, through the gateway: ``govplat payments reconcile``
prints a day whose totals match the payments taken on the hosted pages and the refunds;
a payment taken becomes notify's receipt (``PaymentSucceeded`` across JetStream)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import httpx

from govkit.testing.payer import pay_on_the_pages
from govplat_cli.identity_admin import IdentityAdmin
from govplat_cli.notify_admin import NotifyAdmin

CARD = {
    "card-number": "4444333322221111",
    "expiry-month": "11",
    "expiry-year": "2039",
    "cardholder-name": "Grace Hopper",
    "cvc": "321",
    "address-line-1": "10 Low Street",
    "address-city": "York",
    "address-postcode": "YO1 7HH",
    "address-country": "GB",
    "email": "grace@example.com",
}


def new_service_with_pay_key(platform) -> tuple[str, str]:
    """A fresh service (so the day's totals are its own) and its Pay test key."""
    token = platform.secrets()["identity_admin_token"]
    with IdentityAdmin(f"127.0.0.1:{platform.grpc['identity']}", token) as admin:
        service_id, keys = admin.new_service(
            f"Agency {uuid.uuid4()}", "Fees", {"pay": ("payments", "test")}
        )
    return service_id, keys["pay"]


def test_the_reconcile_command_prints_a_csv_whose_totals_match_the_days_payments(
    running_platform,
):
    service_id, key = new_service_with_pay_key(running_platform)
    gateway = running_platform.gateway_url
    taken = {}
    with httpx.Client(
        base_url=gateway, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as api:
        for amount in (1500, 2000, 45):
            created = api.post(
                "/v1/payments",
                json={
                    "amount": amount,
                    "reference": f"FEE-{amount}",
                    "description": "Application fee",
                    "return_url": "https://agency.example/done",
                },
            )
            assert created.status_code == 201, created.text
            body = created.json()
            done = pay_on_the_pages(gateway, body["_links"]["next_url"]["href"], CARD)
            assert done.headers["location"] == "https://agency.example/done"
            taken[body["payment_id"]] = amount
        declined = api.post(
            "/v1/payments",
            json={
                "amount": 999,
                "reference": "FEE-DECLINED",
                "description": "Application fee",
                "return_url": "https://agency.example/done",
            },
        ).json()
        pay_on_the_pages(
            gateway,
            declined["_links"]["next_url"]["href"],
            {**CARD, "card-number": "4000000000000002"},
        )
        first = next(iter(taken))
        refunded = api.post(f"/v1/payments/{first}/refunds", json={"amount": 500})
        assert refunded.status_code == 202, refunded.text
        found = api.get("/v1/payments", params={"state": "success"}).json()
        refunds = api.get("/v1/refunds", params={"state": "success"}).json()
    assert {p["payment_id"] for p in found["results"]} == set(taken)

    day = datetime.now(UTC).date().isoformat()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "govplat_cli",
            "payments",
            "reconcile",
            "--date",
            day,
            "--service",
            service_id,
            "--data-dir",
            str(running_platform.data_dir),
        ],
        env={**running_platform.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    body, _, totals = result.stdout.partition("\n\n")
    lines = list(csv.DictReader(io.StringIO(body)))
    total = {(row[1], row[2]): row[3:] for row in csv.reader(io.StringIO(totals))}
    paid = sum(p["amount"] for p in found["results"])
    returned = sum(r["amount"] for r in refunds["results"])
    assert (paid, returned) == (3545, 500)
    assert total[("payments", "test")] == ["3", str(paid)]
    assert total[("refunds", "test")] == ["1", str(returned)]
    assert total[("net", "test")] == ["", str(paid - returned)]
    assert total[("balanced", "")] == ["", "yes"]
    assert {line["payment_id"] for line in lines} == set(taken)
    assert declined["payment_id"] not in result.stdout

    bad = subprocess.run(
        [sys.executable, "-m", "govplat_cli", "payments", "reconcile", "--date", "01/12/2026"],
        env={**running_platform.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    assert "Traceback" not in bad.stderr


def receipts_to(platform, service_id: str, reference: str) -> list[dict]:
    """The sandbox inbox's messages of ``service_id`` that mention ``reference``."""
    token = platform.secrets()["identity_admin_token"]
    with NotifyAdmin(platform.gateway_url, token) as admin:
        messages = admin.call("GET", f"/services/{service_id}/sandbox-inbox?limit=250")["messages"]
    return [m for m in messages if reference in (m["body"] or "")]


def test_a_payment_taken_sends_the_services_receipt_once_to_the_payers_email(running_platform):
    credentials = running_platform.credentials()
    gateway = running_platform.gateway_url
    given, typed = (f"RCPT-{uuid.uuid4().hex[:8]}" for _ in range(2))
    with httpx.Client(
        base_url=gateway,
        headers={"Authorization": f"Bearer {credentials['pay_api_key']}"},
        timeout=30,
    ) as api:
        payments = {}
        for reference, email in ((given, "service-gave@example.com"), (typed, None)):
            body = {
                "amount": 2599,
                "reference": reference,
                "description": "Parking permit",
                "return_url": "https://agency.example/done",
            }
            if email:
                body["email"] = email
            created = api.post("/v1/payments", json=body)
            assert created.status_code == 201, created.text
            payments[reference] = created.json()
    for payment in payments.values():
        done = pay_on_the_pages(gateway, payment["_links"]["next_url"]["href"], CARD)
        assert done.headers["location"] == "https://agency.example/done"

    service_id = credentials["sandbox_service_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(receipts_to(running_platform, service_id, ref) for ref in payments):
            break
        time.sleep(0.2)
    time.sleep(1.0)  # a second receipt for either would come within this
    for reference, recipient in ((given, "service-gave@example.com"), (typed, CARD["email"])):
        receipts = receipts_to(running_platform, service_id, reference)
        assert len(receipts) == 1, (reference, receipts)
        receipt = receipts[0]
        assert (receipt["type"], receipt["key_type"], receipt["to"]) == ("email", "test", recipient)
        assert "£25.99" in receipt["body"]
        assert "Parking permit" in receipt["body"]
