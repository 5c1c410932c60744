"""The gateway's HTTP side: forwarding by path and its own pages."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from gateway import proxy, routing
from gateway.auth import Authenticator, Refusal
from gateway.quotas import Quotas
from govkit.http import request_id_from
from govkit.principal import PrincipalSigner
from govkit.telemetry import instrument_httpx

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(
    backend_urls: dict[str, str],
    client: httpx.AsyncClient,
    authenticator: Authenticator | None = None,
    signer: PrincipalSigner | None = None,
    quotas: Quotas | None = None,
) -> FastAPI:
    """The gateway app.

    Args:
        backend_urls: backend name → base URL (see :mod:`gateway.routing`).
        client: the pooled HTTP client used to reach backends (closed by the caller).
        authenticator / signer: check credentials and sign the principal; without
            them (tests of forwarding alone) requests that need a credential get 503.
    """
    app = FastAPI(
        title="govplat gateway", version="1.0.0", openapi_url=None, docs_url=None, redoc_url=None
    )
    instrument_httpx(client)

    @app.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
    async def forward(request: Request, path: str) -> Response:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        backend = routing.backend_for(request.url.path) if proxy.path_is_safe(raw_path) else None
        if backend is None:
            return JSONResponse(
                {"error": "not found", "path": request.url.path[:200]}, status_code=404
            )
        request_id = getattr(request.state, "request_id", None) or request_id_from(None)
        principal_token = None
        mode = routing.auth_for(request.url.path, request.method)
        if mode is not None:
            if authenticator is None or signer is None:
                return JSONResponse({"error": "authentication unavailable"}, status_code=503)
            authorization = request.headers.get("authorization")
            if mode == "notify":
                outcome = await authenticator.notify(authorization)
            elif mode == "payments":
                outcome = await authenticator.payments(authorization)
            else:
                outcome = await authenticator.bearer_access_token(authorization)
            if isinstance(outcome, Refusal):
                return outcome.response
            if quotas is not None:
                over = await quotas.check(mode, outcome, request.method, request.url.path)
                if over is not None:
                    return over
            principal_token = signer.sign(outcome, backend)
        return await proxy.forward(
            client, backend_urls[backend], request, request_id, principal_token
        )

    return app
