"""Composition root of the identity component: builds everything it runs."""

from govkit.runtime import Component, service_component
from identity import grpc_api, http_api, models
from identity.config import Settings


def build(settings: Settings | None = None) -> Component:
    """The identity component, ready to ``serve()``.

    Raises:
        govkit.settings.ConfigurationError: when the environment is incomplete.
    """
    return service_component(
        name="identity",
        settings=settings or Settings.load(),
        tables=models.messaging,
        http_app=http_api.create_app(),
        grpc_register=grpc_api.register,
        grpc_services=[grpc_api.SERVICE_NAME],
        synchronous_full=False,
    )
