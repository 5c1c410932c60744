"""Time from ``govplat up`` to "ready", and from SIGTERM to every process gone.

Runs the real platform (NATS from the wheel, SQLite files in a temporary folder,
free loopback ports) several times and prints each figure and the median; also the
resident memory of the whole platform (every process of ``govplat up``, VmRSS) when
idle, ``IDLE_SECONDS`` after ready.
Dependencies must already be installed (``make install``): installation is not timed.

    .venv/bin/python bench/startup.py [--runs 5] [--results FILE]

Target (issue 2): ready in under 20 s; stopped within 10 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from benchlib import Results, platform_rss

from govkit.testing.platform import start_platform

READY_TARGET_SECONDS = 20.0
STOP_TARGET_SECONDS = 10.0
#: Seconds after ready at which the idle platform's memory is read.
IDLE_SECONDS = 3.0


def one_run() -> tuple[float, float, float]:
    """Start the platform once; return (seconds to ready, seconds to stopped, MiB
    resident when idle)."""
    with tempfile.TemporaryDirectory() as data_dir:
        running = start_platform(Path(data_dir))
        time.sleep(IDLE_SECONDS)
        idle = platform_rss(running.process.pid)["total"]
        stopping = time.monotonic()
        running.stop(timeout=30)
        return running.ready_after, time.monotonic() - stopping, idle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--results", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    results = Results("startup", args.results)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    readies, stops, idles = [], [], []
    for number in range(1, args.runs + 1):
        ready, stopped, idle = one_run()
        readies.append(ready)
        stops.append(stopped)
        idles.append(idle)
        print(
            f"run {number}: ready after {ready:.2f}s, stopped after {stopped:.2f}s, "
            f"{idle:.0f} MiB resident idle"
        )
    ready_median, stop_median = statistics.median(readies), statistics.median(stops)
    print(
        f"govplat up to ready: median {ready_median:.2f}s, max {max(readies):.2f}s "
        f"(target {READY_TARGET_SECONDS:.0f}s, ratio {ready_median / READY_TARGET_SECONDS:.2f})"
    )
    print(
        f"SIGTERM to stopped: median {stop_median:.2f}s, max {max(stops):.2f}s "
        f"(target {STOP_TARGET_SECONDS:.0f}s, ratio {stop_median / STOP_TARGET_SECONDS:.2f})"
    )
    idle_median = statistics.median(idles)
    print(
        f"platform resident memory, idle {IDLE_SECONDS:.0f}s after ready: median {idle_median:.0f} MiB"
    )
    runs = f"median of {args.runs}"
    results.figure(f"`govplat up` to ready, {runs}", ready_median, "s", "< 20 s", 20.0)
    results.figure(f"SIGTERM to every process stopped, {runs}", stop_median, "s", "< 10 s", 10.0)
    results.figure(f"platform resident memory, idle after ready, {runs}", idle_median, "MiB")
    results.write()


if __name__ == "__main__":
    main()
