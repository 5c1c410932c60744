"""Alembic environment of the payments service."""

from govkit.migrations import run_env
from payments.models import Base

run_env(Base.metadata)
