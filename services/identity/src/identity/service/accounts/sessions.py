"""Browser sessions: random 256-bit cookie values stored as SHA-256 hashes, ending
``settings.session_seconds`` after sign-in."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from identity.context import Context
from identity.models import Account, BrowserSession
from identity.security import new_token, sha256_hex
from identity.service.accounts.errors import (
    AccountNotFound,
    SecondFactorRequired,
    SessionNotFound,
)
from identity.service.accounts.values import (
    CREDENTIAL_LEVELS,
    LEVEL_TWO_FACTOR,
    AccountInfo,
    SignedIn,
)


async def session_for_cookie(session: AsyncSession, cookie: str | None) -> BrowserSession | None:
    """The live browser session of a ``govplat_session`` cookie value, or ``None``
    (no cookie, unknown, expired or ended)."""
    if not cookie:
        return None
    found = await session.get(BrowserSession, sha256_hex(cookie))
    if found is None or found.revoked_at is not None or found.expires_at <= utcnow():
        return None
    return found


async def create_session(context: Context, account_id: str, level: str) -> str:
    """Sign a browser in: a new session at credential ``level`` (``"Cl"`` or
    ``"Cl.Cm"``), ending ``settings.session_seconds`` from now.

    Returns:
        The cookie value (43 URL-safe characters); only its SHA-256 is stored.

    Raises:
        ValueError: unknown level.
        AccountNotFound: no such account.
        SecondFactorRequired: ``"Cl.Cm"`` for an account without a second factor.
    """
    if level not in CREDENTIAL_LEVELS:
        raise ValueError(f"unknown credential level {level!r}")
    async with context.db.write() as session:
        account = await session.get(Account, account_id)
        if account is None:
            raise AccountNotFound(account_id)
        if level == LEVEL_TWO_FACTOR and account.mfa_method is None:
            raise SecondFactorRequired()
        return _add_session(session, context, account_id, level)


def _add_session(session: AsyncSession, context: Context, account_id: str, level: str) -> str:
    cookie = new_token(32)
    now = utcnow()
    session.add(
        BrowserSession(
            id_hash=sha256_hex(cookie),
            account_id=account_id,
            auth_level=level,
            auth_time=now,
            expires_at=now + timedelta(seconds=context.settings.session_seconds),
        )
    )
    return cookie


async def upgrade_session(context: Context, cookie: str) -> str:
    """Raise a session to ``Cl.Cm`` after its account's second factor was checked.

    The old cookie stops working and a new session (new cookie value, new
    ``auth_time`` and expiry) replaces it, so that a cookie known before the
    upgrade is not worth more after it.

    Returns:
        The new cookie value.

    Raises:
        SessionNotFound: the cookie has no live session.
        SecondFactorRequired: the account has no second factor.
    """
    async with context.db.write() as session:
        current = await session_for_cookie(session, cookie)
        if current is None:
            raise SessionNotFound()
        account = await session.get(Account, current.account_id)
        if account is None or account.mfa_method is None:
            raise SecondFactorRequired()
        current.revoked_at = utcnow()
        return _add_session(session, context, account.id, LEVEL_TWO_FACTOR)


async def current_session(context: Context, cookie: str | None) -> SignedIn | None:
    """The signed-in account and level of a session cookie, or ``None`` if the
    cookie is missing, unknown, expired or ended."""
    if not cookie:
        return None
    async with context.db.read() as session:
        found = await session_for_cookie(session, cookie)
        if found is None:
            return None
        account = await session.get(Account, found.account_id)
        if account is None:
            return None
        return SignedIn(
            account=AccountInfo.of(account),
            level=found.auth_level,
            auth_time=found.auth_time,
            expires_at=found.expires_at,
        )


async def end_session(context: Context, cookie: str | None) -> bool:
    """Sign a browser out: end the session of ``cookie``.

    Returns:
        Whether a live session was ended.
    """
    if not cookie:
        return False
    async with context.db.write() as session:
        result = await session.execute(
            update(BrowserSession)
            .where(
                BrowserSession.id_hash == sha256_hex(cookie),
                BrowserSession.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
    return bool(result.rowcount)


async def end_all_sessions(context: Context, account_id: str) -> int:
    """End every live session of an account (sign out everywhere).

    Returns:
        How many sessions were ended.
    """
    now = utcnow()
    async with context.db.write() as session:
        result = await session.execute(
            update(BrowserSession)
            .where(
                BrowserSession.account_id == account_id,
                BrowserSession.revoked_at.is_(None),
                BrowserSession.expires_at > now,
            )
            .values(revoked_at=now)
        )
    return int(result.rowcount or 0)
