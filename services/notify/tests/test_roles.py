"""Notify split in two processes' worth of roles on one database (GOVPLAT_ROLE,
decision 45): the ``api`` role accepts and stores, the ``events`` role relays and
delivers; what the api accepted waits in the outbox until the events side runs
(real NATS JetStream, the real database)."""

from __future__ import annotations

import asyncio

import httpx

from govkit.nats_server import free_port
from govkit.principal import HEADER
from notify.app import build

ROOT = "http://gateway.test"


def _client(app, headers: dict | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ROOT, headers=headers or {}
    )


async def _status(client: httpx.AsyncClient, notification_id: str) -> str:
    return (await client.get(f"/v2/notifications/{notification_id}")).json()["status"]


async def _send(client: httpx.AsyncClient, template_id: str, phone_number: str):
    return await client.post(
        "/v2/notifications/sms",
        json={
            "phone_number": phone_number,
            "template_id": template_id,
            "personalisation": {"name": "Ada", "code": "123456"},
        },
    )


async def _wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return await predicate()


async def test_the_api_role_stores_sends_and_the_events_role_delivers_them(notify, nats_server):
    def component(role: str):
        settings = notify.context.settings.model_copy(
            update={
                "role": role,
                "http_port": free_port(),
                "grpc_port": free_port(),
                "nats_url": nats_server.url,
            }
        )
        return build(settings)

    api = component("api")
    await api.start()
    events = None
    try:
        principal = {HEADER: notify.principal("test")}
        async with _client(api.http_app, principal) as client:
            sent = await _send(client, notify.templates["sms"], "07700 900456")
            assert sent.status_code == 201, sent.text
            notification_id = sent.json()["id"]
            assert await _wait_for(lambda: _ready(api.http_app))
            assert api.relay is None  # the api role relays nothing: its events wait
            await asyncio.sleep(1.0)
            assert await _status(client, notification_id) == "created"

            events = component("events")
            await events.start()
            assert await _wait_for(lambda: _is(client, notification_id, "delivered")), (
                await _status(client, notification_id)
            )
            assert events.relay is not None

            # A later send wakes the events process's relay at once (a core NATS
            # message from the api process), not at its next look at the table.
            events.relay.poll_interval = 60.0
            await asyncio.sleep(1.5)  # the relay's current wait (1 s) has ended
            again = await _send(client, notify.templates["sms"], "07700 900457")
            assert again.status_code == 201, again.text
            assert await _wait_for(lambda: _is(client, again.json()["id"], "delivered"), 20.0)

            async with _client(events.http_app, principal) as worker:
                assert await _wait_for(lambda: _ready(events.http_app))
                assert (await worker.get("/healthz")).json() == {"status": "ok"}
                assert "govplat_http_requests_total" in (await worker.get("/metrics")).text
                assert (await worker.get(f"/v2/notifications/{notification_id}")).status_code == 404
                assert (await worker.post("/v2/notifications/sms", json={})).status_code == 404
    finally:
        if events is not None:
            await events.stop()
        await api.stop()


async def _ready(app) -> bool:
    async with _client(app) as client:
        return (await client.get("/readyz")).status_code == 200


async def _is(client: httpx.AsyncClient, notification_id: str, status: str) -> bool:
    return await _status(client, notification_id) == status
