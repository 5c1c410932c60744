"""The registers service's refusals, answered in OpenRegister's style.

openregister-java (Dropwizard) answers an error with a JSON object
``{"code": <HTTP status>, "message": "..."}``; RSF and append refusals also say
which line of the batch was refused and why (``line``, ``reason``), and that nothing
of the batch was kept. Each error maps to a gRPC status too (:mod:`govkit.errors`).
"""

from __future__ import annotations

import grpc

from govkit.errors import DomainError


class RegisterError(DomainError):
    """A refusal with the HTTP status the REST API answers.

    Args:
        reason: UPPER_SNAKE_CASE cause, e.g. ``REGISTER_NOT_FOUND``.
        message: what went wrong, for the caller.
        status: HTTP status (400, 404, 409 ...).
        line: the batch line refused (1-based), if any.
    """

    _CODES = {
        400: grpc.StatusCode.INVALID_ARGUMENT,
        401: grpc.StatusCode.UNAUTHENTICATED,
        403: grpc.StatusCode.PERMISSION_DENIED,
        404: grpc.StatusCode.NOT_FOUND,
        409: grpc.StatusCode.FAILED_PRECONDITION,
        413: grpc.StatusCode.INVALID_ARGUMENT,
        415: grpc.StatusCode.INVALID_ARGUMENT,
    }

    def __init__(self, reason: str, message: str, *, status: int = 400, line: int = 0) -> None:
        metadata = {"http_status": str(status)}
        if line:
            metadata["line"] = str(line)
        super().__init__(
            reason,
            message,
            code=self._CODES.get(status, grpc.StatusCode.INVALID_ARGUMENT),
            metadata=metadata,
        )
        self.status = status
        self.line = line

    def as_dict(self) -> dict:
        """The JSON body: ``{"code", "message"}``, plus ``line`` and ``reason`` for a batch."""
        body: dict = {"code": self.status, "message": self.message}
        if self.line:
            body["line"] = self.line
            body["reason"] = self.reason
        return body


def not_found(message: str, reason: str = "NOT_FOUND") -> RegisterError:
    """A 404."""
    return RegisterError(reason, message, status=404)


def bad_request(message: str, reason: str = "INVALID_ARGUMENT") -> RegisterError:
    """A 400."""
    return RegisterError(reason, message, status=400)


def refused_line(line: int, message: str, reason: str = "INVALID_LINE") -> RegisterError:
    """A 400 naming the refused line of a batch; nothing of the batch is kept."""
    return RegisterError(
        reason, f"line {line}: {message}; nothing from this batch was kept", status=400, line=line
    )
