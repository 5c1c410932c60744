"""Running one component as one OS process.

A :class:`Component` bundles what a service's ``app.py`` builds (its FastAPI app,
gRPC servicers, database, event consumers) and :meth:`Component.serve` runs it:
uvicorn and a ``grpc.aio`` server in one event loop, plus the outbox relay and
the consumers as tasks. SIGTERM or SIGINT: report NOT_SERVING, stop accepting,
let requests in flight finish (``shutdown_grace_seconds``), stop the tasks, close
NATS and the database, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc
import uvicorn
from fastapi import FastAPI
from nats.aio.client import Client as NATS

from govkit.consumer import ConsumerSpec, EventConsumer
from govkit.db import Database
from govkit.events import connect, ensure_streams
from govkit.grpc_server import GrpcServer
from govkit.http import ErrorBoundary, add_probes
from govkit.http_protocol import deadline_protocol
from govkit.logging import configure_logging
from govkit.outbox import MessagingTables, OutboxRelay
from govkit.settings import ComponentSettings
from govkit.telemetry import (
    FASTAPI_TELEMETRY,
    configure_telemetry,
    instrument_sqlalchemy,
    trace_requests,
)

log = logging.getLogger(__name__)


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the component decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


@dataclass
class Component:
    """Everything one component runs.

    Attributes:
        name: ``gateway``, ``identity``, ``payments``, ``notify`` or ``registers``.
        settings: its settings (a :class:`ComponentSettings` subclass).
        http_app: its FastAPI app; probes and metrics are added by :meth:`serve`.
        database: its database, or ``None`` (the gateway has none).
        tables: its outbox and inbox tables (with ``database``).
        grpc_register: adds its servicers to the gRPC server.
        grpc_services: full names of those gRPC services.
        consumers: the events it consumes.
        uses_nats: whether it needs NATS (readiness checks it when true).
        extra_checks: more readiness checks, name → async callable that raises.
        on_start / on_stop: async hooks after start-up / before shutdown
            (``on_start`` receives the component, with ``nats`` connected).
    """

    name: str
    settings: ComponentSettings
    http_app: FastAPI
    database: Database | None = None
    tables: MessagingTables | None = None
    grpc_register: Callable[[grpc.aio.Server], None] | None = None
    grpc_services: Sequence[str] = ()
    consumers: Sequence[ConsumerSpec] = ()
    uses_nats: bool = True
    extra_checks: dict = field(default_factory=dict)
    on_start: Callable | None = None
    on_stop: Callable | None = None
    nats: NATS | None = None
    relay: OutboxRelay | None = None
    grpc_server: GrpcServer | None = None
    stop_event: asyncio.Event | None = None

    def readiness_checks(self) -> dict:
        """The readiness checks: ``database`` (``SELECT 1``), ``nats`` (connected), extras."""
        checks = {}
        if self.database is not None:
            checks["database"] = self.database.ping
        if self.uses_nats:

            async def nats_connected() -> None:
                if self.nats is None or not self.nats.is_connected:
                    raise ConnectionError("nats not connected")

            checks["nats"] = nats_connected
        if self.uses_nats and self.tables is not None:

            async def messaging_started() -> None:
                if not self.messaging_ready.is_set():
                    raise ConnectionError("outbox relay and consumers not started")

            checks["events"] = messaging_started
        checks.update(self.extra_checks)
        return checks

    @property
    def role(self) -> str:
        """``all``, ``api`` or ``events`` (the ``ROLE`` setting,
        :class:`govkit.settings.ComponentSettings`)."""
        return getattr(self.settings, "role", "all")

    async def start(self) -> None:
        """Start everything but the HTTP server (used by :meth:`serve` and by tests).

        With the ``events`` role the API is left out: the HTTP app has only the probes
        and metrics, and the gRPC server only health (and reflection)."""
        if self.role == "events":
            self.http_app = FastAPI(telemetry=FASTAPI_TELEMETRY, openapi_url=None)
            self.grpc_register = None
            self.grpc_services = ()
        self.stop_event = asyncio.Event()
        self.messaging_ready = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        add_probes(self.http_app, component=self.name, checks=self.readiness_checks())
        # A service behind the gateway never redirects /path/ to /path: the redirect
        # would carry its own address, not the public origin's.
        self.http_app.router.redirect_slashes = False
        trace_requests(self.http_app)
        if self.database is not None:
            instrument_sqlalchemy(self.database.engine)
        if self.uses_nats:
            self._tasks.append(asyncio.create_task(self._start_messaging(), name="messaging"))
        self.grpc_server = GrpcServer(
            component=self.name,
            address=f"{self.settings.host}:{self.settings.grpc_port}",
            register=self.grpc_register,
            service_names=self.grpc_services,
            reflection_enabled=self.settings.grpc_reflection,
        )
        await self.grpc_server.start()
        if self.on_start is not None:
            await self.on_start(self)

    async def _start_messaging(self) -> None:
        """Connect to NATS (retrying until it is there), ensure the streams, then
        start the outbox relay and the consumers. Events committed before this
        wait in the outbox."""
        self.nats = await connect(self.settings.nats_url, name=f"govplat-{self.name}")
        js = self.nats.jetstream()
        while True:
            try:
                await ensure_streams(js)
                break
            except Exception as exc:
                log.warning("cannot create streams yet: %s", type(exc).__name__)
                await asyncio.sleep(0.5)
        if self.database is not None and self.tables is not None and self.role == "api":
            # The relay runs in the events process: tell it at once when a commit here
            # added events, as a commit in its own process would.
            self.database.after_commit(self._announce_outbox)
        if self.database is not None and self.tables is not None and self.role != "api":
            self.relay = OutboxRelay(self.database, self.tables, js, component=self.name)
            relay = self.relay

            async def woken(_message) -> None:
                relay.wake()

            await self.nats.subscribe(outbox_wake_subject(self.name), cb=woken)
            self._tasks.append(
                asyncio.create_task(self.relay.run(self.stop_event), name="outbox-relay")
            )
            for spec in self.consumers:
                consumer = EventConsumer(spec, db=self.database, tables=self.tables, js=js)
                self._tasks.append(
                    asyncio.create_task(consumer.run(self.stop_event), name=spec.durable)
                )
        self.messaging_ready.set()

    def _announce_outbox(self, session) -> None:
        """After a commit that added outbox events (role ``api``): a core NATS message
        on :func:`outbox_wake_subject`, which wakes the relay of the ``events``
        process (else it finds them within its poll interval, 1 s)."""
        if not session.info.get("govplat_outbox_added") or self.nats is None:
            return
        if not self.nats.is_connected:
            return
        task = asyncio.get_running_loop().create_task(
            self.nats.publish(outbox_wake_subject(self.name), b"")
        )
        task.add_done_callback(_ignore_failure)

    async def stop(self) -> None:
        """Stop everything :meth:`start` started, within ``shutdown_grace_seconds`` (+1 s)."""
        grace = self.settings.shutdown_grace_seconds
        self._tasks = getattr(self, "_tasks", [])
        if self.stop_event is not None:
            self.stop_event.set()
        if self.on_stop is not None:
            with contextlib.suppress(Exception):
                await self.on_stop(self)
        if self.grpc_server is not None:
            await self.grpc_server.stop(grace)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=min(grace, 2.0))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.nats is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nats.close(), timeout=1.0)
        if self.database is not None:
            await self.database.dispose()

    async def serve(self) -> None:
        """Run until SIGTERM/SIGINT (or until ``PARENT_PID`` is gone), then stop cleanly."""
        configure_logging(self.name, self.settings.log_level)
        configure_telemetry(self.name)
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_requested.set)
        await self.start()
        config = uvicorn.Config(
            ErrorBoundary(self.http_app),
            host=self.settings.host,
            port=self.settings.http_port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=int(self.settings.shutdown_grace_seconds),
            # Slow clients are cut off (govkit.http_protocol): uvicorn alone waits forever.
            http=deadline_protocol(
                self.settings.http_header_timeout_seconds, self.settings.http_body_timeout_seconds
            ),
            # The gateway is the public edge: it must not take X-Forwarded-For from
            # its callers. Services trust it from the gateway on loopback.
            proxy_headers=self.name != "gateway",
        )
        server = _Uvicorn(config)
        http_task = asyncio.create_task(server.serve(), name="http")
        watchers = [asyncio.create_task(stop_requested.wait())]
        if self.settings.parent_pid:
            watchers.append(asyncio.create_task(_parent_gone(self.settings.parent_pid)))
        log.info(
            "%s (%s) serving http on %s:%d and grpc on %s:%d",
            self.name,
            self.role,
            self.settings.host,
            self.settings.http_port,
            self.settings.host,
            self.settings.grpc_port,
        )
        done, _ = await asyncio.wait([http_task, *watchers], return_when=asyncio.FIRST_COMPLETED)
        log.info("%s stopping", self.name)
        for watcher in watchers:
            watcher.cancel()
        server.should_exit = True
        if self.grpc_server is not None:
            await self.grpc_server.not_serving()  # before anything else stops
        with contextlib.suppress(Exception):
            await asyncio.wait_for(http_task, timeout=self.settings.shutdown_grace_seconds + 1)
        await self.stop()
        if http_task in done and http_task.exception() is not None:
            raise SystemExit(f"{self.name}: http server failed: {http_task.exception()}")
        log.info("%s stopped", self.name)


def outbox_wake_subject(component: str) -> str:
    """The core NATS subject (never stored by a stream) on which a component's ``api``
    process says it committed outbox events: ``_GOVPLAT.outbox.<component>``."""
    return f"_GOVPLAT.outbox.{component}"


def _ignore_failure(task: asyncio.Task) -> None:
    """A wake-up that could not be sent costs at most the relay's poll interval."""
    if not task.cancelled():
        task.exception()


async def _parent_gone(pid: int, interval: float = 0.5) -> None:
    """Return when process ``pid`` no longer exists (we were orphaned)."""
    while True:
        await asyncio.sleep(interval)
        if os.getppid() != pid:
            return


def service_component(
    *,
    name: str,
    settings,
    tables: MessagingTables,
    http_app: FastAPI,
    grpc_register: Callable[[grpc.aio.Server], None] | None = None,
    grpc_services: Sequence[str] = (),
    consumers: Sequence[ConsumerSpec] = (),
    synchronous_full: bool = False,
) -> Component:
    """A :class:`Component` for a service with its own database and events.

    Args:
        settings: a settings object with ``database_url`` (see
            :class:`govkit.settings.DatabaseSettingsMixin`).
        synchronous_full: SQLite ``synchronous=FULL``, for money and registers.
    """
    database = Database(settings.database_url, synchronous_full=synchronous_full)
    return Component(
        name=name,
        settings=settings,
        http_app=http_app,
        database=database,
        tables=tables,
        grpc_register=grpc_register,
        grpc_services=grpc_services,
        consumers=consumers,
    )
