"""Settings of the gateway (environment variables, prefix ``GOVPLAT_``).

Besides those of :class:`govkit.settings.ComponentSettings`:

- ``IDENTITY_URL``, ``PAYMENTS_URL``, ``NOTIFY_URL``, ``REGISTERS_URL``: each
  backend's HTTP base URL (defaults: ``http://127.0.0.1:8001`` ... ``:8004``).
- ``UPSTREAM_TIMEOUT_SECONDS``: how long a forwarded request may take (default 30).

Default ports: HTTP 8000, gRPC 9000.
"""

from pydantic import Field, HttpUrl

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

    def backend_urls(self) -> dict[str, str]:
        """Backend name → base URL without a trailing slash."""
        return {
            name: str(getattr(self, f"{name}_url")).rstrip("/")
            for name in ("identity", "payments", "notify", "registers")
        }
