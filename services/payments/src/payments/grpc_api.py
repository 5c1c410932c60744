"""The payments gRPC API (``govplat.payments.v1.PaymentsService``, protos/govplat/payments/v1/).

The servicer is registered so that health checking and reflection describe the
contract; RPCs not implemented yet answer ``UNIMPLEMENTED``.
"""

import grpc

from govplat.payments.v1 import payments_service_pb2, payments_service_pb2_grpc

SERVICE_NAME = payments_service_pb2.DESCRIPTOR.services_by_name["PaymentsService"].full_name


class PaymentsServiceServicer(payments_service_pb2_grpc.PaymentsServiceServicer):
    """Implements ``PaymentsService``."""


def register(server: grpc.aio.Server) -> None:
    """Add the payments servicer to a gRPC server."""
    payments_service_pb2_grpc.add_PaymentsServiceServicer_to_server(
        PaymentsServiceServicer(), server
    )
