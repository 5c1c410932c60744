"""Time from ``govplat up`` to "ready", and from SIGTERM to every process gone.

Runs the real platform (NATS from the wheel, SQLite files in a temporary folder,
free loopback ports) several times and prints each figure and the median.
Dependencies must already be installed (``make install``): installation is not timed.

    .venv/bin/python bench/startup.py [--runs 5]

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

from govkit.testing.platform import start_platform

READY_TARGET_SECONDS = 20.0
STOP_TARGET_SECONDS = 10.0


def one_run() -> tuple[float, float]:
    """Start the platform once; return (seconds to ready, seconds to stopped)."""
    with tempfile.TemporaryDirectory() as data_dir:
        running = start_platform(Path(data_dir))
        stopping = time.monotonic()
        running.stop(timeout=30)
        return running.ready_after, time.monotonic() - stopping


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    readies, stops = [], []
    for number in range(1, args.runs + 1):
        ready, stopped = one_run()
        readies.append(ready)
        stops.append(stopped)
        print(f"run {number}: ready after {ready:.2f}s, stopped after {stopped:.2f}s")
    ready_median, stop_median = statistics.median(readies), statistics.median(stops)
    print(
        f"govplat up to ready: median {ready_median:.2f}s, max {max(readies):.2f}s "
        f"(target {READY_TARGET_SECONDS:.0f}s, ratio {ready_median / READY_TARGET_SECONDS:.2f})"
    )
    print(
        f"SIGTERM to stopped: median {stop_median:.2f}s, max {max(stops):.2f}s "
        f"(target {STOP_TARGET_SECONDS:.0f}s, ratio {stop_median / STOP_TARGET_SECONDS:.2f})"
    )


if __name__ == "__main__":
    main()
