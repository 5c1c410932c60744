"""GOV.UK Notify's request schemas (JSON Schema draft 7) and its validation messages.

Each request is checked against its schema with ``jsonschema`` and **every**
problem is reported, as Notify does (``app/schema_validation``): one
``ValidationError`` entry per problem, ``"<field> <text>"``, with jsonschema's single
quotes removed, e.g. ``phone_number is a required property``, ``template_id is not a
valid UUID``, ``Additional properties are not allowed (foo was unexpected)``,
``personalisation x is not of type object``. Format checks use Notify's own
messages (``phone_number Not enough digits``, ``email_address Not a valid email
address``).
"""

from __future__ import annotations

import unicodedata
import uuid as uuid_module
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from jsonschema import Draft7Validator, FormatChecker

from notify.errors import NotifyError, validation_error
from notify.recipients import InvalidRecipientError, normalise_email, parse_phone_number

STATUSES = [
    "cancelled",
    "created",
    "sending",
    "sent",
    "delivered",
    "pending",
    "failed",
    "technical-failure",
    "temporary-failure",
    "permanent-failure",
    "pending-virus-check",
    "validation-failed",
    "virus-scan-failed",
    "returned-letter",
    "accepted",
    "received",
]
TEMPLATE_TYPES = ["sms", "email", "letter"]
POSTAGE = ("first", "second", "economy")

format_checker = FormatChecker()


class _FormatProblem(ValueError):
    """A value that fails one of Notify's formats; ``str()`` is Notify's message."""


@format_checker.checks("validate_uuid", raises=ValueError)
def _is_uuid(instance: object) -> bool:
    if isinstance(instance, str):
        uuid_module.UUID(instance)
    return True


@format_checker.checks("phone_number", raises=InvalidRecipientError)
def _is_phone_number(instance: object) -> bool:
    if isinstance(instance, str):
        parse_phone_number(instance)
    return True


@format_checker.checks("email_address", raises=InvalidRecipientError)
def _is_email_address(instance: object) -> bool:
    if isinstance(instance, str):
        normalise_email(instance)
    return True


@format_checker.checks("postage", raises=_FormatProblem)
def _is_postage(instance: object) -> bool:
    if isinstance(instance, str) and instance not in POSTAGE:
        raise _FormatProblem("invalid. It must be either first, second or economy.")
    return True


@format_checker.checks("https_url", raises=_FormatProblem)
def _is_https_url(instance: object) -> bool:
    if isinstance(instance, str):
        # It becomes an email header: no whitespace or control characters at all.
        if any(c.isspace() or unicodedata.category(c).startswith("C") for c in instance):
            raise _FormatProblem("is not a valid https url")
        try:
            parts = urlsplit(instance)
        except ValueError:
            raise _FormatProblem("is not a valid https url") from None
        if parts.scheme != "https" or not parts.hostname:
            raise _FormatProblem("is not a valid https url")
    return True


@format_checker.checks("datetime_within_next_day", raises=_FormatProblem)
def _is_within_next_day(instance: object) -> bool:
    if isinstance(instance, str):
        try:
            when = datetime.fromisoformat(instance.replace("Z", "+00:00"))
        except ValueError:
            raise _FormatProblem(
                f"{instance} is not a valid datetime. Use the format YYYY-MM-DD HH:MM"
            ) from None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        now = datetime.now(UTC)
        if when < now:
            raise _FormatProblem("datetime can not be in the past")
        if when > now + timedelta(hours=24):
            raise _FormatProblem("datetime can only be 24 hours in the future")
    return True


UUID = {"type": "string", "format": "validate_uuid", "validationMessage": "is not a valid UUID"}
PERSONALISATION = {"type": "object"}
REFERENCE = {"type": "string", "maxLength": 1000}
HTTPS_URL = {
    "type": "string",
    "format": "https_url",
    "validationMessage": "is not a valid https url",
}
SCHEDULED_FOR = {"type": ["string", "null"], "format": "datetime_within_next_day"}


def _request(title: str, properties: dict, required: list[str], *, closed: bool = True) -> dict:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "title": title,
        "properties": properties,
        "required": required,
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


POST_SMS = _request(
    "POST v2/notifications/sms",
    {
        "reference": REFERENCE,
        "phone_number": {"type": "string", "format": "phone_number"},
        "template_id": UUID,
        "personalisation": PERSONALISATION,
        "scheduled_for": SCHEDULED_FOR,
        "sms_sender_id": UUID,
    },
    ["phone_number", "template_id"],
)
POST_EMAIL = _request(
    "POST v2/notifications/email",
    {
        "reference": REFERENCE,
        "email_address": {"type": "string", "format": "email_address"},
        "template_id": UUID,
        "personalisation": PERSONALISATION,
        "scheduled_for": SCHEDULED_FOR,
        "email_reply_to_id": UUID,
        "one_click_unsubscribe_url": HTTPS_URL,
        "sanitise_content_for": {"type": ["array", "null"], "items": {"type": "string"}},
    },
    ["email_address", "template_id"],
)
POST_LETTER = _request(
    "POST v2/notifications/letter",
    {"reference": REFERENCE, "template_id": UUID, "personalisation": PERSONALISATION},
    ["template_id", "personalisation"],
)
POST_PRECOMPILED_LETTER = _request(
    "POST v2/notifications/letter (precompiled)",
    {
        "reference": REFERENCE,
        "content": {"type": "string"},
        "postage": {"type": "string", "format": "postage"},
    },
    ["reference", "content"],
)
GET_NOTIFICATIONS = _request(
    "GET v2/notifications",
    {
        "reference": {"type": "string"},
        "status": {"type": "array", "items": {"enum": STATUSES}},
        "template_type": {"type": "array", "items": {"enum": TEMPLATE_TYPES}},
        "include_jobs": {"enum": ["true", "True"]},
        "older_than": UUID,
    },
    [],
)
GET_NOTIFICATION = _request(
    "GET v2/notifications/{id}", {"notification_id": UUID}, ["notification_id"]
)
GET_TEMPLATE = _request(
    "GET v2/template/{id}",
    {"id": UUID, "version": {"type": ["integer", "null"], "minimum": 1}},
    ["id"],
)
GET_TEMPLATES = _request("GET v2/templates", {"type": {"enum": TEMPLATE_TYPES}}, [])
POST_TEMPLATE_PREVIEW = _request(
    "POST v2/template/{id}/preview",
    {"id": UUID, "personalisation": PERSONALISATION},
    ["id"],
    closed=False,
)
GET_RECEIVED_TEXTS = _request("GET v2/received-text-messages", {"older_than": UUID}, [])


def _message(error) -> str:
    """Notify's text for one jsonschema error (``app/schema_validation.build_error_message``)."""
    path = list(error.path)
    if "validationMessage" in error.schema and path:
        return f"{path[0]} {error.schema['validationMessage']}"
    text = str(error.cause) if error.cause is not None else error.message
    text = text.replace("'", "")
    return f"{path[0]} {text}" if path else text


def validate(data: object, schema: dict) -> dict:
    """Check ``data`` against ``schema``; return it when valid.

    Raises:
        notify.errors.NotifyError: 400 ``ValidationError`` listing every problem.
    """
    errors = list(Draft7Validator(schema, format_checker=format_checker).iter_errors(data))
    if errors:
        raise validation_error([_message(e) for e in errors])
    return data  # type: ignore[return-value]


def canonical_uuid(value: str) -> str:
    """A UUID in its canonical lower-case, hyphenated form (callers validated it)."""
    return str(uuid_module.UUID(value))


__all__ = ["NotifyError", "validate"]
