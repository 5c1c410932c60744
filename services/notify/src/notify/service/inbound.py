"""Events from the rest of the platform that make notify send something.

- ``govplat.payments.v1.payment_succeeded``: when the service has a receipt
  template (``receipt_template_id``) and the payer gave an email address, the
  receipt is sent from that template with the personalisation ``amount``
  (``£12.50``), ``amount_in_pence``, ``reference``, ``description``,
  ``payment_id`` and ``date`` (``1 December 2026``). A test payment's receipt is sent
  with a test key (it lands in the sandbox inbox).
- ``govplat.identity.v1.verification_code_requested``: the code goes by email or
  text message from the platform's own service (``SYSTEM_SERVICE_ID``), with the
  templates below.

Each handler runs in the consumer's transaction (which records the event in the
inbox), and the notification's id is derived from the event, so one event makes
at most one notification. A request notify would refuse (an archived template, an
address it cannot send to) is logged and dropped: retrying would not change it.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from govkit.events import Event
from govplat.identity.v1 import events_pb2 as identity_events
from govplat.payments.v1 import events_pb2 as payments_events
from notify import repository, schemas
from notify.errors import NotifyError
from notify.models import Template
from notify.service import Caller
from notify.service.notifications import send_in
from notify.service.services import settings_in
from notify.service.templates import version_row

log = logging.getLogger(__name__)

EVENTS_NAMESPACE = uuid.UUID("0c5d7b52-4b0c-4a64-9f0e-8b1e4a8f6d21")
#: The platform's own Notify service: it sends sign-in and sign-up codes.
SYSTEM_SERVICE_ID = "00000000-0000-4000-8000-000000000001"
CODE_EMAIL_TEMPLATE_ID = "00000000-0000-4000-8000-000000000011"
CODE_SMS_TEMPLATE_ID = "00000000-0000-4000-8000-000000000012"
SYSTEM_TEMPLATES = {
    CODE_EMAIL_TEMPLATE_ID: (
        "email",
        "Security code (email)",
        "Your security code",
        "Your security code is ((code))\n\nIt expires in ((minutes)) minutes.\n\n"
        "If you did not ask for this code, you can ignore this email.",
    ),
    CODE_SMS_TEMPLATE_ID: (
        "sms",
        "Security code (text message)",
        None,
        "((code)) is your security code. It expires in ((minutes)) minutes.",
    ),
}


def event_notification_id(kind: str, key: str) -> str:
    """The notification id an event always gives (``kind``: what it is for)."""
    return str(uuid.uuid5(EVENTS_NAMESPACE, f"{kind}:{key}"))


def pounds(pence: int) -> str:
    """``1250`` → ``£12.50``."""
    return f"\u00a3{pence // 100:,}.{pence % 100:02d}"


@dataclass
class Inbound:
    """The handlers of the events notify consumes. ``email_domain``: as for sending."""

    email_domain: str

    async def payment_succeeded(self, session: AsyncSession, event: Event) -> None:
        """Send the payment's receipt, when the service has a receipt template."""
        payment = event.parse(payments_events.PaymentSucceeded)
        service = await repository.service(session, payment.service_id)
        if service is None or not service.receipt_template_id or not payment.email:
            return
        when = payment.succeed_time.ToDatetime() if payment.HasField("succeed_time") else utcnow()
        caller = Caller(
            payment.service_id,
            "test" if payment.key_type == "test" else "live",
            "payments-receipt",
        )
        data = {
            "email_address": payment.email,
            "template_id": service.receipt_template_id,
            "reference": payment.reference or payment.payment_id,
            "personalisation": {
                "amount": pounds(payment.amount),
                "amount_in_pence": payment.amount,
                "reference": payment.reference,
                "description": payment.description,
                "payment_id": payment.payment_id,
                "date": f"{when.day} {when:%B %Y}",
            },
        }
        await self._send(
            session, caller, "email", data, event_notification_id("receipt", payment.payment_id)
        )

    async def verification_code_requested(self, session: AsyncSession, event: Event) -> None:
        """Send a sign-up or sign-in code by email or text message."""
        request = event.parse(identity_events.VerificationCodeRequested)
        await ensure_system_service(session)
        minutes = 15
        if request.HasField("expire_time"):
            left = (request.expire_time.ToDatetime().timestamp() - utcnow().timestamp()) / 60
            minutes = max(1, math.ceil(left))
        values = {"code": request.code, "minutes": minutes}
        caller = Caller(SYSTEM_SERVICE_ID, "live", "identity-codes")
        if request.channel == identity_events.VERIFICATION_CHANNEL_SMS:
            data = {"phone_number": request.destination, "template_id": CODE_SMS_TEMPLATE_ID}
            kind = "sms"
        else:
            data = {"email_address": request.destination, "template_id": CODE_EMAIL_TEMPLATE_ID}
            kind = "email"
        data["personalisation"] = values
        await self._send(session, caller, kind, data, event_notification_id("code", event.id))

    async def _send(
        self, session: AsyncSession, caller: Caller, kind: str, data: dict, notification_id: str
    ) -> None:
        if await repository.notification(session, notification_id) is not None:
            return
        try:
            schemas.validate(data, schemas.POST_EMAIL if kind == "email" else schemas.POST_SMS)
            await send_in(
                session,
                caller,
                kind,
                data,
                email_domain=self.email_domain,
                notification_id=notification_id,
            )
        except NotifyError as refused:
            log.warning(
                "notify refused a message asked for by an event: %s",
                refused.error,
                extra={"service_id": caller.service_id},
            )


async def ensure_system_service(session: AsyncSession) -> None:
    """Make the platform's own service and its code templates if they are missing."""
    service = await settings_in(session, SYSTEM_SERVICE_ID)
    if service.name == "govplat service":
        service.name = "govplat"
        service.email_from = "security-codes"
    for template_id, (kind, name, subject, body) in SYSTEM_TEMPLATES.items():
        if await session.get(Template, template_id) is None:
            template = Template(
                id=template_id,
                service_id=SYSTEM_SERVICE_ID,
                type=kind,
                name=name,
                subject=subject,
                body=body,
                version=1,
                created_by="govplat",
                archived=False,
                hidden=False,
                created_at=utcnow(),
            )
            session.add(template)
            await session.flush()
            session.add(version_row(template))
    await session.flush()
