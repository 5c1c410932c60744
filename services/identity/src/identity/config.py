"""Settings of the identity component (environment variables, prefix ``GOVPLAT_``).

Besides those of :class:`govkit.settings.ComponentSettings`:

- ``DATABASE_URL`` (required).
- ``SECRET_KEY`` (required, at least 32 characters): encrypts Notify key secrets,
  TOTP seeds and signing keys at rest, and derives pairwise subject identifiers.
  Changing it makes those unreadable: keep it in a secret store and back it up.
- ``ADMIN_TOKEN`` (required, at least 32 characters): the operator credential for
  the admin REST API (``Authorization: Bearer ...``).
- ``ISSUER`` (default ``http://127.0.0.1:8000``): the OpenID Connect issuer, the
  gateway's public origin.
- ``ACCESS_TOKEN_SECONDS`` (180), ``ID_TOKEN_SECONDS`` (120),
  ``AUTHORIZATION_CODE_SECONDS`` (60, at most 300), ``REFRESH_TOKEN_SECONDS`` (3600),
  ``SESSION_SECONDS`` (3600): lifetimes in seconds (GOV.UK One Login's defaults).
- ``MAX_FAILED_SIGN_INS`` (5) and ``LOCKOUT_SECONDS`` (900): account lockout.
- ``REGISTERS_GRPC_ADDRESS`` (optional, ``host:port``): where identity loads the
  ``country`` register's records from at start (its read copy is otherwise kept by
  events only). ``govplat up`` sets it.

Default ports: HTTP 8001, gRPC 50051.
"""

from pydantic import Field, SecretStr

from govkit.settings import ComponentSettings, DatabaseSettingsMixin


class Settings(DatabaseSettingsMixin, ComponentSettings):
    """Settings of the identity component."""

    component: str = "identity"
    http_port: int = 8001
    grpc_port: int = 50051
    secret_key: SecretStr = Field(min_length=32)
    admin_token: SecretStr = Field(min_length=32)
    issuer: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^/?#]+$")
    access_token_seconds: int = Field(default=180, ge=30, le=3600)
    id_token_seconds: int = Field(default=120, ge=30, le=3600)
    authorization_code_seconds: int = Field(default=60, ge=10, le=300)
    refresh_token_seconds: int = Field(default=3600, ge=60, le=30 * 86400)
    session_seconds: int = Field(default=3600, ge=60, le=86400)
    max_failed_sign_ins: int = Field(default=5, ge=1, le=100)
    lockout_seconds: int = Field(default=900, ge=1, le=86400)
    registers_grpc_address: str | None = Field(default=None, min_length=3, max_length=300)
