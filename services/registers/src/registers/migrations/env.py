"""Alembic environment of the registers service."""

from govkit.migrations import run_env
from registers.models import Base

run_env(Base.metadata)
