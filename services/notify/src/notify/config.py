"""Settings of the notify component (environment variables, prefix ``GOVPLAT_``).

Besides those of :class:`govkit.settings.ComponentSettings`, ``GOVPLAT_DATABASE_URL``
is required. Default ports: HTTP 8003, gRPC 50053.
"""

from govkit.settings import ComponentSettings, DatabaseSettingsMixin


class Settings(DatabaseSettingsMixin, ComponentSettings):
    """Settings of the notify component."""

    component: str = "notify"
    http_port: int = 8003
    grpc_port: int = 50053
