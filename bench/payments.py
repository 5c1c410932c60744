"""Payments: creates per second through the gateway, and their latency.

Starts the real platform (``govplat up`` on free loopback ports, SQLite by default
or fresh PostgreSQL databases with ``--database postgresql``), takes the seeded
sandbox Pay test key (``sandbox.json``), then ``--concurrency`` clients in a closed
loop ``POST /v1/payments`` through the gateway with ``Authorization: Bearer <key>``
for ``--duration`` seconds (after ``--warmup`` seconds with 4 clients), each with
a body of its own (a distinct reference) and, unless ``--no-idempotency``, an
``Idempotency-Key`` of its own, as an agency's client retrying safely would send.
Each create is the service's whole create: Pay's field rules, the idempotency key,
the payment and its first event, the ``payment_created`` outbox event and the
``next_url`` token, committed with ``synchronous=FULL`` on SQLite; the outbox relay
and the consumers of ``payment_created`` run beside it, as they do in production.

Prints creates per second, p50 and p99 latency (ms) of the creates answered 201,
and the ratio to the target (issue 7: at least 300 creates per second on the
project's 2-core machine); then the CPU time each process spent per create (from
/proc) and the machine's load average when the load began, since other work on the
same cores moves the figures. Any answer other than 201 is an error, and errors fail
the run (exit status 1).

The gateway's per-key quota for Pay POSTs (``GOVPLAT_GATEWAY_PAY_POSTS_PER_SECOND``,
GOV.UK Pay's 15 per second) is raised for the run: the quota is not what is measured.

    .venv/bin/python bench/payments.py [--duration 10] [--concurrency 32]
        [--database sqlite|postgresql [--postgres-url postgresql://...]]
        [--client aiohttp|httpx] [--no-idempotency]
        [--results FILE] [--curve 50,100,200,400 [--curve-duration 10]]

``--curve`` measures instead the creates' latency p50/p99 at each offered rate (open
loop), the latency-versus-load curve ``bench/report.py`` plots.

The load generator (one Python process) runs on the same two cores as the platform,
so every millisecond of CPU it spends per request is taken from the platform. It
uses aiohttp by default (about a quarter of httpx's CPU per request); ``--client
httpx`` loads as ``bench/gateway_overhead.py`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid

from benchlib import (
    CLIENTS,
    Results,
    client_errors,
    cpu_seconds,
    latency_curve,
    parse_platform_args,
    percentile,
    platform_options,
    processes,
    results_options,
    start,
)

PATH = "/v1/payments"
TARGET = 300.0
#: The gateway's Pay POST quota for the run (per second per key): far above the load.
QUOTA = "1000000"


def body(number: int) -> dict:
    """A create-payment body as an agency sends it (GOV.UK Pay's required fields)."""
    return {
        "amount": 1000 + number % 9000,
        "reference": f"BENCH-{number}",
        "description": "Benchmark payment",
        "return_url": "https://service.example.gov.uk/return",
    }


async def closed_loop(
    url: str, key: str, args, concurrency: int, duration: float
) -> tuple[float, list[float], dict[str, int]]:
    """``concurrency`` clients creating payments for ``duration`` s: creates per
    second, each create's latency (ms) and the errors by status (or exception name)."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = iter(range(10**9))
    deadline = time.perf_counter() + duration
    client = CLIENTS[args.client](concurrency, {"Authorization": f"Bearer {key}"})

    async def worker() -> None:
        while time.perf_counter() < deadline:
            number = next(counter)
            extra = {"Idempotency-Key": uuid.uuid4().hex} if args.idempotency else {}
            started = time.perf_counter()
            try:
                status = await client.post(url, body(number), extra)
            except client_errors() as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            if status == 201:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors[str(status)] = errors.get(str(status), 0) + 1

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await client.close()
    return len(latencies) / elapsed, latencies, errors


async def curve_run(args, results: Results, url: str, key: str) -> int:
    """Creates' latency against offered load (open loop) on the running platform at
    ``url``; 1 if any create failed."""
    client = CLIENTS[args.client](256, {"Authorization": f"Bearer {key}"})
    counter = iter(range(10**9))

    async def send() -> bool:
        extra = {"Idempotency-Key": uuid.uuid4().hex} if args.idempotency else {}
        return await client.post(url, body(next(counter)), extra) == 201

    try:
        points = await latency_curve(send, args.curve, args.curve_duration)
    finally:
        await client.close()
    results.curve("payments", f"POST {PATH} through the gateway ({args.database})", points)
    results.write()
    return 1 if sum(point["errors"] for point in points) else 0


async def main_async(args) -> int:
    results = Results("payments", args.results)
    with tempfile.TemporaryDirectory() as folder:
        running = start(args, folder, {"GOVPLAT_GATEWAY_PAY_POSTS_PER_SECOND": QUOTA})
        try:
            key = running.credentials()["pay_api_key"]
            url = running.gateway_url + PATH
            await closed_loop(url, key, args, 4, args.warmup)  # warm up
            if args.curve:
                return await curve_run(args, results, url, key)
            pids = {**processes(running.process.pid), "load generator": os.getpid()}
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            load_before = os.getloadavg()[0]
            rate, latencies, errors = await closed_loop(
                url, key, args, args.concurrency, args.duration
            )
            spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        finally:
            running.stop()
    failed = sum(errors.values())
    print(
        f"database: {args.database}; {args.concurrency} {args.client} clients for "
        f"{args.duration:.0f} s, Idempotency-Key {'on' if args.idempotency else 'off'}"
    )
    if latencies:
        print(
            f"creates through the gateway: {rate:.0f} per second, "
            f"p50 {statistics.median(latencies):.2f} ms, p99 {percentile(latencies, 0.99):.2f} ms "
            f"({len(latencies)} created)"
        )
    print(f"target >= {TARGET:.0f} creates/s, ratio {rate / TARGET:.2f}")
    if latencies:
        share = ", ".join(
            f"{name} {seconds * 1000 / len(latencies):.2f}"
            for name, seconds in sorted(spent.items(), key=lambda item: -item[1])
            if seconds > 0
        )
        print(f"CPU per create (ms): {share}; machine load average at start {load_before:.2f}")
    print(f"errors: {failed}" + (f" {errors}" if errors else ""))
    clients = f"{args.concurrency} clients, {args.database}"
    results.figure(
        f"payment creates through the gateway, {clients}",
        rate,
        "per s",
        ">= 300/s",
        300.0,
        "higher",
    )
    if latencies:
        results.figure(f"create latency p50, {clients}", statistics.median(latencies), "ms")
        results.figure(f"create latency p99, {clients}", percentile(latencies, 0.99), "ms")
        per_create = {name: seconds * 1000 / len(latencies) for name, seconds in spent.items()}
        results.figure("CPU per create, payments", per_create.get("payments", 0.0), "ms")
        whole = sum(per_create.values())
        results.figure("CPU per create, whole platform and load generator", whole, "ms")
    results.write()
    return 1 if failed or not latencies else 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Payment creates per second through the gateway.")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up first")
    parser.add_argument("--concurrency", type=int, default=32, help="clients in the closed loop")
    platform_options(parser)
    parser.add_argument(
        "--no-idempotency",
        dest="idempotency",
        action="store_false",
        help="send no Idempotency-Key (by default each create has its own)",
    )
    results_options(parser)
    args = parse_platform_args(parser)
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
