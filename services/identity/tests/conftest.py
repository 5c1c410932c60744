"""Fixtures for identity's tests: a migrated database and the identity app in-process."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from govkit.db import Database, utcnow
from govkit.migrations import upgrade
from identity import http_api
from identity.config import Settings
from identity.context import Context
from identity.models import Account, BrowserSession
from identity.security import SecretBox, hash_password, new_token, sha256_hex
from identity.service import credentials, oidc, signing

ISSUER = "http://idp.test"
REDIRECT_URI = "https://rp.example/callback"


@dataclass
class Identity:
    """The identity app and what tests need to drive it."""

    app: object
    context: Context
    keys: signing.KeyCache
    client_keys: oidc.ClientKeys
    organisation_id: str
    service_id: str

    def http(self, **kwargs) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=ISSUER, **kwargs
        )

    async def client(self, **overrides) -> tuple[str, str]:
        """Register an OAuth client; returns (client_id, secret)."""
        values = dict(
            organisation_id=self.organisation_id,
            name=f"client {uuid.uuid4().hex[:6]}",
            auth_method="client_secret_basic",
            redirect_uris=[REDIRECT_URI],
            post_logout_redirect_uris=["https://rp.example/signed-out"],
            scopes=["openid", "email", "phone", "offline_access", "notify:send"],
            grant_types=["authorization_code", "refresh_token", "client_credentials"],
        )
        values.update(overrides)
        async with self.context.db.write() as session:
            client, secret = await credentials.create_oauth_client(session, **values)
        return client.client_id, secret

    async def signed_in(
        self, level: str = "Cl.Cm", identity_level: str | None = None
    ) -> tuple[str, str]:
        """A citizen account and a browser session cookie at ``level``; (account id, cookie)."""
        cookie = new_token()
        async with self.context.db.write() as session:
            account = Account(
                id=str(uuid.uuid4()),
                email=f"citizen-{uuid.uuid4().hex[:8]}@example.com",
                password_hash=hash_password("correct horse battery staple"),
                email_verified_at=utcnow(),
                failed_attempts=0,
                identity_level=identity_level,
                created_at=utcnow(),
            )
            session.add(account)
            await session.flush()
            session.add(
                BrowserSession(
                    id_hash=sha256_hex(cookie),
                    account_id=account.id,
                    auth_level=level,
                    auth_time=utcnow(),
                    expires_at=utcnow() + timedelta(hours=1),
                )
            )
        return account.id, cookie


@pytest.fixture
async def identity(database_url) -> Identity:
    await asyncio.to_thread(upgrade, "identity", database_url)
    settings = Settings(
        database_url=database_url, secret_key="s" * 40, admin_token="a" * 40, issuer=ISSUER
    )
    db = Database(database_url)
    context = Context(
        settings=settings, db=db, box=SecretBox(settings.secret_key.get_secret_value())
    )
    async with db.write() as session:
        await signing.ensure_keys(session, context.box)
        organisation = await credentials.create_organisation(session, name="Test agency")
        service = await credentials.create_service(
            session, organisation_id=organisation.id, name="Test service"
        )
    keys = signing.KeyCache(db)
    client_keys = oidc.ClientKeys()
    app = http_api.create_app(context, keys, client_keys)
    yield Identity(app, context, keys, client_keys, organisation.id, service.id)
    await db.dispose()
