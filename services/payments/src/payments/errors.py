"""Payments' errors, answered as GOV.UK Pay answers them.

``{"code": "P0102", "description": "...", "field": "amount"}`` (``field`` only for a
field's error, ``header`` only for a header's) with Pay's HTTP status: 400 for a
missing field, a wrong JSON type or illegal characters, 422 for a value out of range
or too long, 404 with the resource's own "Not found" code, 409/412 for conflicts.
Codes and texts are pay-publicapi's (``RequestError``). On gRPC the code becomes the
``ErrorInfo`` reason.
"""

from __future__ import annotations

import grpc

from govkit.errors import DomainError

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    402: grpc.StatusCode.FAILED_PRECONDITION,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


class PayError(DomainError):
    """An error in Pay's shape.

    Args:
        code: Pay's code, e.g. ``P0102``.
        description: Pay's text.
        status: the HTTP status.
        field: the request field it is about, if any.
        header: the request header it is about, if any.
    """

    def __init__(
        self,
        code: str,
        description: str,
        *,
        status: int = 400,
        field: str | None = None,
        header: str | None = None,
    ) -> None:
        super().__init__(
            code,
            description,
            code=_CODES.get(status, grpc.StatusCode.FAILED_PRECONDITION),
            metadata={"http_status": str(status), **({"field": field} if field else {})},
        )
        self.pay_code = code
        self.description = description
        self.status = status
        self.field = field
        self.header = header

    def body(self) -> dict:
        """The JSON body (``field`` and ``header`` only when set)."""
        body: dict = {}
        if self.field:
            body["field"] = self.field
        if self.header:
            body["header"] = self.header
        body["code"] = self.pay_code
        body["description"] = self.description
        return body


def missing(field: str, code: str = "P0101") -> PayError:
    """400 ``Missing mandatory attribute: <field>``."""
    return PayError(code, f"Missing mandatory attribute: {field}", status=400, field=field)


def invalid(field: str, why: str, *, status: int = 422, code: str = "P0102") -> PayError:
    """``Invalid attribute value: <field>. <why>`` (422 unless a type problem: 400)."""
    return PayError(code, f"Invalid attribute value: {field}. {why}", status=status, field=field)


def unexpected(field: str) -> PayError:
    """400 ``Unexpected attribute: <field>``."""
    return PayError("P0104", f"Unexpected attribute: {field}", status=400, field=field)


def not_found(code: str) -> PayError:
    """404 with the resource's own code and ``Not found``."""
    return PayError(code, "Not found", status=404)


def unparseable(code: str = "P0197") -> PayError:
    """400 ``Unable to parse JSON``."""
    return PayError(code, "Unable to parse JSON", status=400)
