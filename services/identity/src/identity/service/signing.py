"""Identity's signing keys (ES256) and the JWKS it publishes.

Rotation follows GOV.UK One Login's practice: a ``next`` key is published before
it signs anything; :func:`rotate` makes it ``active``, retires the old active key
(still published until every token it signed has expired) and creates a new
``next`` key. So relying parties that cache the JWKS always know a key before
they see a token signed with it.

:class:`KeyCache` keeps the published keys in memory for verification and reloads
them from the database only when a token names an unknown ``kid``, and then at
most once per ``reload_interval`` seconds: an attacker sending random ``kid`` s
cannot make every request read the database.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

from joserfc.jwk import ECKey, KeySet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from govkit.db import Database, utcnow
from identity.models import SigningKey
from identity.security import SecretBox

ALGORITHM = "ES256"
#: Longest lifetime of anything signed (seconds): retired keys stay published this long.
RETIRED_KEY_RETENTION = timedelta(hours=2)


def _new_key(box: SecretBox, status: str) -> SigningKey:
    key = ECKey.generate_key("P-256", parameters={"alg": ALGORITHM, "use": "sig"}, private=True)
    kid = key.thumbprint()
    public = dict(key.as_dict(private=False), kid=kid, alg=ALGORITHM, use="sig")
    now = utcnow()
    return SigningKey(
        kid=kid,
        alg=ALGORITHM,
        private_jwk_encrypted=box.encrypt(json.dumps(key.as_dict(private=True))),
        public_jwk=json.dumps(public, sort_keys=True),
        status=status,
        created_at=now,
        activated_at=now if status == "active" else None,
    )


async def ensure_keys(session: AsyncSession, box: SecretBox) -> None:
    """Make sure there is an ``active`` and a ``next`` key (first start)."""
    statuses = set((await session.scalars(select(SigningKey.status))).all())
    if "active" not in statuses:
        session.add(_new_key(box, "active"))
    if "next" not in statuses:
        session.add(_new_key(box, "next"))
    await session.flush()


async def rotate(session: AsyncSession, box: SecretBox) -> str:
    """Rotate: ``next`` → ``active``, ``active`` → ``retired``, new ``next``.

    Returns:
        The kid of the new active key.
    """
    await ensure_keys(session, box)
    now = utcnow()
    keys = (
        await session.scalars(select(SigningKey).where(SigningKey.status.in_(("active", "next"))))
    ).all()
    new_active = None
    for key in keys:
        if key.status == "active":
            key.status, key.retired_at = "retired", now
        else:
            key.status, key.activated_at = "active", now
            new_active = key.kid
    session.add(_new_key(box, "next"))
    await session.flush()
    return new_active


async def published_keys(session: AsyncSession) -> list[dict]:
    """The public JWKs to publish: next, active and recently retired keys."""
    cutoff = utcnow() - RETIRED_KEY_RETENTION
    keys = (await session.scalars(select(SigningKey).order_by(SigningKey.created_at))).all()
    return [
        json.loads(key.public_jwk)
        for key in keys
        if key.status in ("next", "active")
        or (key.retired_at is not None and key.retired_at > cutoff)
    ]


async def active_private_key(session: AsyncSession, box: SecretBox) -> tuple[str, ECKey]:
    """The active key's kid and private key (for signing).

    Read and decrypted once per transaction (remembered on the session): a token
    response signs an access token and an ID token with the same key.

    Raises:
        LookupError: when there is no active key (call :func:`ensure_keys`).
    """
    remembered = session.info.get("govplat_signing_key")
    if remembered is not None:
        return remembered
    key = await session.scalar(select(SigningKey).where(SigningKey.status == "active"))
    if key is None:
        raise LookupError("no active signing key")
    remembered = (key.kid, ECKey.import_key(json.loads(box.decrypt(key.private_jwk_encrypted))))
    session.info["govplat_signing_key"] = remembered
    return remembered


class KeyCache:
    """The published keys as a joserfc ``KeySet``, reloaded lazily (see the module docstring).

    Args:
        db: identity's database.
        reload_interval: minimum seconds between two reloads caused by unknown kids.
    """

    def __init__(self, db: Database, reload_interval: float = 10.0) -> None:
        self.db = db
        self.reload_interval = reload_interval
        self._keys: KeySet | None = None
        self._kids: set[str] = set()
        self._loaded_at = float("-inf")
        self.reloads = 0

    async def key_set(self, kid: str | None) -> KeySet:
        """The key set to verify a token whose header names ``kid``."""
        now = time.monotonic()
        if self._keys is None or (
            kid not in self._kids and now - self._loaded_at >= self.reload_interval
        ):
            async with self.db.read() as session:
                jwks = await published_keys(session)
            self._keys = KeySet([ECKey.import_key(jwk) for jwk in jwks])
            self._kids = {jwk["kid"] for jwk in jwks}
            self._loaded_at = now
            self.reloads += 1
        return self._keys

    def forget(self) -> None:
        """Drop the cache (after a rotation in this process)."""
        self._keys = None
