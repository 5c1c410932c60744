"""A service's Notify settings.

A service onboarded in identity can send at once: the first request makes its
settings with the defaults below (GOV.UK Notify's, except that a new service is
live rather than in trial mode, and may not send international text messages until
an operator allows it). Operators change them through the admin API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import Database, utcnow
from govkit.errors import InvalidArgumentError, NotFoundError
from notify import repository
from notify.models import NotifyService
from notify.recipients import InvalidRecipientError, normalise_email, parse_phone_number

DEFAULT_PERMISSIONS = ("email", "sms", "letter", "international_letters")
PERMISSIONS = frozenset(
    {
        "email",
        "sms",
        "letter",
        "international_sms",
        "international_letters",
        "sms_to_uk_landlines",
        "inbound_sms",
    }
)
_SENDER = re.compile(r"^(?:[A-Za-z0-9 ]{1,11}|\+?[0-9]{3,15})$")
_EMAIL_FROM = re.compile(r"^[a-z0-9]([a-z0-9.\-]{0,62}[a-z0-9])?$")


def permissions(service: NotifyService) -> frozenset[str]:
    """The service's permissions (``email``, ``sms``, ``international_sms`` ...)."""
    return frozenset(service.permissions.split())


def members(service: NotifyService) -> frozenset[str]:
    """Normalised recipients of the team and the guest list (who team keys may send to)."""
    listed = (service.team_members or "").split("\n") + (service.guest_list or "").split("\n")
    return frozenset(item for item in listed if item)


def defaults(service_id: str) -> NotifyService:
    """The settings a service has until an operator changes them (not stored)."""
    return NotifyService(
        id=service_id,
        name="govplat service",
        email_from="notifications",
        sms_sender="govplat",
        prefix_sms=False,
        permissions=" ".join(DEFAULT_PERMISSIONS),
        restricted=False,
        team_members="",
        guest_list="",
        created_at=utcnow(),
    )


async def settings_in(session: AsyncSession, service_id: str) -> NotifyService:
    """The service's settings, made with the defaults when it has none yet."""
    found = await repository.service(session, service_id)
    if found is not None:
        return found
    service = defaults(service_id)
    try:
        async with session.begin_nested():
            session.add(service)
            await session.flush()
    except IntegrityError:  # made at the same moment by another request
        found = await repository.service(session, service_id)
        assert found is not None
        return found
    return service


@dataclass(frozen=True)
class SettingsChange:
    """Settings to change (``None``: keep). Lists replace the whole list."""

    name: str | None = None
    email_from: str | None = None
    email_reply_to: str | None = None
    sms_sender: str | None = None
    prefix_sms: bool | None = None
    permissions: list[str] | None = None
    restricted: bool | None = None
    team_members: list[str] | None = None
    guest_list: list[str] | None = None
    letter_contact_block: str | None = None
    callback_url: str | None = None
    callback_bearer_token: str | None = None
    receipt_template_id: str | None = None


def _normalised_recipients(values: list[str], field: str) -> str:
    out = []
    for value in values:
        try:
            out.append(
                normalise_email(value) if "@" in value else parse_phone_number(value).normalised
            )
        except InvalidRecipientError as exc:
            raise InvalidArgumentError(
                "INVALID_RECIPIENT", f"{field}: {value[:100]!r} is not valid: {exc}"
            ) from None
    return "\n".join(dict.fromkeys(out))


async def update_settings(db: Database, service_id: str, change: SettingsChange) -> NotifyService:
    """Change a service's settings (made with the defaults first if needed).

    Raises:
        govkit.errors.InvalidArgumentError: an unknown permission, a sender of more than
            11 characters, a callback URL that is not https or a token under 10
            characters (Notify's rules), an invalid team member or guest.
        govkit.errors.NotFoundError: ``receipt_template_id`` is not one of the
            service's email templates.
    """
    async with db.write() as session:
        service = await settings_in(session, service_id)
        if change.name is not None:
            service.name = _required_text(change.name, "name", 255)
        if change.email_from is not None:
            if not _EMAIL_FROM.match(change.email_from):
                raise InvalidArgumentError(
                    "INVALID_EMAIL_FROM", "email_from must be lower-case letters, digits, . and -"
                )
            service.email_from = change.email_from
        if change.email_reply_to is not None:
            service.email_reply_to = (
                _valid_email(change.email_reply_to, "email_reply_to")
                if change.email_reply_to
                else None
            )
        if change.sms_sender is not None:
            if not _SENDER.match(change.sms_sender):
                raise InvalidArgumentError(
                    "INVALID_SMS_SENDER",
                    "sms_sender must be up to 11 letters, digits and spaces, or a phone number",
                )
            service.sms_sender = change.sms_sender
        if change.prefix_sms is not None:
            service.prefix_sms = change.prefix_sms
        if change.permissions is not None:
            unknown = sorted(set(change.permissions) - PERMISSIONS)
            if unknown:
                raise InvalidArgumentError(
                    "UNKNOWN_PERMISSION",
                    f"unknown permission {unknown[0][:40]!r}; choose from {', '.join(sorted(PERMISSIONS))}",
                )
            service.permissions = " ".join(sorted(set(change.permissions)))
        if change.restricted is not None:
            service.restricted = change.restricted
        if change.team_members is not None:
            service.team_members = _normalised_recipients(change.team_members, "team_members")
        if change.guest_list is not None:
            service.guest_list = _normalised_recipients(change.guest_list, "guest_list")
        if change.letter_contact_block is not None:
            service.letter_contact_block = change.letter_contact_block[:2000] or None
        if change.callback_url is not None:
            if (
                change.callback_url
                and not change.callback_url.startswith("https://")
                and not _loopback(change.callback_url)
            ):
                raise InvalidArgumentError(
                    "INVALID_CALLBACK_URL", "callback_url must be an https URL"
                )
            service.callback_url = change.callback_url or None
        if change.callback_bearer_token is not None:
            if change.callback_bearer_token and len(change.callback_bearer_token) < 10:
                raise InvalidArgumentError(
                    "INVALID_CALLBACK_TOKEN", "callback_bearer_token must be at least 10 characters"
                )
            service.callback_bearer_token = change.callback_bearer_token or None
        if change.receipt_template_id is not None:
            if change.receipt_template_id:
                template = await repository.template(
                    session, service_id, change.receipt_template_id
                )
                if template is None or template.type != "email":
                    raise NotFoundError(
                        "TEMPLATE_NOT_FOUND",
                        "receipt_template_id is not an email template of the service",
                    )
            service.receipt_template_id = change.receipt_template_id or None
        service.updated_at = utcnow()
        await session.flush()
        return service


def _loopback(url: str) -> bool:
    """``http://127.0.0.1...`` and ``http://localhost...``: allowed for callbacks in
    development and tests (Notify itself insists on https)."""
    return url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))


def _required_text(value: str, field: str, limit: int) -> str:
    value = value.strip()
    if not value or len(value) > limit or any(ord(c) < 32 for c in value):
        raise InvalidArgumentError(
            "INVALID_TEXT", f"{field} must be 1 to {limit} printable characters"
        )
    return value


def _valid_email(value: str, field: str) -> str:
    try:
        return normalise_email(value)
    except InvalidRecipientError:
        raise InvalidArgumentError(
            "INVALID_EMAIL", f"{field} is not a valid email address"
        ) from None


async def get_settings(db: Database, service_id: str) -> NotifyService:
    """A service's settings, or the defaults it would have (reading stores nothing)."""
    async with db.read() as session:
        return await repository.service(session, service_id) or defaults(service_id)
