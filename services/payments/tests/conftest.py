"""Fixtures for payments' tests: a migrated database and the payments app in-process,
called with principals signed the way the gateway signs them."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, field

import httpx
import pytest

from govkit.db import Database
from govkit.events import Event, subject_for
from govkit.migrations import upgrade
from govkit.principal import HEADER, Principal, PrincipalSigner, new_key_pair
from govkit.testing.grpc import grpc_channel
from govplat.payments.v1 import events_pb2, payments_service_pb2_grpc
from payments import grpc_api, http_api
from payments.acquirer import SandboxAcquirer
from payments.config import Settings
from payments.context import Context
from payments.service import Caller
from payments.service.agreements import RecurringPayments

ORIGIN = "http://gateway.test"
ADMIN_TOKEN = "a" * 40

#: A card form that the sandbox authorises (Visa credit).
GOOD_CARD = {
    "card-number": "4242 4242 4242 4242",
    "expiry-month": "12",
    "expiry-year": "2040",
    "cardholder-name": "Ada Lovelace",
    "cvc": "123",
    "address-line-1": "1 High Street",
    "address-city": "London",
    "address-postcode": "SW1A 1AA",
    "address-country": "GB",
    "email": "ada@example.com",
}


def nonce_of(page: str) -> str:
    """The one-time form nonce of a payment page."""
    found = re.search(r'name="nonce" value="([^"]+)"', page)
    assert found, "the page has no form nonce"
    return found.group(1)


def path_of(url: str) -> str:
    """``url`` without its origin."""
    return re.sub(r"^https?://[^/]+", "", url)


@dataclass
class Pay:
    """The payments app and what tests need to drive it."""

    app: object
    context: Context
    signer: PrincipalSigner
    service_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    good_card = GOOD_CARD
    nonce_of = staticmethod(nonce_of)
    path_of = staticmethod(path_of)

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

    async def create(self, **fields) -> dict:
        """Create a test payment (``a_payment`` with ``fields``); Pay's answer."""
        async with self.http() as api:
            answer = await api.post("/v1/payments", json=a_payment(**fields))
        assert answer.status_code == 201, answer.text
        return answer.json()

    async def read(self, payment_id: str) -> dict:
        """``GET /v1/payments/{id}`` with the test key."""
        async with self.http() as api:
            answer = await api.get(f"/v1/payments/{payment_id}")
        assert answer.status_code == 200
        return answer.json()

    @staticmethod
    async def open_pages(browser: httpx.AsyncClient, created: dict) -> httpx.Response:
        """Follow ``next_url`` to the card-details page; its response."""
        opened = await browser.get(path_of(created["_links"]["next_url"]["href"]))
        assert opened.status_code == 303
        assert opened.headers["location"] == f"/pay/card-details/{created['payment_id']}"
        return await browser.get(opened.headers["location"])

    async def pay_with(
        self, browser: httpx.AsyncClient, created: dict, card: dict | None = None
    ) -> httpx.Response:
        """Open the pages and send the card form (``GOOD_CARD``); the form's answer."""
        form = await self.open_pages(browser, created)
        assert form.status_code == 200
        return await browser.post(
            f"/pay/card-details/{created['payment_id']}",
            data={**(GOOD_CARD if card is None else card), "nonce": nonce_of(form.text)},
        )

    async def take(self, created: dict, card: dict | None = None) -> httpx.Response:
        """Pay ``created`` as a payer does (card, then confirm); the last answer."""
        async with self.browser() as browser:
            sent = await self.pay_with(browser, created, card)
            if sent.headers.get("location") != f"/pay/confirm/{created['payment_id']}":
                return sent
            page = await browser.get(sent.headers["location"])
            return await browser.post(
                f"/pay/confirm/{created['payment_id']}", data={"nonce": nonce_of(page.text)}
            )

    async def take_on_agreement(self, payment_id: str) -> None:
        """Take an agreement payment as the recurring-payments consumer does when its
        ``PaymentCreated`` event arrives."""
        taker = RecurringPayments(self.db, self.context.acquirer, self.context.origin)
        created = events_pb2.PaymentCreated(payment_id=payment_id, authorisation_mode="agreement")
        await taker.on_event(
            Event(
                "e1",
                created.DESCRIPTOR.full_name,
                "",
                "",
                None,
                subject_for(created),
                created.SerializeToString(),
            )
        )


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


@pytest.fixture
async def stub(pay):
    """A gRPC stub of the payments servicer on ``pay``'s context, on a free port."""
    registrar = grpc_api.registrar(pay.context)
    async with grpc_channel("payments", registrar, [grpc_api.SERVICE_NAME]) as channel:
        yield payments_service_pb2_grpc.PaymentsServiceStub(channel)
