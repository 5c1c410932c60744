"""The registers gRPC API (``govplat.registers.v1.RegistersService``, protos/govplat/registers/v1/).

The servicer is registered so that health checking and reflection describe the
contract; RPCs not implemented yet answer ``UNIMPLEMENTED``.
"""

import grpc

from govplat.registers.v1 import registers_service_pb2, registers_service_pb2_grpc

SERVICE_NAME = registers_service_pb2.DESCRIPTOR.services_by_name["RegistersService"].full_name


class RegistersServiceServicer(registers_service_pb2_grpc.RegistersServiceServicer):
    """Implements ``RegistersService``."""


def register(server: grpc.aio.Server) -> None:
    """Add the registers servicer to a gRPC server."""
    registers_service_pb2_grpc.add_RegistersServiceServicer_to_server(
        RegistersServiceServicer(), server
    )
