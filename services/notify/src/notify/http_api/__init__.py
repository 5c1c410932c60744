"""The notify HTTP API (FastAPI): GOV.UK Notify's v2 API and notify's admin API.

Errors: on ``/v2`` Notify's envelope (:class:`notify.errors.NotifyError`), and for
paths or methods Notify does not have, its internal shape
``{"result": "error", "message": ...}``; on ``/admin/notify`` ``{"error", "message"}``.
Nothing answers with a stack trace: an unexpected error is logged and answered as
Notify's 500.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from govkit.errors import DomainError
from govkit.http import route_label
from govkit.openapi import ADMIN_ERROR, GATEWAY_PLAIN_ERROR, document_errors, error_object
from govkit.telemetry import FASTAPI_TELEMETRY
from notify.context import Context
from notify.errors import NotifyError
from notify.http_api import admin, v2

log = logging.getLogger(__name__)
ADMIN_STATUS = {
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
}


def _is_admin(request: Request) -> bool:
    return request.url.path.startswith("/admin/")


#: Notify's v2 error envelope, and Notify's (Flask's) shape for a path or method it
#: does not have: ``{"result": "error", "message": ...}``.
V2_ERROR = {
    "oneOf": [
        error_object(
            {
                "status_code": {"type": "integer"},
                "errors": {
                    "type": "array",
                    "minItems": 1,
                    "items": error_object(
                        {"error": {"type": "string"}, "message": {"type": "string"}}
                    ),
                },
            }
        ),
        error_object({"result": {"const": "error"}, "message": {"type": "string"}}),
    ]
}


def error_schema_for(path: str) -> dict:
    """The error body of ``path``'s operations: the admin API's or Notify's."""
    if path.startswith("/admin/"):
        return {"anyOf": [ADMIN_ERROR, GATEWAY_PLAIN_ERROR]}
    return V2_ERROR


def create_app(context: Context) -> FastAPI:
    """The notify FastAPI app; probes and metrics are added by the runtime."""
    app = FastAPI(
        telemetry=FASTAPI_TELEMETRY,
        title="govplat notify: GOV.UK Notify compatible API v2",
        version="1.0.0",
        description=(
            "GOV.UK Notify's API v2: send emails, text messages and letters from templates, "
            "read notifications, templates and received text messages. Authenticate with a "
            "Notify API key as GOV.UK Notify's clients do."
        ),
    )
    app.include_router(v2.create_router(context))
    app.include_router(admin.create_router(context))
    document_errors(app, error_schema_for)

    @app.exception_handler(NotifyError)
    async def notify_error(request: Request, error: NotifyError) -> JSONResponse:
        return JSONResponse(error.envelope(), status_code=error.status)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> JSONResponse:
        status = ADMIN_STATUS.get(error.code.name, 400)
        if _is_admin(request):
            return JSONResponse(
                {"error": error.reason, "message": error.message}, status_code=status
            )
        name = "AuthError" if status in (401, 403) else "BadRequestError"
        return JSONResponse(
            {"status_code": status, "errors": [{"error": name, "message": error.message}]},
            status_code=status,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors()[:20]:
            where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            problems.append(
                f"{where}: {item.get('msg', 'invalid')}" if where else item.get("msg", "")
            )
        message = "; ".join(problems) or "the request is not valid"
        if _is_admin(request):
            return JSONResponse({"error": "INVALID_REQUEST", "message": message}, status_code=400)
        return JSONResponse(
            {"status_code": 400, "errors": [{"error": "ValidationError", "message": message}]},
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if _is_admin(request):
            return JSONResponse(
                {
                    "error": "NOT_FOUND" if error.status_code == 404 else "HTTP_ERROR",
                    "message": str(error.detail),
                },
                status_code=error.status_code,
            )
        if error.status_code == 404:
            return v2.not_found_response()
        if error.status_code == 405:
            return JSONResponse(
                {"result": "error", "message": "The method is not allowed for the requested URL."},
                status_code=405,
            )
        return JSONResponse(
            {"result": "error", "message": str(error.detail)}, status_code=error.status_code
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # The type only: the traceback (which may quote values) is logged once, by
        # govkit.http.ErrorBoundary, outside the app.
        log.error("unexpected %s on %s", type(error).__name__, route_label(request.scope))
        if _is_admin(request):
            return JSONResponse({"error": "INTERNAL", "message": "internal error"}, status_code=500)
        return JSONResponse(
            {
                "status_code": 500,
                "errors": [{"error": "InternalServerError", "message": "Internal server error"}],
            },
            status_code=500,
        )

    return app
