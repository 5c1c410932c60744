"""Composition root of the payments component: builds everything it runs."""

from __future__ import annotations

import asyncio

import httpx

from govkit.consumer import ConsumerSpec
from govkit.events import stream_name, subject_for
from govkit.runtime import Component, service_component
from govplat.payments.v1 import events_pb2
from payments import grpc_api, http_api, models
from payments.acquirer import SandboxAcquirer
from payments.config import Settings
from payments.context import Context
from payments.service.agreements import RecurringPayments
from payments.service.payments import sweep_forever
from payments.service.webhooks import Deliveries


def build(settings: Settings | None = None) -> Component:
    """The payments component, ready to ``serve()``: the Pay API, the payment pages, the
    webhook and recurring-payment consumers, and the sweeper (expiry, unanswered
    captures and refunds).

    Raises:
        govkit.settings.ConfigurationError: when the environment is incomplete.
    """
    settings = settings or Settings.load()
    component = service_component(
        name="payments",
        settings=settings,
        tables=models.messaging,
        http_app=None,
        synchronous_full=True,
    )
    context = Context.build(settings, component.database, SandboxAcquirer())
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.webhook_timeout_seconds, connect=2.0), follow_redirects=False
    )
    deliveries = Deliveries(
        component.database, client, settings.webhook_delays(), settings.webhook_timeout_seconds
    )
    recurring = RecurringPayments(component.database, context.acquirer, context.origin)
    component.http_app = http_api.create_app(context)
    component.grpc_register = grpc_api.registrar(context)
    component.grpc_services = [grpc_api.SERVICE_NAME]
    component.consumers = [
        ConsumerSpec(
            durable="payments-webhooks",
            stream=stream_name("payments"),
            subjects=[subject_for(events_pb2.WebhookMessageQueued)],
            effect=deliveries.on_event,
            max_deliver=deliveries.max_attempts,
            retry_delays=deliveries.retry_delays,
            concurrency=8,
        ),
        ConsumerSpec(
            durable="payments-recurring",
            stream=stream_name("payments"),
            subjects=[subject_for(events_pb2.PaymentCreated)],
            effect=recurring.on_event,
            accepts=recurring.accepts,
            concurrency=4,
        ),
    ]
    sweeper: dict[str, asyncio.Task] = {}

    async def on_start(_component: Component) -> None:
        sweeper["task"] = asyncio.create_task(
            sweep_forever(context.payments, _component.stop_event, settings.expiry_sweep_seconds),
            name="payments-sweeper",
        )

    async def on_stop(_component: Component) -> None:
        task = sweeper.get("task")
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await client.aclose()

    component.on_start = on_start
    component.on_stop = on_stop
    return component
