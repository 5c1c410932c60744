"""Registers: RSF load throughput, batched appends, and proof latency at two sizes.

Loads entries through RSF into a fresh database (SQLite in a temporary folder by
default, or ``--database-url postgresql://...``), in one RSF stream per step, with
the service's own code (no HTTP: the RSF lines are generated as the load reads
them, which is part of the time). It times inclusion and consistency proofs (the
service's read transaction, query and assembly; and the same through the REST app
in-process) at 10,000 entries and again at the full size, then batched JSON
appends of 100 entries. Prints each figure with its target and ratio.

    .venv/bin/python bench/registers.py [--entries 1000000] [--proofs 2000]

Targets (issue 5, docs/benchmarks.md): at least 20,000 entries/s loading RSF on
SQLite; proof p99 under 5 ms at 1,000,000 entries and at most twice its value at
10,000; peak memory under 500 MB; at least 1,000 appends/s batched
(performance-reliability anchors; proof p99 at most 50 ms there).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would hide
# the registers package: drop it before the imports below.
# ruff: noqa: E402
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import asyncio
import hashlib
import os
import platform
import random
import resource
import tempfile
import time

import httpx

from govkit.db import Database
from govkit.migrations import upgrade
from registers import http_api
from registers.config import Settings
from registers.context import Context
from registers.datatypes import FieldDefinition
from registers.service import appending, proofs, seeding

sys.path.append(str(Path(__file__).parent))  # after the registers package is imported
from benchlib import Results

NAME = "bench"
STAMP = "2026-01-01T00:00:00Z"
LOAD_TARGET = 20_000
PROOF_P99_TARGET_MS = 5.0
MEMORY_TARGET_MB = 500
APPEND_TARGET = 1_000


async def rsf_lines(first: int, last: int):
    """RSF for entries ``first``..``last``: each an add-item and its append-entry."""
    for number in range(first, last + 1):
        item = f'{{"{NAME}":"K{number}","name":"Name {number}"}}'
        digest = hashlib.sha256(item.encode()).hexdigest()
        yield f"add-item\t{item}"
        yield f"append-entry\tuser\tK{number}\t{STAMP}\tsha-256:{digest}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def time_proofs(context: Context, app, size: int, samples: int) -> dict[str, list[float]]:
    """Milliseconds per inclusion and consistency proof at ``size`` (service and HTTP)."""
    rng = random.Random(size)
    timings: dict[str, list[float]] = {"inclusion": [], "consistency": [], "http": []}
    for _ in range(samples):
        number = rng.randint(1, size)
        started = time.perf_counter()
        async with context.db.read() as session:
            await proofs.inclusion(session, NAME, number, size)
        timings["inclusion"].append((time.perf_counter() - started) * 1000)
        first = rng.randint(1, size)
        started = time.perf_counter()
        async with context.db.read() as session:
            await proofs.consistency(session, NAME, first, size)
        timings["consistency"].append((time.perf_counter() - started) * 1000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        for _ in range(samples // 4):
            number = rng.randint(1, size)
            started = time.perf_counter()
            answer = await http.get(
                f"/registers/{NAME}/proof/entries/{number}/{size}/merkle:sha-256"
            )
            timings["http"].append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200
    return timings


def report_proofs(
    size: int, timings: dict[str, list[float]], results: Results | None = None
) -> dict[str, float]:
    """Print each proof kind's p50/p99 (ms); record the p99s in ``results`` if given."""
    p99s = {}
    for kind, values in timings.items():
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        p99s[kind] = p99
        label = "inclusion over HTTP (in-process)" if kind == "http" else kind
        print(
            f"  {size:>9,} entries, {label:<32} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
            f"(target p99 {PROOF_P99_TARGET_MS:.0f} ms, ratio {p99 / PROOF_P99_TARGET_MS:.2f})"
        )
        if results is not None and kind == "http":
            name = f"inclusion proof over REST in-process p99 at {size:,} entries"
            results.figure(name, p99, "ms", "< 50 ms (anchor)", 50.0)
        elif results is not None:
            name = f"{kind} proof p99 at {size:,} entries"
            results.figure(name, p99, "ms", f"< {PROOF_P99_TARGET_MS:.0f} ms", PROOF_P99_TARGET_MS)
    return p99s


async def load(context: Context, first: int, last: int) -> float:
    """Load entries ``first``..``last`` in one RSF stream; returns the seconds it took."""
    started = time.perf_counter()
    result = await appending.load_rsf(context, NAME, rsf_lines(first, last))
    assert result.tree_size == last
    return time.perf_counter() - started


async def main(args) -> None:
    results = Results("registers", args.results)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'registers.db'}"
        await asyncio.to_thread(upgrade, "registers", url)
        db = Database(url, synchronous_full=True)
        context = Context(settings=Settings(database_url=url), db=db)
        app = http_api.create_app(context)
        await seeding.ensure_system_registers(context)
        await seeding.sync_register(
            context,
            NAME,
            "Benchmark entries.",
            [FieldDefinition(NAME, "string"), FieldDefinition("name", "string")],
            [],
            timestamp=STAMP,
        )
        print(f"database: {url.split('://')[0]}, {args.entries:,} entries through RSF")
        small = min(10_000, args.entries)
        seconds = await load(context, 1, small)
        print(f"  loaded {small:>9,} entries ({small / seconds:,.0f} entries/s)")
        small_p99 = report_proofs(small, await time_proofs(context, app, small, args.proofs))
        done = small
        while done < args.entries:
            step = min(args.step, args.entries - done)
            took = await load(context, done + 1, done + step)
            seconds += took
            done += step
            print(f"  loaded {done:>9,} entries ({step / took:,.0f} entries/s for this step)")
        timings = await time_proofs(context, app, done, args.proofs)
        large_p99 = report_proofs(done, timings, results)
        total_rate = args.entries / seconds
        print(
            f"RSF load: {total_rate:,.0f} entries/s over {args.entries:,} "
            f"(target {LOAD_TARGET:,}, ratio {total_rate / LOAD_TARGET:.2f})"
        )
        name = f"RSF load, {args.entries:,} entries"
        results.figure(name, total_rate, "entries/s", ">= 20,000/s", LOAD_TARGET, "higher")
        for kind in ("inclusion", "consistency"):
            ratio = large_p99[kind] / small_p99[kind]
            print(f"{kind} p99 at {done:,} / at {small:,}: {ratio:.2f} (target at most 2.00)")
            results.figure(f"{kind} p99, {done:,} / {small:,} entries", ratio, "times", "<= 2", 2.0)
        started = time.perf_counter()
        batches = 20
        for batch in range(batches):
            entries = [
                appending.NewEntry(f"B{batch}-{i}", [{NAME: f"B{batch}-{i}", "name": "appended"}])
                for i in range(100)
            ]
            await appending.append_entries(context, NAME, entries)
        rate = batches * 100 / (time.perf_counter() - started)
        print(
            f"JSON appends, batches of 100: {rate:,.0f} entries/s "
            f"(target {APPEND_TARGET:,}, ratio {rate / APPEND_TARGET:.2f})"
        )
        name = "JSON appends, batches of 100"
        results.figure(name, rate, "entries/s", ">= 1,000/s", APPEND_TARGET, "higher")
        await db.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak memory (RSS): {peak:,.0f} MB (target under {MEMORY_TARGET_MB}, "
        f"ratio {peak / MEMORY_TARGET_MB:.2f})"
    )
    results.figure("registers peak memory (RSS)", peak, "MiB", "< 500 MB", MEMORY_TARGET_MB)
    results.write()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--step", type=int, default=100_000, help="entries per RSF stream")
    parser.add_argument("--proofs", type=int, default=2000, help="samples per proof kind")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--results", type=Path, help="also write the figures as JSON here")
    asyncio.run(main(parser.parse_args()))
