"""The ledger: balanced double entries for every payment taken and refund paid, and the
daily reconciliation whose totals match the payments and refunds of the day."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from govkit.principal import HEADER
from payments import models


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def parse(text: str) -> tuple[list[dict], dict[tuple[str, str], tuple[str, str]]]:
    """The CSV's lines (dicts) and its totals: (kind, mode) → (count, pence)."""
    body, _, totals = text.partition("\n\n")
    lines = list(csv.DictReader(io.StringIO(body)))
    found = {}
    for row in csv.reader(io.StringIO(totals)):
        assert row[0] == "total"
        found[(row[1], row[2])] = (row[3], row[4])
    return lines, found


async def refund(pay, payment_id: str, amount: int, key_type: str = "test") -> None:
    async with pay.http(key_type) as api:
        answer = await api.post(f"/v1/payments/{payment_id}/refunds", json={"amount": amount})
    assert answer.status_code == 202, answer.text


async def test_the_days_reconciliation_totals_match_the_payments_and_refunds_of_the_day(
    pay, payment_body
):
    taken = []
    for amount in (1000, 2550, 99):
        created = await pay.create(amount=amount)
        await pay.take(created)
        taken.append(created)
    declined = await pay.create(amount=777)
    await pay.take(declined, {**pay.good_card, "card-number": "4000000000000002"})
    unpaid = await pay.create(amount=5000)
    await refund(pay, taken[0]["payment_id"], 400)
    await refund(pay, taken[0]["payment_id"], 100)
    await refund(pay, taken[1]["payment_id"], 2550)

    async with pay.http("live") as live_api:
        live = await live_api.post(
            "/v1/payments", json=payment_body(amount=4321, return_url="https://a.example/r")
        )
    assert live.status_code == 201
    await pay.take(live.json())

    async with pay.admin() as admin:
        answer = await admin.get(
            "/admin/payments/ledger", params={"date": today(), "service_id": pay.service_id}
        )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["x-ledger-balanced"] == "yes"
    lines, totals = parse(answer.text)

    async with pay.http() as api:
        found = (await api.get("/v1/payments", params={"state": "success"})).json()
        refunds = (await api.get("/v1/refunds", params={"state": "success"})).json()
    expected_taken = sum(p["amount"] for p in found["results"])
    expected_refunded = sum(r["amount"] for r in refunds["results"])
    assert expected_taken == 1000 + 2550 + 99 and expected_refunded == 400 + 100 + 2550
    assert totals[("payments", "test")] == ("3", str(expected_taken))
    assert totals[("refunds", "test")] == ("3", str(expected_refunded))
    assert totals[("net", "test")] == ("", str(expected_taken - expected_refunded))
    assert totals[("payments", "live")] == ("1", "4321")
    assert totals[("net", "live")] == ("", "4321")
    assert totals[("balanced", "")] == ("", "yes")

    ids = {line["payment_id"] for line in lines}
    assert declined["payment_id"] not in ids and unpaid["payment_id"] not in ids
    by_transaction: dict[str, int] = {}
    for line in lines:
        assert line["service_id"] == pay.service_id
        assert line["booked_on"] == today()
        assert line["account"].endswith(f":{line['mode']}")
        signed = int(line["amount"]) * (1 if line["side"] == "debit" else -1)
        by_transaction[line["transaction_id"]] = (
            by_transaction.get(line["transaction_id"], 0) + signed
        )
    assert len(by_transaction) == 3 + 3 + 1
    assert set(by_transaction.values()) == {0}


async def test_the_reconciliation_of_one_service_leaves_out_the_others(pay, payment_body):
    mine = await pay.create(amount=1200)
    await pay.take(mine)
    other_service = "5b0f8c3e-1111-4222-8333-444455556666"
    other_principal = pay.principal("test", service_id=other_service)
    async with pay.http(key_type=None, headers={HEADER: other_principal}) as api:
        theirs = await api.post("/v1/payments", json=payment_body(amount=3400))
    assert theirs.status_code == 201, theirs.text
    await pay.take(theirs.json())
    async with pay.admin() as admin:
        only_mine = await admin.get(
            "/admin/payments/ledger", params={"date": today(), "service_id": pay.service_id}
        )
        everyone = await admin.get("/admin/payments/ledger", params={"date": today()})
    assert parse(only_mine.text)[1][("payments", "test")] == ("1", "1200")
    assert parse(everyone.text)[1][("payments", "test")] == ("2", "4600")


async def test_another_day_has_no_lines_and_a_bad_date_is_refused(pay):
    created = await pay.create()
    await pay.take(created)
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    async with pay.admin() as admin:
        empty = await admin.get("/admin/payments/ledger", params={"date": tomorrow})
        bad = await admin.get("/admin/payments/ledger", params={"date": "2026-13-01"})
        unauthorised = await pay.browser().get("/admin/payments/ledger", params={"date": tomorrow})
    lines, totals = parse(empty.text)
    assert lines == [] and totals[("payments", "test")] == ("0", "0")
    assert bad.status_code == 400 and bad.json()["error"] == "INVALID_DATE"
    assert unauthorised.status_code == 401


async def test_every_transaction_is_booked_once_with_equal_debit_and_credit(pay):
    created = await pay.create(amount=800)
    await pay.take(created)
    await refund(pay, created["payment_id"], 300)
    async with pay.db.read() as session:
        rows = (
            await session.execute(
                sa.select(
                    models.LedgerLine.transaction_id,
                    models.LedgerLine.side,
                    models.LedgerLine.account,
                    models.LedgerLine.amount,
                ).where(models.LedgerLine.payment_id == created["payment_id"])
            )
        ).all()
    payment_lines = {
        (side, account, amount)
        for tid, side, account, amount in rows
        if tid == created["payment_id"]
    }
    assert payment_lines == {
        ("debit", "card_clearing:test", 800),
        ("credit", f"service:{pay.service_id}:test", 800),
    }
    refund_lines = {
        (side, account, amount)
        for tid, side, account, amount in rows
        if tid != created["payment_id"]
    }
    assert refund_lines == {
        ("debit", f"service:{pay.service_id}:test", 300),
        ("credit", "card_clearing:test", 300),
    }
