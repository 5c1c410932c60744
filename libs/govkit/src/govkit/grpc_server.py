"""A ``grpc.aio`` server with what every component needs.

- gRPC health checking (``grpc.health.v1.Health``): SERVING for the overall
  server and each registered service once started, NOT_SERVING from shutdown on.
- Server reflection (optional).
- Tracing (OpenTelemetry server interceptor; health checks are not traced).
- Error mapping: a :class:`govkit.errors.DomainError` becomes its status code with a
  ``google.rpc.ErrorInfo`` detail (AIP-193: ``reason``, ``domain`` = ``govplat.<component>``,
  ``metadata``); any other exception becomes ``INTERNAL`` with a generic message,
  so no stack trace or internal detail reaches a caller, unless the handler set a
  status on its context before raising (``UNIMPLEMENTED`` from a generated base
  servicer), which is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from govkit.errors import DomainError

log = logging.getLogger(__name__)

HEALTH_SERVICE = "grpc.health.v1.Health"


def domain_error_status(error: DomainError, component: str) -> status_pb2.Status:
    """A ``google.rpc.Status`` for a domain error, with an ``ErrorInfo`` detail."""
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=f"govplat.{component}", metadata=error.metadata
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    return status_pb2.Status(code=error.code.value[0], message=error.message, details=[detail])


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Maps exceptions from unary handlers to gRPC statuses (see the module docstring)."""

    def __init__(self, component: str) -> None:
        self.component = component

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        component = self.component
        method = handler_call_details.method

        async def guarded(request, context: grpc.aio.ServicerContext):
            try:
                return await inner(request, context)
            except DomainError as error:
                await context.abort_with_status(
                    rpc_status.to_status(domain_error_status(error, component))
                )
            except grpc.aio.AbortError:
                raise
            except Exception:
                chosen = context.code()
                if chosen is not None and chosen != grpc.StatusCode.OK:
                    # The handler set its status before raising, as the generated base
                    # servicers do for RPCs not implemented yet (UNIMPLEMENTED): keep it.
                    await context.abort(chosen, context.details() or "")
                log.exception("unhandled error in %s", method)
                status = status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")
                await context.abort_with_status(rpc_status.to_status(status))

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class GrpcServer:
    """A started-or-not gRPC server and its health servicer.

    Args:
        component: component name (error domain, logs).
        address: ``host:port`` to listen on.
        register: ``register(server)`` adds the component's servicers.
        service_names: full names of the services registered (for health and reflection).
        reflection_enabled: serve server reflection.
    """

    def __init__(
        self,
        *,
        component: str,
        address: str,
        register: Callable[[grpc.aio.Server], None] | None = None,
        service_names: Iterable[str] = (),
        reflection_enabled: bool = True,
    ) -> None:
        from opentelemetry.instrumentation.grpc import aio_server_interceptor
        from opentelemetry.instrumentation.grpc.filters import health_check, negate

        self.component = component
        self.address = address
        self.service_names = list(service_names)
        self.server = grpc.aio.server(
            interceptors=[
                aio_server_interceptor(filter_=negate(health_check())),
                ErrorMappingInterceptor(component),
            ],
            options=[("grpc.so_reuseport", 0)],
        )
        self.health = (
            health.aio.HealthServicer() if hasattr(health, "aio") else health.HealthServicer()
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if register is not None:
            register(self.server)
        if reflection_enabled:
            reflection.enable_server_reflection(
                [*self.service_names, HEALTH_SERVICE, reflection.SERVICE_NAME], self.server
            )
        self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot listen on {address} for gRPC")

    async def _set_all(self, status: int) -> None:
        for name in ["", *self.service_names]:
            result = self.health.set(name, status)
            if hasattr(result, "__await__"):
                await result

    async def start(self) -> None:
        """Start serving and report SERVING."""
        await self.server.start()
        await self._set_all(health_pb2.HealthCheckResponse.SERVING)

    async def not_serving(self) -> None:
        """Report NOT_SERVING for the server and every service (shutdown has begun)."""
        await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, then stop, letting calls in flight finish for ``grace`` seconds."""
        await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.stop(grace)
