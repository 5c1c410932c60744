"""Webhooks, as GOV.UK Pay sends them (pay-webhooks).

A service subscribes (per live or test account) with a callback URL and the event
types it wants: ``card_payment_succeeded``, ``card_payment_captured``,
``card_payment_refunded``, ``card_payment_failed``, ``card_payment_expired``. When a
payment changes, one message per matching webhook is written in the same transaction
(with the exact body, so every retry sends the same bytes) and delivered by the
``payments-webhooks`` consumer:

- ``POST`` with ``Content-Type: application/json`` and ``Pay-Signature``: the lower-case
  hex HMAC-SHA256 of the raw body, keyed by the webhook's signing secret (UTF-8);
- body ``{"webhook_message_id", "api_version": 1, "created_date", "resource_id",
  "resource_type": "payment", "event_type", "resource"}`` (``resource``: the payment,
  without ``_links``);
- any 2xx is delivered; otherwise it is retried 60 seconds, 5 minutes, 1 hour, 1 day
  and 2 days later (``WEBHOOK_RETRY_SECONDS``), then given up (status ``failed``);
- a webhook deactivated before an attempt gets no more attempts (``will_not_send``),
  as Pay checks at each one.

At least once: a receiver may get a message twice, or out of order, and should use
``webhook_message_id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import Database, utcnow
from govkit.errors import InvalidArgumentError, NotFoundError
from govkit.events import Event
from govkit.outbox import add_event
from govplat.payments.v1 import events_pb2
from payments import repository
from payments.models import Payment, Webhook, WebhookMessage, messaging
from payments.service import new_id
from payments.validation import resource_id, web_address
from payments.views import pay_time, payment_json

SOURCE = "//govplat/payments"
EVENT_TYPES = (
    "card_payment_succeeded",
    "card_payment_captured",
    "card_payment_refunded",
    "card_payment_failed",
    "card_payment_expired",
)
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


class DeliveryFailed(Exception):
    """The receiver did not take the message (retried on Pay's schedule)."""


def signature(secret: str, body: bytes) -> str:
    """``Pay-Signature``: lower-case hex HMAC-SHA256 of ``body`` keyed by ``secret``."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _check_url(url: str, *, live: bool) -> str:
    parts = web_address(url)
    if parts is None:
        raise InvalidArgumentError(
            "INVALID_CALLBACK_URL",
            "callback_url must be an http or https URL with a valid host and port and no "
            "credentials",
        )
    loopback = parts.host in ("127.0.0.1", "localhost", "[::1]")
    if parts.scheme != "https" and not (parts.scheme == "http" and (loopback or not live)):
        raise InvalidArgumentError(
            "INVALID_CALLBACK_URL", "callback_url must be https (http only for test accounts)"
        )
    return url


async def create_webhook(
    db: Database,
    *,
    service_id: str,
    live: bool,
    callback_url: str,
    event_types: Sequence[str],
    description: str | None = None,
) -> Webhook:
    """Subscribe a service's live or test account to some event types; the signing
    secret (``webhook_live_...`` or ``webhook_test_...``) is on the returned webhook.

    Raises:
        govkit.errors.InvalidArgumentError: a bad URL (:func:`payments.validation.web_address`),
            an unknown event type, a description with a NUL character.
    """
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown or not event_types:
        raise InvalidArgumentError(
            "UNKNOWN_EVENT_TYPE", f"event_types must be some of {', '.join(EVENT_TYPES)}"
        )
    if description and "\x00" in description:
        raise InvalidArgumentError("INVALID_DESCRIPTION", "description must not contain NUL")
    webhook = Webhook(
        id=new_id(),
        account=f"{service_id}:{'live' if live else 'test'}",
        service_id=service_id,
        callback_url=_check_url(callback_url, live=live),
        description=(description or None) and description[:255],
        event_types=" ".join(dict.fromkeys(event_types)),
        signing_secret=f"webhook_{'live' if live else 'test'}_"
        + "".join(secrets.choice(_BASE32) for _ in range(26)),
        status="active",
        created_at=utcnow(),
    )
    async with db.write() as session:
        session.add(webhook)
    return webhook


async def set_status(db: Database, *, service_id: str, webhook_id: str, active: bool) -> Webhook:
    """Turn a webhook on or off.

    Raises:
        govkit.errors.NotFoundError: no such webhook for the service.
    """
    found = resource_id(webhook_id)
    async with db.write() as session:
        webhook = await session.get(Webhook, found) if found else None
        if webhook is None or webhook.service_id != service_id:
            raise NotFoundError("WEBHOOK_NOT_FOUND", "no such webhook")
        webhook.status = "active" if active else "inactive"
        return webhook


async def queue(
    session: AsyncSession, payment: Payment, event_type: str, resource: dict, when=None
) -> int:
    """Queue ``event_type`` about ``payment`` for each active webhook of its account that
    wants it (in the caller's transaction); how many messages."""
    count = 0
    for webhook in await repository.webhooks_for(session, payment.account):
        if event_type not in webhook.event_types.split():
            continue
        message_id = new_id()
        created = when or utcnow()
        body = json.dumps(
            {
                "webhook_message_id": message_id,
                "api_version": 1,
                "created_date": pay_time(created),
                "resource_id": payment.id,
                "resource_type": "payment",
                "event_type": event_type,
                "resource": resource,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")
        session.add(
            WebhookMessage(
                id=message_id,
                webhook_id=webhook.id,
                event_type=event_type,
                resource_id=payment.id,
                body=body,
                status="pending",
                attempts=0,
                created_at=created,
            )
        )
        await session.flush()
        await add_event(
            session,
            messaging,
            events_pb2.WebhookMessageQueued(message_id=message_id, webhook_id=webhook.id),
            source=SOURCE,
            subject=payment.id,
        )
        count += 1
    return count


async def queue_for_payment(
    session: AsyncSession, payment: Payment, event_types: Sequence[str], origin: str
) -> None:
    """Queue each of ``event_types`` about ``payment`` (its current representation)."""
    if not event_types:
        return
    refunded = await repository.refunded(session, payment.id)
    resource = payment_json(payment, refunded, origin, links=False)
    for event_type in event_types:
        await queue(session, payment, event_type, resource)


@dataclass
class Deliveries:
    """Delivers webhook messages (the ``payments-webhooks`` consumer's effect).

    Args:
        db: payments' database.
        client: the HTTP client (redirects not followed).
        retry_delays: seconds before each retry (Pay's schedule).
        timeout: seconds a receiver may take.
    """

    db: Database
    client: httpx.AsyncClient
    retry_delays: Sequence[float] = (60.0, 300.0, 3600.0, 86400.0, 172800.0)
    timeout: float = 3.0

    @property
    def max_attempts(self) -> int:
        """Deliveries before a message is given up."""
        return len(self.retry_delays) + 1

    async def on_event(self, event: Event) -> None:
        """Deliver one queued message (not to a webhook that is no longer active).

        Raises:
            DeliveryFailed: the receiver failed and attempts remain (retried later).
        """
        queued = event.parse(events_pb2.WebhookMessageQueued)
        async with self.db.read() as session:
            message = await repository.webhook_message(session, queued.message_id)
            webhook = await session.get(Webhook, queued.webhook_id) if message else None
        if message is None or webhook is None or message.status == "delivered":
            return
        if webhook.status != "active":
            # Pay checks at each attempt: a webhook turned off since is not sent to.
            async with self.db.write() as session:
                stored = await session.get(WebhookMessage, message.id)
                if stored is not None and stored.status != "delivered":
                    stored.status = "will_not_send"
            return
        status_code = None
        try:
            response = await self.client.post(
                webhook.callback_url,
                content=message.body,
                headers={
                    "Content-Type": "application/json",
                    "Pay-Signature": signature(webhook.signing_secret, message.body),
                },
                timeout=self.timeout,
            )
            status_code = response.status_code
            delivered = 200 <= status_code < 300
        except httpx.HTTPError:
            delivered = False
        async with self.db.write() as session:
            stored = await session.get(WebhookMessage, message.id)
            if stored is None or stored.status == "delivered":
                return
            stored.attempts += 1
            stored.last_status_code = status_code
            if delivered:
                stored.status = "delivered"
                stored.delivered_at = utcnow()
                return
            if event.delivery >= self.max_attempts:
                stored.status = "failed"
                return
            stored.status = "retrying"
        raise DeliveryFailed(f"webhook answered {status_code or 'nothing'}")
