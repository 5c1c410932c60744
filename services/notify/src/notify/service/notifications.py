"""Sending and reading notifications, in GOV.UK Notify's order of checks.

Sending (``app/v2/notifications/post_notifications.py``): the request schema (every
invalid field at once) → scheduling → the service's permission for the channel →
the template (``Template not found``, wrong type, ``Template has been deleted``,
``Missing personalisation: a, b``, ``Your message is empty.``) → sender ids → the
recipient (team keys and trial mode: team members and the guest list only;
international numbers need ``international_sms``; UK landlines
``sms_to_uk_landlines``) → length → stored with its ``NotificationCreated`` event in
one transaction → 201. The smoke-test recipients are validated and answered but
never stored.

Reading: a service reads any of its notifications by id; lists show only those
made with the same key type as the caller's key, newest first, 250 a page.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import Database, utcnow
from govkit.errors import InvalidArgumentError
from govkit.events import inject_trace_headers
from govkit.group_commit import GroupCommit
from govkit.outbox import add_event, add_rows, outbox_row
from govplat.notify.v1 import events_pb2, notify_service_pb2
from notify import repository, schemas
from notify.errors import NotifyError, bad_request, not_found, validation_error
from notify.models import LetterPdf, Notification, NotifyService, ReceivedText, Template, messaging
from notify.recipients import normalise_email, parse_phone_number, strip_whitespace
from notify.service import FAILED_STATUSES, FINAL_STATUSES, Caller
from notify.service.letters import ADDRESS_KEYS, validate_address
from notify.service.services import members, permissions, settings_in
from notify.templating import letter as letter_format
from notify.templating import sms as sms_rules
from notify.templating.placeholders import Personalisation
from notify.templating.render import EMAIL_MAX_BYTES, render, sanitise_personalisation

SOURCE = "//govplat/notify"
#: Smoke-test recipients: validated and answered, never stored or sent (Notify ``SIMULATED_*``).
SMOKE_TEST_PHONE_NUMBERS = frozenset({"447700900000", "447700900111", "447700900222"})
SMOKE_TEST_EMAILS = frozenset(
    {
        "simulate-delivered@notifications.service.gov.uk",
        "simulate-delivered-2@notifications.service.gov.uk",
        "simulate-delivered-3@notifications.service.gov.uk",
    }
)
CHANNEL_NAMES = {"sms": "text messages", "email": "emails", "letter": "letters"}
EVENT_TYPES = {
    "email": notify_service_pb2.NOTIFICATION_TYPE_EMAIL,
    "sms": notify_service_pb2.NOTIFICATION_TYPE_SMS,
    "letter": notify_service_pb2.NOTIFICATION_TYPE_LETTER,
}
TEAM_ONLY = "Can\u2019t send to this recipient using a team-only API key"
TRIAL_MODE = (
    "Can\u2019t send to this recipient when service is in trial mode \u2013 see "
    "https://www.notifications.service.gov.uk/trial-mode"
)
#: The largest precompiled letter accepted (bytes of PDF).
MAX_PRECOMPILED_BYTES = 5 * 1024 * 1024
PRECOMPILED_NAMESPACE = uuid.UUID("6f1d8a7e-1c0b-4f55-9d0e-3e8d2b6c9a41")


@dataclass(frozen=True)
class Sent:
    """What ``POST /v2/notifications/...`` answers about a notification it accepted.

    ``from_address`` is the email's From address or the text message's sender;
    ``sanitised_content`` is Notify's record of values changed by
    ``sanitise_content_for``.
    """

    id: str
    service_id: str
    type: str
    reference: str | None
    template_id: str
    template_version: int
    body: str
    subject: str | None
    from_address: str | None = None
    one_click_unsubscribe_url: str | None = None
    postage: str | None = None
    sanitised_content: dict = field(default_factory=dict)
    precompiled: bool = False


def _schema_for(notification_type: str, data: object) -> dict:
    if notification_type == "sms":
        return schemas.POST_SMS
    if notification_type == "email":
        return schemas.POST_EMAIL
    if isinstance(data, dict) and "content" in data:
        return schemas.POST_PRECOMPILED_LETTER
    return schemas.POST_LETTER


async def send(
    db: Database,
    caller: Caller,
    notification_type: str,
    data: object,
    *,
    email_domain: str,
) -> Sent:
    """Accept one notification (``notification_type``: ``sms``, ``email`` or ``letter``).

    ``data`` is the request's JSON body; a letter body with ``content`` is a
    precompiled PDF letter.

    Raises:
        notify.errors.NotifyError: Notify's 400/403 errors, in Notify's order.
    """
    schemas.validate(data, _schema_for(notification_type, data))
    assert isinstance(data, dict)
    if data.get("scheduled_for"):
        raise bad_request("Cannot schedule notifications (this feature is invite-only)")
    if notification_type != "letter" or "content" not in data:
        pending = _Pending(caller, notification_type, data, email_domain, inject_trace_headers())
        outcome = await _sends(db).submit(pending)
        if isinstance(outcome, NotifyError):
            raise outcome
        if outcome is not None:
            return outcome
    # A precompiled letter, a service without settings yet, or a batch that failed: alone.
    async with db.write() as session:
        if notification_type == "letter" and "content" in data:
            return await send_precompiled_in(session, caller, data)
        return await send_in(session, caller, notification_type, data, email_domain=email_domain)


@dataclass(frozen=True)
class _Pending:
    """A send waiting for :func:`_send_batch`, after the schema check, with its
    request's trace context (``trace``) for its outbox event."""

    caller: Caller
    notification_type: str
    data: dict
    email_domain: str
    trace: dict[str, str]


_SENDS: weakref.WeakKeyDictionary[Database, GroupCommit[_Pending, Sent | NotifyError | None]] = (
    weakref.WeakKeyDictionary()
)


def _sends(db: Database) -> GroupCommit[_Pending, Sent | NotifyError | None]:
    """The group commit of ``db``'s sends (one per database)."""
    commit = _SENDS.get(db)
    if commit is None:
        commit = _SENDS[db] = GroupCommit(lambda pending: _send_batch(db, pending))
    return commit


async def _send_batch(db: Database, pending: list[_Pending]) -> list[Sent | NotifyError | None]:
    """Accept the sends of ``pending`` in one write transaction (group commit): each is
    checked by :func:`accept` as on its own, and what it stores (its notification and
    its ``NotificationCreated`` outbox event) is written with the others' in one
    statement per table.

    Returns one result per entry: the answer, the Notify error it is refused with, or
    ``None`` for an entry left to :func:`send_in` (its service has no settings yet,
    which :func:`send_in` makes); ``None`` for every entry when the transaction fails,
    so that each gets its own answer.
    """
    try:
        async with db.write() as session:
            services: dict[str, NotifyService | None] = {}
            templates: dict[tuple[str, str], Template | None] = {}
            results: list[Sent | NotifyError | None] = []
            rows: list[Notification] = []
            events: list[dict] = []
            for entry in pending:
                service_id = entry.caller.service_id
                if service_id not in services:
                    services[service_id] = await repository.service(session, service_id)
                service = services[service_id]
                if service is None:
                    results.append(None)
                    continue
                template_key = (service_id, schemas.canonical_uuid(entry.data["template_id"]))
                if template_key not in templates:
                    templates[template_key] = await repository.template(session, *template_key)
                try:
                    sent, row = accept(
                        service,
                        templates[template_key],
                        entry.caller,
                        entry.notification_type,
                        entry.data,
                        email_domain=entry.email_domain,
                    )
                except NotifyError as error:
                    results.append(error)
                    continue
                results.append(sent)
                if row is not None:
                    rows.append(row)
                    events.append(
                        outbox_row(
                            _created(sent.id, service_id, entry.notification_type),
                            source=SOURCE,
                            subject=sent.id,
                            trace_headers=entry.trace,
                        )
                    )
            if rows:
                # One executemany, without the unit of work's bookkeeping per object.
                await session.execute(insert(Notification), [_values(row) for row in rows])
                await add_rows(session, messaging, events)
    except Exception:
        return [None] * len(pending)
    return results


def _values(row: Notification) -> dict:
    """The column values set on a new, not yet added notification (for a bulk insert)."""
    return {key: value for key, value in vars(row).items() if not key.startswith("_sa_")}


def _check_recipient(service: NotifyService, caller: Caller, normalised: str) -> None:
    if caller.key_type == "test":
        return
    if caller.key_type == "team" and normalised not in members(service):
        raise bad_request(TEAM_ONLY)
    if service.restricted and normalised not in members(service):
        raise bad_request(TRIAL_MODE)


async def send_in(
    session: AsyncSession,
    caller: Caller,
    notification_type: str,
    data: dict,
    *,
    email_domain: str,
    notification_id: str | None = None,
) -> Sent:
    """:func:`send` inside the caller's open write transaction, after the schema check
    (event handlers use it with their own ``notification_id``, derived from the event,
    so that the same event always means the same notification)."""
    service = await settings_in(session, caller.service_id)
    template = await repository.template(
        session, caller.service_id, schemas.canonical_uuid(data["template_id"])
    )
    sent, row = accept(
        service,
        template,
        caller,
        notification_type,
        data,
        email_domain=email_domain,
        notification_id=notification_id,
    )
    if row is None:
        return sent
    session.add(row)
    await session.flush()
    await _created_event(session, sent.id, caller.service_id, notification_type)
    return sent


def accept(
    service: NotifyService,
    template: Template | None,
    caller: Caller,
    notification_type: str,
    data: dict,
    *,
    email_domain: str,
    notification_id: str | None = None,
) -> tuple[Sent, Notification | None]:
    """Notify's checks of a send after the schema check, in Notify's order, with the
    service's settings and the template it names (``None``: there is none); no I/O.
    Returns the answer and the notification to store (``None`` for a smoke-test
    recipient, answered but never stored).

    Raises:
        notify.errors.NotifyError: Notify's 400/403 errors, in Notify's order.
    """
    allowed = permissions(service)
    if notification_type not in allowed:
        raise bad_request(f"Service is not allowed to send {CHANNEL_NAMES[notification_type]}")
    if notification_type == "letter":
        _check_letter_key(service, caller)
    if template is None or template.hidden:
        raise bad_request("Template not found")
    if template.type != notification_type:
        raise bad_request(
            f"{template.type} template is not suitable for {notification_type} notification"
        )
    if template.archived:
        raise bad_request("Template has been deleted")
    values = data.get("personalisation") or {}
    if notification_type == "email" and any(
        isinstance(v, dict) and "file" in v for v in values.values()
    ):
        # prepare_upload's {"file": ...}: Notify's answer without the permission to send files.
        raise bad_request("Service is not allowed to send documents")
    sanitised: dict = {}
    if notification_type == "email" and data.get("sanitise_content_for"):
        values, sanitised = sanitise_personalisation(values, data["sanitise_content_for"])
    missing = Personalisation(values).missing(
        template.subject if notification_type != "sms" else None, template.body
    )
    if missing:
        raise bad_request(f"Missing personalisation: {', '.join(missing)}")
    prefix = service.name if notification_type == "sms" and service.prefix_sms else None
    rendered = render(notification_type, template.body, template.subject, values, sms_prefix=prefix)
    if not rendered.body.strip():
        raise bad_request("Your message is empty.")
    for field_name in ("sms_sender_id", "email_reply_to_id"):
        if data.get(field_name):
            raise bad_request(
                f"{field_name} {data[field_name]} does not exist in database for service id {caller.service_id}"
            )

    recipient: str | None
    normalised: str | None
    international = False
    multiplier = 1.0
    smoke_test = False
    postage = None
    if notification_type == "sms":
        recipient = strip_whitespace(data["phone_number"])
        phone = parse_phone_number(recipient)
        normalised = phone.normalised
        smoke_test = normalised in SMOKE_TEST_PHONE_NUMBERS
        if not smoke_test:
            _check_recipient(service, caller, normalised)
        if not phone.is_uk and "international_sms" not in allowed:
            raise bad_request("Cannot send to international mobile numbers")
        if phone.is_uk_landline and "sms_to_uk_landlines" not in allowed:
            raise NotifyError("InvalidPhoneError", ["Not a UK mobile number"])
        international = phone.international
        multiplier = float(phone.rate_multiplier)
        if rendered.length > sms_rules.MAX_CHARACTERS:
            raise bad_request(
                f"Your message is too long. Text messages cannot be longer than "
                f"{sms_rules.MAX_CHARACTERS} characters. Your message is {rendered.length} characters long."
            )
        sender = service.sms_sender
    elif notification_type == "email":
        recipient = strip_whitespace(data["email_address"])
        normalised = normalise_email(recipient)
        smoke_test = normalised in SMOKE_TEST_EMAILS
        if not smoke_test:
            _check_recipient(service, caller, normalised)
        if rendered.length > EMAIL_MAX_BYTES:
            raise bad_request(
                f"Your message is too long. Emails cannot be longer than {EMAIL_MAX_BYTES} bytes. "
                f"Your message is {rendered.length} bytes."
            )
        sender = f"{service.email_from}@{email_domain}"
    else:
        address = validate_address(values, international_allowed="international_letters" in allowed)
        for texts, what in (
            (address.lines, "The address"),
            ([rendered.subject, rendered.body], "The letter"),
        ):
            missing_glyphs = letter_format.unprintable(*texts)
            if missing_glyphs:
                shown = ", ".join(missing_glyphs[:10])
                raise validation_error(
                    [f"{what} contains characters that cannot be printed: {shown}"]
                )
        recipient = "\n".join(address.lines)
        normalised = None
        international = address.international
        postage = address.postage_zone or template.postage or "second"
        sender = None

    identifier = notification_id or str(uuid.uuid4())
    sent = Sent(
        id=identifier,
        service_id=caller.service_id,
        type=notification_type,
        reference=data.get("reference"),
        template_id=template.id,
        template_version=template.version,
        body=rendered.body,
        subject=rendered.subject if notification_type != "sms" else None,
        from_address=sender,
        one_click_unsubscribe_url=data.get("one_click_unsubscribe_url"),
        postage=postage,
        sanitised_content=sanitised,
    )
    if smoke_test:
        return sent, None
    now = utcnow()
    return sent, Notification(
        id=identifier,
        service_id=caller.service_id,
        template_id=template.id,
        template_version=template.version,
        api_key_id=caller.api_key_id,
        key_type=caller.key_type,
        type=notification_type,
        recipient=recipient,
        normalised_to=normalised,
        personalisation=json.dumps(values, ensure_ascii=False, default=str),
        reference=data.get("reference"),
        status="created",
        body=rendered.body,
        subject=sent.subject,
        sender=sender,
        reply_to=service.email_reply_to if notification_type == "email" else None,
        one_click_unsubscribe_url=sent.one_click_unsubscribe_url,
        postage=postage,
        precompiled=False,
        billable_units=rendered.fragments if notification_type == "sms" else 0,
        international=international,
        rate_multiplier=multiplier,
        delivery_attempts=0,
        created_at=now,
    )


def _check_letter_key(service: NotifyService, caller: Caller) -> None:
    if caller.key_type == "team":
        raise bad_request("Cannot send letters with a team api key", status=403)
    if service.restricted and caller.key_type != "test":
        raise bad_request("Cannot send letters when service is in trial mode", status=403)


async def _created_event(
    session: AsyncSession, identifier: str, service_id: str, kind: str
) -> None:
    await add_event(
        session,
        messaging,
        _created(identifier, service_id, kind),
        source=SOURCE,
        subject=identifier,
    )


def _created(identifier: str, service_id: str, kind: str) -> events_pb2.NotificationCreated:
    return events_pb2.NotificationCreated(
        notification_id=identifier, service_id=service_id, type=EVENT_TYPES[kind]
    )


async def _precompiled_template(session: AsyncSession, service_id: str) -> Template:
    """The service's hidden template that precompiled letters point at (Notify has one too)."""
    identifier = str(uuid.uuid5(PRECOMPILED_NAMESPACE, service_id))
    template = await session.get(Template, identifier)
    if template is None:
        now = utcnow()
        template = Template(
            id=identifier,
            service_id=service_id,
            type="letter",
            name="Pre-compiled PDF",
            subject="Pre-compiled PDF",
            body="",
            version=1,
            postage="second",
            created_by="govplat",
            archived=False,
            hidden=True,
            created_at=now,
        )
        session.add(template)
        await session.flush()
    return template


async def send_precompiled_in(session: AsyncSession, caller: Caller, data: dict) -> Sent:
    """Accept a precompiled PDF letter (``content``: the PDF in base64). It waits in
    ``pending-virus-check`` until delivery scans and checks it.

    Raises:
        notify.errors.NotifyError: 400 ``Cannot decode letter content (invalid base64
            encoding)``, a file too large, no letter permission; 403 for team keys.
    """
    service = await settings_in(session, caller.service_id)
    if "letter" not in permissions(service):
        raise bad_request("Service is not allowed to send letters")
    _check_letter_key(service, caller)
    try:
        # MIME base64 (76-character lines) decodes too, as in Notify; other stray
        # characters do not.
        pdf = base64.b64decode("".join(data["content"].split()), validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("Cannot decode letter content (invalid base64 encoding)") from None
    if not pdf:
        raise bad_request("Letter content is not a valid PDF")
    if len(pdf) > MAX_PRECOMPILED_BYTES:
        raise bad_request(
            f"Letter file must be smaller than {MAX_PRECOMPILED_BYTES // (1024 * 1024)}MB"
        )
    template = await _precompiled_template(session, caller.service_id)
    identifier = str(uuid.uuid4())
    postage = data.get("postage") or "second"
    session.add(
        Notification(
            id=identifier,
            service_id=caller.service_id,
            template_id=template.id,
            template_version=template.version,
            api_key_id=caller.api_key_id,
            key_type=caller.key_type,
            type="letter",
            recipient=None,
            normalised_to=None,
            personalisation="{}",
            reference=data["reference"],
            status="pending-virus-check",
            body="",
            subject="Pre-compiled PDF",
            postage=postage,
            precompiled=True,
            billable_units=0,
            international=False,
            rate_multiplier=1.0,
            delivery_attempts=0,
            created_at=utcnow(),
        )
    )
    await session.flush()
    session.add(LetterPdf(notification_id=identifier, pdf=pdf, pages=0, created_at=utcnow()))
    await _created_event(session, identifier, caller.service_id, "letter")
    return Sent(
        id=identifier,
        service_id=caller.service_id,
        type="letter",
        reference=data["reference"],
        template_id=template.id,
        template_version=template.version,
        body="",
        subject="Pre-compiled PDF",
        postage=postage,
        precompiled=True,
    )


async def get_notification(db: Database, caller: Caller, notification_id: str) -> Notification:
    """One of the caller's service's notifications (any key type, as in Notify).

    Raises:
        notify.errors.NotifyError: 400 ``notification_id is not a valid UUID``; 404.
    """
    schemas.validate({"notification_id": notification_id}, schemas.GET_NOTIFICATION)
    async with db.read() as session:
        found = await repository.notification(
            session, schemas.canonical_uuid(notification_id), service_id=caller.service_id
        )
    if found is None:
        raise not_found()
    return found


def _statuses(requested: list[str]) -> list[str]:
    out: list[str] = []
    for status in requested:
        if status == "failed":
            out += [*FAILED_STATUSES, "failed"]
        elif status == "accepted":
            out += ["created", "sending", "accepted"]
        elif status == "received":
            out += ["delivered", "received"]
        else:
            out.append(status)
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Page:
    """A page of a list, and the filters it was made with (for its links)."""

    items: list
    filters: dict


async def list_notifications(db: Database, caller: Caller, query: dict) -> Page:
    """A page of the caller's notifications of the same key type, newest first.

    ``query``: the query parameters as lists (``status`` and ``template_type`` may
    repeat; one value is used of ``older_than``, ``reference`` and ``include_jobs``).

    Raises:
        notify.errors.NotifyError: 400 ``ValidationError`` for unknown or bad parameters.
    """
    data: dict = {key: list(values) for key, values in query.items()}
    for single in ("older_than", "reference", "include_jobs"):
        if single in data:
            data[single] = data[single][0]
    schemas.validate(data, schemas.GET_NOTIFICATIONS)
    async with db.read() as session:
        items = await repository.notifications(
            session,
            service_id=caller.service_id,
            key_type=caller.key_type,
            statuses=_statuses(data.get("status", [])),
            types=data.get("template_type"),
            reference=data.get("reference"),
            older_than=schemas.canonical_uuid(data["older_than"])
            if data.get("older_than")
            else None,
        )
    return Page(items=items, filters=data)


async def list_received_texts(db: Database, caller: Caller, query: dict) -> Page:
    """A page of the text messages sent to the caller's service, newest first.

    Raises:
        notify.errors.NotifyError: 400 ``ValidationError`` for anything but ``older_than``.
    """
    data: dict = {key: values[0] for key, values in query.items()}
    schemas.validate(data, schemas.GET_RECEIVED_TEXTS)
    async with db.read() as session:
        items = await repository.received_texts(
            session,
            service_id=caller.service_id,
            older_than=schemas.canonical_uuid(data["older_than"])
            if data.get("older_than")
            else None,
        )
    return Page(items=items, filters=data)


async def receive_text(
    db: Database,
    *,
    service_id: str,
    user_number: str,
    content: str,
    notify_number: str | None = None,
) -> ReceivedText:
    """Record a text message a member of the public sent to a service (what an SMS
    provider's inbound webhook, or the sandbox, reports).

    Raises:
        govkit.errors.InvalidArgumentError: ``user_number`` is not a phone number, or the
            content is empty or over 918 characters.
    """
    try:
        number = parse_phone_number(user_number).normalised
    except ValueError as exc:
        raise InvalidArgumentError("INVALID_USER_NUMBER", f"user_number: {exc}") from None
    if not content or len(content) > sms_rules.MAX_CHARACTERS or "\x00" in content:
        raise InvalidArgumentError(
            "INVALID_CONTENT", "content must be 1 to 918 characters, without NUL"
        )
    async with db.write() as session:
        service = await settings_in(session, service_id)
        text = ReceivedText(
            id=str(uuid.uuid4()),
            service_id=service_id,
            user_number=number,
            notify_number=notify_number or service.sms_sender,
            content=content,
            created_at=utcnow(),
        )
        session.add(text)
    return text


async def letter_pdf(db: Database, caller: Caller, notification_id: str) -> bytes:
    """The PDF of one of the caller's letters.

    Raises:
        notify.errors.NotifyError: 400 ``Notification is not a letter``, ``File did not
            pass the virus scan``, ``PDF not available for letters in technical-failure``,
            ``PDFNotReadyError``; 404.
    """
    notification = await get_notification(db, caller, notification_id)
    if notification.type != "letter":
        raise bad_request("Notification is not a letter")
    if notification.status == "virus-scan-failed":
        raise bad_request("File did not pass the virus scan")
    if notification.status in ("technical-failure", "validation-failed"):
        raise bad_request(f"PDF not available for letters in {notification.status}")
    async with db.read() as session:
        pdf = await repository.letter_pdf(session, notification.id)
    if pdf is None or notification.status == "pending-virus-check":
        raise NotifyError("PDFNotReadyError", ["PDF not available yet, try again later"])
    return pdf.pdf


def address_lines(notification: Notification) -> dict[str, str | None]:
    """``line_1`` ... ``line_6`` and ``postcode`` of a letter, as the caller supplied them
    (the personalisation's ``address_line_1`` ... ``address_line_6`` and ``postcode``)."""
    values = Personalisation(json.loads(notification.personalisation or "{}"))
    out: dict[str, str | None] = {}
    for n, key in enumerate(ADDRESS_KEYS[:6], start=1):
        value = values.get(key) if notification.type == "letter" else None
        out[f"line_{n}"] = None if value is None else str(value)
    postcode = values.get("postcode") if notification.type == "letter" else None
    out["postcode"] = None if postcode is None else str(postcode)
    return out


#: Sandbox letter prices in pounds: (postage, sheets) → price (first sheet, then each extra).
LETTER_RATES = {
    "second": (0.64, 0.05),
    "economy": (0.59, 0.05),
    "first": (1.25, 0.05),
    "europe": (1.55, 0.05),
    "rest-of-world": (1.55, 0.05),
}


def cost(notification: Notification, sms_rate: float) -> tuple[dict, float | None, bool]:
    """Notify's ``(cost_details, cost_in_pounds, is_cost_data_ready)``.

    Text messages: fragments x international multiplier x ``sms_rate`` (pounds), known
    once the message has left ``created``; emails cost nothing; letters are priced by
    postage and sheets of paper once printed.
    """
    if notification.type == "email":
        return {}, 0.0, True
    if notification.type == "sms":
        if notification.status == "created":
            return {}, None, False
        details = {
            "billable_sms_fragments": notification.billable_units,
            "international_rate_multiplier": notification.rate_multiplier,
            "sms_rate": sms_rate,
        }
        return (
            details,
            round(notification.billable_units * notification.rate_multiplier * sms_rate, 4),
            True,
        )
    if notification.billable_units == 0:
        return {}, None, False
    first, extra = LETTER_RATES.get(notification.postage or "second", LETTER_RATES["second"])
    price = round(first + extra * (notification.billable_units - 1), 2)
    return (
        {"billable_sheets_of_paper": notification.billable_units, "postage": notification.postage},
        price,
        True,
    )


def api_status(notification: Notification) -> str:
    """The status the API shows: letters say ``accepted`` while being made and sent,
    and ``received`` once delivered (Notify's letter mapping)."""
    if notification.type == "letter":
        if notification.status in ("created", "sending"):
            return "accepted"
        if notification.status in ("delivered", "returned-letter"):
            return "received"
    return notification.status


def completed_at(notification: Notification) -> datetime | None:
    """``updated_at`` once the status is final, else ``None`` (Notify's ``completed_at``)."""
    if notification.status in FINAL_STATUSES:
        return notification.updated_at or notification.created_at
    return None


def timestamp(value: datetime | None) -> Timestamp | None:
    """A protobuf ``Timestamp`` (``None`` stays ``None``)."""
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp
