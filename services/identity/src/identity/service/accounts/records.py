"""Rows and events that several accounts use cases share."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.outbox import add_event
from govplat.identity.v1 import events_pb2
from identity.context import Context
from identity.models import Account, messaging
from identity.service.accounts.errors import AccountNotFound
from identity.service.accounts.values import AccountInfo


async def find_account(context: Context, account_id: str) -> AccountInfo | None:
    """The account with that id, or ``None``."""
    async with context.db.read() as session:
        account = await session.get(Account, account_id)
        return None if account is None else AccountInfo.of(account)


async def account_for_update(session: AsyncSession, account_id: str) -> Account:
    """The account row, locked for the rest of the transaction (``FOR UPDATE``).

    Raises:
        AccountNotFound: no such account.
    """
    account = await session.get(Account, account_id, with_for_update=True)
    if account is None:
        raise AccountNotFound(account_id)
    return account


def timestamp(value: datetime) -> Timestamp:
    """A protobuf ``Timestamp`` of an aware datetime."""
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


async def add_account_created(
    session: AsyncSession, source: str, account_id: str, now: datetime
) -> None:
    """Put ``AccountCreated`` in the outbox, in the caller's transaction.

    Args:
        source: ``ce-source`` of identity's events.
        now: the creation time (aware UTC).
    """
    await add_event(
        session,
        messaging,
        events_pb2.AccountCreated(account_id=account_id, create_time=timestamp(now)),
        source=source,
        subject=account_id,
        time=now,
    )
