"""Settings of the registers component (environment variables, prefix ``GOVPLAT_``).

Besides those of :class:`govkit.settings.ComponentSettings`, ``GOVPLAT_DATABASE_URL``
is required. Default ports: HTTP 8004, gRPC 50054.
"""

from govkit.settings import ComponentSettings, DatabaseSettingsMixin


class Settings(DatabaseSettingsMixin, ComponentSettings):
    """Settings of the registers component."""

    component: str = "registers"
    http_port: int = 8004
    grpc_port: int = 50054
