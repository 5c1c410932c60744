"""Composition root of the payments component: builds everything it runs."""

from govkit.runtime import Component, service_component
from payments import grpc_api, http_api, models
from payments.config import Settings


def build(settings: Settings | None = None) -> Component:
    """The payments component, ready to ``serve()``.

    Raises:
        govkit.settings.ConfigurationError: when the environment is incomplete.
    """
    settings = settings or Settings.load()
    return service_component(
        name="payments",
        settings=settings,
        tables=models.messaging,
        http_app=http_api.create_app(settings.principal_public_key),
        grpc_register=grpc_api.register,
        grpc_services=[grpc_api.SERVICE_NAME],
        synchronous_full=True,
    )
