"""What the gateway costs: one endpoint called directly and through the gateway.

Starts the real platform (``govplat up`` on free loopback ports), then for
identity's discovery document (``GET /.well-known/openid-configuration``), directly
at identity and through the gateway:

1. a fixed rate (default 200 requests per second) for ``--duration`` seconds:
   latency p50 and p99;
2. saturation: ``--concurrency`` clients in a closed loop for ``--duration`` seconds:
   requests per second.

Prints both, the gateway's added p50/p99 latency and its share of the direct
throughput. Targets (issue 4): at most +1 ms p50 and +5 ms p99 at 200 requests per
second; at least 60% of the direct throughput at saturation.

    .venv/bin/python bench/gateway_overhead.py [--duration 10] [--rate 200] [--concurrency 32]
        [--results FILE] [--curve 50,100,200,400 [--curve-duration 10]]

``--curve`` measures instead the latency p50/p99 of both at each offered rate (open
loop), the latency-versus-load curve ``bench/report.py`` plots.

The load generator (Python, httpx) runs on the same two cores as the platform, so
absolute figures are lower than a separate load machine would show; the ratio is
the figure to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from benchlib import Results, latency_curve, results_options

from govkit.testing.platform import start_platform

PATH = "/.well-known/openid-configuration"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def fixed_rate(url: str, rate: float, duration: float) -> tuple[list[float], int]:
    """Send ``rate`` requests per second for ``duration`` s; latencies (ms) and errors."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def one() -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                response = await client.get(url)
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
                return
            latencies.append((time.perf_counter() - started) * 1000)

        tasks = []
        begin = time.perf_counter()
        for number in range(int(rate * duration)):
            delay = begin + number / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies, errors


async def saturation(url: str, concurrency: int, duration: float) -> tuple[float, int]:
    """Closed loop with ``concurrency`` clients; requests per second and errors."""
    done = 0
    errors = 0
    deadline = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                try:
                    response = await client.get(url)
                    done += response.status_code == 200
                    errors += response.status_code != 200
                except httpx.HTTPError:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - started), errors


async def measure(name: str, url: str, args) -> dict:
    await saturation(url, 4, 1.0)  # warm up connections and code paths
    latencies, rate_errors = await fixed_rate(url, args.rate, args.duration)
    rps, saturation_errors = await saturation(url, args.concurrency, args.duration)
    result = {
        "name": name,
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 0.99),
        "rps": rps,
        "errors": rate_errors + saturation_errors,
    }
    print(
        f"{name:<8} at {args.rate:.0f}/s: p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms; "
        f"saturation ({args.concurrency} clients): {rps:.0f} requests/s; errors {result['errors']}"
    )
    return result


async def curve_run(args, results: Results) -> None:
    """Latency against offered load, directly at identity and through the gateway."""
    with tempfile.TemporaryDirectory() as folder:
        running = start_platform(Path(folder))
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        try:
            async with httpx.AsyncClient(limits=limits, timeout=10) as client:
                for label, url in (
                    ("direct", running.url("identity") + PATH),
                    ("gateway", running.gateway_url + PATH),
                ):
                    await saturation(url, 4, 1.0)  # warm up

                    async def send(url: str = url) -> bool:
                        return (await client.get(url)).status_code == 200

                    points = await latency_curve(
                        send, args.curve, args.curve_duration, f"{label}: "
                    )
                    results.curve("gateway", f"{label} (GET {PATH})", points)
        finally:
            running.stop()
    results.write()


async def main_async(args) -> None:
    results = Results("gateway_overhead", args.results)
    if args.curve:
        await curve_run(args, results)
        return
    with tempfile.TemporaryDirectory() as folder:
        running = start_platform(Path(folder))
        try:
            direct = await measure("direct", running.url("identity") + PATH, args)
            gateway = await measure("gateway", running.gateway_url + PATH, args)
        finally:
            running.stop()
    added_p50 = gateway["p50"] - direct["p50"]
    added_p99 = gateway["p99"] - direct["p99"]
    share = gateway["rps"] / direct["rps"]
    print(f"gateway adds p50 {added_p50:+.2f} ms (target <= 1 ms, ratio {added_p50 / 1.0:.2f})")
    print(f"gateway adds p99 {added_p99:+.2f} ms (target <= 5 ms, ratio {added_p99 / 5.0:.2f})")
    print(
        f"gateway keeps {share:.0%} of direct throughput at saturation (target >= 60%, ratio {share / 0.6:.2f})"
    )
    rate = f"at {args.rate:.0f} requests/s"
    results.figure(f"gateway's added latency p50 {rate}", added_p50, "ms", "<= +1 ms", 1.0)
    results.figure(f"gateway's added latency p99 {rate}", added_p99, "ms", "<= +5 ms", 5.0)
    for measured in (direct, gateway):
        for q in ("p50", "p99"):
            name = f"discovery document {measured['name']} {q} {rate}"
            results.figure(name, measured[q], "ms")
    results.figure(
        f"gateway's share of direct throughput, {args.concurrency} clients",
        share * 100,
        "%",
        ">= 60%",
        60.0,
        "higher",
    )
    results.write()


def main() -> None:
    parser = argparse.ArgumentParser(description="The gateway's added latency and throughput cost.")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument(
        "--rate", type=float, default=200.0, help="requests per second in the latency phase"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="clients in the saturation phase"
    )
    results_options(parser)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
