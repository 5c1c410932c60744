"""Settings of the registers component (environment variables, prefix ``GOVPLAT_``).

Besides those of :class:`govkit.settings.ComponentSettings`:

- ``DATABASE_URL`` (required).
- ``CHECKPOINT_KEY`` (optional): the Ed25519 key that signs the registers' checkpoints,
  as the base64 of its 32-byte seed. When it is not set, a key is generated on first
  use and kept in the database (``signing_key``), which suits a sandbox; production
  should set it from a secret store. The public key is published at
  ``/registers/{name}/checkpoint-key``.
- ``PRINCIPAL_PUBLIC_KEY``: the gateway's key, to verify the principal of each write.
- ``PUBLIC_URL``: the gateway's public origin; its host names the checkpoints' origin.

Default ports: HTTP 8004, gRPC 50054.
"""

from pydantic import SecretStr

from govkit.settings import ComponentSettings, DatabaseSettingsMixin


class Settings(DatabaseSettingsMixin, ComponentSettings):
    """Settings of the registers component."""

    component: str = "registers"
    http_port: int = 8004
    grpc_port: int = 50054
    checkpoint_key: SecretStr | None = None
