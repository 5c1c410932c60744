"""The sandbox developer portal at ``/sandbox/`` (server-rendered, accessible).

- ``/sandbox/``: what the sandbox is and where to go.
- ``/openapi.json``: the OpenAPI documents of every service merged into one, each
  operation tagged with its service (fetched from the services, cached 60 s).
- ``/sandbox/docs``: interactive documentation (Swagger UI, served from the
  ``swagger-ui-bundle`` package, not a CDN) of that document.
- ``/sandbox/test-cards``: the sandbox card numbers and what each one does.
- ``/sandbox/credentials``: how to get the seeded sandbox credentials, and (in the
  sandbox environment only) a form that creates a fresh set, shown once
  (:mod:`gateway.sandbox`); the form is CSRF-protected (:mod:`gateway.csrf`) and
  creation is rate-limited per client address.
- ``/sandbox/inbox``: the sandbox inbox (:mod:`gateway.inbox`): the emails, text
  messages and letters a service sent with test keys (and to channels without a real
  provider), opened with one of the service's Notify API keys; each message on its own
  page (``/sandbox/inbox/{id}``), an email's HTML (``.../email``, served with a
  sandboxing Content-Security-Policy) and a letter's PDF (``.../letter.pdf``).

Every page works without JavaScript except the interactive docs, whose page says
so and links to the raw document. A new page is a route in :func:`create_router`
that answers :func:`page`, and a line in :data:`NAVIGATION`.
"""

from __future__ import annotations

import html
import logging
import secrets
import time
from dataclasses import dataclass, field
from importlib import resources

import aiohttp
import swagger_ui_bundle
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from limits import RateLimitItemPerHour
from limits.aio.strategies import MovingWindowRateLimiter

from gateway.csrf import FIELD, CsrfGuard
from gateway.inbox import InboxUnavailable, SandboxInbox
from gateway.proxy import UpstreamClient
from gateway.quotas import storage_for
from gateway.sandbox import CreatedCredentials, SandboxCredentials, SandboxUnavailable

log = logging.getLogger(__name__)

#: The portal's navigation: (path, link text), in order.
NAVIGATION: list[tuple[str, str]] = [
    ("/sandbox/", "Sandbox"),
    ("/sandbox/docs", "API documentation"),
    ("/sandbox/credentials", "Sandbox credentials"),
    ("/sandbox/inbox", "Sandbox inbox"),
    ("/sandbox/test-cards", "Test cards"),
]

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
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "Cache-Control": "no-cache",
}


def page(
    title: str, body: str, *, status_code: int = 200, headers: dict[str, str] | None = None
) -> HTMLResponse:
    """A portal page; ``body`` is already-escaped HTML. ``headers`` add to or replace
    :data:`PAGE_HEADERS`."""
    links = "".join(
        f'<li><a href="{href}">{html.escape(text)}</a></li>' for href, text in NAVIGATION
    )
    full_title = title if title == "govplat sandbox" else f"{title} - govplat sandbox"
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(full_title)}</title></head><body>"
        '<a href="#main">Skip to main content</a>'
        f'<nav aria-label="Sandbox"><ul>{links}</ul></nav>'
        f'<main id="main"><h1>{html.escape(title)}</h1>{body}</main></body></html>',
        status_code=status_code,
        headers={**PAGE_HEADERS, **(headers or {})},
    )


@dataclass
class PortalOptions:
    """What the portal's pages need besides the backends.

    Attributes:
        environment: ``sandbox`` (default), ``development`` or ``production``; sandbox
            credentials are created only in ``sandbox``.
        credentials: creates sandbox credentials (``None``: creation not available,
            e.g. no operator token configured).
        csrf_secret: signs the forms' CSRF tokens (a random one by default).
        rate_limit_storage: ``memory://`` or a ``redis://`` URL shared by replicas.
        credentials_per_hour: sets of credentials one client address may create per hour.
        public_url: the gateway's public origin, shown with the credentials.
        inbox: reads sandbox inboxes (``None``: the inbox is not available, e.g. no
            operator token configured).
        inbox_opens_per_hour: attempts one client address may make to open an inbox.
    """

    environment: str = "sandbox"
    credentials: SandboxCredentials | None = None
    csrf_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    rate_limit_storage: str = "memory://"
    credentials_per_hour: int = 10
    public_url: str = "http://127.0.0.1:8000"
    inbox: SandboxInbox | None = None
    inbox_opens_per_hour: int = 60


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


def create_router(
    backend_urls: dict[str, str], client: UpstreamClient, options: PortalOptions | None = None
) -> APIRouter:
    """The portal's routes (mount the static assets with :func:`mount_assets`)."""
    options = options or PortalOptions()
    router = APIRouter(include_in_schema=False)
    merger = OpenApiMerger(backend_urls, client)
    csrf = CsrfGuard(options.csrf_secret, secure=options.public_url.startswith("https://"))
    creations = MovingWindowRateLimiter(storage_for(options.rate_limit_storage))
    per_hour = RateLimitItemPerHour(options.credentials_per_hour)

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
            "where the platform runs (<code>make up</code> prints them too), or create your own "
            'set on the <a href="/sandbox/credentials">sandbox credentials</a> page.</li>'
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

    def can_create() -> bool:
        return options.environment == "sandbox" and options.credentials is not None

    @router.get("/sandbox/credentials")
    async def credentials_page(request: Request) -> HTMLResponse:
        if not can_create():
            return page("Sandbox credentials", SEEDED + not_available(options))
        token, new_cookie = csrf.token_for(request)
        response = page(
            "Sandbox credentials",
            SEEDED + "<h2>Your own set</h2>"
            "<p>Create a new sandbox agency and service of your own, with a Notify test key, "
            "a Pay test key and an OAuth client for the client credentials grant. They are "
            "shown once, on the next page: copy them somewhere safe.</p>"
            '<form method="post" action="/sandbox/credentials">'
            f'<input type="hidden" name="{FIELD}" value="{html.escape(token)}">'
            '<button type="submit">Create sandbox credentials</button></form>',
        )
        if new_cookie is not None:
            csrf.set_cookie(response, new_cookie)
        return response

    @router.post("/sandbox/credentials")
    async def create_credentials(request: Request) -> HTMLResponse:
        if not can_create():
            return page("Sandbox credentials", not_available(options) + AGAIN, status_code=403)
        _form, expired = await checked_form(request, csrf, " Nothing was created.", AGAIN)
        if expired is not None:
            return expired
        if not await creations.hit(per_hour, "sandbox-credentials", caller_address(request)):
            return page(
                "Too many sets of credentials",
                f"<p>At most {options.credentials_per_hour} sets of sandbox credentials can be "
                "created from one address in an hour. Nothing was created; try again later, "
                "or use the seeded credentials.</p>" + AGAIN,
                status_code=429,
                headers={"Retry-After": "3600"},
            )
        try:
            created = await options.credentials.create()
        except SandboxUnavailable as exc:
            log.warning("creating sandbox credentials failed: %s", exc)
            return page(
                "Sandbox credentials are not available just now",
                "<p>Identity could not create them. Try again in a minute.</p>" + AGAIN,
                status_code=503,
                headers={"Retry-After": "60"},
            )
        return page(
            "Your sandbox credentials",
            created_credentials(created, options.public_url),
            status_code=201,
            headers={"Cache-Control": "no-store"},
        )

    add_inbox_routes(router, options, csrf, creations)
    return router


def caller_address(request: Request) -> str:
    """The caller's address as the gateway's edge worked it out (trusted proxies honoured)."""
    return request.scope.get("state", {}).get("client_address") or (
        request.client.host if request.client else ""
    )


async def checked_form(
    request: Request, csrf: CsrfGuard, consequence: str, back: str
) -> tuple[dict, HTMLResponse | None]:
    """The posted form, and ``None`` when its CSRF token passes; else the 403 page to answer
    (``consequence``: what did not happen, e.g. `` Nothing was created.``)."""
    try:
        form = await request.form(max_files=0, max_fields=5)
    except (HTTPException, ValueError):
        form = {}
    sent = form.get(FIELD, "")
    if isinstance(sent, str) and csrf.passes(request, sent):
        return dict(form), None
    return {}, page(
        "This form has expired",
        "<p>The form was not sent from this site's page, or it is more than an hour "
        f"old.{consequence}</p>" + back,
        status_code=403,
    )


#: The inbox's email HTML is shown on its own, scripts, forms and plugins off.
EMAIL_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
INBOX_BACK = '<p><a href="/sandbox/inbox">Back to the sandbox inbox</a></p>'
TYPE_NAMES = {"email": "Email", "sms": "Text message", "letter": "Letter"}


def add_inbox_routes(router: APIRouter, options: PortalOptions, csrf: CsrfGuard, limiter) -> None:
    """The ``/sandbox/inbox`` pages (see the module docstring)."""
    opens = RateLimitItemPerHour(options.inbox_opens_per_hour)
    inbox = options.inbox

    def available() -> bool:
        return options.environment == "sandbox" and inbox is not None

    def unavailable() -> HTMLResponse:
        if options.environment != "sandbox":
            reason = f"this is the {html.escape(options.environment)} environment, not the sandbox"
        else:
            reason = "this gateway has no operator token to ask notify with"
        return page("Sandbox inbox", f"<p>The sandbox inbox is not available: {reason}.</p>")

    def key_form(
        request: Request, error: str | None = None, status_code: int = 200
    ) -> HTMLResponse:
        token, new_cookie = csrf.token_for(request)
        summary = field_error = ""
        described = "api-key-hint"
        if error:
            summary = (
                '<div role="alert" aria-labelledby="error-summary-title">'
                '<h2 id="error-summary-title">There is a problem</h2>'
                f'<ul><li><a href="#api-key">{html.escape(error)}</a></li></ul></div>'
            )
            field_error = f'<p id="api-key-error"><strong>Error:</strong> {html.escape(error)}</p>'
            described += " api-key-error"
        response = page(
            "Sandbox inbox" if not error else "Error: sandbox inbox",
            summary + "<p>The inbox shows the emails, text messages and letters your service sent "
            "with test keys: nothing sent with a test key leaves the platform.</p>"
            '<form method="post" action="/sandbox/inbox" novalidate>'
            f'<input type="hidden" name="{FIELD}" value="{html.escape(token)}">'
            '<label for="api-key">Your service\'s Notify API key</label>'
            '<p id="api-key-hint">The whole key, as your Notify client uses it: '
            "<code>name-service id-secret</code>.</p>"
            f"{field_error}"
            f'<input id="api-key" name="api_key" type="password" autocomplete="off" '
            f'spellcheck="false" aria-describedby="{described}" size="80">'
            '<button type="submit">Open the inbox</button></form>',
            status_code=status_code,
            headers={"Cache-Control": "no-store"},
        )
        if new_cookie is not None:
            csrf.set_cookie(response, new_cookie)
        return response

    def trouble() -> HTMLResponse:
        return page(
            "The sandbox inbox is not available just now",
            "<p>Notify or identity could not be asked. Try again in a minute.</p>" + INBOX_BACK,
            status_code=503,
            headers={"Retry-After": "60"},
        )

    @router.get("/sandbox/inbox")
    async def inbox_page(request: Request) -> HTMLResponse:
        if not available():
            return unavailable()
        service_id = inbox.opened_service(request)
        if service_id is None:
            return key_form(request)
        before = request.query_params.get("before")
        try:
            messages = await inbox.messages(service_id, before=before)
        except InboxUnavailable:
            return trouble()
        token, new_cookie = csrf.token_for(request)
        response = page("Sandbox inbox", inbox_list(service_id, messages, token))
        response.headers["Cache-Control"] = "no-store"
        if new_cookie is not None:
            csrf.set_cookie(response, new_cookie)
        return response

    @router.post("/sandbox/inbox")
    async def open_inbox(request: Request) -> Response:
        if not available():
            return unavailable()
        form, expired = await checked_form(request, csrf, "", INBOX_BACK)
        if expired is not None:
            return expired
        if form.get("action") == "close":
            response = RedirectResponse("/sandbox/inbox", status_code=303)
            inbox.close(response)
            return response
        key = form.get("api_key", "")
        if not isinstance(key, str) or not key.strip():
            return key_form(request, "Enter your service's Notify API key", status_code=400)
        if not await limiter.hit(opens, "sandbox-inbox", caller_address(request)):
            return page(
                "Too many attempts",
                f"<p>At most {options.inbox_opens_per_hour} attempts to open an inbox can be made "
                "from one address in an hour. Try again later.</p>" + INBOX_BACK,
                status_code=429,
                headers={"Retry-After": "3600"},
            )
        try:
            service_id = await inbox.service_of_key(key[:1000])
        except InboxUnavailable:
            return trouble()
        if service_id is None:
            return key_form(request, "That is not a Notify API key this platform accepts", 400)
        response = RedirectResponse("/sandbox/inbox", status_code=303)
        inbox.open(response, service_id)
        return response

    async def opened_message(request: Request, message_id: str) -> dict | HTMLResponse:
        if not available():
            return unavailable()
        service_id = inbox.opened_service(request)
        if service_id is None:
            return RedirectResponse("/sandbox/inbox", status_code=303)
        try:
            message = await inbox.message(service_id, message_id)
        except InboxUnavailable:
            return trouble()
        if message is None:
            return page(
                "Message not found",
                "<p>There is no such message in your service's sandbox inbox.</p>" + INBOX_BACK,
                status_code=404,
            )
        return message

    @router.get("/sandbox/inbox/{message_id}")
    async def message_page(request: Request, message_id: str) -> Response:
        message = await opened_message(request, message_id)
        if not isinstance(message, dict):
            return message
        response = page(inbox_title(message), inbox_message(message))
        response.headers["Cache-Control"] = "no-store"
        return response

    @router.get("/sandbox/inbox/{message_id}/email")
    async def message_email(request: Request, message_id: str) -> Response:
        message = await opened_message(request, message_id)
        if not isinstance(message, dict):
            return message
        if not message.get("html"):
            return page(
                "Not an email", "<p>This message has no HTML.</p>" + INBOX_BACK, status_code=404
            )
        return HTMLResponse(message["html"], headers=EMAIL_HEADERS)

    @router.get("/sandbox/inbox/{message_id}/letter.pdf")
    async def message_letter(request: Request, message_id: str) -> Response:
        if not available():
            return unavailable()
        service_id = inbox.opened_service(request)
        if service_id is None:
            return RedirectResponse("/sandbox/inbox", status_code=303)
        try:
            pdf = await inbox.letter_pdf(service_id, message_id)
        except InboxUnavailable:
            return trouble()
        if pdf is None:
            return page(
                "Letter not found", "<p>There is no such letter.</p>" + INBOX_BACK, status_code=404
            )
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": "inline; filename=letter.pdf",
                "Cache-Control": "no-store",
            },
        )


def inbox_title(message: dict) -> str:
    """The page title of one message."""
    kind = TYPE_NAMES.get(message.get("type", ""), "Message")
    return f"{kind} to {message.get('to', '')}"[:120]


def inbox_list(service_id: str, messages: list[dict], csrf_token: str) -> str:
    """The inbox page's content: the service, its messages (a table) and paging (HTML)."""
    close = (
        '<form method="post" action="/sandbox/inbox">'
        f'<input type="hidden" name="{FIELD}" value="{html.escape(csrf_token)}">'
        '<input type="hidden" name="action" value="close">'
        '<button type="submit">Close this inbox (use another key)</button></form>'
    )
    intro = f"<p>Service <code>{html.escape(service_id)}</code>.</p>"
    if not messages:
        return intro + "<p>No messages yet. Send one with a test key.</p>" + close
    rows = []
    for message in messages:
        summary = message.get("subject") or message.get("body", "").split("\n", 1)[0]
        rows.append(
            "<tr>"
            f"<td>{html.escape(message.get('created_at') or '')}</td>"
            f"<td>{html.escape(TYPE_NAMES.get(message.get('type', ''), ''))}</td>"
            f"<td>{html.escape(message.get('to') or '')}</td>"
            f'<td><a href="/sandbox/inbox/{html.escape(message["id"])}">'
            f"{html.escape(summary[:120] or '(no text)')}</a></td>"
            f"<td>{html.escape(message.get('key_type') or '')}</td>"
            "</tr>"
        )
    older = ""
    if len(messages) >= 50:
        older = f'<p><a href="/sandbox/inbox?before={html.escape(messages[-1]["id"])}">Older messages</a></p>'
    return (
        intro + "<table><caption>Messages, newest first</caption><thead><tr>"
        '<th scope="col">Sent</th><th scope="col">Type</th><th scope="col">To</th>'
        '<th scope="col">Subject or text</th><th scope="col">Key type</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>" + older + close
    )


def inbox_message(message: dict) -> str:
    """One message's page content (HTML, every value escaped)."""
    fields = [
        ("Type", TYPE_NAMES.get(message.get("type", ""), "")),
        ("To", message.get("to") or ""),
        ("From", message.get("from") or ""),
        ("Subject", message.get("subject") or ""),
        ("Sent", message.get("created_at") or ""),
        ("Key type", message.get("key_type") or ""),
        ("Notification id", message.get("id") or ""),
    ]
    items = "".join(
        f"<dt>{html.escape(label)}</dt><dd>{html.escape(value)}</dd>"
        for label, value in fields
        if value
    )
    links = ""
    if message.get("html"):
        links += f'<p><a href="/sandbox/inbox/{html.escape(message["id"])}/email">See the email as the recipient sees it</a></p>'
    if message.get("type") == "letter":
        links += f'<p><a href="/sandbox/inbox/{html.escape(message["id"])}/letter.pdf">The letter (PDF)</a></p>'
    return (
        f"<dl>{items}</dl><h2>Content</h2>"
        f'<pre style="white-space: pre-wrap">{html.escape(message.get("body") or "")}</pre>'
        + links
        + INBOX_BACK
    )


#: How to get the seeded credentials (the credentials page's first part).
SEEDED = (
    "<p>Every call to the platform's APIs needs a credential. In the sandbox, test keys "
    "reach only the simulators.</p>"
    "<h2>The seeded credentials</h2>"
    "<p>Where the platform runs, <code>govplat sandbox credentials --json</code> prints the "
    "credentials <code>govplat up</code> made for the sandbox agency: Notify test and live "
    "keys, a Pay test key, an OAuth client and a test citizen.</p>"
)
AGAIN = '<p><a href="/sandbox/credentials">Back to sandbox credentials</a></p>'


def not_available(options: PortalOptions) -> str:
    """Why this gateway does not create credentials (HTML)."""
    if options.environment != "sandbox":
        reason = f"this is the {html.escape(options.environment)} environment, not the sandbox"
    else:
        reason = "this gateway has no operator token to ask identity with"
    return (
        "<h2>Your own set</h2>"
        f"<p>Creating sandbox credentials here is not available: {reason}. "
        "Ask the platform's operators for credentials.</p>"
    )


def created_credentials(created: CreatedCredentials, public_url: str) -> str:
    """The new credentials and how to use them (HTML, every value escaped)."""
    rows = [
        ("Agency", f"{created.agency_name} ({created.agency_id})", "agency"),
        ("Service id", created.service_id, "service-id"),
        ("Notify API key (test)", created.notify_api_key, "notify-api-key"),
        ("Pay API key (test)", created.pay_api_key, "pay-api-key"),
        ("OAuth client id", created.oauth_client_id, "oauth-client-id"),
        ("OAuth client secret", created.oauth_client_secret, "oauth-client-secret"),
        ("OAuth scopes", " ".join(created.scopes), "oauth-scopes"),
    ]
    items = "".join(
        f'<dt>{html.escape(label)}</dt><dd><code id="{ident}">{html.escape(value)}</code></dd>'
        for label, value, ident in rows
    )
    origin = html.escape(public_url)
    return (
        "<p><strong>These are shown once.</strong> Copy them now: the keys and the client "
        "secret cannot be shown again.</p>"
        f"<dl>{items}</dl>"
        "<h2>Using them</h2><ul>"
        f"<li>GOV.UK Notify clients: the Notify key as it is, with the base URL <code>{origin}</code>.</li>"
        f"<li>GOV.UK Pay: <code>Authorization: Bearer</code> and the Pay key, at <code>{origin}/v1/</code>.</li>"
        f"<li>OAuth: <code>POST {origin}/token</code> with <code>grant_type=client_credentials</code>, "
        "the client id and secret as HTTP Basic credentials, and a scope from the list above.</li>"
        "</ul>" + AGAIN
    )


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
