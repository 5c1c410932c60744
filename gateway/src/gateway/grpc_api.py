"""The gateway's gRPC edge (port 9000): one public entry for agencies that prefer gRPC.

Any unary call to ``/govplat.<domain>.v1.<Service>/<Method>`` is forwarded to that
domain's component as raw bytes (no decoding or re-encoding of messages), after the
``authorization`` metadata is authenticated like the REST edge does: a Notify JWT
or Pay key (``Bearer ...``), or an OAuth access token. The component receives the
signed principal in ``x-govplat-principal`` metadata, and the caller's
``authorization`` is not passed on. Identity's admin and verification RPCs are not
exposed here (they are internal). Refusals are gRPC ``UNAUTHENTICATED`` /
``NOT_FOUND`` / ``UNAVAILABLE`` with a short message.
"""

from __future__ import annotations

import logging
import re

import grpc

from gateway.auth import Authenticator, Refusal
from govkit.principal import PrincipalSigner

log = logging.getLogger(__name__)

_METHOD = re.compile(
    r"^/govplat\.(identity|payments|notify|registers)\.v1\.[A-Za-z]+Service/[A-Za-z]+$"
)
#: Identity RPCs that stay internal (the gateway's own verification, and admin).
INTERNAL_IDENTITY = re.compile(
    r"^/govplat\.identity\.v1\.IdentityService/(Verify|Create|List|Get|Revoke)"
)
FORWARDED_METADATA = frozenset({"x-request-id", "traceparent", "tracestate", "grpc-timeout"})


def _identity(value: bytes) -> bytes:
    return value


class EdgeHandler(grpc.GenericRpcHandler):
    """Routes every ``govplat.*`` unary method to its component's channel.

    Args:
        targets: domain → ``host:port`` of the component's gRPC server.
        authenticator / signer: as for the REST edge.
        timeout: seconds a forwarded call may take when the caller sets no deadline.
    """

    def __init__(
        self,
        targets: dict[str, str],
        authenticator: Authenticator,
        signer: PrincipalSigner,
        timeout: float = 30.0,
    ):
        self.targets = targets
        self.authenticator = authenticator
        self.signer = signer
        self.timeout = timeout
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _channel(self, domain: str) -> grpc.aio.Channel:
        if domain not in self._channels:
            self._channels[domain] = grpc.aio.insecure_channel(self.targets[domain])
        return self._channels[domain]

    async def close(self) -> None:
        """Close the channels to the components."""
        for channel in self._channels.values():
            await channel.close()

    def service(self, handler_call_details):
        method = handler_call_details.method
        match = _METHOD.match(method)
        if match is None or INTERNAL_IDENTITY.match(method) or match.group(1) not in self.targets:
            return None  # grpc answers UNIMPLEMENTED
        domain = match.group(1)

        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            metadata = {key: value for key, value in context.invocation_metadata() or ()}
            authorization = metadata.get("authorization")
            outcome = await self.authenticator.check(domain, authorization)
            if isinstance(outcome, Refusal):
                await context.abort(
                    grpc.StatusCode.UNAUTHENTICATED, "the credential is missing or not valid"
                )
            outgoing = [
                (k, v)
                for k, v in metadata.items()
                if k in FORWARDED_METADATA and isinstance(v, str)
            ]
            outgoing.append(("x-govplat-principal", self.signer.sign(outcome, domain)))
            remaining = context.time_remaining()
            call = self._channel(domain).unary_unary(
                method, request_serializer=_identity, response_deserializer=_identity
            )
            try:
                return await call(
                    request, metadata=outgoing, timeout=min(remaining or self.timeout, self.timeout)
                )
            except grpc.aio.AioRpcError as error:
                await context.abort(error.code(), error.details() or "")

        return grpc.unary_unary_rpc_method_handler(
            forward, request_deserializer=_identity, response_serializer=_identity
        )
