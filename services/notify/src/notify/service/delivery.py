"""Delivery: from ``created`` to a final status, through a provider or the sandbox.

Run by the ``notify-delivery`` consumer for each ``NotificationCreated`` event. It
is a state machine on the notification's row, so a redelivered event never sends
twice:

1. In one transaction the notification is locked and read; one that is already
   final is left alone. Test keys, and channels configured ``sandbox``, are
   delivered right there: the message goes into the sandbox inbox (one row per
   notification) and the simulated final status is written in the same
   transaction (exactly once). Otherwise the status becomes ``sending``.
2. The provider is called with the notification id as its key (outside any
   transaction). A temporary failure is retried with back-off
   (``DELIVERY_RETRY_SECONDS``); after the last attempt the status is
   ``technical-failure``.
3. The provider's answer is written (``delivered``, ``permanent-failure`` ...).

Every status change also writes a ``NotificationStatusChanged`` event (callbacks and
anyone else listen to it).

Precompiled letters start in ``pending-virus-check``: the sandbox scan refuses a
file with the EICAR test signature (``virus-scan-failed``) and a file that is not a
readable PDF of at most 10 pages (``validation-failed``). Letters are then printed
by the sandbox printer: the PDF is kept (``GET /v2/notifications/{id}/pdf``) and the
letter is ``delivered`` (shown as ``received``).

Each hand-over to a provider (the sandbox inbox, the sandbox printer, SMTP, the HTTP
text message provider) is a CLIENT span ``<type> send``, a child of the consumer's
span for ``NotificationCreated``, with the notification's id, type, the provider and
the status it ended in (never the recipient or the content).

Simulated recipients (Notify's research mode, for test keys and the sandbox): text
messages to numbers ending ``7700900003`` end ``temporary-failure``, ``7700900002``
``permanent-failure``; emails to ``temp-fail@simulator.notify`` and
``perm-fail@simulator.notify`` likewise; everything else is ``delivered``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import Database, utcnow
from govkit.events import Event, inject_trace_headers
from govkit.group_commit import GroupCommit
from govkit.outbox import add_rows, outbox_row
from govplat.notify.v1 import events_pb2
from notify import repository
from notify.models import LetterPdf, Notification, SandboxMessage, messaging
from notify.providers import OutgoingEmail, OutgoingSms, Providers, ProviderUnavailable
from notify.service import FINAL_STATUSES
from notify.service.notifications import SOURCE, timestamp
from notify.service.services import settings_in
from notify.templating import email as email_format
from notify.templating import letter as letter_format
from notify.templating import sms

log = logging.getLogger(__name__)
tracer = trace.get_tracer("govplat.notify")

EICAR_SIGNATURE = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"
MAX_LETTER_PAGES = letter_format.MAX_PAGES


class RetryLater(Exception):
    """The provider failed temporarily: the event is delivered again after a delay."""


def simulated_status(notification: Notification) -> str:
    """The final status the sandbox gives a message (see the module docstring)."""
    to = notification.normalised_to or ""
    if notification.type == "sms":
        if to.endswith("7700900003"):
            return "temporary-failure"
        if to.endswith("7700900002"):
            return "permanent-failure"
    if notification.type == "email":
        if to == "temp-fail@simulator.notify":
            return "temporary-failure"
        if to == "perm-fail@simulator.notify":
            return "permanent-failure"
    return "delivered"


async def set_status(
    session: AsyncSession, notification: Notification, status: str, *, reference: str | None = None
) -> None:
    """Change a notification's status (and its times) and write the event."""
    await add_rows(session, messaging, [status_row(notification, status, reference=reference)])


def status_row(
    notification: Notification,
    status: str,
    *,
    reference: str | None = None,
    trace_headers: dict[str, str] | None = None,
) -> dict:
    """Change a notification's status (and its times); return the outbox row of its
    ``NotificationStatusChanged`` event (for :func:`govkit.outbox.add_rows`), with
    ``trace_headers`` (default: the current trace context)."""
    now = utcnow()
    notification.status = status
    notification.updated_at = now
    if status in ("sending", "sent", "delivered") and notification.sent_at is None:
        notification.sent_at = now
    if status in FINAL_STATUSES:
        notification.completed_at = now
    if reference:
        notification.provider_reference = reference[:255]
    return outbox_row(
        events_pb2.NotificationStatusChanged(
            notification_id=notification.id,
            service_id=notification.service_id,
            status=status,
            reference=notification.reference or "",
            update_time=timestamp(now),
        ),
        source=SOURCE,
        subject=notification.id,
        trace_headers=trace_headers,
    )


@dataclass
class Delivery:
    """Delivers notifications (the ``notify-delivery`` consumer's effect).

    Args:
        db: notify's database.
        providers: the configured providers (``None`` per channel: the sandbox).
        email_domain: the domain emails come from.
        retry_delays: seconds between attempts when a provider fails temporarily.
        provider_concurrency: how many provider calls (SMTP, the HTTP text message
            provider) may be under way at once; the consumer hands over a whole
            fetched batch at once, so that sandbox deliveries and look-ups are grouped.
    """

    db: Database
    providers: Providers
    email_domain: str
    retry_delays: Sequence[float] = (1.0, 5.0, 30.0, 120.0, 600.0)
    provider_concurrency: int = 8
    sandbox: GroupCommit[tuple[str, dict[str, str]], str | None] = field(
        init=False, repr=False, compare=False
    )

    lookups: GroupCommit[str, Notification | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.sandbox = GroupCommit(self._deliver_to_sandbox_together)
        self.lookups = GroupCommit(self._look_up_together)
        self._provider_slots = asyncio.Semaphore(self.provider_concurrency)

    async def _look_up_together(self, notification_ids: list[str]) -> list[Notification | None]:
        """These notifications as they are now, in one read (``None``: there is none)."""
        async with self.db.read() as session:
            found = {
                n.id: n
                for n in await repository.notifications_by_id(session, set(notification_ids))
            }
        return [found.get(notification_id) for notification_id in notification_ids]

    @property
    def max_attempts(self) -> int:
        """Provider attempts before ``technical-failure``."""
        return len(self.retry_delays) + 1

    async def on_event(self, event: Event) -> None:
        """Handle a ``NotificationCreated`` event (redeliveries included)."""
        created = event.parse(events_pb2.NotificationCreated)
        await self.deliver(created.notification_id, attempt=event.delivery)

    async def deliver(self, notification_id: str, *, attempt: int = 1) -> str | None:
        """Take one notification as far as it goes now; return its status.

        Raises:
            RetryLater: the provider failed temporarily and attempts remain.
        """
        notification = await self.lookups.submit(notification_id)
        if notification is None or notification.status in FINAL_STATUSES:
            return None if notification is None else notification.status
        scan = None
        if notification.status == "pending-virus-check":
            async with self.db.read() as session:
                pdf = await repository.letter_pdf(session, notification_id)
            scan = _scan(pdf.pdf if pdf else b"")
        if scan is not None:
            await self._record_scan(notification_id, scan)
        if notification.type == "letter":
            with _send_span(notification, "sandbox-printer") as span:
                return _ended(span, await self._print_letter(notification_id))
        sandbox = notification.key_type == "test" or self.providers.is_sandbox(notification.type)
        if sandbox:
            with _send_span(notification, "sandbox") as span:
                status = await self.sandbox.submit((notification_id, inject_trace_headers()))
                return _ended(span, status)
        async with self._provider_slots:
            return await self._send_through_provider(notification, attempt)

    async def _send_through_provider(self, notification: Notification, attempt: int) -> str | None:
        """Claim, hand to the provider (keyed by the notification id), record its answer."""
        notification_id = notification.id
        outgoing = await self._claim(notification_id)
        if outgoing is None:
            return None
        provider = "smtp" if isinstance(outgoing, OutgoingEmail) else "http"
        with _send_span(notification, provider) as span:
            try:
                if isinstance(outgoing, OutgoingEmail):
                    assert self.providers.email is not None
                    result = await self.providers.email.send(outgoing)
                else:
                    assert self.providers.sms is not None
                    result = await self.providers.sms.send(outgoing)
            except ProviderUnavailable as exc:
                span.set_status(trace.Status(trace.StatusCode.ERROR, "provider unavailable"))
                if attempt >= self.max_attempts:
                    log.error(
                        "delivery of %s failed after %d attempts: %s", notification_id, attempt, exc
                    )
                    return _ended(
                        span, await self._finish(notification_id, "technical-failure", None)
                    )
                raise RetryLater(str(exc)) from None
            return _ended(
                span, await self._finish(notification_id, result.status, result.reference)
            )

    async def _claim(self, notification_id: str) -> OutgoingEmail | OutgoingSms | None:
        """``sending``, one more attempt counted; what to hand to the provider."""
        async with self.db.write() as session:
            notification = await repository.notification(session, notification_id, lock=True)
            if notification is None or notification.status in FINAL_STATUSES:
                return None
            service = await settings_in(session, notification.service_id)
            if notification.status != "sending":
                await set_status(session, notification, "sending")
            notification.delivery_attempts += 1
            if notification.type == "sms":
                text = notification.body
                if service.prefix_sms:
                    text = f"{sms.sanitise(service.name)}: {text}"
                return OutgoingSms(
                    notification_id=notification.id,
                    to=notification.normalised_to or "",
                    sender=notification.sender or service.sms_sender,
                    body=text,
                )
            return self._email(notification, service.name)

    def _email(self, notification: Notification, service_name: str) -> OutgoingEmail:
        subject = notification.subject or ""
        return OutgoingEmail(
            notification_id=notification.id,
            to=notification.normalised_to or "",
            from_name=service_name,
            from_address=notification.sender or f"notifications@{self.email_domain}",
            reply_to=notification.reply_to,
            subject=subject,
            text=notification.body,
            html=email_format.document(
                subject=subject,
                body_html=email_format.to_html(notification.body),
                service_name=service_name,
                unsubscribe_url=notification.one_click_unsubscribe_url,
            ),
            unsubscribe_url=notification.one_click_unsubscribe_url,
        )

    async def _finish(self, notification_id: str, status: str, reference: str | None) -> str | None:
        async with self.db.write() as session:
            notification = await repository.notification(session, notification_id, lock=True)
            if notification is None or notification.status in FINAL_STATUSES:
                return None if notification is None else notification.status
            if status != notification.status:
                await set_status(session, notification, status, reference=reference)
            return status

    async def _deliver_to_sandbox_together(
        self, pending: list[tuple[str, dict[str, str]]]
    ) -> list[str | None]:
        """Into the sandbox inbox with the simulated status: for each notification id
        (with its delivery's trace context for its events), in one transaction for all
        (group commit); the status each ended in (``None``: there is none)."""
        ids = [notification_id for notification_id, _trace in pending]
        async with self.db.write() as session:
            found = {
                n.id: n for n in await repository.notifications_by_id(session, set(ids), lock=True)
            }
            in_inbox = await repository.sandbox_messages_of(session, set(ids))
            names: dict[str, tuple[str, bool]] = {}
            results: list[str | None] = []
            events: list[dict] = []
            for notification_id, trace_headers in pending:
                notification = found.get(notification_id)
                if notification is None or notification.status in FINAL_STATUSES:
                    results.append(None if notification is None else notification.status)
                    continue
                if notification.service_id not in names:
                    service = await settings_in(session, notification.service_id)
                    names[notification.service_id] = (service.name, service.prefix_sms)
                if notification_id not in in_inbox:
                    in_inbox.add(notification_id)
                    session.add(_inbox_message(notification, self, *names[notification.service_id]))
                if notification.status == "created":
                    events.append(status_row(notification, "sending", trace_headers=trace_headers))
                notification.delivery_attempts += 1
                status = simulated_status(notification)
                events.append(
                    status_row(
                        notification,
                        status,
                        reference=f"sandbox-{notification.id}",
                        trace_headers=trace_headers,
                    )
                )
                results.append(status)
            await session.flush()
            await add_rows(session, messaging, events)
        return results

    async def _record_scan(self, notification_id: str, scan: tuple[str, int]) -> None:
        outcome, pages = scan
        async with self.db.write() as session:
            notification = await repository.notification(session, notification_id, lock=True)
            if notification is None or notification.status != "pending-virus-check":
                return
            if outcome != "created":
                await set_status(session, notification, outcome)
                return
            pdf = await repository.letter_pdf(session, notification_id)
            if pdf is not None:
                pdf.pages = pages
            notification.billable_units = letter_format.sheets(pages)
            await set_status(session, notification, "created")

    async def _print_letter(self, notification_id: str) -> str | None:
        """Render (unless precompiled) and "print" a letter with the sandbox printer."""
        async with self.db.read() as session:
            notification = await repository.notification(session, notification_id)
            if notification is None or notification.status in FINAL_STATUSES:
                return None if notification is None else notification.status
            if notification.status == "pending-virus-check":
                return notification.status
            existing = await repository.letter_pdf(session, notification_id)
            service = await repository.service(session, notification.service_id)
            contact_block = service.letter_contact_block if service else None
        pdf_bytes = None
        if existing is None:  # rendered outside any transaction: it takes a while
            pdf_bytes = letter_format.render_pdf(
                address_lines=(notification.recipient or "").split("\n"),
                subject=notification.subject or "",
                body=notification.body,
                contact_block=contact_block,
                letter_date=notification.created_at.date(),
            )
        async with self.db.write() as session:
            notification = await repository.notification(session, notification_id, lock=True)
            if notification is None or notification.status in FINAL_STATUSES:
                return None if notification is None else notification.status
            if (
                pdf_bytes is not None
                and await repository.letter_pdf(session, notification_id) is None
            ):
                pages = letter_format.page_count(pdf_bytes)
                if pages > letter_format.MAX_PAGES:  # Notify's limit: not printed, not billed
                    await set_status(session, notification, "validation-failed")
                    return "validation-failed"
                session.add(
                    LetterPdf(
                        notification_id=notification_id,
                        pdf=pdf_bytes,
                        pages=pages,
                        created_at=utcnow(),
                    )
                )
                notification.billable_units = letter_format.sheets(pages)
            settings = await settings_in(session, notification.service_id)
            await _inbox(session, notification, self, settings.name, False)
            if notification.status == "created":
                await set_status(session, notification, "sending")
            notification.delivery_attempts += 1
            await set_status(
                session, notification, "delivered", reference=f"sandbox-print-{notification.id}"
            )
            return "delivered"


@contextlib.contextmanager
def _send_span(notification: Notification, provider: str) -> Iterator[Span]:
    """The CLIENT span of one hand-over to a provider (see the module docstring)."""
    with tracer.start_as_current_span(
        f"{notification.type} send",
        kind=SpanKind.CLIENT,
        attributes={
            "govplat.notification.id": notification.id,
            "govplat.notification.type": notification.type,
            "govplat.provider": provider,
        },
        record_exception=False,
    ) as span:
        yield span


def _ended(span: Span, status: str | None) -> str | None:
    """Record the status a delivery ended in on its span; return it."""
    if status:
        span.set_attribute("govplat.notification.status", status)
    return status


def _scan(pdf: bytes) -> tuple[str, int]:
    """The sandbox's virus scan and PDF check: (``created`` | ``virus-scan-failed`` |
    ``validation-failed``, pages)."""
    if EICAR_SIGNATURE in pdf:
        return "virus-scan-failed", 0
    try:
        pages = letter_format.page_count(pdf)
    except ValueError:
        return "validation-failed", 0
    if not 1 <= pages <= MAX_LETTER_PAGES:
        return "validation-failed", pages
    return "created", pages


async def _inbox(
    session: AsyncSession,
    notification: Notification,
    delivery: Delivery,
    service_name: str,
    prefix_sms: bool,
) -> None:
    """The sandbox inbox's copy of a message (once per notification)."""
    if await session.get(SandboxMessage, notification.id) is not None:
        return
    session.add(_inbox_message(notification, delivery, service_name, prefix_sms))
    await session.flush()


def _inbox_message(
    notification: Notification, delivery: Delivery, service_name: str, prefix_sms: bool
) -> SandboxMessage:
    """The sandbox inbox's copy of a message, as the service's recipient would get it."""
    html = None
    body = notification.body
    sender = notification.sender
    if notification.type == "email":
        html = delivery._email(notification, service_name).html
    elif notification.type == "sms" and prefix_sms:
        body = f"{sms.sanitise(service_name)}: {body}"
    return SandboxMessage(
        notification_id=notification.id,
        service_id=notification.service_id,
        key_type=notification.key_type,
        type=notification.type,
        recipient=notification.recipient or "",
        sender=sender,
        subject=notification.subject,
        body=body,
        html=html,
        created_at=utcnow(),
    )
