"""The registers public REST API (FastAPI): OpenRegister v1 under ``/registers/{name}/``.

Reads are public (:mod:`.reads`); writes need the scope ``registers:write:<name>``
(:mod:`.writes`). Every refusal is a JSON ``{"code": <status>, "message": "..."}``
as openregister-java (Dropwizard) answers, never a stack trace; CORS for reads is
left to the gateway.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from govkit.errors import DomainError, UnauthenticatedError
from govkit.openapi import document_errors, error_object
from govkit.telemetry import FASTAPI_TELEMETRY
from registers.errors import RegisterError
from registers.http_api import formats, reads, writes

log = logging.getLogger(__name__)


def error(status: int, message: str, **extra) -> JSONResponse:
    """An error in OpenRegister's (Dropwizard's) JSON form."""
    return JSONResponse({"code": status, "message": message, **extra}, status_code=status)


#: OpenRegister's error body (``line`` and ``reason`` for a refused batch line), and
#: the gateway's: RFC 6750 ``invalid_token`` for a write without a good access token,
#: ``{"error"}`` for an unknown path or a register service that is down.
REGISTER_ERROR = {
    "anyOf": [
        error_object(
            {"code": {"type": "integer"}, "message": {"type": "string"}},
            {"line": {"type": "integer"}, "reason": {"type": "string"}},
        ),
        error_object({"error": {"type": "string"}}, {"error_description": {"type": "string"}}),
    ]
}


def create_app(context) -> FastAPI:
    """The registers FastAPI app; probes and metrics are added by the runtime."""
    app = FastAPI(
        telemetry=FASTAPI_TELEMETRY,
        title="govplat registers: OpenRegister v1 compatible registers",
        version="1.0.0",
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(writes.build_router(context))
    app.include_router(reads.build_router(context))
    app.add_middleware(formats.SuffixMiddleware)
    document_errors(app, lambda _path: REGISTER_ERROR)

    @app.exception_handler(RegisterError)
    async def register_error(_request: Request, exc: RegisterError) -> JSONResponse:
        return JSONResponse(exc.as_dict(), status_code=exc.status)

    @app.exception_handler(UnauthenticatedError)
    async def unauthenticated(_request: Request, exc: UnauthenticatedError) -> JSONResponse:
        return error(401, "a valid access token with the register's write scope is required")

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return error(400, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(400, "the request is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        messages = {404: "HTTP 404 Not Found", 405: "HTTP 405 Method Not Allowed"}
        return error(exc.status_code, messages.get(exc.status_code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error(500, "internal error")

    return app
