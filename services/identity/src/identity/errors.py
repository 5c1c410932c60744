"""Identity's errors.

- :class:`OAuthError`: an RFC 6749 section 5.2 error (``error``, ``error_description``)
  with its HTTP status; the OAuth endpoints answer it as JSON (or, at
  ``/authorize``, as a redirect to the client when the redirect URI is trusted).
- :class:`NotifyAuthError`: a refused GOV.UK Notify credential, with Notify's own
  message and status (401 or 403), which the gateway returns in Notify's envelope.
- :class:`CredentialError`: a refused payments key or access token.
"""

from __future__ import annotations

import grpc

from govkit.errors import DomainError


class OAuthError(DomainError):
    """An OAuth 2.0 error response (RFC 6749 section 5.2, RFC 6750 section 3.1).

    Args:
        error: the registered error code, e.g. ``invalid_grant``.
        description: ``error_description``: human-readable, no secrets or personal data.
        status: HTTP status (400 by default; 401 for ``invalid_client`` and
            ``invalid_token``).
    """

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        code = (
            grpc.StatusCode.UNAUTHENTICATED if status == 401 else grpc.StatusCode.INVALID_ARGUMENT
        )
        super().__init__(error.upper(), description, code=code)
        self.error = error
        self.description = description
        self.status = status

    def as_dict(self) -> dict[str, str]:
        """The JSON body: ``{"error": ..., "error_description": ...}``."""
        return {"error": self.error, "error_description": self.description}


class NotifyAuthError(DomainError):
    """A refused Notify credential (Notify ``app/authentication/auth.py`` behaviour).

    ``status`` is 401 (no or malformed Authorization header) or 403 (any token
    problem); ``message`` is Notify's text, e.g. ``Invalid token: API key not found``.
    """

    def __init__(self, message: str, *, status: int = 403) -> None:
        code = (
            grpc.StatusCode.UNAUTHENTICATED if status == 401 else grpc.StatusCode.PERMISSION_DENIED
        )
        super().__init__(
            "NOTIFY_AUTH_ERROR", message, code=code, metadata={"http_status": str(status)}
        )
        self.status = status


class CredentialError(DomainError):
    """A refused payments key or access token (gRPC ``UNAUTHENTICATED``)."""

    code = grpc.StatusCode.UNAUTHENTICATED
