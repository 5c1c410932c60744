"""Domain errors shared by the gRPC and HTTP layers.

A service raises :class:`DomainError` (or a subclass) with an ``ErrorInfo``-style
``reason`` in UPPER_SNAKE_CASE (AIP-193). The gRPC server maps it to a status code
with a ``google.rpc.ErrorInfo`` detail; each HTTP API maps it to its own family's
error format (Notify's ``errors`` envelope, Pay's ``code``/``description``).
"""

from __future__ import annotations

import grpc


class DomainError(Exception):
    """A refusal the caller can act on.

    Attributes:
        reason: UPPER_SNAKE_CASE machine-readable cause, e.g. ``PAYMENT_NOT_FOUND``.
        message: human-readable explanation, safe to show to the caller (no personal data).
        code: the gRPC status code it maps to.
        metadata: extra string key/values for ``ErrorInfo.metadata``.
    """

    code: grpc.StatusCode = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        if code is not None:
            self.code = code
        self.metadata = dict(metadata or {})


class NotFoundError(DomainError):
    """The resource does not exist (gRPC ``NOT_FOUND``, HTTP 404)."""

    code = grpc.StatusCode.NOT_FOUND


class InvalidArgumentError(DomainError):
    """The request is malformed or a value is out of range (gRPC ``INVALID_ARGUMENT``)."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class ConflictError(DomainError):
    """The request conflicts with the current state (gRPC ``ALREADY_EXISTS``/``ABORTED``)."""

    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDeniedError(DomainError):
    """The caller is known but may not do this (gRPC ``PERMISSION_DENIED``)."""

    code = grpc.StatusCode.PERMISSION_DENIED


class UnauthenticatedError(DomainError):
    """The caller's credential is missing or invalid (gRPC ``UNAUTHENTICATED``)."""

    code = grpc.StatusCode.UNAUTHENTICATED
