"""The citizen's pages: sign-up, sign-in, second factor (server-rendered, no JavaScript)."""

from __future__ import annotations

from fastapi import APIRouter

from identity.context import Context


def create_router(context: Context) -> APIRouter:
    """The router of the citizen's pages."""
    return APIRouter()
