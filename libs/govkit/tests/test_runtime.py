"""A component's probes tell the truth about its database and NATS."""

from __future__ import annotations

import asyncio

import httpx

from govkit.nats_server import free_port
from govkit.runtime import Component
from payments.app import build
from payments.config import Settings


async def _readyz(component: Component) -> httpx.Response:
    transport = httpx.ASGITransport(app=component.http_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://component") as client:
        return await client.get("/readyz")


async def _wait_for_status(
    component: Component, status: int, timeout: float = 15.0
) -> httpx.Response:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await _readyz(component)
        if response.status_code == status or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.1)


async def test_readiness_follows_the_nats_connection_while_liveness_stays_up(
    database_url, nats_server
):
    from govkit.migrations import upgrade

    await asyncio.to_thread(upgrade, "payments", database_url)
    settings = Settings(
        database_url=database_url,
        http_port=free_port(),
        grpc_port=free_port(),
        nats_url=nats_server.url,
    )
    component = build(settings)
    await component.start()
    try:
        ready = await _wait_for_status(component, 200)
        assert ready.json()["checks"] == {"database": "ok", "nats": "ok", "events": "ok"}

        nats_server.stop()
        down = await _wait_for_status(component, 503)
        assert down.status_code == 503
        assert down.json()["checks"]["nats"] != "ok"
        assert down.json()["checks"]["database"] == "ok"
        transport = httpx.ASGITransport(app=component.http_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://component") as client:
            assert (await client.get("/healthz")).status_code == 200

        nats_server.start()
        back = await _wait_for_status(component, 200)
        assert back.status_code == 200
    finally:
        await component.stop()


async def test_a_component_started_before_nats_becomes_ready_when_nats_arrives(
    database_url, nats_server
):
    from govkit.migrations import upgrade

    await asyncio.to_thread(upgrade, "payments", database_url)
    nats_server.stop()
    settings = Settings(
        database_url=database_url,
        http_port=free_port(),
        grpc_port=free_port(),
        nats_url=nats_server.url,
    )
    component = build(settings)
    await component.start()
    try:
        early = await _readyz(component)
        assert early.status_code == 503
        assert early.json()["checks"]["events"] != "ok"
        nats_server.start()
        assert (await _wait_for_status(component, 200)).status_code == 200
    finally:
        await component.stop()
