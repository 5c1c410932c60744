"""Composition root of the registers component: builds everything it runs."""

from govkit.runtime import Component, service_component
from registers import grpc_api, http_api, models
from registers.config import Settings
from registers.context import Context
from registers.service import seeding


def build(settings: Settings | None = None) -> Component:
    """The registers component, ready to ``serve()``.

    On start it makes sure the system registers (``register``, ``field``,
    ``datatype``) exist and that there is a checkpoint key.

    Raises:
        govkit.settings.ConfigurationError: when the environment is incomplete.
    """
    settings = settings or Settings.load()
    component = service_component(
        name="registers",
        settings=settings,
        tables=models.messaging,
        http_app=None,
        synchronous_full=True,
    )
    context = Context(settings=settings, db=component.database)
    component.http_app = http_api.create_app(context)
    component.grpc_register = grpc_api.registrar(context)
    component.grpc_services = [grpc_api.SERVICE_NAME]

    async def prepare(_component: Component) -> None:
        await context.signer()
        await seeding.ensure_system_registers(context)

    component.on_start = prepare
    return component
