"""The identity gRPC API (``govplat.identity.v1.IdentityService``, protos/govplat/identity/v1/).

The servicer is registered so that health checking and reflection describe the
contract; RPCs not implemented yet answer ``UNIMPLEMENTED``.
"""

import grpc

from govplat.identity.v1 import identity_service_pb2, identity_service_pb2_grpc

SERVICE_NAME = identity_service_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name


class IdentityServiceServicer(identity_service_pb2_grpc.IdentityServiceServicer):
    """Implements ``IdentityService``."""


def register(server: grpc.aio.Server) -> None:
    """Add the identity servicer to a gRPC server."""
    identity_service_pb2_grpc.add_IdentityServiceServicer_to_server(
        IdentityServiceServicer(), server
    )
