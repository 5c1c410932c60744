"""Events: from a payment's success to its receipt notification created in notify.

Starts the real platform (``govplat up`` on free loopback ports, SQLite by default or
fresh PostgreSQL databases with ``--database postgresql``) and takes ``--payments``
payments (1,000 by default) with the seeded sandbox Pay test key, each as an agency
and a citizen do (:mod:`govplat_cli.demo`): ``POST /v1/payments`` with the payer's
email through the gateway, then the hosted pages in a cookie-keeping client (open
``next_url``, post the card form with a sandbox card that succeeds, open the
confirmation page, post it). ``--concurrency`` payers (4 by default) do this in a
closed loop. The confirmation makes the payment ``success`` and writes
``PaymentSucceeded`` to payments' outbox in the same transaction; the relay publishes
it on JetStream; notify's ``notify-payment-receipts`` consumer creates the receipt
from the sandbox service's receipt template.

What is measured, per payment, from the two services' own databases once every
receipt is there (both on this machine's one clock):

- **success → receipt created**: the ``PaymentSucceeded`` event's time (its outbox
  row's ``created_at``, the ``ce-time`` it is published with: taken in the transaction
  that makes the payment ``success``) to the receipt's ``notification.created_at``
  in notify (taken in the consumer's transaction that creates it);
- and its two parts: success → notify's receipts consumer takes the event in hand
  (its inbox row's ``processed_at``, written first in the consumer's transaction:
  the payment's commit, the outbox relay waking and publishing, JetStream's delivery,
  the consumer's turn at notify's database), and taken → receipt created (the
  handler: the service's settings and template, the rendering, the insert).

Prints p50, p99 and the largest of each (ms) over the payments, the ratio of the p99
to the target (issue 8: p99 under 100 ms), payments completed per second, and the
machine's load average at the start. A payment that does not succeed, or a receipt
missing 30 s after the last payment, fails the run (exit status 1).

The gateway's per-key quota for Pay POSTs (15 per second, GOV.UK Pay's) is raised
for the run: the quota is not what is measured.

    .venv/bin/python bench/events.py [--payments 1000] [--concurrency 4]
        [--database sqlite|postgresql [--postgres-url postgresql://...]] [--trace-file PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
from benchlib import Results, parse_platform_args, percentile
from sqlalchemy import text

from govkit.db import Database
from govkit.testing import TEST_DATABASE_ENV
from govkit.testing.platform import start_platform
from govplat_cli.demo import DEMO_CARD, DEMO_EMAIL, pay_on_hosted_pages

TARGET_P99_MS = 100.0
#: The gateway's Pay POST quota for the run (per second per key): far above the load.
QUOTA = "1000000"
SUCCEEDED_SUBJECT = "govplat.payments.v1.payment_succeeded"
RECEIPTS_CONSUMER = "notify-payment-receipts"


def take_payments(gateway: str, key: str, count: int, concurrency: int, run: str) -> list[str]:
    """``count`` payments created and paid on the hosted pages by ``concurrency``
    payers at once; returns their references (``EV-<run>-<n>``).

    Raises:
        RuntimeError: a create was not answered 201 or a payment's pages failed.
    """
    numbers = iter(range(count))
    lock = threading.Lock()
    references: list[str] = []

    def payer() -> None:
        with (
            httpx.Client(
                base_url=gateway, headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as agency,
            httpx.Client(timeout=30) as browser,
        ):
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                reference = f"EV-{run}-{number}"
                created = agency.post(
                    "/v1/payments",
                    json={
                        "amount": 1000 + number % 9000,
                        "reference": reference,
                        "description": "Events benchmark payment",
                        "return_url": "https://service.example.gov.uk/paid",
                        "email": DEMO_EMAIL,
                    },
                )
                if created.status_code != 201:
                    raise RuntimeError(f"create answered {created.status_code}: {created.text}")
                browser.cookies.clear()
                pay_on_hosted_pages(
                    browser, created.json()["_links"]["next_url"]["href"], DEMO_CARD
                )
                with lock:
                    references.append(reference)

    with ThreadPoolExecutor(concurrency) as pool:
        for done in [pool.submit(payer) for _ in range(concurrency)]:
            done.result()
    return references


async def query(url: str, sql: str, **params) -> list:
    """The rows of one read-only ``sql`` statement on the database at ``url``."""
    db = Database(url)
    try:
        async with db.read() as session:
            return (await session.execute(text(sql), params)).all()
    finally:
        await db.dispose()


def succeeded_times(url: str) -> dict[str, tuple[str, datetime]]:
    """Payments' ``PaymentSucceeded`` outbox rows: payment id → (event id, event time)."""
    rows = asyncio.run(
        query(
            url,
            "SELECT id, headers, created_at FROM outbox_message WHERE subject = :subject",
            subject=SUCCEEDED_SUBJECT,
        )
    )
    return {json.loads(row.headers)["ce-subject"]: (row.id, as_utc(row.created_at)) for row in rows}


def taken_times(url: str) -> dict[str, datetime]:
    """Event id → when notify's receipts consumer took it in hand (its inbox row's
    ``processed_at``: written first in the transaction that creates the receipt)."""
    rows = asyncio.run(
        query(
            url,
            "SELECT event_id, processed_at FROM inbox_message WHERE consumer = :consumer",
            consumer=RECEIPTS_CONSUMER,
        )
    )
    return {row.event_id: as_utc(row.processed_at) for row in rows}


def payment_ids(url: str, references: list[str]) -> dict[str, str]:
    """Reference → payment id, for the payments of this run that are ``success``."""
    rows = asyncio.run(query(url, "SELECT id, reference FROM payment WHERE status = 'success'"))
    wanted = set(references)
    return {row.reference: row.id for row in rows if row.reference in wanted}


def receipt_times(url: str, references: list[str]) -> dict[str, datetime]:
    """Reference → the receipt notification's ``created_at`` (notify's database)."""
    rows = asyncio.run(
        query(url, "SELECT reference, created_at FROM notification WHERE type = 'email'")
    )
    wanted = set(references)
    return {row.reference: as_utc(row.created_at) for row in rows if row.reference in wanted}


def as_utc(value) -> datetime | None:
    """A timestamp column as read with plain SQL: SQLite gives text, PostgreSQL a datetime."""
    from datetime import UTC

    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def database_url(running, service: str) -> str:
    """The service's database, as ``govplat up`` chose it."""
    configured = running.env.get(f"GOVPLAT_{service.upper()}_DATABASE_URL")
    return configured or f"sqlite:///{(running.data_dir / f'{service}.db').resolve()}"


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name}: p50 {statistics.median(values):.1f} ms, p99 {percentile(values, 0.99):.1f} ms, "
        f"max {max(values):.1f} ms"
    )


BUCKETS_MS = (25, 50, 100, 250, 500, 1000, 1500)


def histogram(values: list[float]) -> str:
    """How many of ``values`` (ms) fall under each of :data:`BUCKETS_MS`, and above."""
    counts, low = [], 0.0
    for high in (*BUCKETS_MS, float("inf")):
        counts.append(sum(1 for v in values if low <= v < high))
        low = high
    labels = [f"<{b}" for b in BUCKETS_MS] + [f">={BUCKETS_MS[-1]}"]
    return ", ".join(f"{label} {count}" for label, count in zip(labels, counts, strict=True))


def main_run(args) -> int:
    with tempfile.TemporaryDirectory() as folder:
        running = start_platform(
            Path(folder),
            backend=args.database,
            extra_env={
                "GOVPLAT_GATEWAY_PAY_POSTS_PER_SECOND": QUOTA,
                **(
                    {"GOVPLAT_TRACE_FILE": str(args.trace_file.resolve())}
                    if args.trace_file
                    else {}
                ),
            },
        )
        try:
            credentials = running.credentials()
            gateway, key = running.gateway_url, credentials["pay_api_key"]
            take_payments(gateway, key, 8, 2, "warmup")
            load_before = os.getloadavg()[0]
            run = uuid.uuid4().hex[:8]
            started = time.perf_counter()
            references = take_payments(gateway, key, args.payments, args.concurrency, run)
            elapsed = time.perf_counter() - started
            deadline = time.monotonic() + 30
            while True:
                receipts = receipt_times(database_url(running, "notify"), references)
                if len(receipts) == len(references) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            ids = payment_ids(database_url(running, "payments"), references)
            events = succeeded_times(database_url(running, "payments"))
            taken = taken_times(database_url(running, "notify"))
        finally:
            running.stop()

    total, to_taken, taken_to_receipt = [], [], []
    for reference in references:
        payment_id = ids.get(reference)
        if payment_id is None or payment_id not in events or reference not in receipts:
            continue
        event_id, succeeded = events[payment_id]
        created = receipts[reference]
        total.append((created - succeeded).total_seconds() * 1000)
        if event_id in taken:
            to_taken.append((taken[event_id] - succeeded).total_seconds() * 1000)
            taken_to_receipt.append((created - taken[event_id]).total_seconds() * 1000)
    print(
        f"database: {args.database}; {len(references)} payments by {args.concurrency} payer{'s' if args.concurrency != 1 else ''} "
        f"on the hosted pages in {elapsed:.1f} s ({len(references) / elapsed:.1f} per second); "
        f"machine load average at start {load_before:.2f}"
    )
    if total:
        print(summary("success -> receipt created", total))
        print("  " + summary("success -> notify's consumer takes the event", to_taken))
        print("  " + summary("taken -> receipt created", taken_to_receipt))
        print("  how many took (ms): " + histogram(total))
        p99 = percentile(total, 0.99)
        print(f"target p99 < {TARGET_P99_MS:.0f} ms, ratio {p99 / TARGET_P99_MS:.2f}")
    missing = len(references) - len(total)
    print(f"payments without a success or a receipt: {missing}")
    results = Results("events", args.results)
    if total:
        over = f"{len(total)} payments, {args.database}"
        p50, p99 = statistics.median(total), percentile(total, 0.99)
        results.figure(f"payment success to receipt created p50, {over}", p50, "ms")
        results.figure(
            f"payment success to receipt created p99, {over}", p99, "ms", "< 100 ms", 100.0
        )
    results.write()
    return 1 if missing or not total else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Payment success to receipt notification created, through the platform."
    )
    parser.add_argument("--payments", type=int, default=1000, help="payments to take")
    parser.add_argument("--concurrency", type=int, default=4, help="payers at once")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(TEST_DATABASE_ENV),
        help="with --database postgresql: the server (a database URL) to make fresh "
        f"databases on (default ${TEST_DATABASE_ENV})",
    )
    parser.add_argument(
        "--trace-file",
        type=Path,
        help="write every component's spans to this file (GOVPLAT_TRACE_FILE), to see "
        "where the time goes; exporting them costs CPU, so the figures are then higher",
    )
    parser.add_argument("--results", type=Path, help="also write the figures as JSON here")
    args = parse_platform_args(parser)
    if args.payments < 1 or args.concurrency < 1:
        parser.error("--payments and --concurrency must be at least 1")
    sys.exit(main_run(args))


if __name__ == "__main__":
    main()
