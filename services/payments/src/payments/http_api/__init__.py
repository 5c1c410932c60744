"""The payments HTTP API (FastAPI): GOV.UK Pay's v1 API, the hosted payment pages and
the admin API.

Errors: on ``/v1`` Pay's ``{"code", "description", "field"?}`` (a missing or bad
principal is Pay's 401 without a JSON body, as the gateway answers a bad key);
unknown paths and methods get the Dropwizard bodies Pay answers with
(``{"code": 404, "message": "HTTP 404 Not Found"}``); the admin API answers
``{"error", "message"}``; under ``/pay`` the payer gets a page with the pages' security
headers (:func:`payments.http_api.pages.problem_page`). An unexpected error is never a
stack trace.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from govkit.errors import DomainError, UnauthenticatedError
from govkit.http import pay_unauthorised, route_label
from govkit.openapi import ADMIN_ERROR, GATEWAY_PLAIN_ERROR, document_errors, error_object
from govkit.telemetry import FASTAPI_TELEMETRY
from payments.context import Context
from payments.errors import PayError
from payments.http_api import admin, pages, v1

log = logging.getLogger(__name__)
ADMIN_STATUS = {
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
}
#: What pay-publicapi (Dropwizard) answers for a path or method it does not have.
DROPWIZARD = {404: "HTTP 404 Not Found", 405: "HTTP 405 Method Not Allowed"}


def _admin(request: Request) -> bool:
    return request.url.path.startswith("/admin/")


def _pages_path(path: str) -> bool:
    return path == "/pay" or path.startswith("/pay/")


def _pages(request: Request) -> bool:
    return _pages_path(request.url.path)


#: Pay's error body (``field`` or ``header`` named when the error is about one), and
#: Pay's (Dropwizard's) shape for a path it does not have: ``{"code": 404, "message"}``.
V1_ERROR = {
    "oneOf": [
        error_object(
            {"code": {"type": "string"}, "description": {"type": "string"}},
            {"field": {"type": "string"}, "header": {"type": "string"}},
        ),
        error_object({"code": {"type": "integer"}, "message": {"type": "string"}}),
    ]
}


def error_schema_for(path: str) -> dict | None:
    """The error body of ``path``'s operations: the admin API's or Pay's (the hosted
    pages answer with pages)."""
    if path.startswith("/admin/"):
        return {"anyOf": [ADMIN_ERROR, GATEWAY_PLAIN_ERROR]}
    if _pages_path(path):
        return None
    return V1_ERROR


def create_app(context: Context) -> FastAPI:
    """The payments FastAPI app; probes and metrics are added by the runtime."""
    app = FastAPI(
        telemetry=FASTAPI_TELEMETRY,
        title="govplat payments: GOV.UK Pay compatible API v1",
        version="1.0.0",
        description=(
            "GOV.UK Pay's public API v1: card payments, refunds, agreements and recurring "
            "payments. Authenticate with a Pay API key (Authorization: Bearer ...)."
        ),
    )
    app.include_router(v1.create_router(context))
    app.include_router(pages.create_router(context))
    app.include_router(admin.create_router(context))
    document_errors(app, error_schema_for)

    @app.exception_handler(PayError)
    async def pay_error(request: Request, error: PayError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(UnauthenticatedError)
    async def unauthenticated(request: Request, error: UnauthenticatedError) -> Response:
        if _admin(request):
            return JSONResponse({"error": error.reason, "message": error.message}, status_code=401)
        return pay_unauthorised()

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> JSONResponse:
        status = ADMIN_STATUS.get(error.code.name, 400)
        if _admin(request):
            return JSONResponse(
                {"error": error.reason, "message": error.message}, status_code=status
            )
        return JSONResponse({"code": "P0999", "description": error.message}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors()[:20]:
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            problems.append(
                f"{where}: {item.get('msg', 'invalid')}" if where else item.get("msg", "")
            )
        message = "; ".join(problems) or "the request is not valid"
        if _admin(request):
            return JSONResponse({"error": "INVALID_REQUEST", "message": message}, status_code=400)
        return JSONResponse({"code": "P0102", "description": message}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if _pages(request):
            return pages.problem_page(error.status_code)
        if _admin(request):
            return JSONResponse(
                {
                    "error": "NOT_FOUND" if error.status_code == 404 else "HTTP_ERROR",
                    "message": str(error.detail),
                },
                status_code=error.status_code,
            )
        text = DROPWIZARD.get(error.status_code, str(error.detail))
        return JSONResponse(
            {"code": error.status_code, "message": text}, status_code=error.status_code
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.error("unexpected %s on %s", type(error).__name__, route_label(request.scope))
        if _pages(request):
            return pages.problem_page(500)
        if _admin(request):
            return JSONResponse({"error": "INTERNAL", "message": "internal error"}, status_code=500)
        return JSONResponse(
            {"code": "P0999", "description": "Downstream system error"}, status_code=500
        )

    return app
