"""Notify's errors, answered in GOV.UK Notify's v2 envelope.

``{"status_code": N, "errors": [{"error": Name, "message": text}, ...]}`` with the same
HTTP status, and never a top-level ``message`` (the official client would then
show a string instead of the list). Names are Notify's: ``ValidationError`` (every
invalid field, one entry each), ``BadRequestError``, ``AuthError``,
``NoResultFound``, ``PDFNotReadyError``. On gRPC each maps to its status code with
an ``ErrorInfo`` whose reason is the Notify name in upper snake case.
"""

from __future__ import annotations

import grpc

from govkit.errors import DomainError

_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


class NotifyError(DomainError):
    """An error with Notify's name, status and messages.

    Args:
        error: Notify's error name, e.g. ``BadRequestError``.
        messages: one message per problem (Notify reports every invalid field).
        status: the HTTP status (400, 401, 403, 404 ...).
    """

    def __init__(self, error: str, messages: list[str], *, status: int = 400) -> None:
        reason = "".join("_" + c if c.isupper() else c.upper() for c in error).lstrip("_")
        super().__init__(
            reason,
            "; ".join(messages),
            code=_CODES.get(status, grpc.StatusCode.FAILED_PRECONDITION),
            metadata={"http_status": str(status)},
        )
        self.error = error
        self.messages = list(messages)
        self.status = status

    def envelope(self) -> dict:
        """The v2 JSON body."""
        return {
            "status_code": self.status,
            "errors": [{"error": self.error, "message": m} for m in self.messages],
        }


def validation_error(messages: list[str]) -> NotifyError:
    """400 ``ValidationError``, one entry per message (de-duplicated, order kept)."""
    return NotifyError("ValidationError", list(dict.fromkeys(messages)), status=400)


def bad_request(message: str, *, status: int = 400) -> NotifyError:
    """``BadRequestError`` (400, or 403 for the key-type refusals)."""
    return NotifyError("BadRequestError", [message], status=status)


def not_found() -> NotifyError:
    """404 ``NoResultFound``: ``No result found``."""
    return NotifyError("NoResultFound", ["No result found"], status=404)


def auth_error(message: str, *, status: int = 401) -> NotifyError:
    """``AuthError`` (401 without a credential)."""
    return NotifyError("AuthError", [message], status=status)
