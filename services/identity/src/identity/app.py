"""Composition root of the identity component: builds everything it runs."""

from govkit.runtime import Component, service_component
from identity import grpc_api, http_api, models
from identity.config import Settings
from identity.context import Context
from identity.security import SecretBox
from identity.service import oidc, signing


def build(settings: Settings | None = None) -> Component:
    """The identity component, ready to ``serve()``.

    On start it makes sure an active and a next signing key exist.

    Raises:
        govkit.settings.ConfigurationError: when the environment is incomplete.
    """
    settings = settings or Settings.load()
    component = service_component(
        name="identity",
        settings=settings,
        tables=models.messaging,
        http_app=None,
        synchronous_full=False,
    )
    context = Context(
        settings=settings,
        db=component.database,
        box=SecretBox(settings.secret_key.get_secret_value()),
    )
    keys = signing.KeyCache(context.db)
    component.http_app = http_api.create_app(context, keys, oidc.ClientKeys())
    component.grpc_register = grpc_api.registrar(context, keys)
    component.grpc_services = [grpc_api.SERVICE_NAME]

    async def ensure_signing_keys(_component: Component) -> None:
        async with context.db.write() as session:
            await signing.ensure_keys(session, context.box)

    component.on_start = ensure_signing_keys
    return component
