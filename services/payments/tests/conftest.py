"""Fixtures for payments' tests: a migrated database and the payments app in-process,
called with principals signed the way the gateway signs them."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import httpx
import pytest

from govkit.db import Database
from govkit.migrations import upgrade
from govkit.principal import HEADER, Principal, PrincipalSigner, new_key_pair
from payments import http_api
from payments.acquirer import SandboxAcquirer
from payments.config import Settings
from payments.context import Context
from payments.service import Caller

ORIGIN = "http://gateway.test"
ADMIN_TOKEN = "a" * 40


@dataclass
class Pay:
    """The payments app and what tests need to drive it."""

    app: object
    context: Context
    signer: PrincipalSigner
    service_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def db(self) -> Database:
        return self.context.db

    def principal(self, key_type: str = "test", service_id: str | None = None, **overrides) -> str:
        values = dict(
            organisation_id="org",
            service_id=service_id or self.service_id,
            key_type=key_type,
            scopes=(),
            credential_id=f"key-{key_type}",
            api="payments",
        )
        values.update(overrides)
        return self.signer.sign(Principal(**values), "payments")

    def http(
        self, key_type: str | None = "test", headers: dict | None = None, **kwargs
    ) -> httpx.AsyncClient:
        """A client of the app; with ``key_type``, requests carry a principal for a Pay
        key of that type (``test``: the sandbox account)."""
        sent = {HEADER: self.principal(key_type)} if key_type else {}
        sent.update(headers or {})
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=ORIGIN, headers=sent, **kwargs
        )

    def browser(self) -> httpx.AsyncClient:
        """A payer's browser on the payment pages (keeps cookies, follows no redirects)."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=ORIGIN)

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url=ORIGIN,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )

    def caller(self, live: bool = False) -> Caller:
        return Caller(self.service_id, live)


def context_for(database_url: str, public_key: str | None, **overrides) -> Context:
    values = dict(
        database_url=database_url,
        principal_public_key=public_key,
        admin_token=ADMIN_TOKEN,
        public_url=ORIGIN,
        secret_key="s" * 40,
    )
    values.update(overrides)
    settings = Settings(**values)
    return Context.build(settings, Database(database_url, synchronous_full=True), SandboxAcquirer())


@pytest.fixture
async def pay(database_url) -> Pay:
    await asyncio.to_thread(upgrade, "payments", database_url)
    private, public = new_key_pair()
    context = context_for(database_url, public)
    yield Pay(http_api.create_app(context), context, PrincipalSigner(private))
    await context.db.dispose()


def a_payment(**overrides) -> dict:
    """A valid create-payment body."""
    body = {
        "amount": 1250,
        "reference": "LICENCE-123",
        "description": "Dog licence",
        "return_url": "https://agency.example/return",
    }
    body.update(overrides)
    return body


@pytest.fixture
def payment_body():
    """Makes valid create-payment bodies (keyword arguments change fields)."""
    return a_payment
