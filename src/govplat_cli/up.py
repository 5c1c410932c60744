"""``govplat up``: the whole platform on one machine.

Starts (or uses) NATS with JetStream, creates the streams, runs every service's
migrations, starts the five components as child processes, waits until each
answers ``/readyz`` with 200 and its gRPC health check with SERVING, seeds the
sandbox, and stops everything cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from govkit.events import connect, ensure_streams
from govkit.migrations import upgrade
from govkit.nats_server import NatsServer, port_open
from govkit.principal import new_key_pair
from govplat.identity.v1 import identity_service_pb2 as pb
from govplat_cli.components import (
    COMPONENTS,
    EVENT_PROCESSES,
    SERVICES,
    component_of,
    processes,
)
from govplat_cli.identity_admin import AdminError, IdentityAdmin

#: How long children get to stop after SIGTERM before they are killed (seconds).
STOP_TIMEOUT_SECONDS = 8.0
#: A component (or NATS) that exits is started again, unless it has already been
#: restarted this many times within :data:`RESTART_WINDOW_SECONDS` (a crash loop).
RESTART_LIMIT = 5
RESTART_WINDOW_SECONDS = 60.0


class UpSettings(BaseSettings):
    """Where and how ``govplat up`` runs the platform (environment, prefix ``GOVPLAT_``).

    - ``DATA_DIR`` (default ``var``): SQLite files, NATS data, logs, sandbox credentials.
    - ``HOST`` (default ``127.0.0.1``): address every component binds to.
    - ``NATS_PORT`` (default 4322, not NATS's standard 4222, so that a NATS server
      already on the machine is never touched); ``NATS_URL`` (or ``GOVPLAT_NATS_URL``)
      to use an existing server instead of starting one.
    - ``<COMPONENT>_HTTP_PORT`` / ``<COMPONENT>_GRPC_PORT``: ports (defaults in
      ARCHITECTURE.md), e.g. ``GOVPLAT_GATEWAY_HTTP_PORT=8000``.
    - ``<SERVICE>_DATABASE_URL``: a service's database (default a SQLite file in
      ``DATA_DIR``), e.g. ``GOVPLAT_PAYMENTS_DATABASE_URL=postgresql://...``.
    - ``IDENTITY_SECRET_KEY`` / ``IDENTITY_ADMIN_TOKEN``: identity's secret key and
      operator credential; generated once and kept in ``DATA_DIR/secrets.json``
      when not set.
    - ``READY_TIMEOUT_SECONDS`` (default 60).
    - ``NOTIFY_EVENTS_PROCESS`` (default true): run notify's outbox relay and event
      consumers (delivery, callbacks, receipts, sign-in codes) in a process of their
      own, ``notify-events`` (ports ``NOTIFY_EVENTS_HTTP_PORT`` 8005 and
      ``NOTIFY_EVENTS_GRPC_PORT`` 50055: probes, metrics and gRPC health), beside
      notify's API process (decision 45); false runs both in one process.
    """

    model_config = SettingsConfigDict(env_prefix="GOVPLAT_", extra="ignore")

    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    nats_port: int = Field(default=4322, ge=1, le=65535)
    nats_url: str | None = Field(
        default=None, validation_alias=AliasChoices("GOVPLAT_NATS_URL", "NATS_URL")
    )
    ready_timeout_seconds: float = Field(default=60.0, gt=0)
    gateway_http_port: int = 8000
    gateway_grpc_port: int = 9000
    identity_http_port: int = 8001
    identity_grpc_port: int = 50051
    payments_http_port: int = 8002
    payments_grpc_port: int = 50052
    notify_http_port: int = 8003
    notify_grpc_port: int = 50053
    registers_http_port: int = 8004
    registers_grpc_port: int = 50054
    notify_events_http_port: int = 8005
    notify_events_grpc_port: int = 50055
    notify_events_process: bool = True
    identity_secret_key: str | None = None
    identity_admin_token: str | None = None
    identity_database_url: str | None = None
    payments_database_url: str | None = None
    notify_database_url: str | None = None
    registers_database_url: str | None = None

    @field_validator("*")
    @classmethod
    def _ports_in_range(cls, value, info):
        if info.field_name.endswith("_port") and not 1 <= value <= 65535:
            raise ValueError("a port must be between 1 and 65535")
        return value

    def ports(self, name: str) -> tuple[int, int]:
        """(HTTP, gRPC) ports of a component or of an event process (``notify-events``)."""
        field = name.replace("-", "_")
        return getattr(self, f"{field}_http_port"), getattr(self, f"{field}_grpc_port")

    def shifted(self, offset: int) -> UpSettings:
        """A copy with every port moved by ``offset`` (``--port-offset``)."""
        if not offset:
            return self
        changes = {
            key: value + offset
            for key, value in self.model_dump().items()
            if key.endswith("_port") and isinstance(value, int)
        }
        return type(self)(**{**self.model_dump(), **changes})

    def database_url(self, service: str) -> str:
        """A service's database URL (a SQLite file under ``data_dir`` by default)."""
        configured = getattr(self, f"{service}_database_url")
        return configured or f"sqlite:///{(self.data_dir / f'{service}.db').resolve()}"


class PlatformError(RuntimeError):
    """The platform could not start; the message says which part and why."""


@dataclass
class Child:
    """A running component process."""

    name: str
    process: subprocess.Popen
    log_path: Path
    http_url: str
    grpc_address: str

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of its log (for error messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Platform:
    """The platform run by ``govplat up``; :meth:`stop` is safe to call at any point."""

    def __init__(self, settings: UpSettings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        self.log_dir = self.data_dir / "log"
        self.nats: NatsServer | None = None
        self.nats_url = settings.nats_url or ""
        self.children: list[Child] = []
        self._secrets: dict[str, str] | None = None
        self._restarts: dict[str, list[float]] = {}

    @property
    def processes(self) -> tuple[str, ...]:
        """The processes it runs, in start order: each component, then the event
        processes the settings ask for (``notify-events``)."""
        return processes() if self.settings.notify_events_process else tuple(COMPONENTS)

    def role(self, name: str) -> str:
        """``GOVPLAT_ROLE`` for a process: ``api`` for a component whose events have a
        process of their own, ``events`` for that process, else ``all``."""
        if name in EVENT_PROCESSES:
            return "events"
        split = name in EVENT_PROCESSES.values() and self.settings.notify_events_process
        return "api" if split else "all"

    @property
    def gateway_url(self) -> str:
        """The public origin: ``http://HOST:GATEWAY_HTTP_PORT``."""
        return f"http://{self.settings.host}:{self.settings.gateway_http_port}"

    # -- steps -----------------------------------------------------------------

    def lock(self) -> None:
        """Hold ``DATA_DIR/up.lock`` while running, so that a second ``govplat up`` on
        the same data folder stops with a clear message instead of sharing it.

        Raises:
            PlatformError: when another ``govplat up`` holds it.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.data_dir / "up.lock", "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PlatformError(
                f"another govplat up is running with the data folder {self.data_dir}; "
                "stop it, or give this one its own --data-dir"
            ) from None
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(f"{os.getpid()}\n")
        self._lock_file.flush()

    def start_nats(self) -> str:
        """Start the embedded NATS server (or use ``NATS_URL``) and create the streams.
        A NATS server left behind by a killed ``govplat up`` on this folder is stopped first."""
        self.lock()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if not self.nats_url:
            self.nats = NatsServer(
                self.data_dir / "nats",
                port=self.settings.nats_port,
                host=self.settings.host,
                log_file=self.log_dir / "nats.log",
            )
            try:
                self.nats.start()
            except Exception as exc:
                raise PlatformError(f"NATS could not start: {exc}") from None
            self.nats_url = self.nats.url

        async def create_streams() -> None:
            nc = await connect(self.nats_url, name="govplat-up", wait_for_server=False)
            try:
                await ensure_streams(nc.jetstream())
            finally:
                await nc.close()

        try:
            asyncio.run(create_streams())
        except Exception as exc:
            raise PlatformError(
                f"cannot create the JetStream streams at {self.nats_url}: {type(exc).__name__}: {exc}"
            ) from None
        return self.nats_url

    def migrate(self, service: str) -> None:
        """Run one service's migrations to head."""
        info = COMPONENTS[service]
        try:
            upgrade(info.migrations, self.settings.database_url(service))
        except Exception as exc:
            raise PlatformError(
                f"migrating {service} failed: {type(exc).__name__}: {exc}"
            ) from None
        if service == "registers":  # the registers' real data, before the service starts
            from govplat_cli.registers_commands import seed_registers

            seed_registers(self.settings.database_url(service), self.gateway_url)

    def identity_secrets(self) -> dict[str, str]:
        """Identity's secret key and admin token (from the settings, else from
        ``DATA_DIR/secrets.json``) and the gateway's principal key pair, created with
        random values on first use (the file has mode 600). Read once per run."""
        if self._secrets is not None:
            return self._secrets
        path = self.data_dir / "secrets.json"
        stored: dict[str, str] = {}
        if path.exists():
            stored = json.loads(path.read_text())
        changed = False
        for key in ("identity_secret_key", "identity_admin_token", "payments_secret_key"):
            if not stored.get(key):
                stored[key] = secrets.token_urlsafe(48)
                changed = True
        if not stored.get("principal_private_key"):
            stored["principal_private_key"], stored["principal_public_key"] = new_key_pair()
            changed = True
        if changed:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600, exist_ok=True)
            path.write_text(json.dumps(stored, indent=2) + "\n")
        self._secrets = {
            **{
                key: getattr(self.settings, key) or stored[key]
                for key in ("identity_secret_key", "identity_admin_token")
            },
            "principal_private_key": stored["principal_private_key"],
            "principal_public_key": stored["principal_public_key"],
            "payments_secret_key": stored["payments_secret_key"],
        }
        return self._secrets

    def child_env(self, name: str) -> dict[str, str]:
        """The environment a component (or an event process: its component's settings,
        database and secrets, its own ports) is started with."""
        http_port, grpc_port = self.settings.ports(name)
        role = self.role(name)
        name = component_of(name)
        env = {
            key: value
            for key, value in os.environ.items()
            if not (
                key.startswith("GOVPLAT_")
                and key.endswith(
                    ("_PORT", "_URL", "_SECRET_KEY", "_ADMIN_TOKEN", "_ISSUER", "_KEY", "_ADDRESS")
                )
            )
        }
        # GOVPLAT_<COMPONENT>_<SETTING> is that component's GOVPLAT_<SETTING>, e.g.
        # GOVPLAT_NOTIFY_SMTP_HOST; what govplat up sets itself (below) wins.
        prefix = f"GOVPLAT_{name.upper()}_"
        for key, value in os.environ.items():
            if key.startswith(prefix) and len(key) > len(prefix):
                env["GOVPLAT_" + key[len(prefix) :]] = value
        env.update(
            {
                "GOVPLAT_HOST": self.settings.host,
                "GOVPLAT_HTTP_PORT": str(http_port),
                "GOVPLAT_GRPC_PORT": str(grpc_port),
                "GOVPLAT_NATS_URL": self.nats_url,
                "GOVPLAT_PARENT_PID": str(os.getpid()),
                "GOVPLAT_ROLE": role,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.pop("NATS_URL", None)
        if name in SERVICES:
            env["GOVPLAT_DATABASE_URL"] = self.settings.database_url(name)
        secrets_ = self.identity_secrets()
        if name == "gateway":
            env["GOVPLAT_PRINCIPAL_PRIVATE_KEY"] = secrets_["principal_private_key"]
            for service in SERVICES:
                grpc_address = f"{self.settings.host}:{self.settings.ports(service)[1]}"
                env[f"GOVPLAT_{service.upper()}_GRPC_ADDRESS"] = grpc_address
        else:
            env["GOVPLAT_PRINCIPAL_PUBLIC_KEY"] = secrets_["principal_public_key"]
        # One operator credential for every component's admin API.
        env["GOVPLAT_ADMIN_TOKEN"] = secrets_["identity_admin_token"]
        env["GOVPLAT_PUBLIC_URL"] = self.gateway_url
        if name == "payments":  # signs the payment pages' cookie
            env["GOVPLAT_SECRET_KEY"] = secrets_["payments_secret_key"]
        if name == "identity":
            env["GOVPLAT_SECRET_KEY"] = secrets_["identity_secret_key"]
            env["GOVPLAT_ISSUER"] = self.gateway_url
            # Where identity loads its read copy of the country register from at start.
            env["GOVPLAT_REGISTERS_GRPC_ADDRESS"] = (
                f"{self.settings.host}:{self.settings.ports('registers')[1]}"
            )
        if name == "gateway":
            for service in SERVICES:
                env[f"GOVPLAT_{service.upper()}_URL"] = (
                    f"http://{self.settings.host}:{self.settings.ports(service)[0]}"
                )
        return env

    def spawn(self, name: str) -> Child:
        """Start one component as a child process, its output in ``DATA_DIR/log/<name>.log``."""
        http_port, grpc_port = self.settings.ports(name)
        for port in (http_port, grpc_port):
            if port_open(self.settings.host, port):
                raise PlatformError(
                    f"{name}: port {port} on {self.settings.host} is already in use "
                    "(is govplat already running? change it with GOVPLAT_*_PORT or --port-offset)"
                )
        log_path = self.log_dir / f"{name}.log"
        log_file = open(log_path, "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "govplat_cli", "serve", name],
            env=self.child_env(name),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        child = Child(
            name,
            process,
            log_path,
            f"http://{self.settings.host}:{http_port}",
            f"{self.settings.host}:{grpc_port}",
        )
        self.children.append(child)
        return child

    def wait_ready(self, on_ready=None) -> None:
        """Wait until every child answers ``/readyz`` 200 and gRPC health SERVING.

        Raises:
            PlatformError: when a child exits or the timeout passes (with its log's tail).
        """
        deadline = time.monotonic() + self.settings.ready_timeout_seconds
        pending = {child.name: child for child in self.children}
        with httpx.Client(timeout=1.0) as client:
            while pending:
                for name, child in list(pending.items()):
                    if child.process.poll() is not None:
                        raise PlatformError(
                            f"{name} exited with status {child.process.returncode}; its log ends:\n{child.log_tail()}"
                        )
                    if http_ready(client, child.http_url) and grpc_serving(child.grpc_address):
                        del pending[name]
                        if on_ready is not None:
                            on_ready(name)
                if pending and time.monotonic() > deadline:
                    names = ", ".join(sorted(pending))
                    tails = "\n".join(f"--- {n}:\n{pending[n].log_tail()}" for n in sorted(pending))
                    raise PlatformError(
                        f"not ready after {self.settings.ready_timeout_seconds:.0f}s: {names}\n{tails}"
                    )
                time.sleep(0.05)

    def seed_sandbox(self) -> dict:
        """Seed the sandbox and write its credentials to ``DATA_DIR/sandbox.json`` (mode 600).

        Idempotent: the sandbox agency and service are found by name, and stored
        keys and client secrets are reused while identity still accepts them (so a
        developer's credentials survive restarts); anything missing is created.
        """
        path = self.data_dir / "sandbox.json"
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError):
            previous = {}
        grpc_port = self.settings.ports("identity")[1]
        token = self.identity_secrets()["identity_admin_token"]
        try:
            with IdentityAdmin(f"{self.settings.host}:{grpc_port}", token) as admin:
                seeded = seed_identity(admin, previous, self.gateway_url)
        except AdminError as error:
            raise PlatformError(f"seeding the sandbox failed: {error}") from None
        seeded.update(self.seed_citizen(token))
        seeded.update(self.seed_notify(token, seeded["sandbox_service_id"]))
        credentials = {
            "gateway_url": self.gateway_url,
            "gateway_grpc_address": f"{self.settings.host}:{self.settings.gateway_grpc_port}",
            "nats_url": self.nats_url,
            **seeded,
        }
        path.touch(mode=0o600, exist_ok=True)
        path.write_text(json.dumps(credentials, indent=2) + "\n")
        path.chmod(0o600)
        endpoints = {
            name: {"http": self.settings.ports(name)[0], "grpc": self.settings.ports(name)[1]}
            for name in COMPONENTS
        }
        (self.data_dir / "endpoints.json").write_text(
            json.dumps({"host": self.settings.host, **endpoints}, indent=2) + "\n"
        )
        return credentials

    def seed_notify(self, admin_token: str, service_id: str) -> dict:
        """The sandbox service's Notify templates (email, text message, letter and the
        payment receipt), made once; returns their ids for ``sandbox.json``."""
        from govplat_cli.notify_admin import NotifyAdmin, seed_notify

        url = f"http://{self.settings.host}:{self.settings.ports('notify')[0]}"
        try:
            with NotifyAdmin(url, admin_token) as admin:
                return seed_notify(admin, service_id, SANDBOX_SERVICE)
        except AdminError as error:
            raise PlatformError(f"seeding the sandbox's templates failed: {error}") from None

    def seed_citizen(self, admin_token: str) -> dict:
        """The sandbox's test citizen (verified email, password, authenticator app).

        The password is derived from identity's secret key, so it stays the same for
        as long as the data folder does (the account keeps its first password).
        """
        secret_key = self.identity_secrets()["identity_secret_key"]
        digest = hmac.new(
            secret_key.encode(), b"govplat sandbox citizen password", hashlib.sha256
        ).digest()
        password = "Sandbox-" + base64.urlsafe_b64encode(digest).decode()[:20]
        url = f"http://{self.settings.host}:{self.settings.ports('identity')[0]}/admin/identity/sandbox/citizen"
        try:
            response = httpx.post(
                url,
                json={"email": SANDBOX_CITIZEN_EMAIL, "password": password},
                headers={"Authorization": f"Bearer {admin_token}"},
                timeout=30,
            )
        except httpx.HTTPError as error:
            raise PlatformError(
                f"seeding the sandbox citizen failed: {type(error).__name__}"
            ) from None
        if response.status_code != 201:
            raise PlatformError(
                f"seeding the sandbox citizen failed: {response.status_code} {response.text[:200]}"
            )
        return {
            "citizen_email": SANDBOX_CITIZEN_EMAIL,
            "citizen_password": password,
            "citizen_totp_secret": response.json()["totp_secret"],
        }

    def first_dead_child(self) -> Child | None:
        """A child that has exited, if any."""
        return next((c for c in self.children if c.process.poll() is not None), None)

    def restart_dead(self, report=None) -> None:
        """Start again NATS, if the embedded server has exited, and every component
        that has exited, on the same ports, data and settings (decision 42). Nothing
        waits for them to be ready: the others keep running, reconnect to NATS by
        themselves and answer 503 for what the missing one does meanwhile.

        ``report(name, status, restarts)`` is called for each (status: the exit status,
        negative for a signal; restarts: how many times within the window, this one
        included).

        Raises:
            PlatformError: when one has exited more than :data:`RESTART_LIMIT` times
                within :data:`RESTART_WINDOW_SECONDS` (with its log's tail), or cannot start.
        """
        if self.nats is not None and not self.nats.running:
            status = self.nats.process.returncode if self.nats.process is not None else None
            count = self._count_restart("nats", "NATS", self.nats._log_tail(15))
            if report is not None:
                report("nats", status, count)
            try:
                self.nats.start()
            except Exception as exc:
                raise PlatformError(f"NATS could not start again: {exc}") from None
        for child in list(self.children):
            if child.process.poll() is None:
                continue
            count = self._count_restart(child.name, child.name, child.log_tail())
            if report is not None:
                report(child.name, child.process.returncode, count)
            self.children.remove(child)
            self.spawn(child.name)

    def _count_restart(self, key: str, name: str, log_tail: str) -> int:
        now = time.monotonic()
        recent = [t for t in self._restarts.get(key, []) if now - t < RESTART_WINDOW_SECONDS]
        if len(recent) >= RESTART_LIMIT:
            raise PlatformError(
                f"{name} stopped {len(recent) + 1} times within "
                f"{RESTART_WINDOW_SECONDS:.0f}s; not starting it again. Its log ends:\n{log_tail}"
            )
        recent.append(now)
        self._restarts[key] = recent
        return len(recent)

    def stop(self) -> None:
        """Stop the gateway first, then the services, then NATS; kill what is left
        after :data:`STOP_TIMEOUT_SECONDS`. Leaves no process behind."""
        ordered = sorted(self.children, key=lambda c: c.name != "gateway")
        for child in ordered:
            if child.process.poll() is None:
                with _suppress_lookup():
                    child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in ordered:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                child.process.wait(remaining)
            except subprocess.TimeoutExpired:
                with _suppress_lookup():
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        self.children.clear()
        if self.nats is not None:
            self.nats.stop(timeout=2.0)
            self.nats = None


SANDBOX_AGENCY = "Sandbox agency"
SANDBOX_CITIZEN_EMAIL = "sandbox.citizen@example.com"
SANDBOX_SERVICE = "Sandbox service"
SANDBOX_SCOPES = [
    "openid",
    "email",
    "phone",
    "offline_access",
    "notify:send",
    "notify:read",
    "payments:read",
    "payments:write",
    "registers:write:country",
]


def seed_identity(admin: IdentityAdmin, previous: dict, gateway_url: str) -> dict:
    """The sandbox agency's credentials in identity: reuse ``previous`` ones that
    still verify, create the rest. Returns the keys for ``sandbox.json``."""
    organisation = (
        admin.organisation_named(SANDBOX_AGENCY)
        or admin.call(
            "CreateOrganisation", pb.CreateOrganisationRequest(name=SANDBOX_AGENCY)
        ).organisation
    )
    service = (
        admin.service_named(organisation.id, SANDBOX_SERVICE)
        or admin.call(
            "CreateService",
            pb.CreateServiceRequest(organisation_id=organisation.id, name=SANDBOX_SERVICE),
        ).service
    )
    seeded = {"sandbox_agency_id": organisation.id, "sandbox_service_id": service.id}

    def notify_key(field: str, name: str, key_type: int) -> str:
        key = previous.get(field, "")
        if key and key[-73:-37] == service.id and _notify_key_works(admin, key):
            return key
        return admin.call(
            "CreateApiKey",
            pb.CreateApiKeyRequest(
                service_id=service.id, name=name, api=pb.API_NOTIFY, key_type=key_type
            ),
        ).key

    seeded["notify_api_key"] = notify_key("notify_api_key", "sandbox test", pb.KEY_TYPE_TEST)
    seeded["notify_live_api_key"] = notify_key(
        "notify_live_api_key", "sandbox live", pb.KEY_TYPE_LIVE
    )
    pay_key = previous.get("pay_api_key", "")
    if not (pay_key and admin.verify("VerifyApiKey", pb.VerifyApiKeyRequest(key=pay_key))):
        pay_key = admin.call(
            "CreateApiKey",
            pb.CreateApiKeyRequest(
                service_id=service.id,
                name="sandbox pay test",
                api=pb.API_PAYMENTS,
                key_type=pb.KEY_TYPE_TEST,
            ),
        ).key
    seeded["pay_api_key"] = pay_key
    clients = admin.call(
        "ListOAuthClients", pb.ListOAuthClientsRequest(organisation_id=organisation.id)
    ).clients
    known = {c.client_id for c in clients if not c.HasField("revoke_time")}
    if previous.get("oauth_client_id") in known and previous.get("oauth_client_secret"):
        seeded["oauth_client_id"] = previous["oauth_client_id"]
        seeded["oauth_client_secret"] = previous["oauth_client_secret"]
    else:
        created = admin.call(
            "CreateOAuthClient",
            pb.CreateOAuthClientRequest(
                organisation_id=organisation.id,
                service_id=service.id,
                name="Sandbox client",
                auth_method="client_secret_basic",
                redirect_uris=[
                    f"{gateway_url}/sandbox/callback",
                    "http://127.0.0.1:8080/callback",
                    "http://localhost:8080/callback",
                ],
                post_logout_redirect_uris=[f"{gateway_url}/sandbox/"],
                scopes=SANDBOX_SCOPES,
                grant_types=["authorization_code", "refresh_token", "client_credentials"],
            ),
        )
        seeded["oauth_client_id"] = created.client.client_id
        seeded["oauth_client_secret"] = created.client_secret
    seeded["oauth_redirect_uri"] = "http://127.0.0.1:8080/callback"
    return seeded


def _notify_key_works(admin: IdentityAdmin, key: str) -> bool:
    """Whether identity accepts a Notify key (a fresh HS256 token signed with it)."""
    from joserfc import jwt
    from joserfc.jwk import OctKey

    try:
        token = jwt.encode(
            {"alg": "HS256", "typ": "JWT"},
            {"iss": key[-73:-37], "iat": int(time.time())},
            OctKey.import_key(key[-36:]),
        )
    except ValueError:
        return False
    return admin.verify("VerifyNotifyJwt", pb.VerifyNotifyJwtRequest(token=token))


class _suppress_lookup:
    """Ignore ``ProcessLookupError`` (the process is already gone)."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return exc_type is not None and issubclass(exc_type, ProcessLookupError)


def http_ready(client: httpx.Client, base_url: str) -> bool:
    """Whether ``base_url/readyz`` answers 200."""
    try:
        return client.get(f"{base_url}/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def grpc_serving(address: str, timeout: float = 1.0) -> bool:
    """Whether the gRPC health check (overall server, service ``""``) answers SERVING."""
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
            return reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False
