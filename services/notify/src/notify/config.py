"""Settings of the notify component (environment variables, prefix ``GOVPLAT_``).

Besides those of :class:`govkit.settings.ComponentSettings` (``PUBLIC_URL`` is the
root of the ``uri`` links in answers; ``ADMIN_TOKEN`` guards ``/admin/notify``):

- ``DATABASE_URL`` (required).
- ``EMAIL_PROVIDER``: ``smtp`` or ``sandbox``; default ``smtp`` when ``SMTP_HOST`` is
  set, else ``sandbox`` (every email lands in the sandbox inbox). Test keys always
  use the sandbox.
- ``SMTP_HOST``, ``SMTP_PORT`` (587), ``SMTP_USERNAME``, ``SMTP_PASSWORD``,
  ``SMTP_SECURITY`` (``starttls``, ``tls`` or ``none``; default ``starttls``),
  ``SMTP_TIMEOUT_SECONDS`` (10): the mail server live emails are sent through.
- ``EMAIL_FROM_DOMAIN`` (``notifications.govplat.local``): emails come from
  ``<service's email_from>@<this>``.
- ``SMS_PROVIDER``: ``sandbox`` (default) or ``http``; ``SMS_PROVIDER_URL`` and
  ``SMS_PROVIDER_TOKEN`` for ``http`` (a JSON API that takes an
  ``Idempotency-Key``; see :mod:`notify.providers`).
- ``SMS_RATE`` (0.0227): pounds per text message fragment, for ``cost_in_pounds``.
- ``DELIVERY_RETRY_SECONDS`` (``1,5,30,120,600``): back-off between attempts when a
  provider fails temporarily; after the last, the status is ``technical-failure``.
- ``DELIVERY_ACK_WAIT_SECONDS`` (60): how long JetStream waits for a delivery to be
  acknowledged before handing it out again; after a crash, messages that were in
  flight are delivered again after this. It must be longer than any provider call
  (``SMTP_TIMEOUT_SECONDS``) and a fetched batch's work.
- ``CALLBACK_RETRY_SECONDS`` (300) and ``CALLBACK_RETRIES`` (5): Notify's retries of a
  delivery-status callback (on connection errors, 5xx and 429).
- ``CALLBACK_TIMEOUT_SECONDS`` (5).

Default ports: HTTP 8003, gRPC 50053.
"""

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from govkit.settings import ComponentSettings, DatabaseSettingsMixin


class Settings(DatabaseSettingsMixin, ComponentSettings):
    """Settings of the notify component."""

    component: str = "notify"
    http_port: int = 8003
    grpc_port: int = 50053
    email_provider: Literal["smtp", "sandbox"] | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    email_from_domain: str = Field(
        default="notifications.govplat.local", pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,63}$"
    )
    sms_provider: Literal["sandbox", "http"] = "sandbox"
    sms_provider_url: str | None = Field(default=None, pattern=r"^https?://")
    sms_provider_token: SecretStr | None = None
    sms_rate: float = Field(default=0.0227, ge=0)
    delivery_retry_seconds: str = "1,5,30,120,600"
    delivery_ack_wait_seconds: float = Field(default=60.0, ge=2, le=3600)
    callback_retry_seconds: float = Field(default=300.0, gt=0)
    callback_retries: int = Field(default=5, ge=0, le=20)
    callback_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @field_validator("delivery_retry_seconds")
    @classmethod
    def _delays(cls, value: str) -> str:
        delays = [float(part) for part in value.split(",") if part.strip()]
        if not delays or any(d <= 0 for d in delays):
            raise ValueError("a comma-separated list of positive numbers of seconds")
        return value

    @model_validator(mode="after")
    def _providers_configured(self):
        if self.chosen_email_provider() == "smtp" and not self.smtp_host:
            raise ValueError("GOVPLAT_EMAIL_PROVIDER=smtp needs GOVPLAT_SMTP_HOST")
        if self.delivery_ack_wait_seconds <= self.smtp_timeout_seconds:
            raise ValueError(
                "GOVPLAT_DELIVERY_ACK_WAIT_SECONDS must be longer than the SMTP timeout"
            )
        if self.sms_provider == "http" and not self.sms_provider_url:
            raise ValueError("GOVPLAT_SMS_PROVIDER=http needs GOVPLAT_SMS_PROVIDER_URL")
        return self

    def delivery_delays(self) -> tuple[float, ...]:
        """``DELIVERY_RETRY_SECONDS`` as numbers."""
        return tuple(float(part) for part in self.delivery_retry_seconds.split(",") if part.strip())

    def chosen_email_provider(self) -> str:
        """``smtp`` or ``sandbox`` (``EMAIL_PROVIDER``, else by whether ``SMTP_HOST`` is set)."""
        if self.email_provider:
            return self.email_provider
        return "smtp" if self.smtp_host else "sandbox"
