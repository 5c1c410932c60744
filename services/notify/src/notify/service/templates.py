"""Templates: created, versioned and archived by operators; read and previewed by services.

Every edit makes a new version (1, 2, ...); earlier versions stay readable
(``GET /v2/template/{id}/version/{n}``) and each notification records the version it
was built from. Archived templates can no longer be sent (``Template has been
deleted``) but can still be read by id, as in Notify; lists leave them out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from govkit.db import Database, utcnow
from govkit.errors import InvalidArgumentError, NotFoundError
from notify import repository
from notify.errors import bad_request, not_found
from notify.models import Template, TemplateVersion
from notify.service import Caller
from notify.service.services import settings_in
from notify.templating import sms
from notify.templating.placeholders import Personalisation, placeholder_names
from notify.templating.render import render

TYPES = ("email", "sms", "letter")
POSTAGE = ("first", "second", "economy")
#: Longest template body an operator may save (characters); messages have their own limits.
MAX_BODY = 100_000


@dataclass(frozen=True)
class TemplateView:
    """One version of a template as the API shows it."""

    id: str
    service_id: str
    type: str
    name: str
    version: int
    subject: str | None
    body: str
    created_at: datetime
    updated_at: datetime | None
    created_by: str
    postage: str | None
    letter_contact_block: str | None
    archived: bool = False

    @property
    def placeholders(self) -> list[str]:
        """The placeholder names of the subject and body, in order."""
        return placeholder_names(self.subject, self.body)


def view(
    template: Template | TemplateVersion, service_id: str, archived: bool = False
) -> TemplateView:
    """A :class:`TemplateView` of a template row or a version row."""
    identifier = template.id if isinstance(template, Template) else template.template_id
    return TemplateView(
        id=identifier,
        service_id=service_id,
        type=template.type,
        name=template.name,
        version=template.version,
        subject=template.subject if template.type != "sms" else None,
        body=template.body,
        created_at=template.created_at,
        updated_at=template.updated_at,
        created_by=template.created_by,
        postage=template.postage if template.type == "letter" else None,
        letter_contact_block=template.letter_contact_block if template.type == "letter" else None,
        archived=archived,
    )


def _validated(
    template_type: str, name: str, subject: str | None, body: str, postage: str | None
) -> tuple[str, str | None, str, str | None]:
    if template_type not in TYPES:
        raise InvalidArgumentError("INVALID_TEMPLATE_TYPE", "type must be email, sms or letter")
    name = (name or "").strip()
    if not name or len(name) > 255:
        raise InvalidArgumentError("INVALID_TEMPLATE_NAME", "name must be 1 to 255 characters")
    if not body or not body.strip() or len(body) > MAX_BODY:
        raise InvalidArgumentError(
            "INVALID_TEMPLATE_BODY", f"body must be 1 to {MAX_BODY} characters and not blank"
        )
    if template_type == "sms":
        subject = None
        if len(sms.sanitise(body)) > sms.MAX_CHARACTERS:
            raise InvalidArgumentError(
                "INVALID_TEMPLATE_BODY",
                f"a text message template is at most {sms.MAX_CHARACTERS} characters",
            )
    elif not subject or not subject.strip() or len(subject) > 1000:
        raise InvalidArgumentError(
            "INVALID_TEMPLATE_SUBJECT", "emails and letters need a subject of 1 to 1000 characters"
        )
    if template_type == "letter":
        postage = postage or "second"
        if postage not in POSTAGE:
            raise InvalidArgumentError(
                "INVALID_POSTAGE", "postage must be first, second or economy"
            )
    else:
        postage = None
    return name, subject, body, postage


async def create_template(
    db: Database,
    *,
    service_id: str,
    template_type: str,
    name: str,
    body: str,
    subject: str | None = None,
    postage: str | None = None,
    letter_contact_block: str | None = None,
    created_by: str = "operator@govplat.local",
    template_id: str | None = None,
) -> TemplateView:
    """Create a template (version 1) for a service.

    Raises:
        govkit.errors.InvalidArgumentError: a bad type, name, subject, body or postage.
        govkit.errors.ConflictError: ``template_id`` is already used.
    """
    name, subject, body, postage = _validated(template_type, name, subject, body, postage)
    now = utcnow()
    async with db.write() as session:
        await settings_in(session, service_id)
        identifier = template_id or str(uuid.uuid4())
        if await session.get(Template, identifier) is not None:
            from govkit.errors import ConflictError

            raise ConflictError("TEMPLATE_EXISTS", "a template with this id exists")
        template = Template(
            id=identifier,
            service_id=service_id,
            type=template_type,
            name=name,
            subject=subject,
            body=body,
            version=1,
            postage=postage,
            letter_contact_block=letter_contact_block if template_type == "letter" else None,
            created_by=created_by,
            archived=False,
            hidden=False,
            created_at=now,
        )
        session.add(template)
        await session.flush()
        session.add(version_row(template))
        return view(template, service_id)


def version_row(template: Template) -> TemplateVersion:
    return TemplateVersion(
        template_id=template.id,
        version=template.version,
        type=template.type,
        name=template.name,
        subject=template.subject,
        body=template.body,
        postage=template.postage,
        letter_contact_block=template.letter_contact_block,
        created_by=template.created_by,
        created_at=template.created_at,
        updated_at=template.updated_at,
    )


async def update_template(
    db: Database,
    *,
    service_id: str,
    template_id: str,
    name: str | None = None,
    body: str | None = None,
    subject: str | None = None,
    postage: str | None = None,
    letter_contact_block: str | None = None,
    updated_by: str = "operator@govplat.local",
) -> TemplateView:
    """Save a new version of a template (what is not given stays as it was).

    Raises:
        govkit.errors.NotFoundError: no such template for the service.
        govkit.errors.InvalidArgumentError: as :func:`create_template`, or the template
            is archived.
    """
    async with db.write() as session:
        template = await repository.template(session, service_id, template_id, lock=True)
        if template is None:
            raise NotFoundError("TEMPLATE_NOT_FOUND", "no such template")
        if template.archived:
            raise InvalidArgumentError("TEMPLATE_ARCHIVED", "an archived template cannot change")
        new_name, new_subject, new_body, new_postage = _validated(
            template.type,
            name if name is not None else template.name,
            subject if subject is not None else template.subject,
            body if body is not None else template.body,
            postage if postage is not None else template.postage,
        )
        template.name = new_name
        template.subject = new_subject
        template.body = new_body
        template.postage = new_postage
        if letter_contact_block is not None and template.type == "letter":
            template.letter_contact_block = letter_contact_block or None
        template.version += 1
        template.created_by = updated_by
        template.updated_at = utcnow()
        await session.flush()
        session.add(version_row(template))
        return view(template, service_id)


async def archive_template(db: Database, *, service_id: str, template_id: str) -> TemplateView:
    """Archive a template: it can no longer be sent, and lists leave it out.

    Raises:
        govkit.errors.NotFoundError: no such template for the service.
    """
    async with db.write() as session:
        template = await repository.template(session, service_id, template_id, lock=True)
        if template is None:
            raise NotFoundError("TEMPLATE_NOT_FOUND", "no such template")
        template.archived = True
        template.updated_at = utcnow()
        await session.flush()
        return view(template, service_id, archived=True)


async def get_template(
    db: Database, caller: Caller, template_id: str, version: int | None = None
) -> TemplateView:
    """A template of the caller's service, at its current version or at ``version``.

    Raises:
        notify.errors.NotifyError: 404 ``NoResultFound`` (unknown, hidden, or no such version).
    """
    async with db.read() as session:
        template = await repository.template(session, caller.service_id, template_id)
        if template is None or template.hidden:
            raise not_found()
        if version is None or version == template.version:
            return view(template, caller.service_id, template.archived)
        older = await repository.template_version(session, template_id, version)
        if older is None:
            raise not_found()
        return view(older, caller.service_id, template.archived)


async def list_templates(
    db: Database, caller: Caller, template_type: str | None
) -> list[TemplateView]:
    """The caller's service's templates (not archived, not hidden), by name then type."""
    async with db.read() as session:
        return [
            view(t, caller.service_id)
            for t in await repository.templates(session, caller.service_id, template_type)
        ]


async def all_templates(db: Database, service_id: str) -> list[TemplateView]:
    """Every template of a service, archived ones too (for operators)."""
    async with db.read() as session:
        return [
            view(t, service_id, t.archived)
            for t in await repository.all_templates(session, service_id)
        ]


@dataclass(frozen=True)
class Preview:
    """A template filled with personalisation (``POST /v2/template/{id}/preview``)."""

    template: TemplateView
    body: str
    subject: str | None
    html: str | None


async def preview(db: Database, caller: Caller, template_id: str, values: dict | None) -> Preview:
    """Fill a template with ``values`` without sending anything.

    Raises:
        notify.errors.NotifyError: 404 ``NoResultFound``; 400 ``BadRequestError``
            ``Missing personalisation: a, b``.
    """
    template = await get_template(db, caller, template_id)
    missing = Personalisation(values).missing(template.subject, template.body)
    if missing:
        raise bad_request(f"Missing personalisation: {', '.join(missing)}")
    rendered = render(template.type, template.body, template.subject, values)
    return Preview(
        template=template,
        body=rendered.body,
        subject=rendered.subject if template.type != "sms" else None,
        html=rendered.html,
    )
