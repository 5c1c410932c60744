"""The gateway's HTTP side: forwarding by path and its own pages."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from gateway import proxy, routing
from govkit.http import request_id_from
from govkit.telemetry import instrument_httpx

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(backend_urls: dict[str, str], client: httpx.AsyncClient) -> FastAPI:
    """The gateway app.

    Args:
        backend_urls: backend name → base URL (see :mod:`gateway.routing`).
        client: the pooled HTTP client used to reach backends (closed by the caller).
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
        return await proxy.forward(client, backend_urls[backend], request, request_id)

    return app
