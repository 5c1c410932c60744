"""The notify gRPC API (``govplat.notify.v1.NotifyService``, protos/govplat/notify/v1/).

Every call needs the gateway's principal (``x-govplat-principal`` metadata) for a
Notify API key; the caller's service is the principal's, and a request naming
another ``service_id`` is refused (``PERMISSION_DENIED``). Sending follows exactly
the REST rules (the same use cases); ``request_id`` makes a send idempotent: the
same id from the same service returns the notification first created. Errors are
the gRPC code of Notify's status with an ``ErrorInfo`` whose reason is Notify's
error name (``VALIDATION_ERROR``, ``BAD_REQUEST_ERROR`` ...).
"""

from __future__ import annotations

import base64
import uuid

import grpc
from sqlalchemy.exc import IntegrityError

from govkit.errors import InvalidArgumentError, PermissionDeniedError
from govplat.notify.v1 import notify_service_pb2 as pb
from govplat.notify.v1 import notify_service_pb2_grpc
from notify import repository, schemas
from notify.context import Context
from notify.models import Notification
from notify.service import Caller
from notify.service import notifications as notifications_service
from notify.service import templates as templates_service
from notify.service.notifications import EVENT_TYPES, timestamp

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["NotifyService"].full_name
TYPE_NAMES = {value: name for name, value in EVENT_TYPES.items()}
REQUEST_NAMESPACE = uuid.UUID("8a3c2f4e-77b1-4e55-a0a4-2f2b9d1c5e10")
MAX_PAGE_SIZE = 250


def notification_pb(n: Notification) -> pb.Notification:
    """A notification as the contract describes it."""
    return pb.Notification(
        id=n.id,
        service_id=n.service_id,
        reference=n.reference or "",
        type=EVENT_TYPES[n.type],
        status=notifications_service.api_status(n),
        template_id=n.template_id,
        template_version=n.template_version,
        create_time=timestamp(n.created_at),
        sent_time=timestamp(n.sent_at),
        completed_time=timestamp(notifications_service.completed_at(n)),
    )


def template_pb(t: templates_service.TemplateView) -> pb.Template:
    """A template version as the contract describes it."""
    return pb.Template(
        id=t.id,
        name=t.name,
        type=EVENT_TYPES[t.type],
        version=t.version,
        subject=t.subject or "",
        body=t.body,
    )


def _page_token(value: str) -> str | None:
    """A page token is the id of the last item of the previous page (base64)."""
    if not value:
        return None
    try:
        decoded = base64.urlsafe_b64decode(value.encode() + b"==").decode()
        return str(uuid.UUID(decoded))
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgumentError("INVALID_PAGE_TOKEN", "page_token is not valid") from None


def _next_token(items: list, page_size: int) -> str:
    if len(items) < page_size or not items:
        return ""
    return base64.urlsafe_b64encode(items[-1].id.encode()).decode().rstrip("=")


class NotifyServiceServicer(notify_service_pb2_grpc.NotifyServiceServicer):
    """Implements ``NotifyService`` on the same use cases as the REST API."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def _caller(self, grpc_context, service_id: str) -> Caller:
        principal = self.context.guard.from_grpc(grpc_context)
        if principal.api != "notify" or not principal.service_id:
            raise PermissionDeniedError("NOT_A_NOTIFY_KEY", "a Notify API key is required")
        if service_id and service_id != principal.service_id:
            raise PermissionDeniedError(
                "OTHER_SERVICE", "service_id is not the service of the credential"
            )
        return Caller.from_principal(principal)

    async def GetNotification(self, request, context):
        caller = self._caller(context, request.service_id)
        found = await notifications_service.get_notification(
            self.context.db, caller, request.notification_id
        )
        return pb.GetNotificationResponse(notification=notification_pb(found))

    async def ListNotifications(self, request, context):
        caller = self._caller(context, request.service_id)
        page_size = min(request.page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        if page_size < 0:
            raise InvalidArgumentError("INVALID_PAGE_SIZE", "page_size must not be negative")
        query: dict[str, list[str]] = {}
        if request.type:
            query["template_type"] = [TYPE_NAMES.get(request.type, "")]
        if request.status:
            query["status"] = [request.status]
        if request.reference:
            query["reference"] = [request.reference]
        older_than = _page_token(request.page_token)
        if older_than:
            query["older_than"] = [older_than]
        page = await notifications_service.list_notifications(self.context.db, caller, query)
        items = page.items[:page_size]
        return pb.ListNotificationsResponse(
            notifications=[notification_pb(n) for n in items],
            next_page_token=_next_token(items, page_size),
        )

    async def _send(self, caller: Caller, kind: str, request, data: dict):
        if request.request_id:
            identifier = str(
                uuid.uuid5(REQUEST_NAMESPACE, f"{caller.service_id}:{request.request_id}")
            )
            async with self.context.db.read() as session:
                existing = await repository.notification(
                    session, identifier, service_id=caller.service_id
                )
            if existing is not None:
                return existing
        else:
            identifier = None
        schemas.validate(data, schemas.POST_EMAIL if kind == "email" else schemas.POST_SMS)
        try:
            async with self.context.db.write() as session:
                sent = await notifications_service.send_in(
                    session,
                    caller,
                    kind,
                    data,
                    email_domain=self.context.settings.email_from_domain,
                    notification_id=identifier,
                )
        except IntegrityError:
            if identifier is None:
                raise
            # The same request_id at the same moment: the first one made it.
            async with self.context.db.read() as session:
                existing = await repository.notification(session, identifier)
            if existing is None:
                raise
            return existing
        async with self.context.db.read() as session:
            stored = await repository.notification(session, sent.id)
        if stored is None:  # a smoke-test recipient: answered, never stored
            return Notification(
                id=sent.id,
                service_id=caller.service_id,
                reference=sent.reference,
                type=kind,
                status="created",
                template_id=sent.template_id,
                template_version=sent.template_version,
                created_at=None,
            )
        return stored

    @staticmethod
    def _data(request, recipient_field: str, recipient: str) -> dict:
        data: dict = {recipient_field: recipient, "template_id": request.template_id}
        if request.personalisation:
            data["personalisation"] = dict(request.personalisation)
        if request.reference:
            data["reference"] = request.reference
        return data

    async def SendEmail(self, request, context):
        caller = self._caller(context, request.service_id)
        data = self._data(request, "email_address", request.email_address)
        stored = await self._send(caller, "email", request, data)
        return pb.SendEmailResponse(notification=notification_pb(stored))

    async def SendSms(self, request, context):
        caller = self._caller(context, request.service_id)
        data = self._data(request, "phone_number", request.phone_number)
        stored = await self._send(caller, "sms", request, data)
        return pb.SendSmsResponse(notification=notification_pb(stored))

    async def GetTemplate(self, request, context):
        caller = self._caller(context, request.service_id)
        if request.version < 0:
            raise InvalidArgumentError("INVALID_VERSION", "version must not be negative")
        try:
            template_id = str(uuid.UUID(request.template_id))
        except ValueError:
            raise InvalidArgumentError(
                "INVALID_TEMPLATE_ID", "template_id is not a valid UUID"
            ) from None
        found = await templates_service.get_template(
            self.context.db, caller, template_id, request.version or None
        )
        return pb.GetTemplateResponse(template=template_pb(found))

    async def ListTemplates(self, request, context):
        caller = self._caller(context, request.service_id)
        kind = TYPE_NAMES.get(request.type) if request.type else None
        found = await templates_service.list_templates(self.context.db, caller, kind)
        page_size = min(request.page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        start = 0
        if request.page_token:
            after = _page_token(request.page_token)
            ids = [t.id for t in found]
            start = ids.index(after) + 1 if after in ids else len(ids)
        items = found[start : start + page_size]
        return pb.ListTemplatesResponse(
            templates=[template_pb(t) for t in items],
            next_page_token=_next_token(items, page_size) if start + page_size < len(found) else "",
        )


def registrar(context: Context):
    """A function that adds the notify servicer to a gRPC server."""

    def register(server: grpc.aio.Server) -> None:
        notify_service_pb2_grpc.add_NotifyServiceServicer_to_server(
            NotifyServiceServicer(context), server
        )

    return register
