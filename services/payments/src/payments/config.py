"""Settings of the payments component (environment variables, prefix ``GOVPLAT_``).

Besides those of :class:`govkit.settings.ComponentSettings`, ``GOVPLAT_DATABASE_URL``
is required. Default ports: HTTP 8002, gRPC 50052.
"""

from govkit.settings import ComponentSettings, DatabaseSettingsMixin


class Settings(DatabaseSettingsMixin, ComponentSettings):
    """Settings of the payments component."""

    component: str = "payments"
    http_port: int = 8002
    grpc_port: int = 50052
