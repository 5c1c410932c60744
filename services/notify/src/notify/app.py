"""Composition root of the notify component: builds everything it runs."""

from __future__ import annotations

import httpx
from sqlalchemy.exc import IntegrityError

from govkit.consumer import ConsumerSpec
from govkit.events import stream_name, subject_for
from govkit.principal import PrincipalGuard
from govkit.runtime import Component, service_component
from govplat.identity.v1 import events_pb2 as identity_events
from govplat.notify.v1 import events_pb2 as notify_events
from govplat.payments.v1 import events_pb2 as payments_events
from notify import grpc_api, http_api, models
from notify.config import Settings
from notify.context import Context
from notify.providers import HttpSmsProvider, Providers, SmtpEmailProvider
from notify.service.callbacks import Callbacks
from notify.service.delivery import Delivery
from notify.service.inbound import Inbound, ensure_system_service


def providers_for(settings: Settings, client: httpx.AsyncClient) -> Providers:
    """The providers the settings ask for (``None`` per channel: the sandbox)."""
    email = None
    if settings.chosen_email_provider() == "smtp":
        email = SmtpEmailProvider(
            settings.smtp_host or "",
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.smtp_timeout_seconds,
            message_id_domain=settings.email_from_domain,
        )
    sms = None
    if settings.sms_provider == "http":
        sms = HttpSmsProvider(
            settings.sms_provider_url or "",
            settings.sms_provider_token.get_secret_value() if settings.sms_provider_token else None,
            client,
        )
    return Providers(email=email, sms=sms)


#: Messages of one fetched batch the delivery and callbacks consumers handle at once:
#: the whole batch (govkit's fetch size), so that their look-ups, sandbox deliveries
#: and inbox rows are each one statement for the batch; provider calls and callbacks
#: are bounded apart (``Delivery.provider_concurrency``, ``Callbacks.concurrency``).
CONSUMER_BATCH = 50


def consumers(settings: Settings, delivery: Delivery, callbacks: Callbacks, inbound: Inbound):
    """What notify consumes: its own created and status events, payments' successes and
    identity's code requests."""
    return [
        ConsumerSpec(
            durable="notify-delivery",
            stream=stream_name("notify"),
            subjects=[subject_for(notify_events.NotificationCreated)],
            effect=delivery.on_event,
            max_deliver=delivery.max_attempts,
            retry_delays=delivery.retry_delays,
            ack_wait=settings.delivery_ack_wait_seconds,
            concurrency=CONSUMER_BATCH,
        ),
        ConsumerSpec(
            durable="notify-callbacks",
            stream=stream_name("notify"),
            subjects=[subject_for(notify_events.NotificationStatusChanged)],
            effect=callbacks.on_event,
            accepts=callbacks.accepts,
            max_deliver=settings.callback_retries + 1,
            retry_delays=(settings.callback_retry_seconds,),
            ack_wait=max(30.0, settings.callback_timeout_seconds * 3),
            concurrency=CONSUMER_BATCH,
        ),
        ConsumerSpec(
            durable="notify-payment-receipts",
            stream=stream_name("payments"),
            subjects=[subject_for(payments_events.PaymentSucceeded)],
            handler=inbound.payment_succeeded,
        ),
        ConsumerSpec(
            durable="notify-verification-codes",
            stream=stream_name("identity"),
            subjects=[subject_for(identity_events.VerificationCodeRequested)],
            handler=inbound.verification_code_requested,
        ),
    ]


def build(settings: Settings | None = None) -> Component:
    """The notify component, ready to ``serve()``.

    Raises:
        govkit.settings.ConfigurationError: when the environment is incomplete.
    """
    settings = settings or Settings.load()
    component = service_component(
        name="notify",
        settings=settings,
        tables=models.messaging,
        http_app=None,
        synchronous_full=False,
    )
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.callback_timeout_seconds, connect=2.0),
        follow_redirects=False,
    )
    providers = providers_for(settings, client)
    context = Context(
        settings=settings,
        db=component.database,
        guard=PrincipalGuard(settings.principal_public_key, "notify"),
        providers=providers,
    )
    delivery = Delivery(
        component.database,
        providers,
        settings.email_from_domain,
        retry_delays=settings.delivery_delays(),
    )
    callbacks = Callbacks(component.database, client, settings.callback_timeout_seconds)
    inbound = Inbound(settings.email_from_domain)
    component.http_app = http_api.create_app(context)
    component.grpc_register = grpc_api.registrar(context)
    component.grpc_services = [grpc_api.SERVICE_NAME]
    component.consumers = consumers(settings, delivery, callbacks, inbound)

    async def on_start(_component: Component) -> None:
        # Both processes of a split notify (api and events roles) make sure of it; on
        # PostgreSQL the one that loses the race finds the other's rows on its retry.
        for attempt in (1, 2):
            try:
                async with context.db.write() as session:
                    await ensure_system_service(session)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    async def on_stop(_component: Component) -> None:
        await client.aclose()

    component.on_start = on_start
    component.on_stop = on_stop
    return component
