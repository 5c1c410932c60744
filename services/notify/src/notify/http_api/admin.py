"""Notify's admin API (``/admin/notify/...``) for operators: service settings, templates,
received text messages and the sandbox inbox.

Every route needs ``Authorization: Bearer <GOVPLAT_ADMIN_TOKEN>``; errors are
``{"error": REASON, "message": text}``.
"""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from govkit.errors import NotFoundError, UnauthenticatedError
from notify import repository
from notify.context import Context
from notify.models import NotifyService, SandboxMessage
from notify.service import notifications as notifications_service
from notify.service import services as services_service
from notify.service import templates as templates_service
from notify.service.callbacks import iso


class _Admin(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SettingsIn(_Admin):
    """A change to a service's settings; what is left out stays as it is."""

    name: str | None = Field(default=None, max_length=255)
    email_from: str | None = Field(default=None, max_length=64)
    email_reply_to: str | None = Field(default=None, max_length=320)
    sms_sender: str | None = Field(default=None, max_length=16)
    prefix_sms: StrictBool | None = None
    permissions: list[str] | None = Field(default=None, max_length=20)
    restricted: StrictBool | None = None
    team_members: list[str] | None = Field(default=None, max_length=1000)
    guest_list: list[str] | None = Field(default=None, max_length=1000)
    letter_contact_block: str | None = Field(default=None, max_length=2000)
    callback_url: str | None = Field(default=None, max_length=2000)
    callback_bearer_token: str | None = Field(default=None, max_length=2000)
    receipt_template_id: str | None = Field(default=None, max_length=36)


class TemplateIn(_Admin):
    """A new template."""

    id: uuid.UUID | None = None
    type: Literal["email", "sms", "letter"]
    name: str = Field(min_length=1, max_length=255)
    body: str = Field(min_length=1, max_length=templates_service.MAX_BODY)
    subject: str | None = Field(default=None, max_length=1000)
    postage: Literal["first", "second", "economy"] | None = None
    letter_contact_block: str | None = Field(default=None, max_length=2000)
    created_by: str = Field(default="operator@govplat.local", min_length=3, max_length=320)


class TemplateChange(_Admin):
    """A new version of a template; what is left out stays as it is."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    body: str | None = Field(default=None, min_length=1, max_length=templates_service.MAX_BODY)
    subject: str | None = Field(default=None, max_length=1000)
    postage: Literal["first", "second", "economy"] | None = None
    letter_contact_block: str | None = Field(default=None, max_length=2000)
    updated_by: str = Field(default="operator@govplat.local", min_length=3, max_length=320)


class ReceivedTextIn(_Admin):
    """A text message from a member of the public (what an inbound SMS webhook reports)."""

    user_number: str = Field(min_length=1, max_length=32)
    content: str = Field(min_length=1, max_length=918)
    notify_number: str | None = Field(default=None, max_length=16)


def settings_json(service: NotifyService) -> dict:
    """A service's settings; the callback token is never shown, only whether one is set."""
    return {
        "id": service.id,
        "name": service.name,
        "email_from": service.email_from,
        "email_reply_to": service.email_reply_to,
        "sms_sender": service.sms_sender,
        "prefix_sms": service.prefix_sms,
        "permissions": sorted(services_service.permissions(service)),
        "restricted": service.restricted,
        "team_members": [m for m in (service.team_members or "").split("\n") if m],
        "guest_list": [m for m in (service.guest_list or "").split("\n") if m],
        "letter_contact_block": service.letter_contact_block,
        "callback_url": service.callback_url,
        "callback_bearer_token_set": bool(service.callback_bearer_token),
        "receipt_template_id": service.receipt_template_id,
    }


def admin_template_json(template: templates_service.TemplateView) -> dict:
    """A template for operators (its archived flag included)."""
    return {
        "id": template.id,
        "service_id": template.service_id,
        "type": template.type,
        "name": template.name,
        "version": template.version,
        "subject": template.subject,
        "body": template.body,
        "postage": template.postage,
        "letter_contact_block": template.letter_contact_block,
        "archived": template.archived,
        "created_by": template.created_by,
        "created_at": iso(template.created_at),
        "updated_at": iso(template.updated_at),
        "personalisation": template.placeholders,
    }


def inbox_json(message: SandboxMessage, *, with_html: bool = False) -> dict:
    """One message of the sandbox inbox."""
    data = {
        "id": message.notification_id,
        "service_id": message.service_id,
        "key_type": message.key_type,
        "type": message.type,
        "to": message.recipient,
        "from": message.sender,
        "subject": message.subject,
        "body": message.body,
        "created_at": iso(message.created_at),
        "has_pdf": message.type == "letter",
    }
    if with_html:
        data["html"] = message.html
    return data


def _service_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFoundError("SERVICE_NOT_FOUND", "service ids are UUIDs") from None


def create_router(context: Context) -> APIRouter:
    """The ``/admin/notify`` routes."""

    def operator(request: Request) -> None:
        if not context.is_operator(request.headers.get("authorization")):
            raise UnauthenticatedError("UNAUTHENTICATED", "the operator token is required")

    router = APIRouter(prefix="/admin/notify", tags=["admin"], dependencies=[Depends(operator)])
    db = context.db

    @router.get("/services/{service_id}")
    async def get_service(service_id: str) -> dict:
        """A service's settings (the defaults, if it has none yet)."""
        return settings_json(await services_service.get_settings(db, _service_id(service_id)))

    @router.put("/services/{service_id}")
    async def change_service(service_id: str, change: SettingsIn) -> dict:
        """Change a service's settings."""
        updated = await services_service.update_settings(
            db,
            _service_id(service_id),
            services_service.SettingsChange(**change.model_dump()),
        )
        return settings_json(updated)

    @router.get("/services/{service_id}/templates")
    async def list_templates(service_id: str) -> dict:
        """Every template of a service, archived ones included."""
        found = await templates_service.all_templates(db, _service_id(service_id))
        return {"templates": [admin_template_json(t) for t in found]}

    @router.post("/services/{service_id}/templates", status_code=201)
    async def create_template(service_id: str, template: TemplateIn) -> JSONResponse:
        """Create a template (version 1)."""
        created = await templates_service.create_template(
            db,
            service_id=_service_id(service_id),
            template_type=template.type,
            name=template.name,
            body=template.body,
            subject=template.subject,
            postage=template.postage,
            letter_contact_block=template.letter_contact_block,
            created_by=template.created_by,
            template_id=str(template.id) if template.id else None,
        )
        return JSONResponse(admin_template_json(created), status_code=201)

    @router.get("/services/{service_id}/templates/{template_id}")
    async def get_template(service_id: str, template_id: str) -> dict:
        """One template at its current version."""
        for template in await templates_service.all_templates(db, _service_id(service_id)):
            if template.id == template_id:
                return admin_template_json(template)
        raise NotFoundError("TEMPLATE_NOT_FOUND", "no such template")

    @router.put("/services/{service_id}/templates/{template_id}")
    async def change_template(service_id: str, template_id: str, change: TemplateChange) -> dict:
        """Save a new version of a template."""
        updated = await templates_service.update_template(
            db,
            service_id=_service_id(service_id),
            template_id=template_id,
            name=change.name,
            body=change.body,
            subject=change.subject,
            postage=change.postage,
            letter_contact_block=change.letter_contact_block,
            updated_by=change.updated_by,
        )
        return admin_template_json(updated)

    @router.post("/services/{service_id}/templates/{template_id}/archive")
    async def archive_template(service_id: str, template_id: str) -> dict:
        """Archive a template: it can no longer be sent."""
        archived = await templates_service.archive_template(
            db, service_id=_service_id(service_id), template_id=template_id
        )
        return admin_template_json(archived)

    @router.post("/services/{service_id}/received-text-messages", status_code=201)
    async def receive_text(service_id: str, text: ReceivedTextIn) -> JSONResponse:
        """Record a text message sent to the service (the sandbox's inbound SMS)."""
        received = await notifications_service.receive_text(
            db,
            service_id=_service_id(service_id),
            user_number=text.user_number,
            content=text.content,
            notify_number=text.notify_number,
        )
        return JSONResponse(
            {
                "id": received.id,
                "user_number": received.user_number,
                "notify_number": received.notify_number,
                "content": received.content,
                "created_at": iso(received.created_at),
            },
            status_code=201,
        )

    @router.get("/services/{service_id}/sandbox-inbox")
    async def sandbox_inbox(
        service_id: str,
        limit: int = Query(default=50, ge=1, le=250),
        before: str | None = Query(default=None, max_length=36),
    ) -> dict:
        """The sandbox inbox of a service, newest first (``before``: a message id)."""
        identifier = _service_id(service_id)
        async with db.read() as session:
            anchor = await repository.sandbox_message(session, before) if before else None
            messages = await repository.sandbox_messages(
                session,
                service_id=identifier,
                before=(anchor.created_at, anchor.notification_id) if anchor else None,
                limit=limit,
            )
        return {"messages": [inbox_json(m) for m in messages]}

    @router.get("/sandbox-inbox/{notification_id}")
    async def sandbox_message(notification_id: str) -> dict:
        """One message of the sandbox inbox, with the email's HTML."""
        async with db.read() as session:
            message = await repository.sandbox_message(session, notification_id[:36])
        if message is None:
            raise NotFoundError("MESSAGE_NOT_FOUND", "no such message in the sandbox inbox")
        return inbox_json(message, with_html=True)

    @router.get("/sandbox-inbox/{notification_id}/pdf")
    async def sandbox_letter(notification_id: str) -> Response:
        """The PDF of a letter in the sandbox inbox."""
        async with db.read() as session:
            message = await repository.sandbox_message(session, notification_id[:36])
            pdf = await repository.letter_pdf(session, notification_id[:36]) if message else None
        if pdf is None:
            raise NotFoundError("PDF_NOT_FOUND", "no letter PDF for this message")
        return Response(pdf.pdf, media_type="application/pdf")

    return router
