"""What the notify component's layers share at run time (built once in ``app.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from govkit.db import Database
from govkit.http import operator_authorized
from govkit.principal import PrincipalGuard
from notify.config import Settings
from notify.providers import Providers


@dataclass
class Context:
    """The notify component's settings, database, principal guard and providers."""

    settings: Settings
    db: Database
    guard: PrincipalGuard
    providers: Providers

    @property
    def source(self) -> str:
        """``ce-source`` of notify's events."""
        return "//govplat/notify"

    @property
    def root(self) -> str:
        """The public origin with a trailing slash (Notify's ``request.url_root``)."""
        return self.settings.public_url.rstrip("/") + "/"

    def is_operator(self, authorization: str | None) -> bool:
        """Whether ``Authorization`` carries the operator credential (admin API)."""
        return operator_authorized(authorization, self.settings.admin_token_value())
