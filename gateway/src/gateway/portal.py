"""The sandbox developer portal at ``/sandbox/`` (server-rendered, accessible).

- ``/sandbox/``: what the sandbox is and where to go.
- ``/openapi.json``: the OpenAPI documents of every service merged into one, each
  operation tagged with its service (fetched from the services, cached 60 s).
- ``/sandbox/docs``: interactive documentation (Swagger UI, served from the
  ``swagger-ui-bundle`` package, not a CDN) of that document.
- ``/sandbox/test-cards``: the sandbox card numbers and what each one does.

Every page works without JavaScript except the interactive docs, whose page says
so and links to the raw document.
"""

from __future__ import annotations

import html
import time
from importlib import resources

import aiohttp
import swagger_ui_bundle
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from gateway.proxy import UpstreamClient

#: Pay's sandbox simulator card numbers (GOV.UK Pay ``SandboxCardNumbers``) and their outcome.
TEST_CARDS: list[tuple[str, str, str]] = [
    ("4242424242424242", "Visa credit", "Succeeds"),
    ("4444333322221111", "Visa credit", "Succeeds"),
    ("4000056655665556", "Visa debit", "Succeeds"),
    ("5105105105105100", "Mastercard debit", "Succeeds"),
    ("371449635398431", "American Express", "Succeeds"),
    ("4000000000000002", "Visa", "Declined (failed, P0010)"),
    ("4000000000000069", "Visa", "Expired card (failed, P0010)"),
    ("4000000000000127", "Visa", "Incorrect CVC (failed, P0010)"),
    ("4000000000000119", "Visa", "Processing error (error, P0050)"),
]

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-cache",
}


def page(title: str, body: str) -> HTMLResponse:
    """A portal page; ``body`` is already-escaped HTML."""
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} - govplat sandbox</title></head><body>"
        '<a href="#main">Skip to main content</a>'
        '<nav aria-label="Sandbox"><ul><li><a href="/sandbox/">Sandbox</a></li>'
        '<li><a href="/sandbox/docs">API documentation</a></li>'
        '<li><a href="/sandbox/test-cards">Test cards</a></li></ul></nav>'
        f'<main id="main"><h1>{html.escape(title)}</h1>{body}</main></body></html>',
        headers=PAGE_HEADERS,
    )


class OpenApiMerger:
    """Fetches each service's ``/openapi.json`` and merges them (cached ``ttl`` seconds).

    Paths are kept as they are (each service owns its own public paths); every
    operation gets its service as a tag; component schemas are merged, and a name
    two services define differently is kept once per service, prefixed.
    """

    def __init__(
        self, backend_urls: dict[str, str], client: UpstreamClient, ttl: float = 60.0
    ) -> None:
        self.backend_urls = backend_urls
        self.client = client
        self.ttl = ttl
        self._cached: tuple[float, dict] | None = None

    async def document(self) -> dict:
        """The merged OpenAPI document (services that cannot be reached are listed as such)."""
        if self._cached and time.monotonic() - self._cached[0] < self.ttl:
            return self._cached[1]
        merged: dict = {
            "openapi": "3.0.3",  # what the bundled Swagger UI (4.15) reads; the paths are the same in 3.1
            "info": {
                "title": "govplat",
                "version": "1.0.0",
                "description": "Every govplat service's public API, through the gateway.",
            },
            "tags": [],
            "paths": {},
            "components": {
                "schemas": {},
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        }
        for name, url in self.backend_urls.items():
            try:
                status, spec = await self.client.get_json(f"{url}/openapi.json", timeout=5)
            except (aiohttp.ClientError, OSError, TimeoutError):
                status, spec = 0, None
            if status != 200 or not isinstance(spec, dict):
                merged["tags"].append(
                    {"name": name, "description": f"{name} (not reachable just now)"}
                )
                continue
            merged["tags"].append(
                {"name": name, "description": spec.get("info", {}).get("title", name)}
            )
            for path, operations in spec.get("paths", {}).items():
                if path in ("/healthz", "/readyz", "/metrics"):
                    continue
                for operation in operations.values():
                    if isinstance(operation, dict):
                        operation["tags"] = [name]
                merged["paths"].setdefault(path, {}).update(operations)
            for schema_name, schema in spec.get("components", {}).get("schemas", {}).items():
                existing = merged["components"]["schemas"].get(schema_name)
                if existing is None or existing == schema:
                    merged["components"]["schemas"][schema_name] = schema
        self._cached = (time.monotonic(), merged)
        return merged


def create_router(backend_urls: dict[str, str], client: UpstreamClient) -> APIRouter:
    """The portal's routes (mount the static assets with :func:`mount_assets`)."""
    router = APIRouter(include_in_schema=False)
    merger = OpenApiMerger(backend_urls, client)

    @router.get("/sandbox")
    @router.get("/sandbox/")
    async def home() -> HTMLResponse:
        services = "".join(f"<li>{html.escape(name)}</li>" for name in backend_urls)
        return page(
            "govplat sandbox",
            "<p>The sandbox is the whole platform with simulators in place of the outside world: "
            "test keys reach simulated card, email, text message and letter providers.</p>"
            "<h2>Get started</h2><ol>"
            "<li>Get your sandbox credentials: run <code>govplat sandbox credentials --json</code> "
            "where the platform runs (<code>make up</code> prints them too).</li>"
            '<li>Read the <a href="/sandbox/docs">API documentation</a> '
            '(or the <a href="/openapi.json">OpenAPI document</a>).</li>'
            '<li>Pay with the <a href="/sandbox/test-cards">test cards</a>.</li></ol>'
            f"<h2>Services</h2><ul>{services}</ul>",
        )

    @router.get("/openapi.json")
    async def openapi() -> JSONResponse:
        return JSONResponse(await merger.document())

    @router.get("/sandbox/docs")
    async def docs() -> HTMLResponse:
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>API documentation - govplat sandbox</title>'
            '<link rel="stylesheet" href="/sandbox/assets/swagger-ui/swagger-ui.css"></head><body>'
            "<main><h1>API documentation</h1><noscript><p>This page needs JavaScript. The same documentation is "
            '<a href="/openapi.json">the OpenAPI document</a>.</p></noscript><div id="swagger-ui"></div></main>'
            '<script src="/sandbox/assets/swagger-ui/swagger-ui-bundle.js"></script>'
            '<script src="/sandbox/assets/portal/docs.js"></script></body></html>',
            headers={
                **PAGE_HEADERS,
                "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            },
        )

    @router.get("/sandbox/test-cards")
    async def test_cards() -> HTMLResponse:
        rows = "".join(
            f"<tr><td><code>{number}</code></td><td>{html.escape(brand)}</td><td>{html.escape(result)}</td></tr>"
            for number, brand, result in TEST_CARDS
        )
        return page(
            "Test cards",
            "<p>Use any future expiry date and any 3-digit security code (4 digits for American Express).</p>"
            '<table><caption>Sandbox card numbers</caption><thead><tr><th scope="col">Card number</th>'
            f'<th scope="col">Brand</th><th scope="col">Result</th></tr></thead><tbody>{rows}</tbody></table>',
        )

    return router


def mount_assets(app) -> None:
    """Serve Swagger UI's files and the portal's own script under ``/sandbox/assets/``."""
    app.mount(
        "/sandbox/assets/swagger-ui",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="swagger-ui",
    )
    app.mount(
        "/sandbox/assets/portal",
        StaticFiles(directory=str(resources.files("gateway") / "portal_assets")),
        name="portal-assets",
    )
