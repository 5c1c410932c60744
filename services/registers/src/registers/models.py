"""Database models of the registers service (SQLAlchemy 2.0, its own metadata)."""

from sqlalchemy.orm import DeclarativeBase

from govkit.db import new_metadata
from govkit.outbox import MessagingTables


class Base(DeclarativeBase):
    """Declarative base of the registers service's models."""

    metadata = new_metadata()


#: The outbox (events to publish) and inbox (events handled) of this service.
messaging = MessagingTables(Base.metadata)
