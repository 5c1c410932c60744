"""Settings of the payments component (environment variables, prefix ``GOVPLAT_``).

Besides those of :class:`govkit.settings.ComponentSettings` (``PUBLIC_URL`` is the
origin of ``_links`` and of the payment pages; ``ADMIN_TOKEN`` guards
``/admin/payments``):

- ``DATABASE_URL`` (required).
- ``SECRET_KEY`` (at least 32 characters; ``govplat up`` makes one): signs the payment
  pages' session cookie and CSRF tokens. Without it a random key is used, so the pages
  of a payment must be completed on the same process.
- ``PAYMENT_EXPIRY_SECONDS`` (5400): unfinished payments fail with ``P0020`` after this
  (GOV.UK Pay: 90 minutes); ``CAPTURE_EXPIRY_SECONDS`` (432000): capturable payments
  not captured within this (120 hours); ``EXPIRY_SWEEP_SECONDS`` (60): how often the
  sweeper runs (expiry, and asking the acquirer again).
- ``SETTLE_GRACE_SECONDS`` (60): a capture or refund the acquirer has not answered for
  this long is asked for again (:mod:`payments.service.settlement`).
- ``IDEMPOTENCY_SECONDS`` (86400): how long an ``Idempotency-Key`` is remembered.
- ``WEBHOOK_RETRY_SECONDS`` (``60,300,3600,86400,172800``): GOV.UK Pay's retry schedule
  after a failed delivery; ``WEBHOOK_TIMEOUT_SECONDS`` (3).

Default ports: HTTP 8002, gRPC 50052.
"""

from pydantic import Field, SecretStr, field_validator

from govkit.settings import ComponentSettings, DatabaseSettingsMixin


class Settings(DatabaseSettingsMixin, ComponentSettings):
    """Settings of the payments component."""

    component: str = "payments"
    http_port: int = 8002
    grpc_port: int = 50052
    secret_key: SecretStr | None = Field(default=None, min_length=32)
    payment_expiry_seconds: float = Field(default=5400.0, gt=0)
    capture_expiry_seconds: float = Field(default=432000.0, gt=0)
    expiry_sweep_seconds: float = Field(default=60.0, gt=0, le=3600)
    idempotency_seconds: float = Field(default=86400.0, gt=0)
    settle_grace_seconds: float = Field(default=60.0, ge=0)
    webhook_retry_seconds: str = "60,300,3600,86400,172800"
    webhook_timeout_seconds: float = Field(default=3.0, gt=0, le=60)

    @field_validator("webhook_retry_seconds")
    @classmethod
    def _delays(cls, value: str) -> str:
        delays = [float(part) for part in value.split(",") if part.strip()]
        if not delays or any(d <= 0 for d in delays):
            raise ValueError("a comma-separated list of positive numbers of seconds")
        return value

    def webhook_delays(self) -> tuple[float, ...]:
        """``WEBHOOK_RETRY_SECONDS`` as numbers."""
        return tuple(float(p) for p in self.webhook_retry_seconds.split(",") if p.strip())
