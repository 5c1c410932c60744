"""GOV.UK Notify's public API v2 (``/v2/...``), exactly as the official clients see it.

Every route needs the principal the gateway forwards for a Notify API key; the
caller's service and key type come from it. Answers use Notify's field names,
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` timestamps and ``uri`` links under the platform's
public origin; errors use Notify's v2 envelope (:mod:`notify.errors`).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from govkit.principal import HEADER
from notify.context import Context
from notify.errors import NotifyError, auth_error, bad_request
from notify.models import Notification, ReceivedText
from notify.schemas import GET_TEMPLATE, GET_TEMPLATES, POST_TEMPLATE_PREVIEW, validate
from notify.service import Caller
from notify.service import notifications as notifications_service
from notify.service import templates as templates_service
from notify.service.callbacks import iso
from notify.service.notifications import Sent

#: The largest request body notify reads (bytes): a precompiled letter's base64.
MAX_BODY_BYTES = 8 * 1024 * 1024
NOTIFICATION_TYPES = ("sms", "email", "letter")
DELIVERY_DAYS = {"first": 1, "second": 2, "economy": 4, "europe": 5, "rest-of-world": 7}


def caller_of(context: Context, request: Request) -> Caller:
    """The caller, from the gateway's principal.

    Raises:
        notify.errors.NotifyError: 401/403 ``AuthError`` without a valid principal for a
            Notify key.
    """
    token = request.headers.get(HEADER)
    if not token:
        raise auth_error("Unauthorized: authentication token must be provided")
    try:
        principal = context.guard.verify(token)
    except Exception:
        raise auth_error(
            "Invalid token: requests must come through the govplat gateway", status=403
        ) from None
    if principal.api != "notify" or not principal.service_id:
        raise auth_error("Invalid token: not a Notify API key", status=403)
    return Caller.from_principal(principal)


async def json_body(request: Request, *, allow_empty: bool = False) -> object:
    """The request body as JSON, whatever its content type (Notify reads it with
    ``force=True``).

    Raises:
        notify.errors.NotifyError: 400 ``Invalid JSON supplied in POST data``; 413 for a
            body over :data:`MAX_BODY_BYTES`.
    """
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise NotifyError("BadRequestError", ["Request body too large"], status=413)
    if not raw.strip() and allow_empty:
        return {}

    def refuse_constant(_name: str) -> None:
        raise ValueError("NaN and Infinity are not JSON")

    def finite(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):  # 1e999
            raise ValueError("a number too large for a float")
        return value

    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=refuse_constant, parse_float=finite)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request("Invalid JSON supplied in POST data") from None
    _check_text(data)
    return data


#: How deep a request's JSON may nest (Notify's bodies need 3 levels).
MAX_DEPTH = 32


def _check_text(data: object) -> None:
    """Refuse what parses as JSON but cannot be stored or sent as text: a lone UTF-16
    surrogate (``"\\ud800"``, invalid JSON under RFC 8259 section 8.2), nesting deeper
    than :data:`MAX_DEPTH` (both ``Invalid JSON supplied in POST data``), and the NUL
    character (a ``ValidationError`` naming the field: PostgreSQL's text cannot hold it).

    Raises:
        notify.errors.NotifyError: 400.
    """
    stack: list[tuple[object, int, str]] = [(data, 0, "")]
    while stack:
        value, depth, field = stack.pop()
        if depth > MAX_DEPTH:
            raise bad_request("Invalid JSON supplied in POST data")
        if isinstance(value, str):
            strings = [value]
        elif isinstance(value, dict):
            strings = list(value)
            stack.extend((v, depth + 1, field or str(k)) for k, v in value.items())
        elif isinstance(value, list):
            strings = []
            stack.extend((v, depth + 1, field) for v in value)
        else:
            continue
        for text in strings:
            if "\x00" in text:
                raise NotifyError(
                    "ValidationError", [f"{field or 'request'} must not contain the NUL character"]
                )
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise bad_request("Invalid JSON supplied in POST data") from None


def _query(request: Request) -> dict[str, list[str]]:
    """A list route's query parameters, each name with its values in order.

    Raises:
        notify.errors.NotifyError: 400 ``ValidationError`` naming a parameter whose
            name or value holds the NUL character (nothing stored holds one, and
            PostgreSQL cannot compare text with it: the filter was a 500 there).
    """
    query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        if "\x00" in key or "\x00" in value:
            name = key.replace("\x00", "") or "request"
            raise NotifyError("ValidationError", [f"{name} must not contain the NUL character"])
        query.setdefault(key, []).append(value)
    return query


def _time(value: datetime | None) -> str | None:
    return iso(value)


def estimated_delivery(notification: Notification) -> str:
    """When a letter should arrive: working days after it was sent, by postage."""
    day = (notification.sent_at or notification.created_at).date()
    remaining = DELIVERY_DAYS.get(notification.postage or "second", 2)
    while remaining:
        day += timedelta(days=1)
        if day.weekday() < 5:
            remaining -= 1
    return f"{day.isoformat()}T16:00:00.000000Z"


def notification_json(context: Context, notification: Notification) -> dict:
    """``GET /v2/notifications/{id}``'s object (Notify ``serialize_with_cost_data``)."""
    cost_details, cost_in_pounds, ready = notifications_service.cost(
        notification, context.settings.sms_rate
    )
    data = {
        "id": notification.id,
        "reference": notification.reference,
        "email_address": notification.recipient if notification.type == "email" else None,
        "phone_number": notification.recipient if notification.type == "sms" else None,
        **notifications_service.address_lines(notification),
        "type": notification.type,
        "status": notifications_service.api_status(notification),
        "template": {
            "id": notification.template_id,
            "version": notification.template_version,
            "uri": f"{context.root}v2/template/{notification.template_id}/version/{notification.template_version}",
        },
        "body": notification.body,
        "subject": notification.subject if notification.type != "sms" else None,
        "created_at": _time(notification.created_at),
        "created_by_name": None,
        "sent_at": _time(notification.sent_at),
        "completed_at": _time(notifications_service.completed_at(notification)),
        "scheduled_for": None,
        "postage": notification.postage if notification.type == "letter" else None,
        "one_click_unsubscribe_url": notification.one_click_unsubscribe_url,
        "cost_details": cost_details,
        "cost_in_pounds": cost_in_pounds,
        "is_cost_data_ready": ready,
    }
    if notification.type == "letter":
        data["estimated_delivery"] = estimated_delivery(notification)
    return data


def sent_json(context: Context, sent: Sent) -> dict:
    """The 201 answer of ``POST /v2/notifications/{type}``."""
    if sent.precompiled:
        return {"id": sent.id, "reference": sent.reference, "postage": sent.postage}
    if sent.type == "sms":
        content = {"body": sent.body, "from_number": sent.from_address}
    elif sent.type == "email":
        content = {
            "from_email": sent.from_address,
            "body": sent.body,
            "subject": sent.subject,
            "one_click_unsubscribe_url": sent.one_click_unsubscribe_url,
        }
    else:
        content = {"body": sent.body, "subject": sent.subject}
    data = {
        "id": sent.id,
        "reference": sent.reference,
        "content": content,
        "uri": f"{context.root}v2/notifications/{sent.id}",
        "template": {
            "id": sent.template_id,
            "version": sent.template_version,
            "uri": f"{context.root}services/{sent.service_id}/templates/{sent.template_id}",
        },
        "scheduled_for": None,
    }
    if sent.type == "email":
        data["sanitised_content"] = sent.sanitised_content
    return data


def template_json(template: templates_service.TemplateView) -> dict:
    """``GET /v2/template/{id}``'s object (Notify ``serialize_for_v2``)."""
    return {
        "id": template.id,
        "type": template.type,
        "created_at": _time(template.created_at),
        "updated_at": _time(template.updated_at),
        "created_by": template.created_by,
        "version": template.version,
        "body": template.body,
        "subject": template.subject,
        "name": template.name,
        "personalisation": {name: {"required": True} for name in template.placeholders},
        "postage": template.postage,
        "letter_contact_block": template.letter_contact_block,
    }


def received_text_json(text: ReceivedText) -> dict:
    """One of ``GET /v2/received-text-messages``'s items."""
    return {
        "id": text.id,
        "user_number": text.user_number,
        "notify_number": text.notify_number,
        "created_at": _time(text.created_at),
        "service_id": text.service_id,
        "content": text.content,
    }


def _link(base: str, pairs: list[tuple[str, str]]) -> str:
    return f"{base}?{urlencode(pairs)}" if pairs else base


def list_links(base: str, filters: dict, last_id: str | None) -> dict:
    """``links.current`` (the same filters) and, after a non-empty page, ``links.next``
    with ``older_than`` first (the official client takes the first UUID it finds)."""
    pairs: list[tuple[str, str]] = []
    for key, value in filters.items():
        if key == "older_than":
            continue
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, str(item)))
    current = [("older_than", filters["older_than"])] if filters.get("older_than") else []
    links = {"current": _link(base, current + pairs)}
    if last_id is not None:
        links["next"] = _link(base, [("older_than", last_id), *pairs])
    return links


def create_router(context: Context) -> APIRouter:
    """The ``/v2`` routes."""
    router = APIRouter(prefix="/v2", tags=["GOV.UK Notify API v2"])
    db = context.db

    @router.post("/notifications/{notification_type}", status_code=201)
    async def send_notification(notification_type: str, request: Request) -> Response:
        """Send an email, a text message or a letter (a body with ``content`` is a
        precompiled PDF letter)."""
        if notification_type not in NOTIFICATION_TYPES:
            return not_found_response()
        caller = caller_of(context, request)
        data = await json_body(request)
        sent = await notifications_service.send(
            db, caller, notification_type, data, email_domain=context.settings.email_from_domain
        )
        return JSONResponse(sent_json(context, sent), status_code=201)

    @router.get("/notifications/{notification_id}")
    async def get_notification(notification_id: str, request: Request) -> Response:
        """One notification of the caller's service."""
        caller = caller_of(context, request)
        found = await notifications_service.get_notification(db, caller, notification_id)
        return JSONResponse(notification_json(context, found))

    @router.get("/notifications/{notification_id}/pdf")
    async def get_letter_pdf(notification_id: str, request: Request) -> Response:
        """The PDF of a letter."""
        caller = caller_of(context, request)
        pdf = await notifications_service.letter_pdf(db, caller, notification_id)
        return Response(pdf, media_type="application/pdf")

    @router.get("/notifications")
    async def list_notifications(request: Request) -> Response:
        """The caller's notifications (same key type), newest first, 250 a page."""
        caller = caller_of(context, request)
        query = _query(request)
        page = await notifications_service.list_notifications(db, caller, query)
        last = page.items[-1].id if page.items else None
        return JSONResponse(
            {
                "notifications": [notification_json(context, n) for n in page.items],
                "links": list_links(f"{context.root}v2/notifications", page.filters, last),
            }
        )

    @router.get("/template/{template_id}")
    async def get_template(template_id: str, request: Request) -> Response:
        """A template at its current version."""
        caller = caller_of(context, request)
        validate({"id": template_id}, GET_TEMPLATE)
        template = await templates_service.get_template(db, caller, _uuid(template_id))
        return JSONResponse(template_json(template))

    @router.get("/template/{template_id}/version/{version}")
    async def get_template_version(template_id: str, version: str, request: Request) -> Response:
        """A template at one version (version 0 means the current one, as in Notify)."""
        if not (version.isascii() and version.isdigit()) or len(version) > 9:
            return not_found_response()
        caller = caller_of(context, request)
        number = int(version)
        data: dict = {"id": template_id}
        if number:
            data["version"] = number
        validate(data, GET_TEMPLATE)
        template = await templates_service.get_template(
            db, caller, _uuid(template_id), number or None
        )
        return JSONResponse(template_json(template))

    @router.post("/template/{template_id}/preview")
    async def preview_template(template_id: str, request: Request) -> Response:
        """A template filled with personalisation, without sending it."""
        caller = caller_of(context, request)
        body = await json_body(request, allow_empty=True)
        data = dict(body) if isinstance(body, dict) else body
        if isinstance(data, dict):
            data["id"] = template_id
        validate(data, POST_TEMPLATE_PREVIEW)
        preview = await templates_service.preview(
            db, caller, _uuid(template_id), data.get("personalisation")
        )
        return JSONResponse(
            {
                "id": preview.template.id,
                "type": preview.template.type,
                "version": preview.template.version,
                "body": preview.body,
                "html": preview.html,
                "subject": preview.subject,
                "postage": preview.template.postage,
            }
        )

    @router.get("/templates")
    async def list_templates(request: Request) -> Response:
        """The caller's templates, by name then type."""
        caller = caller_of(context, request)
        # the first of a repeated key, as Flask's to_dict()
        query = {key: values[0] for key, values in _query(request).items()}
        validate(query, GET_TEMPLATES)
        found = await templates_service.list_templates(db, caller, query.get("type"))
        return JSONResponse({"templates": [template_json(t) for t in found]})

    @router.get("/received-text-messages")
    async def received_text_messages(request: Request) -> Response:
        """Text messages sent to the caller's service, newest first, 250 a page."""
        caller = caller_of(context, request)
        query = _query(request)
        page = await notifications_service.list_received_texts(db, caller, query)
        base = f"{context.root}v2/received-text-messages"
        links = {"current": base}
        if page.items:
            links["next"] = f"{base}?older_than={page.items[-1].id}"
        return JSONResponse(
            {
                "received_text_messages": [received_text_json(t) for t in page.items],
                "links": links,
            }
        )

    return router


def _uuid(value: str) -> str:
    from notify.schemas import canonical_uuid

    return canonical_uuid(value)


#: Notify's answer outside its v2 handlers (Flask's own 404), in its internal shape.
NOT_FOUND_MESSAGE = (
    "The requested URL was not found on the server. If you entered the URL manually "
    "please check your spelling and try again."
)


def not_found_response() -> JSONResponse:
    """``404 {"result": "error", "message": ...}`` (Notify's shape for unknown paths)."""
    return JSONResponse({"result": "error", "message": NOT_FOUND_MESSAGE}, status_code=404)
