"""What the identity component's layers share at run time (built once in ``app.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from govkit.db import Database
from govkit.http import operator_authorized
from identity.config import Settings
from identity.security import SecretBox


@dataclass
class Context:
    """The identity component's settings, database and secret box.

    Attributes:
        settings: its settings.
        db: its database.
        box: encrypts secrets at rest and derives pairwise subjects.
    """

    settings: Settings
    db: Database
    box: SecretBox

    def is_operator(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries the operator credential
        (``Bearer <GOVPLAT_ADMIN_TOKEN>``), compared in constant time."""
        return operator_authorized(authorization, self.settings.admin_token.get_secret_value())

    @property
    def source(self) -> str:
        """``ce-source`` of identity's events."""
        return "//govplat/identity"
