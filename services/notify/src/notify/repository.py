"""Queries of the notify service. Functions take the caller's session and flush, never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from notify.models import (
    LetterPdf,
    Notification,
    NotifyService,
    ReceivedText,
    SandboxMessage,
    Template,
    TemplateVersion,
)

#: Notify's page size for lists (``API_PAGE_SIZE``).
PAGE_SIZE = 250


async def service(
    session: AsyncSession, service_id: str, *, lock: bool = False
) -> NotifyService | None:
    """A service's settings, or ``None``."""
    query = select(NotifyService).where(NotifyService.id == service_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def template(
    session: AsyncSession, service_id: str, template_id: str, *, lock: bool = False
) -> Template | None:
    """A service's template (current version), or ``None``."""
    query = select(Template).where(Template.id == template_id, Template.service_id == service_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def template_version(
    session: AsyncSession, template_id: str, version: int
) -> TemplateVersion | None:
    """One version of a template, or ``None``."""
    return await session.get(TemplateVersion, (template_id, version))


async def templates(
    session: AsyncSession, service_id: str, template_type: str | None = None
) -> list[Template]:
    """A service's templates that are neither archived nor hidden, by name then type."""
    query = select(Template).where(
        Template.service_id == service_id, Template.archived.is_(False), Template.hidden.is_(False)
    )
    if template_type:
        query = query.where(Template.type == template_type)
    return list((await session.execute(query.order_by(Template.name, Template.type))).scalars())


async def all_templates(session: AsyncSession, service_id: str) -> list[Template]:
    """Every template of a service, archived ones included (the admin API), by name."""
    query = select(Template).where(Template.service_id == service_id).order_by(Template.name)
    return list((await session.execute(query)).scalars())


async def notification(
    session: AsyncSession,
    notification_id: str,
    *,
    service_id: str | None = None,
    lock: bool = False,
) -> Notification | None:
    """A notification (of ``service_id`` when given), or ``None``."""
    query = select(Notification).where(Notification.id == notification_id)
    if service_id is not None:
        query = query.where(Notification.service_id == service_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def notifications_by_id(
    session: AsyncSession, notification_ids: set[str], *, lock: bool = False
) -> list[Notification]:
    """The notifications of these ids that exist (locked in id order with ``lock``)."""
    query = select(Notification).where(Notification.id.in_(notification_ids))
    if lock:
        query = query.order_by(Notification.id).with_for_update()
    return list((await session.scalars(query)).all())


async def sandbox_messages_of(session: AsyncSession, notification_ids: set[str]) -> set[str]:
    """Which of these notifications the sandbox inbox has a copy of."""
    query = select(SandboxMessage.notification_id).where(
        SandboxMessage.notification_id.in_(notification_ids)
    )
    return set((await session.scalars(query)).all())


async def notifications(
    session: AsyncSession,
    *,
    service_id: str,
    key_type: str,
    statuses: list[str] | None = None,
    types: list[str] | None = None,
    reference: str | None = None,
    older_than: str | None = None,
    limit: int = PAGE_SIZE,
) -> list[Notification]:
    """A page of a service's notifications made with ``key_type`` keys, newest first.

    ``older_than``: a notification id; only notifications created before it are
    returned (an unknown id gives an empty page, as in Notify). Ties on
    ``created_at`` are broken by id, so paging never skips or repeats one.
    """
    query = select(Notification).where(
        Notification.service_id == service_id, Notification.key_type == key_type
    )
    if statuses:
        query = query.where(Notification.status.in_(statuses))
    if types:
        query = query.where(Notification.type.in_(types))
    if reference is not None:
        query = query.where(Notification.reference == reference)
    if older_than is not None:
        anchor = await notification(session, older_than, service_id=service_id)
        if anchor is None:
            return []
        query = query.where(
            _before(Notification.created_at, Notification.id, anchor.created_at, anchor.id)
        )
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


def _before(time_column, id_column, time: datetime, identifier: str):
    """Rows strictly before (``time``, ``identifier``) in (time, id) order."""
    return or_(time_column < time, and_(time_column == time, id_column < identifier))


async def received_texts(
    session: AsyncSession, *, service_id: str, older_than: str | None = None, limit: int = PAGE_SIZE
) -> list[ReceivedText]:
    """A page of a service's received text messages, newest first."""
    query = select(ReceivedText).where(ReceivedText.service_id == service_id)
    if older_than is not None:
        anchor = (
            await session.execute(
                select(ReceivedText).where(
                    ReceivedText.id == older_than, ReceivedText.service_id == service_id
                )
            )
        ).scalar_one_or_none()
        if anchor is None:
            return []
        query = query.where(
            _before(ReceivedText.created_at, ReceivedText.id, anchor.created_at, anchor.id)
        )
    query = query.order_by(ReceivedText.created_at.desc(), ReceivedText.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def letter_pdf(session: AsyncSession, notification_id: str) -> LetterPdf | None:
    """A letter's PDF, or ``None`` while it is not made yet."""
    return await session.get(LetterPdf, notification_id)


async def sandbox_message(session: AsyncSession, notification_id: str) -> SandboxMessage | None:
    """A message in the sandbox inbox, or ``None``."""
    return await session.get(SandboxMessage, notification_id)


async def sandbox_messages(
    session: AsyncSession,
    *,
    service_id: str,
    before: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[SandboxMessage]:
    """A page of a service's sandbox inbox, newest first."""
    query = select(SandboxMessage).where(SandboxMessage.service_id == service_id)
    if before is not None:
        query = query.where(
            _before(SandboxMessage.created_at, SandboxMessage.notification_id, *before)
        )
    query = query.order_by(
        SandboxMessage.created_at.desc(), SandboxMessage.notification_id.desc()
    ).limit(limit)
    return list((await session.execute(query)).scalars())
