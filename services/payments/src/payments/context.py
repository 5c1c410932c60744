"""What the payments component's layers share at run time (built once in ``app.py``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from govkit.db import Database
from govkit.http import operator_authorized
from govkit.principal import PrincipalGuard
from payments.acquirer import Acquirer
from payments.config import Settings
from payments.service.payments import Payments


@dataclass
class Context:
    """The payments component's settings, database, principal guard, acquirer and use cases."""

    settings: Settings
    db: Database
    guard: PrincipalGuard
    acquirer: Acquirer
    payments: Payments

    @classmethod
    def build(cls, settings: Settings, db: Database, acquirer: Acquirer) -> Context:
        """The context for ``settings`` (the public origin and limits from them)."""
        return cls(
            settings=settings,
            db=db,
            guard=PrincipalGuard(settings.principal_public_key, "payments"),
            acquirer=acquirer,
            payments=Payments(
                db,
                acquirer,
                settings.public_url.rstrip("/"),
                payment_expiry_seconds=settings.payment_expiry_seconds,
                capture_expiry_seconds=settings.capture_expiry_seconds,
                idempotency_seconds=settings.idempotency_seconds,
                settle_grace_seconds=settings.settle_grace_seconds,
            ),
        )

    @property
    def origin(self) -> str:
        """The public origin, without a trailing slash."""
        return self.payments.origin

    @property
    def page_secret(self) -> str:
        """What signs the payment pages' cookie (``SECRET_KEY``, else one per process)."""
        if self.settings.secret_key is not None:
            return self.settings.secret_key.get_secret_value()
        if not hasattr(self, "_random_secret"):
            self._random_secret = secrets.token_urlsafe(32)
        return self._random_secret

    def is_operator(self, authorization: str | None) -> bool:
        """Whether ``Authorization`` carries the operator credential (admin API)."""
        return operator_authorized(authorization, self.settings.admin_token_value())
