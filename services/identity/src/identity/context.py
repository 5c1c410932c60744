"""What the identity component's layers share at run time (built once in ``app.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from govkit.db import Database
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

    @property
    def source(self) -> str:
        """``ce-source`` of identity's events."""
        return "//govplat/identity"
