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

The load generator (one Python process) runs on the same two cores as the platform,
so every millisecond of CPU it spends per request is taken from the platform. It
uses aiohttp by default (about a quarter of httpx's CPU per request); ``--client
httpx`` loads as ``bench/gateway_overhead.py`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from govkit.testing import TEST_DATABASE_ENV
from govkit.testing.platform import start_platform

PATH = "/v1/payments"
TARGET = 300.0
#: The gateway's Pay POST quota for the run (per second per key): far above the load.
QUOTA = "1000000"


def processes(root: int) -> dict[str, int]:
    """The platform's processes under ``root`` (``govplat up``): name → pid, from /proc
    (Linux): each component by its ``serve`` argument, NATS, and ``up`` itself."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        words = [a.decode(errors="replace") for a in argv if a]
        if "serve" in words and words.index("serve") + 1 < len(words):
            names[int(entry.name)] = words[words.index("serve") + 1]
        elif words and words[0].endswith("nats-server"):
            names[int(entry.name)] = "nats"
    found = {"up": root}
    for pid, name in names.items():
        ancestor = parents.get(pid)
        while ancestor and ancestor != root:
            ancestor = parents.get(ancestor)
        if ancestor == root:
            found[name] = pid
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all its threads (seconds; 0 if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def body(number: int) -> dict:
    """A create-payment body as an agency sends it (GOV.UK Pay's required fields)."""
    return {
        "amount": 1000 + number % 9000,
        "reference": f"BENCH-{number}",
        "description": "Benchmark payment",
        "return_url": "https://service.example.gov.uk/return",
    }


class HttpxClient:
    """httpx, as ``bench/gateway_overhead.py`` loads (about 2.4 ms of CPU per request here)."""

    def __init__(self, concurrency: int, headers: dict[str, str]) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.AsyncClient(limits=limits, timeout=30, headers=headers)

    async def post(self, url: str, body: dict, headers: dict[str, str]) -> int:
        return (await self.client.post(url, json=body, headers=headers)).status_code

    async def close(self) -> None:
        await self.client.aclose()


class AiohttpClient:
    """aiohttp (C HTTP parser), the gateway's own client: less CPU taken from the two
    cores the platform runs on (about 0.6 ms per request here)."""

    def __init__(self, concurrency: int, headers: dict[str, str]) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def post(self, url: str, body: dict, headers: dict[str, str]) -> int:
        async with self.session.post(url, json=body, headers=headers) as response:
            await response.read()
            return response.status

    async def close(self) -> None:
        await self.session.close()


CLIENTS = {"aiohttp": AiohttpClient, "httpx": HttpxClient}


async def closed_loop(
    url: str, key: str, args, concurrency: int, duration: float
) -> tuple[float, list[float], dict[str, int]]:
    """``concurrency`` clients creating payments for ``duration`` s: creates per
    second, each create's latency (ms) and the errors by status (or exception name)."""
    import aiohttp

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
            except (httpx.HTTPError, aiohttp.ClientError, TimeoutError) as exc:
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


async def main_async(args) -> int:
    with tempfile.TemporaryDirectory() as folder:
        running = start_platform(
            Path(folder),
            backend=args.database,
            extra_env={"GOVPLAT_GATEWAY_PAY_POSTS_PER_SECOND": QUOTA},
        )
        try:
            key = running.credentials()["pay_api_key"]
            url = running.gateway_url + PATH
            await closed_loop(url, key, args, 4, args.warmup)  # warm up
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
    return 1 if failed or not latencies else 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Payment creates per second through the gateway.")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up first")
    parser.add_argument("--concurrency", type=int, default=32, help="clients in the closed loop")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(TEST_DATABASE_ENV),
        help="with --database postgresql: the server (a database URL) to make fresh "
        f"databases on (default ${TEST_DATABASE_ENV})",
    )
    parser.add_argument(
        "--client", choices=sorted(CLIENTS), default="aiohttp", help="the load generator's client"
    )
    parser.add_argument(
        "--no-idempotency",
        dest="idempotency",
        action="store_false",
        help="send no Idempotency-Key (by default each create has its own)",
    )
    args = parser.parse_args()
    if args.database == "postgresql":
        if not args.postgres_url:
            parser.error(f"--database postgresql needs --postgres-url or ${TEST_DATABASE_ENV}")
        os.environ[TEST_DATABASE_ENV] = args.postgres_url
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
