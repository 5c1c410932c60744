"""Composition root of the identity component: builds everything it runs."""

import asyncio
import contextlib

from govkit.runtime import Component, service_component
from identity import events, grpc_api, http_api, models, registers_client
from identity.config import Settings
from identity.context import Context
from identity.security import SecretBox
from identity.service import oidc, signing


def build(settings: Settings | None = None) -> Component:
    """The identity component, ready to ``serve()``.

    On start it makes sure an active and a next signing key exist and, when
    ``REGISTERS_GRPC_ADDRESS`` is set, loads the ``country`` register's records into
    its read copy in the background (retrying until registers answers); the
    ``identity-country-register`` consumer keeps the copy current.

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
    component.consumers = events.consumers()
    loading: list[asyncio.Task] = []
    stopping = asyncio.Event()

    async def on_start(_component: Component) -> None:
        async with context.db.write() as session:
            await signing.ensure_keys(session, context.box)
        if settings.registers_grpc_address:
            loading.append(
                asyncio.create_task(
                    registers_client.keep_loading(
                        context.db, settings.registers_grpc_address, stopping
                    ),
                    name="country-register-load",
                )
            )

    async def on_stop(_component: Component) -> None:
        stopping.set()
        for task in loading:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    component.on_start = on_start
    component.on_stop = on_stop
    return component
