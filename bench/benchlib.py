"""What the platform benchmarks share: the platform's processes and their CPU time
(from /proc, Linux), percentiles, and the load generator's two HTTP clients.

Imported by the scripts in ``bench/`` (run as ``python bench/<name>.py``, so this
folder is on ``sys.path``)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx


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
