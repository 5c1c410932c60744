"""Alembic environment of the notify service."""

from govkit.migrations import run_env
from notify.models import Base

run_env(Base.metadata)
