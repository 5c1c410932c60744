"""What the platform benchmarks share: the platform's processes and their CPU time
(from /proc, Linux), percentiles, and the load generator's two HTTP clients.

Imported by the scripts in ``bench/`` (run as ``python bench/<name>.py``, so this
folder is on ``sys.path``)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import httpx

#: When the benchmark began (this module's import, UTC) and the machine's load average
#: then (1, 5, 15 min): what :class:`Results` reports, whenever it is made.
STARTED = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
LOAD_AT_START = list(os.getloadavg())


def processes(root: int) -> dict[str, int]:
    """The platform's processes under ``root`` (``govplat up``): name → pid, from /proc
    (Linux): each component by its ``serve`` argument, NATS, and ``up`` itself."""
    from govkit.testing.platform import platform_pids

    return {"up": root, **platform_pids(root)}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all its threads (seconds; 0 if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    """The value at ``fraction`` (0 to 1) of the sorted ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class HttpxClient:
    """httpx, as ``bench/gateway_overhead.py`` loads (about 2.4 ms of CPU per request here)."""

    def __init__(self, concurrency: int, headers: dict[str, str]) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.AsyncClient(limits=limits, timeout=30, headers=headers)

    async def post(self, url: str, body: dict, headers: dict[str, str]) -> int:
        """POST ``body`` as JSON; the answer's status code."""
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
        """POST ``body`` as JSON; the answer's status code."""
        async with self.session.post(url, json=body, headers=headers) as response:
            await response.read()
            return response.status

    async def close(self) -> None:
        await self.session.close()


CLIENTS = {"aiohttp": AiohttpClient, "httpx": HttpxClient}


def client_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a failed request raises in either client (counted as errors)."""
    import aiohttp

    return (httpx.HTTPError, aiohttp.ClientError, TimeoutError)


def platform_options(parser) -> None:
    """Add ``--database``, ``--postgres-url`` and ``--client`` to an argparse parser."""
    from govkit.testing import TEST_DATABASE_ENV

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


def start(args, folder: str, env: dict[str, str]):
    """``start_platform`` in ``folder`` on ``args.database`` (see
    :func:`parse_platform_args`) with ``env`` added to the components' environment;
    the running platform (``govkit.testing.platform.RunningPlatform``)."""
    from govkit.testing.platform import start_platform

    return start_platform(Path(folder), backend=args.database, extra_env=env)


def parse_platform_args(parser):
    """Parse the command line (see :func:`platform_options`); with ``--database
    postgresql``, point ``start_platform`` at the server; print the machine."""
    import platform

    from govkit.testing import TEST_DATABASE_ENV

    args = parser.parse_args()
    if args.database == "postgresql":
        if not args.postgres_url:
            parser.error(f"--database postgresql needs --postgres-url or ${TEST_DATABASE_ENV}")
        os.environ[TEST_DATABASE_ENV] = args.postgres_url
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    return args


def platform_rss(root: int) -> dict[str, float]:
    """Resident memory of every process of the ``govplat up`` whose pid is ``root``
    (``up`` itself, each component, NATS): name → MiB (VmRSS from /proc, Linux), and
    ``"total"``, their sum. A process gone meanwhile counts 0."""
    found: dict[str, float] = {}
    for name, pid in processes(root).items():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                found[name] = int(line.split()[1]) / 1024  # kB → MiB
    found["total"] = sum(found.values())
    return found


async def open_loop(send, rate: float, duration: float) -> dict:
    """Open-loop load: ``rate`` calls of ``send()`` per second for ``duration`` s, each
    started on schedule whatever the others are doing. ``send`` is an async callable
    returning True on success. Returns ``{"rate", "achieved", "p50", "p99", "errors",
    "late"}``: offered and completed per second, latency (ms) of the successes,
    failures (False or a client error) and how late the worst start was (ms)."""
    import asyncio
    import time

    latencies: list[float] = []
    errors = 0

    async def one() -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            ok = await send()
        except client_errors():
            ok = False
        if ok:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            errors += 1

    tasks, late = [], 0.0
    begin = time.perf_counter()
    for number in range(max(1, int(rate * duration))):
        delay = begin + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late = max(late, -delay * 1000)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - begin
    return {
        "rate": rate,
        "achieved": len(latencies) / elapsed,
        "p50": percentile(latencies, 0.5) if latencies else None,
        "p99": percentile(latencies, 0.99) if latencies else None,
        "errors": errors,
        "late": late,
    }


async def latency_curve(send, rates: list[float], duration: float, label: str = "") -> list[dict]:
    """:func:`open_loop` at each offered rate in turn (lowest first), printing each
    point: the latency-versus-load curve (a list of its results)."""
    points = []
    for rate in sorted(rates):
        point = await open_loop(send, rate, duration)
        points.append(point)
        p50, p99 = point["p50"], point["p99"]
        print(
            f"{label}offered {rate:.0f}/s: completed {point['achieved']:.0f}/s, "
            + (f"p50 {p50:.2f} ms, p99 {p99:.2f} ms" if p50 is not None else "no success")
            + f", errors {point['errors']}, start at worst {point['late']:.0f} ms late"
        )
    return points


def rates_option(text: str) -> list[float]:
    """argparse type for ``--curve``: comma-separated offered rates (per second, > 0)."""
    import argparse

    try:
        rates = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of rates: {text!r}") from None
    if not rates or any(rate <= 0 for rate in rates):
        raise argparse.ArgumentTypeError(f"rates must be positive numbers: {text!r}")
    return rates


def results_options(parser) -> None:
    """Add ``--results FILE`` (write the run's figures as JSON for ``bench/report.py``)
    and ``--curve RATES`` / ``--curve-duration S`` (measure latency against offered
    load instead) to an argparse parser."""
    parser.add_argument(
        "--results", type=Path, help="also write this run's figures as JSON to this file"
    )
    parser.add_argument(
        "--curve",
        type=rates_option,
        metavar="RATES",
        help="measure latency p50/p99 at each of these offered rates (open loop, e.g. "
        "50,100,200,400) instead of the figures",
    )
    parser.add_argument(
        "--curve-duration", type=float, default=10.0, help="seconds at each rate of --curve"
    )


def machine() -> dict[str, str | int]:
    """This machine as the benchmarks report it: ``{"cpu"`` (model, from /proc/cpuinfo),
    ``"cores"``, ``"system"`` (kernel and architecture), ``"python"}``."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
    }


class Results:
    """One benchmark run's figures, written as JSON for ``bench/report.py``
    (``docs/benchmarks.md``'s generated table and plots).

    The file: ``{"bench", "command", "date" (UTC, ISO 8601), "load_average" (1, 5,
    15 min; both when the script began: :data:`STARTED`), "machine" (:func:`machine`), "figures": [{"figure", "value", "unit", "target", "anchor",
    "better"}], "curves": [{"name", "label", "points": [open_loop results]}]}``.
    ``path`` None writes nothing (the scripts' ``--results`` not given)."""

    def __init__(self, bench: str, path: Path | None) -> None:
        import shlex
        import sys

        self.path = path
        self.data: dict = {
            "bench": bench,
            "command": shlex.join([".venv/bin/python", *sys.argv]),
            "date": STARTED,
            "load_average": LOAD_AT_START,
            "machine": machine(),
            "figures": [],
            "curves": [],
        }

    def figure(
        self,
        name: str,
        value: float,
        unit: str,
        target: str = "",
        anchor: float | None = None,
        better: str = "lower",
    ) -> None:
        """Record a figure: ``value`` in ``unit``; ``target`` as the issue states it
        (e.g. ``"< 20 s"``, empty if none); ``anchor`` the number the ratio is taken
        to (value / anchor); ``better`` ``"lower"`` or ``"higher"``."""
        if better not in ("lower", "higher"):
            raise ValueError(f"better must be 'lower' or 'higher', not {better!r}")
        self.data["figures"].append(
            {
                "figure": name,
                "value": value,
                "unit": unit,
                "target": target,
                "anchor": anchor,
                "better": better,
            }
        )

    def curve(self, name: str, label: str, points: list[dict]) -> None:
        """Record a latency-versus-load curve: ``name`` the plot it belongs to (one
        PNG per name), ``label`` its line, ``points`` from :func:`latency_curve`."""
        self.data["curves"].append({"name": name, "label": label, "points": points})

    def write(self) -> None:
        """Write the JSON file (its folder made if needed); nothing without a path."""
        import json

        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")
