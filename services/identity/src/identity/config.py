"""Settings of the identity component (environment variables, prefix ``GOVPLAT_``).

Besides those of :class:`govkit.settings.ComponentSettings`, ``GOVPLAT_DATABASE_URL``
is required. Default ports: HTTP 8001, gRPC 50051.
"""

from govkit.settings import ComponentSettings, DatabaseSettingsMixin


class Settings(DatabaseSettingsMixin, ComponentSettings):
    """Settings of the identity component."""

    component: str = "identity"
    http_port: int = 8001
    grpc_port: int = 50051
