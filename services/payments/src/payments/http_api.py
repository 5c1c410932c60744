"""The payments public REST API (FastAPI), GOV.UK Pay v1 compatible.

Every request under ``/v1`` must carry the gateway's signed principal for
``payments`` (``X-Govplat-Principal``, :mod:`govkit.principal`); one that is missing,
expired, badly signed or meant for another component gets GOV.UK Pay's 401 (no JSON
body), as the gateway answers a missing API key. The principal of an accepted
request is ``request.state.principal``.

The Pay API itself is not built yet: an accepted request gets GOV.UK Pay's own 404.
For a path that names one resource, that resource's "Not found" code from
pay-publicapi's error codes (``{"code": "P0200", "description": "Not found"}`` for a
payment, P0300 its events, P0500 cancel, P1000 capture, P0600/P0800 its refunds,
P0700 a refund, P2200 an agreement, P2500 its cancel); for any other path, the
Dropwizard default body that pay-publicapi answers where it has no resource
(``{"code": 404, "message": "HTTP 404 Not Found"}``).
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from govkit.errors import UnauthenticatedError
from govkit.http import pay_unauthorised
from govkit.principal import HEADER, Principal, PrincipalGuard

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

#: (path, method) → GOV.UK Pay's "Not found" code (pay-publicapi ``PaymentError``).
NOT_FOUND_CODES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"^/v1/payments/[^/]+$"), "GET", "P0200"),
    (re.compile(r"^/v1/payments/[^/]+/events$"), "GET", "P0300"),
    (re.compile(r"^/v1/payments/[^/]+/cancel$"), "POST", "P0500"),
    (re.compile(r"^/v1/payments/[^/]+/capture$"), "POST", "P1000"),
    (re.compile(r"^/v1/payments/[^/]+/refunds$"), "POST", "P0600"),
    (re.compile(r"^/v1/payments/[^/]+/refunds$"), "GET", "P0800"),
    (re.compile(r"^/v1/payments/[^/]+/refunds/[^/]+$"), "GET", "P0700"),
    (re.compile(r"^/v1/agreements/[^/]+$"), "GET", "P2200"),
    (re.compile(r"^/v1/agreements/[^/]+/cancel$"), "POST", "P2500"),
)


def not_found(path: str, method: str) -> JSONResponse:
    """GOV.UK Pay's 404 for ``path``: the resource's own code, else Dropwizard's default."""
    for pattern, resource_method, code in NOT_FOUND_CODES:
        if method == resource_method and pattern.match(path):
            return JSONResponse({"code": code, "description": "Not found"}, status_code=404)
    return JSONResponse({"code": 404, "message": "HTTP 404 Not Found"}, status_code=404)


def create_app(principal_public_key: str | None = None) -> FastAPI:
    """The payments FastAPI app; probes and metrics are added by the runtime.

    Args:
        principal_public_key: the gateway's Ed25519 public JWK (JSON); without it every
            ``/v1`` request is refused (fail closed).
    """
    app = FastAPI(title="govplat payments: GOV.UK Pay compatible API v1", version="1.0.0")
    guard = PrincipalGuard(principal_public_key, "payments")

    async def principal(request: Request) -> Principal:
        """The request's principal for payments (raises ``UnauthenticatedError``)."""
        found = guard.verify(request.headers.get(HEADER))
        request.state.principal = found
        return found

    @app.exception_handler(UnauthenticatedError)
    async def refused(_request: Request, _error: UnauthenticatedError) -> Response:
        return pay_unauthorised()

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(principal)], include_in_schema=False)

    @v1.api_route("", methods=METHODS)
    @v1.api_route("/{rest:path}", methods=METHODS)
    async def not_built_yet(request: Request) -> Response:
        return not_found(request.url.path, request.method)

    app.include_router(v1)
    return app
