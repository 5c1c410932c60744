"""Settings of the gateway (environment variables, prefix ``GOVPLAT_``).

Besides those of :class:`govkit.settings.ComponentSettings`:

- ``IDENTITY_URL``, ``PAYMENTS_URL``, ``NOTIFY_URL``, ``REGISTERS_URL``: each
  backend's HTTP base URL (defaults: ``http://127.0.0.1:8001`` ... ``:8004``).
- ``UPSTREAM_TIMEOUT_SECONDS``: how long a backend may be silent while answering a
  forwarded request (seconds, default 30; some routes set their own).
- ``PRINCIPAL_PRIVATE_KEY`` (required): the Ed25519 private JWK (JSON) that signs
  the principal forwarded to services (``govplat up`` generates it).
- ``IDENTITY_GRPC_ADDRESS`` (default ``127.0.0.1:50051``): where credentials are verified.
- ``PAYMENTS_GRPC_ADDRESS``, ``NOTIFY_GRPC_ADDRESS``, ``REGISTERS_GRPC_ADDRESS``
  (defaults ``127.0.0.1:50052`` ... ``:50054``): where the gRPC edge forwards calls.
- ``RATE_LIMIT_STORAGE`` (default ``memory://``): ``redis://host:6379/0`` to share
  quota counts between gateway replicas.
- ``NOTIFY_RATE_LIMIT_PER_MINUTE`` (3000) and ``PAY_POSTS_PER_SECOND`` (15): quotas.
- ``MAX_BODY_BYTES`` (default 1 MiB; precompiled letters 8 MiB): larger bodies get 413.
- ``TRUSTED_PROXIES`` (comma-separated addresses or networks, default none): proxies in
  front of the gateway whose ``X-Forwarded-For`` is believed.
- ``CORS_ORIGINS`` (comma-separated origins, default none): browser origins allowed
  to call the APIs across origins.
- ``BREAKER_THRESHOLD`` (5) and ``BREAKER_COOLDOWN_SECONDS`` (10): a backend that
  fails that many times in a row gets no requests (503) for that long.
- ``SANDBOX_CREDENTIALS_PER_HOUR`` (default 10): sets of sandbox credentials the portal
  creates per client address per hour (only in the sandbox environment, and only with
  ``ADMIN_TOKEN``, which identity's admin API needs).
- ``AUTH_CACHE_SECONDS`` (default 30, at most 30): how long a verified credential is
  trusted without asking identity again, so a revoked key stops working within it.

Default ports: HTTP 8000, gRPC 9000.
"""

from pydantic import Field, HttpUrl, SecretStr

from govkit.settings import ComponentSettings


class Settings(ComponentSettings):
    """Settings of the gateway."""

    component: str = "gateway"
    http_port: int = 8000
    grpc_port: int = 9000
    identity_url: HttpUrl = HttpUrl("http://127.0.0.1:8001")
    payments_url: HttpUrl = HttpUrl("http://127.0.0.1:8002")
    notify_url: HttpUrl = HttpUrl("http://127.0.0.1:8003")
    registers_url: HttpUrl = HttpUrl("http://127.0.0.1:8004")
    upstream_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    principal_private_key: SecretStr = Field(min_length=20)
    identity_grpc_address: str = "127.0.0.1:50051"
    payments_grpc_address: str = "127.0.0.1:50052"
    notify_grpc_address: str = "127.0.0.1:50053"
    registers_grpc_address: str = "127.0.0.1:50054"
    auth_cache_seconds: float = Field(default=30.0, ge=0, le=30)
    rate_limit_storage: str = Field(default="memory://", pattern=r"^(memory://|rediss?://.+)$")
    notify_rate_limit_per_minute: int = Field(default=3000, ge=1)
    pay_posts_per_second: int = Field(default=15, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    trusted_proxies: str = ""
    cors_origins: str = ""
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=10.0, gt=0)
    sandbox_credentials_per_hour: int = Field(default=10, ge=1)

    def trusted_proxy_list(self) -> tuple[str, ...]:
        """``TRUSTED_PROXIES`` (comma-separated addresses or networks) as a tuple.

        Raises:
            ValueError: for an entry that is not an address or network.
        """
        import ipaddress

        entries = tuple(e.strip() for e in self.trusted_proxies.split(",") if e.strip())
        for entry in entries:
            ipaddress.ip_network(entry, strict=False)
        return entries

    def backend_urls(self) -> dict[str, str]:
        """Backend name → base URL without a trailing slash."""
        return {
            name: str(getattr(self, f"{name}_url")).rstrip("/")
            for name in ("identity", "payments", "notify", "registers")
        }
