"""Payments' admin API (``/admin/payments/...``) for operators: webhooks, the daily
reconciliation, and running expiry now.

Every route needs ``Authorization: Bearer <GOVPLAT_ADMIN_TOKEN>``; errors are
``{"error": REASON, "message": text}``.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from govkit.errors import InvalidArgumentError, NotFoundError, UnauthenticatedError
from payments import repository
from payments.context import Context
from payments.models import Webhook
from payments.service import ledger, webhooks
from payments.service.payments import expire_due
from payments.validation import resource_id
from payments.views import pay_time

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class WebhookIn(BaseModel):
    """A new webhook subscription."""

    model_config = ConfigDict(extra="forbid")

    callback_url: str = Field(min_length=8, max_length=2000)
    event_types: list[Literal[webhooks.EVENT_TYPES]] = Field(min_length=1, max_length=10)  # type: ignore[valid-type]
    live: StrictBool = False
    description: str | None = Field(default=None, max_length=255)


def webhook_json(webhook: Webhook, *, secret: bool = False) -> dict:
    """A webhook (its signing secret only when ``secret``)."""
    data = {
        "id": webhook.id,
        "service_id": webhook.service_id,
        "live": webhook.account.endswith(":live"),
        "callback_url": webhook.callback_url,
        "description": webhook.description,
        "event_types": webhook.event_types.split(),
        "status": webhook.status,
        "created_date": pay_time(webhook.created_at),
    }
    if secret:
        data["signing_secret"] = webhook.signing_secret
    return data


def _service_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFoundError("SERVICE_NOT_FOUND", "service ids are UUIDs") from None


async def _webhook_of(session, service_id: str, webhook_id: str) -> Webhook:
    """The service's webhook ``webhook_id`` (a Pay id), else 404 ``WEBHOOK_NOT_FOUND``."""
    found = resource_id(webhook_id)
    webhook = await session.get(Webhook, found) if found else None
    if webhook is None or webhook.service_id != _service_id(service_id):
        raise NotFoundError("WEBHOOK_NOT_FOUND", "no such webhook")
    return webhook


def create_router(context: Context) -> APIRouter:
    """The ``/admin/payments`` routes."""

    def operator(request: Request) -> None:
        if not context.is_operator(request.headers.get("authorization")):
            raise UnauthenticatedError("UNAUTHENTICATED", "the operator token is required")

    router = APIRouter(prefix="/admin/payments", tags=["admin"], dependencies=[Depends(operator)])
    db = context.db

    @router.post("/services/{service_id}/webhooks", status_code=201)
    async def create_webhook(service_id: str, webhook: WebhookIn) -> JSONResponse:
        """Subscribe a service's live or test account; the answer shows the signing secret."""
        created = await webhooks.create_webhook(
            db,
            service_id=_service_id(service_id),
            live=webhook.live,
            callback_url=webhook.callback_url,
            event_types=list(webhook.event_types),
            description=webhook.description,
        )
        return JSONResponse(webhook_json(created, secret=True), status_code=201)

    @router.get("/services/{service_id}/webhooks")
    async def list_webhooks(service_id: str) -> dict:
        """A service's webhooks (without their secrets)."""
        async with db.read() as session:
            found = await repository.webhooks_of_service(session, _service_id(service_id))
        return {"webhooks": [webhook_json(w) for w in found]}

    @router.get("/services/{service_id}/webhooks/{webhook_id}")
    async def get_webhook(service_id: str, webhook_id: str) -> dict:
        """One webhook, with its signing secret."""
        async with db.read() as session:
            found = await _webhook_of(session, service_id, webhook_id)
        return webhook_json(found, secret=True)

    @router.post("/services/{service_id}/webhooks/{webhook_id}/{action}")
    async def change_webhook(service_id: str, webhook_id: str, action: str) -> dict:
        """``activate`` or ``deactivate`` a webhook."""
        if action not in ("activate", "deactivate"):
            raise NotFoundError("NOT_FOUND", "the actions are activate and deactivate")
        changed = await webhooks.set_status(
            db,
            service_id=_service_id(service_id),
            webhook_id=webhook_id,
            active=action == "activate",
        )
        return webhook_json(changed)

    @router.get("/services/{service_id}/webhooks/{webhook_id}/messages")
    async def webhook_messages(service_id: str, webhook_id: str) -> dict:
        """A webhook's latest messages and how their delivery went."""
        async with db.read() as session:
            found = await _webhook_of(session, service_id, webhook_id)
            messages = await repository.webhook_messages(session, found.id)
        return {
            "messages": [
                {
                    "webhook_message_id": m.id,
                    "event_type": m.event_type,
                    "resource_id": m.resource_id,
                    "status": m.status,
                    "attempts": m.attempts,
                    "last_status_code": m.last_status_code,
                    "created_date": pay_time(m.created_at),
                    "delivered_date": pay_time(m.delivered_at),
                }
                for m in messages
            ]
        }

    @router.get("/ledger")
    async def reconciliation(
        day: str = Query(alias="date", min_length=10, max_length=10),
        service_id: str | None = Query(default=None, max_length=36),
    ) -> Response:
        """The ledger of one UTC day (``YYYY-MM-DD``, a calendar date: not an ISO week
        or ordinal date) as CSV, with its totals (``govplat payments reconcile``)."""
        try:
            if not _DAY.fullmatch(day):
                raise ValueError(day)
            when = date.fromisoformat(day)
        except ValueError:
            raise InvalidArgumentError("INVALID_DATE", "date must be YYYY-MM-DD") from None
        result = await ledger.reconcile(db, when, _service_id(service_id) if service_id else None)
        return Response(
            result.csv,
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="ledger-{day}.csv"',
                "X-Ledger-Balanced": "yes" if result.balanced else "no",
            },
        )

    @router.post("/expire")
    async def expire_now() -> dict:
        """Expire what is due now (the sweeper also does it every minute)."""
        return {"expired": await expire_due(context.payments)}

    return router
