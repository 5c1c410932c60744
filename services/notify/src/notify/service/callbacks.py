"""Delivery-status callbacks to a service's own URL, as GOV.UK Notify sends them
(``app/celery/service_callback_tasks.py``).

When an email or text message reaches a final status, notify ``POST``s to the
service's callback URL with ``Authorization: Bearer <its token>`` and
``{"id", "reference", "to", "status", "created_at", "completed_at", "sent_at",
"notification_type", "template_id", "template_version"}`` (timestamps
``YYYY-MM-DDTHH:MM:SS.ffffffZ``), timeout 5 seconds. Connection errors, 5xx and 429
are retried (Notify: 5 times, 300 seconds apart; ``CALLBACK_RETRIES`` and
``CALLBACK_RETRY_SECONDS``), then the event goes to the dead-letter subject where
operators see it; any other 4xx is not retried. Callbacks are at least once: a
receiver may see one twice and should use ``id`` and ``status`` to de-duplicate.
Each attempt is a CLIENT span ``callback send`` (the notification's id, its status and
the answer's status code; not the URL, the token or the body).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from govkit.db import Database
from govkit.events import Event
from govkit.group_commit import GroupCommit
from govplat.notify.v1 import events_pb2
from notify import repository
from notify.models import Notification, NotifyService
from notify.service import FINAL_STATUSES

log = logging.getLogger(__name__)
tracer = trace.get_tracer("govplat.notify")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class CallbackFailed(Exception):
    """The receiver could not take the callback now (retried later)."""


def iso(value) -> str | None:
    """Notify's timestamp format, or ``None``."""
    return value.strftime(TIME_FORMAT) if value is not None else None


def payload(notification: Notification, status: str) -> dict:
    """The JSON body of a delivery-status callback."""
    return {
        "id": notification.id,
        "reference": notification.reference,
        "to": notification.recipient,
        "status": status,
        "created_at": iso(notification.created_at),
        "completed_at": iso(notification.completed_at or notification.updated_at),
        "sent_at": iso(notification.sent_at),
        "notification_type": notification.type,
        "template_id": notification.template_id,
        "template_version": notification.template_version,
    }


@dataclass
class Callbacks:
    """Sends delivery-status callbacks (the ``notify-callbacks`` consumer's effect).

    Args:
        db: notify's database.
        client: the HTTP client (redirects not followed).
        timeout: seconds each callback may take.
        concurrency: how many callbacks may be under way at once (the consumer hands
            over a whole fetched batch, so that the look-ups are grouped).
    """

    db: Database
    client: httpx.AsyncClient
    timeout: float = 5.0
    concurrency: int = 8

    lookups: GroupCommit[tuple[str, str], tuple[Notification | None, NotifyService | None]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.lookups = GroupCommit(self._look_up_together)
        self._slots = asyncio.Semaphore(self.concurrency)

    async def _look_up_together(
        self, wanted: list[tuple[str, str]]
    ) -> list[tuple[Notification | None, NotifyService | None]]:
        """Each (notification id, service id)'s notification and, when there is one,
        its service's settings, in one read for all."""
        async with self.db.read() as session:
            found = {
                n.id: n
                for n in await repository.notifications_by_id(session, {n for n, _s in wanted})
            }
            services = {}
            for service_id in {s for n, s in wanted if n in found}:
                services[service_id] = await repository.service(session, service_id)
        return [(found.get(n), services.get(s) if n in found else None) for n, s in wanted]

    @staticmethod
    def accepts(event: Event) -> bool:
        """Whether a ``NotificationStatusChanged`` may need a callback: only final
        statuses do (the consumer's ``accepts``: the others are acknowledged without a
        look at the database)."""
        return event.parse(events_pb2.NotificationStatusChanged).status in FINAL_STATUSES

    async def on_event(self, event: Event) -> None:
        """Handle a ``NotificationStatusChanged`` event.

        Raises:
            CallbackFailed: a connection error, 5xx or 429 (retried).
        """
        changed = event.parse(events_pb2.NotificationStatusChanged)
        if changed.status not in FINAL_STATUSES:
            return
        notification, service = await self.lookups.submit(
            (changed.notification_id, changed.service_id)
        )
        if (
            notification is None
            or service is None
            or not service.callback_url
            or notification.type not in ("email", "sms")
        ):
            return
        headers = {"Content-Type": "application/json"}
        if service.callback_bearer_token:
            headers["Authorization"] = f"Bearer {service.callback_bearer_token}"
        async with self._slots:
            await self._post(notification, service, changed.status, headers)

    async def _post(
        self, notification: Notification, service: NotifyService, status: str, headers: dict
    ) -> None:
        """One callback attempt.

        Raises:
            CallbackFailed: a connection error, 5xx or 429 (retried).
        """
        with tracer.start_as_current_span(
            "callback send",
            kind=SpanKind.CLIENT,
            attributes={
                "govplat.notification.id": notification.id,
                "govplat.notification.status": status,
            },
            record_exception=False,
        ) as span:
            try:
                response = await self.client.post(
                    service.callback_url,
                    json=payload(notification, status),
                    headers=headers,
                    timeout=self.timeout,
                )
            except httpx.HTTPError as exc:
                span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
                raise CallbackFailed(type(exc).__name__) from None
            span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 500 or response.status_code == 429:
            raise CallbackFailed(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            log.warning(
                "callback for a notification refused with %d; not retried",
                response.status_code,
                extra={"service_id": service.id},
            )
