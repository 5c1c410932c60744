"""Fixtures for the registers service's tests: a migrated database with the system
registers, the REST app in-process, and principals signed as the gateway would."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import pytest

from govkit.db import Database
from govkit.migrations import upgrade
from govkit.principal import Principal, PrincipalSigner, new_key_pair
from registers import http_api
from registers.config import Settings
from registers.context import Context
from registers.datatypes import FieldDefinition
from registers.service import seeding

PUBLIC_URL = "http://registers.test"


@dataclass
class Registers:
    """The registers app, its context, and a signer of principals."""

    app: object
    context: Context
    signer: PrincipalSigner

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=PUBLIC_URL, timeout=60
        )

    def principal(self, *scopes: str) -> dict[str, str]:
        """The ``X-Govplat-Principal`` header of a caller with ``scopes``."""
        token = self.signer.sign(
            Principal(organisation_id="org", service_id="svc", key_type="live", scopes=scopes),
            "registers",
        )
        return {"X-Govplat-Principal": token}

    async def define(self, name: str, fields: list[FieldDefinition], text: str = "") -> None:
        """Create register ``name`` with ``fields`` (the first is its key field)."""
        await seeding.sync_register(
            self.context,
            name,
            text or f"The {name} register.",
            fields,
            [],
            timestamp="2020-01-01T00:00:00Z",
        )


@pytest.fixture
async def registers(database_url) -> Registers:
    await asyncio.to_thread(upgrade, "registers", database_url)
    private, public = new_key_pair()
    settings = Settings(
        database_url=database_url, public_url=PUBLIC_URL, principal_public_key=public
    )
    db = Database(database_url, synchronous_full=True)
    context = Context(settings=settings, db=db)
    await seeding.ensure_system_registers(context)
    yield Registers(http_api.create_app(context), context, PrincipalSigner(private))
    await db.dispose()
