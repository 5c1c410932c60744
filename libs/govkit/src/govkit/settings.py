"""Settings shared by every govplat component.

Configuration is read from environment variables only, through pydantic-settings,
with the ``GOVPLAT_`` prefix (``GOVPLAT_HTTP_PORT``, ``GOVPLAT_DATABASE_URL`` ...).
The NATS address is also accepted as the conventional ``NATS_URL``.
A missing or invalid value stops the process at start-up with a message naming
the variable (fail fast), rather than failing later on the first request.
OpenTelemetry is configured by the standard ``OTEL_*`` variables, not by these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "GOVPLAT_"


class ConfigurationError(SystemExit):
    """Raised when the environment does not describe a runnable component.

    It is a ``SystemExit`` so that a component started from the command line stops
    with the message (exit status 2) instead of a stack trace.
    """

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ComponentSettings(BaseSettings):
    """Settings every component has. Subclass it once per component.

    Environment variables (prefix ``GOVPLAT_``):

    - ``HOST`` (default ``127.0.0.1``): address the HTTP and gRPC servers bind to.
    - ``HTTP_PORT`` / ``GRPC_PORT``: ports; each component sets its own defaults
      (ARCHITECTURE.md: gateway 8000/9000, identity 8001/50051, payments 8002/50052,
      notify 8003/50053, registers 8004/50054).
    - ``NATS_URL`` (or plain ``NATS_URL``): the NATS server with JetStream.
    - ``ENVIRONMENT``: ``sandbox`` (default), ``development`` or ``production``.
    - ``LOG_LEVEL``: ``DEBUG`` ... ``ERROR`` (default ``INFO``).
    - ``GRPC_REFLECTION``: serve gRPC server reflection (default on).
    - ``SHUTDOWN_GRACE_SECONDS``: how long in-flight requests may finish after SIGTERM.
    - ``HTTP_HEADER_TIMEOUT_SECONDS`` (10) and ``HTTP_BODY_TIMEOUT_SECONDS`` (30): the
      longest a client may take to send a request's headers, then its body, before the
      connection is closed (:mod:`govkit.http_protocol`, against slow clients).
    - ``PARENT_PID``: set by ``govplat up``; the component stops when that process is gone.
    - ``PRINCIPAL_PUBLIC_KEY``: the gateway's Ed25519 public JWK (JSON), to verify the
      ``X-Govplat-Principal`` of each request (:mod:`govkit.principal`).
    - ``PUBLIC_URL`` (default ``http://127.0.0.1:8000``): the gateway's public origin,
      for the absolute links a service puts in its answers (Notify ``uri``, Pay ``_links``).
    - ``ADMIN_TOKEN``: the operator credential of the admin APIs
      (``Authorization: Bearer ...``); without it a component's admin API refuses everyone.
    - ``ROLE``: what this process of the component runs: ``all`` (default: its API,
      its outbox relay and its event consumers), ``api`` (HTTP and gRPC only; its
      events wait in the outbox for a process with the ``events`` role) or ``events``
      (the relay and the consumers, with probes and metrics on HTTP and gRPC health;
      no API). Both must share the component's database (docs/architecture.md,
      decision 45).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False, populate_by_name=True
    )

    component: str = "component"
    host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    grpc_port: int = Field(default=50050, ge=1, le=65535)
    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        validation_alias=AliasChoices("GOVPLAT_NATS_URL", "NATS_URL"),
    )
    environment: Literal["sandbox", "development", "production"] = "sandbox"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    grpc_reflection: bool = True
    shutdown_grace_seconds: float = Field(default=5.0, ge=0, le=60)
    http_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    http_body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    parent_pid: int | None = None
    principal_public_key: str | None = None
    admin_token: SecretStr | None = Field(default=None, min_length=32)
    public_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^/?#]+$")
    role: Literal["all", "api", "events"] = "all"

    def admin_token_value(self) -> str | None:
        """The operator credential, or ``None`` when none is configured."""
        return self.admin_token.get_secret_value() if self.admin_token is not None else None

    @field_validator("http_port", "grpc_port")
    @classmethod
    def _port_in_range(cls, port: int) -> int:
        # Components re-declare the ports to set their own defaults, which drops the
        # Field(ge=, le=) bounds above; a validator is inherited, so it still applies.
        if not 1 <= port <= 65535:
            raise ValueError("a port must be between 1 and 65535")
        return port

    @classmethod
    def load(cls, **overrides: object):
        """Read the settings from the environment, failing fast.

        Raises:
            ConfigurationError: naming each missing or invalid variable, e.g.
                ``GOVPLAT_DATABASE_URL: Field required``.
        """
        try:
            return cls(**overrides)
        except ValidationError as exc:
            component = cls.model_fields["component"].default
            raise ConfigurationError(
                f"invalid configuration for {component}: {describe_validation_error(exc)}"
            ) from None


def describe_validation_error(exc: ValidationError, prefix: str = ENV_PREFIX) -> str:
    """One line naming each bad environment variable and why, e.g.
    ``GOVPLAT_DATABASE_URL: Field required; GOVPLAT_HTTP_PORT: a port must be between 1 and 65535``.
    Values are not repeated (they may be secrets)."""
    problems = []
    for error in exc.errors():
        name = prefix + "_".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{name}: {message}")
    return "; ".join(problems)


class DatabaseSettingsMixin(BaseSettings):
    """Adds ``GOVPLAT_DATABASE_URL`` (required) to a component's settings.

    Accepted forms: ``sqlite:///var/payments.db`` (the embedded default, a file) and
    ``postgresql://user@host:5432/db`` (production); driver suffixes are added by
    :func:`govkit.db.async_url`.
    """

    database_url: str = Field(min_length=1)


def default_data_dir() -> Path:
    """The folder for SQLite files, NATS data and logs when nothing else is configured: ``./var``."""
    return Path("var")
