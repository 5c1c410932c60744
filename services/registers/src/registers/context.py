"""What the registers component's layers share at run time (built once in ``app.py``)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from govkit.db import Database, utcnow
from govkit.http import operator_authorized
from govkit.principal import PrincipalGuard
from registers import checkpoints, repository
from registers.config import Settings
from registers.models import messaging

#: SQLite page cache per connection (KiB; SQLite's default is 2,000). Item digests and
#: record values are random keys: a bulk load inserts them all over their indexes, and
#: with the default cache most of those inserts would read a page back from disk.
SQLITE_CACHE_KIB = 65536


def _larger_sqlite_cache(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


@dataclass
class Context:
    """The registers component's settings, database, principal guard and checkpoint key.

    Attributes:
        settings: its settings.
        db: its database.
        guard: verifies the gateway's ``X-Govplat-Principal`` on writes.
        schemas: cache of each register's fields (see :mod:`registers.service.schema`).
    """

    settings: Settings
    db: Database
    guard: PrincipalGuard | None = None
    schemas: dict = field(default_factory=dict)
    _signer: checkpoints.Signer | None = None

    def __post_init__(self) -> None:
        if self.guard is None:
            self.guard = PrincipalGuard(self.settings.principal_public_key, "registers")
        if self.db.is_sqlite:
            event.listen(self.db.engine.sync_engine, "connect", _larger_sqlite_cache)

    tables = messaging
    source = "//govplat/registers"

    @property
    def public_url(self) -> str:
        """The gateway's public origin, e.g. ``http://127.0.0.1:8000``."""
        return self.settings.public_url.rstrip("/")

    def register_url(self, name: str) -> str:
        """The public base URL of a register: ``<origin>/registers/<name>/``."""
        return f"{self.public_url}/registers/{name}/"

    def is_operator(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries the operator credential."""
        return operator_authorized(authorization, self.settings.admin_token_value())

    async def signer(self) -> checkpoints.Signer:
        """The checkpoint signer: the configured ``CHECKPOINT_KEY``, else the key stored in
        the database, else a new key stored now in a transaction of its own (call it
        before opening a write transaction). Its name is ``<public host>/registers``,
        as it was when the key was made."""
        if self._signer is not None:
            return self._signer
        name = f"{urlsplit(self.public_url).netloc}/registers"
        configured = self.settings.checkpoint_key
        if configured is not None:
            seed = base64.b64decode(configured.get_secret_value())
            self._signer = checkpoints.Signer(name, seed)
            return self._signer
        async with self.db.read() as session:
            stored = await repository.get_signing_key(session)
        if stored is None:
            try:
                async with self.db.write() as session:
                    await repository.insert_signing_key(
                        session, name, checkpoints.new_private_key(), utcnow()
                    )
            except IntegrityError:
                pass  # another process made it first
            async with self.db.read() as session:
                stored = await repository.get_signing_key(session)
        self._signer = checkpoints.Signer(stored.name, bytes(stored.private_key))
        return self._signer
