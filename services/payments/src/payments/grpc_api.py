"""The payments gRPC API (``govplat.payments.v1.PaymentsService``, protos/govplat/payments/v1/).

Every call needs the gateway's principal for ``payments`` (``x-govplat-principal``
metadata); the account is the principal's, and a request naming another
``service_id`` is refused (``PERMISSION_DENIED``). The rules are the REST API's (the
same use cases); ``request_id`` makes ``CreatePayment`` idempotent (as an
``Idempotency-Key``). Errors carry Pay's code as the ``ErrorInfo`` reason.
"""

from __future__ import annotations

import base64
import json

import grpc

from govkit.errors import InvalidArgumentError, PermissionDeniedError
from govplat.payments.v1 import payments_service_pb2 as pb
from govplat.payments.v1 import payments_service_pb2_grpc
from payments.context import Context
from payments.models import Payment, Refund
from payments.service import Caller, search
from payments.service import payments as payments_service
from payments.service import refunds as refunds_service
from payments.validation import resource_id

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PaymentsService"].full_name
MAX_PAGE_SIZE = 500


def _timestamp(value):
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def payment_pb(payment: Payment) -> pb.Payment:
    """A payment as the contract describes it."""
    return pb.Payment(
        payment_id=payment.id,
        amount=payment.amount,
        reference=payment.reference,
        description=payment.description,
        return_url=payment.return_url or "",
        email=payment.email or "",
        state=pb.PaymentState(
            status=payment.status,
            finished=payment.finished,
            code=payment.code or "",
            message=payment.message or "",
        ),
        create_time=_timestamp(payment.created_at),
        service_id=payment.service_id,
        metadata={k: str(v) for k, v in json.loads(payment.metadata_json or "{}").items()},
        language=payment.language,
    )


def refund_pb(refund: Refund) -> pb.Refund:
    """A refund as the contract describes it."""
    return pb.Refund(
        refund_id=refund.id,
        payment_id=refund.payment_id,
        amount=refund.amount,
        status=refund.status,
        create_time=_timestamp(refund.created_at),
    )


def _page(token: str) -> int:
    if not token:
        return 1
    try:
        number = int(base64.urlsafe_b64decode(token.encode() + b"==").decode())
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgumentError("INVALID_PAGE_TOKEN", "page_token is not valid") from None
    if number < 1:
        raise InvalidArgumentError("INVALID_PAGE_TOKEN", "page_token is not valid")
    return number


def _token(number: int) -> str:
    return base64.urlsafe_b64encode(str(number).encode()).decode().rstrip("=")


class PaymentsServiceServicer(payments_service_pb2_grpc.PaymentsServiceServicer):
    """Implements ``PaymentsService`` on the REST API's use cases."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def _caller(self, grpc_context, service_id: str) -> Caller:
        principal = self.context.guard.from_grpc(grpc_context)
        if principal.api not in ("payments", "oauth") or not principal.service_id:
            raise PermissionDeniedError("NOT_A_PAY_CREDENTIAL", "a Pay API key is required")
        if service_id and service_id != principal.service_id:
            raise PermissionDeniedError(
                "OTHER_SERVICE", "service_id is not the service of the credential"
            )
        return Caller.from_principal(principal)

    async def GetPayment(self, request, context):
        caller = self._caller(context, request.service_id)
        found = await payments_service.get_payment(
            self.context.payments, caller, resource_id(request.payment_id) or "-"
        )
        return pb.GetPaymentResponse(payment=payment_pb(found.payment))

    async def ListPayments(self, request, context):
        caller = self._caller(context, request.service_id)
        if request.page_size < 0:
            raise InvalidArgumentError("INVALID_PAGE_SIZE", "page_size must not be negative")
        size = min(request.page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        number = _page(request.page_token)
        params = {"page": str(number), "display_size": str(size)}
        if request.reference:
            params["reference"] = request.reference
        page = await search.search_payments(self.context.db, caller, params, self.context.origin)
        more = number * size < page.total
        return pb.ListPaymentsResponse(
            payments=[payment_pb(p) for p in page.rows],
            next_page_token=_token(number + 1) if more else "",
        )

    async def CreatePayment(self, request, context):
        caller = self._caller(context, request.service_id)
        data: dict = {
            "amount": request.amount,
            "reference": request.reference,
            "description": request.description,
            "return_url": request.return_url,
        }
        if request.email:
            data["email"] = request.email
        if request.language:
            data["language"] = request.language
        if request.metadata:
            data["metadata"] = dict(request.metadata)
        created = await payments_service.create_payment(
            self.context.payments, caller, data, request.request_id or None
        )
        next_url = f"{self.context.origin}/pay/secure/{created.token}" if created.token else ""
        return pb.CreatePaymentResponse(payment=payment_pb(created.payment), next_url=next_url)

    async def GetRefund(self, request, context):
        caller = self._caller(context, request.service_id)
        refund = await refunds_service.get_refund(
            self.context.db,
            caller,
            resource_id(request.payment_id) or "-",
            resource_id(request.refund_id) or "-",
        )
        return pb.GetRefundResponse(refund=refund_pb(refund))

    async def ListRefunds(self, request, context):
        caller = self._caller(context, request.service_id)
        if request.page_size < 0:
            raise InvalidArgumentError("INVALID_PAGE_SIZE", "page_size must not be negative")
        size = min(request.page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        number = _page(request.page_token)
        refunds = await refunds_service.list_refunds(
            self.context.db, caller, resource_id(request.payment_id) or "-"
        )
        refunds = refunds[::-1]  # newest first, as the contract says
        chunk = refunds[(number - 1) * size : number * size]
        more = number * size < len(refunds)
        return pb.ListRefundsResponse(
            refunds=[refund_pb(r) for r in chunk],
            next_page_token=_token(number + 1) if more else "",
        )


def registrar(context: Context):
    """A function that adds the payments servicer to a gRPC server."""

    def register(server: grpc.aio.Server) -> None:
        payments_service_pb2_grpc.add_PaymentsServiceServicer_to_server(
            PaymentsServiceServicer(context), server
        )

    return register
