"""A component's gRPC servicers served for one test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

import grpc

from govkit.grpc_server import GrpcServer
from govkit.nats_server import free_port


@contextlib.asynccontextmanager
async def grpc_channel(
    component: str, register: Callable[[grpc.aio.Server], None], service_names: Sequence[str]
) -> AsyncIterator[grpc.aio.Channel]:
    """Serve ``register``'s servicers with the platform's :class:`GrpcServer` (health,
    reflection, interceptors) on a free loopback port; yield an insecure channel to
    it. The channel is closed and the server stopped at the end."""
    port = free_port()
    server = GrpcServer(
        component=component,
        address=f"127.0.0.1:{port}",
        register=register,
        service_names=list(service_names),
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel
    finally:
        await channel.close()
        await server.stop(0)
