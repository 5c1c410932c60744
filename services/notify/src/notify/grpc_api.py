"""The notify gRPC API (``govplat.notify.v1.NotifyService``, protos/govplat/notify/v1/).

The servicer is registered so that health checking and reflection describe the
contract; RPCs not implemented yet answer ``UNIMPLEMENTED``.
"""

import grpc

from govplat.notify.v1 import notify_service_pb2, notify_service_pb2_grpc

SERVICE_NAME = notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name


class NotifyServiceServicer(notify_service_pb2_grpc.NotifyServiceServicer):
    """Implements ``NotifyService``."""


def register(server: grpc.aio.Server) -> None:
    """Add the notify servicer to a gRPC server."""
    notify_service_pb2_grpc.add_NotifyServiceServicer_to_server(NotifyServiceServicer(), server)
