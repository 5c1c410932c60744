"""Citizens' accounts, sign-in and browser sessions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import utcnow
from identity.models import BrowserSession
from identity.security import sha256_hex

#: The browser session cookie (HttpOnly, SameSite=Lax; Secure when the issuer is https).
SESSION_COOKIE = "govplat_session"


async def session_for_cookie(session: AsyncSession, cookie: str | None) -> BrowserSession | None:
    """The live browser session of a ``govplat_session`` cookie value, or ``None``
    (no cookie, unknown, expired or ended)."""
    if not cookie:
        return None
    found = await session.get(BrowserSession, sha256_hex(cookie))
    if found is None or found.revoked_at is not None or found.expires_at <= utcnow():
        return None
    return found
