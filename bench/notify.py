"""Notify: text messages accepted and delivered per second through the gateway, and
their accept latency.

Starts the real platform (``govplat up`` on free loopback ports, SQLite by default
or fresh PostgreSQL databases with ``--database postgresql``), takes the seeded
sandbox service's live Notify key (``sandbox.json``; ``--key test`` for its test key)
and its sandbox text message template, and sends ``POST /v2/notifications/sms``
through the gateway with ``Authorization: Bearer <JWT>``: an HS256 token with ``iss``
(the service id) and ``iat``, signed with the key's secret, made afresh each second
as the official clients make one per request (their ``iat`` is in whole seconds, so
the tokens of one second are the same bytes). Each request has its own reference,
recipient and personalisation.

The platform runs as configured by default: notify as two processes (``notify``
accepts, ``notify-events`` relays and delivers, decision 45), the sandbox text
message provider, so a
live key's messages go through the whole live path (Notify's recipient checks, the
gateway's daily limit) and are delivered by the ``notify-delivery`` consumer into the
sandbox inbox with their final status; a test key's take the same delivery path.

1. **Throughput**: ``--concurrency`` clients in a closed loop for ``--duration``
   seconds (after ``--warmup`` seconds with 4 clients, and once the warm-up's messages
   are delivered). Prints accepted per second (answers 201), delivered per second over
   the same time (notifications that reached ``delivered``, counted in notify's
   database once a second), the backlog (accepted, not yet final) when the load
   stops and how long delivery took to drain it, and each process's CPU per
   notification (from /proc, over the load and the drain: accepting and delivering).
2. **Latency**: a fixed ``--rate`` (200 per second) for ``--rate-duration`` seconds
   (20): accept latency p50/p99 (ms).

Targets (issue 6, on the project's 2-core machine): at least 500 accepted per second
sustained for 60 s, delivery keeping up (here: the backlog drained within
``DRAIN_TARGET`` seconds of the load stopping), p99 accept latency under 50 ms at
200 per second. Ratios to the targets are printed; any answer but 201, and any
notification that ends in another status than ``delivered``, is an error, and errors
fail the run (exit status 1).

The gateway's Notify rate limit (``GOVPLAT_GATEWAY_NOTIFY_RATE_LIMIT_PER_MINUTE``,
Notify's 3,000 per minute) is raised for the run: the quota is not what is measured.
The daily limit (250,000 text messages) is left as it is.

    .venv/bin/python bench/notify.py [--duration 60] [--concurrency 32] [--rate 200]
        [--rate-duration 20] [--key live|test]
        [--database sqlite|postgresql [--postgres-url postgresql://...]]
        [--client aiohttp|httpx]
        [--results FILE] [--curve 50,100,200,400 [--curve-duration 10]]

``--results`` also writes the figures as JSON (for ``bench/report.py``), with the
resident memory of the whole platform before the load and at its end. ``--curve``
measures instead the accept latency p50/p99 at each offered rate (open loop), the
latency-versus-load curve ``bench/report.py`` plots.

The load generator (one Python process, aiohttp by default; see
``bench/payments.py``) runs on the same two cores as the platform.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (
    CLIENTS,
    Results,
    client_errors,
    cpu_seconds,
    latency_curve,
    parse_platform_args,
    percentile,
    platform_options,
    platform_rss,
    processes,
    results_options,
    start,
)

from govkit.testing.platform import RunningPlatform, notify_token, start_platform

PATH = "/v2/notifications/sms"
TARGET_ACCEPTED = 500.0
TARGET_P99_MS = 50.0
#: Seconds after the load stops within which delivery must have drained the backlog.
DRAIN_TARGET = 5.0
#: The gateway's Notify rate limit for the run (per minute per key type): far above the load.
QUOTA = "100000000"
#: The statuses a notification stops in.
FINAL = (
    "delivered",
    "permanent-failure",
    "temporary-failure",
    "technical-failure",
    "validation-failed",
    "virus-scan-failed",
)


def body(number: int, template_id: str) -> dict:
    """A send-text-message body as an agency's client sends it: a UK mobile number of
    Ofcom's drama range (never a smoke-test or simulated-failure number), the
    template's personalisation and a reference of its own."""
    line = 100 + number % 800
    if line in (111, 222):
        line += 1
    return {
        "phone_number": f"07700 900{line:03d}",
        "template_id": template_id,
        "personalisation": {"name": f"Person {number}"},
        "reference": f"BENCH-{number}",
    }


class Tokens:
    """The ``Authorization`` header for a Notify key: a fresh token each second."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.second = -1
        self.header = ""

    def __call__(self) -> dict[str, str]:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.header = f"Bearer {notify_token(self.key)}"
        return {"Authorization": self.header}


class Statuses:
    """Counts notify's notifications by status, straight from its database (read only)."""

    def __init__(self, running: RunningPlatform) -> None:
        url = running.env.get("GOVPLAT_NOTIFY_DATABASE_URL") or (
            f"sqlite:///{running.data_dir / 'notify.db'}"
        )
        self.url = url
        self._pg = None

    async def counts(self) -> dict[str, int]:
        """status → number of notifications."""
        query = "SELECT status, count(*) FROM notification GROUP BY status"
        if self.url.startswith("sqlite"):
            return await asyncio.to_thread(self._sqlite, query)
        import asyncpg

        if self._pg is None:
            self._pg = await asyncpg.connect(self.url.replace("postgresql+asyncpg", "postgresql"))
        return {status: n for status, n in await self._pg.fetch(query)}

    def _sqlite(self, query: str) -> dict[str, int]:
        path = self.url.split("///", 1)[1]
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as connection:
            return dict(connection.execute(query).fetchall())

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()


async def closed_loop(
    client, url: str, tokens: Tokens, template_id: str, concurrency: int, duration: float, counter
) -> tuple[float, list[float], dict[str, int]]:
    """``concurrency`` clients sending for ``duration`` s: accepted per second, each
    accept's latency (ms) and the errors by status (or exception name)."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                status = await client.post(url, body(next(counter), template_id), tokens())
            except client_errors() as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            if status == 201:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors[str(status)] = errors.get(str(status), 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, errors


async def fixed_rate(
    client, url: str, tokens: Tokens, template_id: str, rate: float, duration: float, counter
) -> tuple[list[float], dict[str, int], float]:
    """``rate`` sends per second for ``duration`` s, each started on schedule whatever
    the others are doing: latencies (ms), errors, and how late the load generator
    started a request at worst (ms)."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    late = 0.0

    async def one(number: int) -> None:
        started = time.perf_counter()
        try:
            status = await client.post(url, body(number, template_id), tokens())
        except client_errors() as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        if status == 201:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            errors[str(status)] = errors.get(str(status), 0) + 1

    tasks = []
    begin = time.perf_counter()
    for n in range(int(rate * duration)):
        delay = begin + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late = max(late, -delay * 1000)
        tasks.append(asyncio.create_task(one(next(counter))))
    await asyncio.gather(*tasks)
    return latencies, errors, late


async def wait_delivered(statuses: Statuses, total: int, timeout: float) -> tuple[float, dict]:
    """Poll until ``total`` notifications are final (or ``timeout`` s); seconds taken
    and the last counts."""
    started = time.perf_counter()
    while True:
        counts = await statuses.counts()
        done = sum(counts.get(status, 0) for status in FINAL)
        if done >= total or time.perf_counter() - started > timeout:
            return time.perf_counter() - started, counts
        await asyncio.sleep(0.25)


def _logged_errors(folder: Path, most: int = 5) -> list[str]:
    """The first ``most`` lines of the components' logs that report an error."""
    found: list[str] = []
    for log in sorted(folder.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if '"ERROR"' in line or "Traceback" in line:
                found.append(f"{log.stem}: {line[:400]}")
                if len(found) >= most:
                    return found
    return found


async def main_async(args) -> int:
    errors: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as folder:
        running = start_platform(
            Path(folder),
            backend=args.database,
            extra_env={"GOVPLAT_GATEWAY_NOTIFY_RATE_LIMIT_PER_MINUTE": QUOTA},
        )
        statuses = Statuses(running)
        try:
            credentials = running.credentials()
            key = credentials["notify_live_api_key" if args.key == "live" else "notify_api_key"]
            template_id = credentials["notify_sms_template_id"]
            tokens = Tokens(key)
            url = running.gateway_url + PATH
            counter = iter(range(10**9))
            client = CLIENTS[args.client](max(args.concurrency, 64), {})
            try:
                _r, warm, warm_errors = await closed_loop(
                    client, url, tokens, template_id, 4, args.warmup, counter
                )
                await wait_delivered(statuses, len(warm), 60)
                pids = {**processes(running.process.pid), "load generator": os.getpid()}
                before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                load_before = os.getloadavg()[0]
                start_counts = await statuses.counts()
                delivered_before = start_counts.get("delivered", 0)
                stored_before = sum(start_counts.values())

                samples: list[tuple[float, int]] = []

                async def sample(stop: asyncio.Event) -> None:
                    while not stop.is_set():
                        counts = await statuses.counts()
                        samples.append((time.perf_counter(), counts.get("delivered", 0)))
                        try:
                            await asyncio.wait_for(stop.wait(), 1.0)
                        except TimeoutError:
                            pass

                rss_before = platform_rss(running.process.pid)["total"]
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample(stop))
                load_started = time.perf_counter()
                accepted_rate, latencies, load_errors = await closed_loop(
                    client, url, tokens, template_id, args.concurrency, args.duration, counter
                )
                load_elapsed = time.perf_counter() - load_started
                rss_loaded = platform_rss(running.process.pid)["total"]
                stop.set()
                await sampler
                end_counts = await statuses.counts()
                stored = sum(end_counts.values()) - stored_before
                delivered_in_load = end_counts.get("delivered", 0) - delivered_before
                backlog = sum(n for status, n in end_counts.items() if status not in FINAL)
                drain, drained_counts = await wait_delivered(
                    statuses, stored_before + stored, args.drain_timeout
                )
                spent = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
                load_rate = os.getloadavg()[0]
                rate_latencies, rate_errors, late = await fixed_rate(
                    client, url, tokens, template_id, args.rate, args.rate_duration, counter
                )
                total_sent = sum(drained_counts.values())
                _wait, final_counts = await wait_delivered(
                    statuses, total_sent + len(rate_latencies), args.drain_timeout
                )
            finally:
                await client.close()
        finally:
            await statuses.close()
            running.stop()
            problems = _logged_errors(running.data_dir / "log")
    for part in (warm_errors, load_errors, rate_errors):
        for name, n in part.items():
            errors[name] = errors.get(name, 0) + n
    not_delivered = {s: n for s, n in final_counts.items() if s != "delivered"}
    delivered_rate = delivered_in_load / load_elapsed
    # The fastest delivery over 10 s of the load (the samples are a second apart).
    window = [
        (b[1] - a[1]) / (b[0] - a[0])
        for i, a in enumerate(samples)
        for b in samples[i + 10 : i + 11]
    ]
    print(
        f"database: {args.database}; {args.key} key, {args.client}; "
        f"{args.concurrency} clients for {args.duration:.0f} s, then {args.rate:.0f}/s for "
        f"{args.rate_duration:.0f} s"
    )
    if latencies:
        print(
            f"accepted through the gateway: {accepted_rate:.0f} per second "
            f"({len(latencies)} in {load_elapsed:.1f} s), p50 {statistics.median(latencies):.2f} ms, "
            f"p99 {percentile(latencies, 0.99):.2f} ms"
        )
    print(
        f"delivered (sandbox provider) during the load: {delivered_rate:.0f} per second"
        + (f" (best 10 s: {max(window):.0f} per second)" if window else "")
    )
    print(
        f"backlog when the load stopped: {backlog} accepted, not yet delivered; drained in "
        f"{drain:.1f} s" + ("" if drain < args.drain_timeout else " (NOT drained: timed out)")
    )
    print(
        f"targets: accepted >= {TARGET_ACCEPTED:.0f}/s, ratio {accepted_rate / TARGET_ACCEPTED:.2f}; "
        f"delivery keeps up (drained within {DRAIN_TARGET:.0f} s): "
        f"{'yes' if drain <= DRAIN_TARGET else 'no'}, ratio {drain / DRAIN_TARGET:.2f}"
    )
    if latencies:
        share = ", ".join(
            f"{name} {seconds * 1000 / len(latencies):.2f}"
            for name, seconds in sorted(spent.items(), key=lambda item: -item[1])
            if seconds > 0
        )
        print(
            f"CPU per notification, accepted and delivered (ms): {share}; "
            f"load average at start {load_before:.2f}, after the drain {load_rate:.2f}"
        )
    if rate_latencies:
        p99 = percentile(rate_latencies, 0.99)
        print(
            f"accept latency at {args.rate:.0f}/s: p50 {statistics.median(rate_latencies):.2f} ms, "
            f"p99 {p99:.2f} ms ({len(rate_latencies)} accepted; load generator at worst "
            f"{late:.1f} ms late); target p99 < {TARGET_P99_MS:.0f} ms, ratio {p99 / TARGET_P99_MS:.2f}"
        )
    failed = sum(errors.values()) + sum(not_delivered.values())
    print(
        f"errors: {failed}"
        + (f" {errors}" if errors else "")
        + (f" not delivered: {not_delivered}" if not_delivered else "")
    )
    for line in problems:
        print(f"logged: {line}")
    print(
        f"platform resident memory: {rss_before:.0f} MiB before the load, {rss_loaded:.0f} at its end"
    )
    cpu = {name: seconds * 1000 / max(1, len(latencies)) for name, seconds in spent.items()}
    record(args, accepted_rate, delivered_rate, drain, rate_latencies, cpu, rss_before, rss_loaded)
    return 1 if failed or not latencies or not rate_latencies else 0


def record(args, accepted, delivered, drain, rate_latencies, cpu, rss_before, rss_loaded) -> None:
    """Write the run's figures with ``--results`` (:class:`benchlib.Results`): rates
    per second, seconds, latencies in ms, ``cpu`` process → ms per notification,
    memory in MiB."""
    results = Results("notify", args.results)
    load = f"{args.concurrency} clients for {args.duration:.0f} s, {args.database}"
    results.figure(f"Notify texts accepted, {load}", accepted, "per s", ">= 500/s", 500.0, "higher")
    results.figure(
        f"Notify texts delivered (sandbox provider) during the load, {load}", delivered, "per s"
    )
    results.figure(f"backlog drained after the load, {load}", drain, "s", "<= 5 s", DRAIN_TARGET)
    results.figure(
        "CPU per notification accepted and delivered, notify (both its processes)",
        cpu.get("notify", 0.0) + cpu.get("notify-events", 0.0),
        "ms",
    )
    results.figure(
        "CPU per notification accepted and delivered, whole platform and load generator",
        sum(cpu.values()),
        "ms",
    )
    if rate_latencies:
        at = f"at {args.rate:.0f}/s for {args.rate_duration:.0f} s"
        p99 = percentile(rate_latencies, 0.99)
        results.figure(f"accept latency p50 {at}", statistics.median(rate_latencies), "ms")
        results.figure(f"accept latency p99 {at}", p99, "ms", "< 50 ms", TARGET_P99_MS)
    results.figure("platform resident memory before the notify load", rss_before, "MiB")
    results.figure("platform resident memory at the end of the notify load", rss_loaded, "MiB")
    results.write()


async def curve_run(args) -> int:
    """Accept latency against offered load (open loop); 1 if any send failed."""
    results = Results("notify", args.results)
    with tempfile.TemporaryDirectory() as folder:
        running = start(args, folder, {"GOVPLAT_GATEWAY_NOTIFY_RATE_LIMIT_PER_MINUTE": QUOTA})
        try:
            credentials = running.credentials()
            key = credentials["notify_live_api_key" if args.key == "live" else "notify_api_key"]
            template_id = credentials["notify_sms_template_id"]
            tokens, url = Tokens(key), running.gateway_url + PATH
            counter = iter(range(10**9))
            client = CLIENTS[args.client](256, {})

            async def send() -> bool:
                return await client.post(url, body(next(counter), template_id), tokens()) == 201

            try:
                await closed_loop(client, url, tokens, template_id, 4, args.warmup, counter)
                points = await latency_curve(send, args.curve, args.curve_duration)
            finally:
                await client.close()
        finally:
            running.stop()
    results.curve("notify", f"POST {PATH} through the gateway ({args.database})", points)
    results.write()
    return 1 if sum(point["errors"] for point in points) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Notify sends per second through the gateway.")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of full load")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up first")
    parser.add_argument("--concurrency", type=int, default=32, help="clients in the closed loop")
    parser.add_argument("--rate", type=float, default=200.0, help="sends/s in the latency phase")
    parser.add_argument("--rate-duration", type=float, default=20.0, help="seconds at --rate")
    parser.add_argument(
        "--drain-timeout", type=float, default=120.0, help="seconds to wait for delivery"
    )
    parser.add_argument("--key", choices=("live", "test"), default="live")
    platform_options(parser)
    results_options(parser)
    args = parse_platform_args(parser)
    sys.exit(asyncio.run(curve_run(args) if args.curve else main_async(args)))


if __name__ == "__main__":
    main()
