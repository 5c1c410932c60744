"""Fixtures for notify's tests: a migrated database and the notify app in-process,
called with principals signed the way the gateway signs them."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import httpx
import pytest

from govkit.db import Database
from govkit.migrations import upgrade
from govkit.principal import HEADER, Principal, PrincipalGuard, PrincipalSigner, new_key_pair
from notify import http_api
from notify.config import Settings
from notify.context import Context
from notify.providers import Providers
from notify.service import Caller
from notify.service import templates as templates_service
from notify.service.delivery import Delivery

ROOT = "http://gateway.test"
ADMIN_TOKEN = "a" * 40


@dataclass
class Notify:
    """The notify app and what tests need to drive it."""

    app: object
    context: Context
    signer: PrincipalSigner
    service_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    templates: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> Database:
        return self.context.db

    def principal(
        self, key_type: str = "live", service_id: str | None = None, api: str = "notify"
    ) -> str:
        return self.signer.sign(
            Principal(
                organisation_id="org",
                service_id=service_id or self.service_id,
                key_type=key_type,
                scopes=("notify:send",),
                credential_id=f"key-{key_type}",
                api=api,
            ),
            "notify",
        )

    def http(self, key_type: str | None = "live", headers: dict | None = None) -> httpx.AsyncClient:
        """A client of the app; with ``key_type``, every request carries a principal
        for the test service and a key of that type (``headers`` are added)."""
        sent = {HEADER: self.principal(key_type)} if key_type else {}
        sent.update(headers or {})
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=ROOT, headers=sent
        )

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url=ROOT,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )

    def caller(self, key_type: str = "live") -> Caller:
        return Caller(self.service_id, key_type, f"key-{key_type}")

    async def template(self, kind: str, body: str, subject: str | None = None, **extra) -> str:
        created = await templates_service.create_template(
            self.db,
            service_id=self.service_id,
            template_type=kind,
            name=extra.pop("name", f"{kind} {uuid.uuid4().hex[:6]}"),
            body=body,
            subject=subject,
            **extra,
        )
        return created.id

    def delivery(self, providers: Providers | None = None, **kwargs) -> Delivery:
        return Delivery(self.db, providers or Providers(), "notifications.test", **kwargs)


def settings_for(database_url: str, public_key: str, **overrides) -> Settings:
    values = dict(
        database_url=database_url,
        principal_public_key=public_key,
        admin_token=ADMIN_TOKEN,
        public_url=ROOT,
        email_from_domain="notifications.test",
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def notify(database_url) -> Notify:
    await asyncio.to_thread(upgrade, "notify", database_url)
    private, public = new_key_pair()
    settings = settings_for(database_url, public)
    db = Database(database_url)
    context = Context(
        settings=settings,
        db=db,
        guard=PrincipalGuard(public, "notify"),
        providers=Providers(),
    )
    app = http_api.create_app(context)
    service = Notify(app, context, PrincipalSigner(private))
    service.templates["sms"] = await service.template(
        "sms", "Hello ((name)), your code is ((code))."
    )
    service.templates["email"] = await service.template(
        "email", "Dear ((name)),\n\nYour reference is ((reference)).", subject="Hello ((name))"
    )
    service.templates["letter"] = await service.template(
        "letter", "Dear ((name)),\n\nYour application was received.", subject="Your application"
    )
    yield service
    await db.dispose()
