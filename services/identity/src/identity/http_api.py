"""Identity's HTTP API: the OpenID Connect provider, the admin REST API and the citizen's pages.

OAuth endpoints answer errors as RFC 6749 section 5.2 JSON (``error``,
``error_description``) with ``Cache-Control: no-store``; ``/userinfo`` adds
``WWW-Authenticate`` (RFC 6750 section 3). The admin API (``/admin/identity/...``)
needs ``Authorization: Bearer <GOVPLAT_ADMIN_TOKEN>`` and answers errors as
``{"error": REASON, "message": text}``.
"""

from __future__ import annotations

import html
import re
from typing import Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.datastructures import ImmutableMultiDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from govkit.errors import DomainError, InvalidArgumentError, NotFoundError
from govkit.http import bearer_token
from govkit.openapi import ADMIN_ERROR, GATEWAY_PLAIN_ERROR, document_errors, error_object
from govkit.telemetry import FASTAPI_TELEMETRY
from identity import pages
from identity.context import Context
from identity.errors import OAuthError
from identity.service import accounts, countries, credentials, oidc, signing

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
STATUS_FOR_CODE = {
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
}


def oauth_error_response(error: OAuthError) -> JSONResponse:
    """The JSON error of an OAuth endpoint."""
    headers = dict(NO_STORE)
    if error.status == 401 and error.error == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="govplat"'
    if error.error in ("invalid_token", "insufficient_scope"):
        headers["WWW-Authenticate"] = (
            f'Bearer error="{error.error}", error_description="{error.description}"'
        )
    return JSONResponse(error.as_dict(), status_code=error.status, headers=headers)


def single_values(params: ImmutableMultiDict) -> dict[str, str]:
    """Request parameters as a dict; a repeated parameter is refused (RFC 6749 section 3.1)."""
    values: dict[str, str] = {}
    for key, value in params.multi_items():
        if key in values:
            raise OAuthError("invalid_request", f"parameter {key[:40]!r} is repeated")
        if not isinstance(value, str):
            raise OAuthError("invalid_request", f"parameter {key[:40]!r} must be text")
        values[key] = value
    return values


#: Headers of every page identity renders itself (the sign-in pages set their own).
PAGE_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def simple_page(title: str, paragraphs: list[str], status: int = 200) -> HTMLResponse:
    """A minimal accessible page; every text is HTML-escaped."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>",
        status_code=status,
        headers=PAGE_HEADERS,
    )


def error_page(error: OAuthError) -> HTMLResponse:
    """A page for an authorization error that must not be redirected."""
    return simple_page(
        "Sign-in request not valid",
        [
            error.description.rstrip(".") + ".",
            "Go back to the service you came from and try again.",
        ],
        status=400,
    )


#: Characters no database keeps as text: NUL (PostgreSQL refuses it) and lone
#: surrogates (not encodable as UTF-8).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value: object) -> bool:
    """Whether a decoded JSON value (or a parameter) holds, at any depth, a string with
    a character of :data:`UNSTORABLE`."""
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(unstorable(v) for v in value)
    return False


class _Admin(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: object) -> object:
        if unstorable(value):
            raise ValueError("must not contain NUL characters or lone surrogates")
        return value


class OrganisationIn(_Admin):
    name: str = Field(min_length=1, max_length=255)


class ServiceIn(_Admin):
    name: str = Field(min_length=1, max_length=255)


class ApiKeyIn(_Admin):
    name: str = Field(min_length=1, max_length=255)
    api: Literal["notify", "payments"]
    key_type: Literal["live", "test", "team"]


class SandboxCitizenIn(_Admin):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=8, max_length=256)


class OAuthClientIn(_Admin):
    organisation_id: str = Field(min_length=1, max_length=36)
    service_id: str = Field(default="", max_length=36)
    name: str = Field(min_length=1, max_length=255)
    auth_method: Literal["private_key_jwt", "client_secret_basic"]
    redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    scopes: list[str] = Field(default_factory=list, max_length=50)
    grant_types: list[str] = Field(default_factory=list, max_length=3)
    jwks: dict | None = None
    jwks_uri: str = Field(default="", max_length=2000)


def organisation_json(o) -> dict:
    return {"id": o.id, "name": o.name, "created_at": o.created_at.isoformat()}


def service_json(s) -> dict:
    return {"id": s.id, "organisation_id": s.organisation_id, "name": s.name, "active": s.active}


def api_key_json(k) -> dict:
    return {
        "id": k.id,
        "service_id": k.service_id,
        "name": k.name,
        "api": k.api,
        "key_type": k.key_type,
        "prefix": k.prefix,
        "created_at": k.created_at.isoformat(),
        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
    }


def client_json(c) -> dict:
    return {
        "client_id": c.client_id,
        "organisation_id": c.organisation_id,
        "service_id": c.service_id,
        "name": c.name,
        "auth_method": c.auth_method,
        "redirect_uris": c.redirect_uris.split(),
        "post_logout_redirect_uris": c.post_logout_redirect_uris.split(),
        "scopes": c.scopes.split(),
        "grant_types": c.grant_types.split(),
        "jwks_uri": c.jwks_uri,
        "created_at": c.created_at.isoformat(),
        "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
    }


def country_json(country, today) -> dict:
    """A record of the read copy of the ``country`` register, and whether it is live today."""
    return {
        "country": country.code,
        "name": country.name,
        "official_name": country.official_name,
        "start_date": country.start_date.isoformat() if country.start_date else None,
        "end_date": country.end_date.isoformat() if country.end_date else None,
        "entry_number": country.entry_number,
        "live": country.live(today),
    }


#: The endpoints that answer errors as RFC 6749 (5.2) / RFC 6750 (3.1) do.
OAUTH_PATHS = frozenset({"/token", "/introspect", "/revoke", "/userinfo"})

#: RFC 6749's error body: ``{"error": code, "error_description": text}``.
OAUTH_ERROR = error_object({"error": {"type": "string"}}, {"error_description": {"type": "string"}})


def error_schema_for(path: str) -> dict | None:
    """The error body of ``path``'s operations: RFC 6749's on the OAuth endpoints, the
    admin API's under ``/admin``; the sign-in pages and redirects answer with pages."""
    if path in OAUTH_PATHS:
        return OAUTH_ERROR
    if path.startswith("/admin/"):
        return {"anyOf": [ADMIN_ERROR, GATEWAY_PLAIN_ERROR]}
    return None


def create_app(context: Context, keys: signing.KeyCache, client_keys: oidc.ClientKeys) -> FastAPI:
    """Identity's FastAPI app (probes and metrics are added by the runtime)."""
    app = FastAPI(
        telemetry=FASTAPI_TELEMETRY,
        title="govplat identity: organisations, API keys and the OpenID Connect provider",
        version="1.0.0",
    )
    db = context.db
    issuer = context.settings.issuer

    @app.exception_handler(OAuthError)
    async def on_oauth_error(_request: Request, error: OAuthError) -> JSONResponse:
        return oauth_error_response(error)

    # -- OpenID Connect provider ------------------------------------------------------

    @app.get("/.well-known/openid-configuration", tags=["OpenID Connect"])
    async def openid_configuration() -> JSONResponse:
        """OpenID Provider metadata (OIDC Discovery 1.0)."""
        return JSONResponse(
            oidc.discovery(issuer), headers={"Cache-Control": "public, max-age=3600"}
        )

    @app.get("/.well-known/oauth-authorization-server", tags=["OpenID Connect"])
    async def oauth_authorization_server() -> JSONResponse:
        """Authorization server metadata (RFC 8414): the same document."""
        return JSONResponse(
            oidc.discovery(issuer), headers={"Cache-Control": "public, max-age=3600"}
        )

    @app.get("/.well-known/jwks.json", tags=["OpenID Connect"])
    async def jwks() -> JSONResponse:
        """The public signing keys (next, active and recently retired)."""
        async with db.read() as session:
            published = await signing.published_keys(session)
        return JSONResponse({"keys": published}, headers={"Cache-Control": "public, max-age=300"})

    @app.get("/trustmark", tags=["OpenID Connect"])
    async def trustmark() -> dict:
        """The vectors of trust this provider accepts and issues (``vtm``)."""
        return {"idp": issuer, "trustmark_provider": issuer, "C": ["Cl", "Cm"], "P": ["P0", "P2"]}

    @app.get("/authorize", tags=["OpenID Connect"])
    async def authorize(request: Request) -> Response:
        """Authorization endpoint: code flow with PKCE S256 (GET only, as One Login)."""
        try:
            params = single_values(request.query_params)
        except OAuthError as error:
            return error_page(error)
        async with db.write() as session:
            outcome = await oidc.authorize(session, context, params)
        if outcome.error is not None:
            return error_page(outcome.error)
        return RedirectResponse(outcome.redirect, status_code=303, headers=NO_STORE)

    @app.get("/authorize/continue", tags=["OpenID Connect"])
    async def authorize_continue(request: Request) -> Response:
        """Where the sign-in pages return: issue the code once the citizen is signed in."""
        request_id = request.query_params.get("request", "")
        async with db.write() as session:
            browser = await accounts.session_for_cookie(
                session, request.cookies.get(accounts.SESSION_COOKIE)
            )
            outcome = await oidc.continue_authorization(
                session, context, request_id=request_id[:64], browser_session=browser
            )
        if outcome.error is not None:
            return error_page(outcome.error)
        return RedirectResponse(outcome.redirect, status_code=303, headers=NO_STORE)

    @app.post("/token", tags=["OpenID Connect"])
    async def token(request: Request) -> JSONResponse:
        """Token endpoint: authorization_code, refresh_token, client_credentials."""
        form = single_values(await request.form())
        failure: OAuthError | None = None
        async with db.write() as session:
            try:
                answer = await oidc.token(
                    session,
                    context,
                    client_keys,
                    form=form,
                    authorization=request.headers.get("authorization"),
                )
            except OAuthError as error:
                # Commit what the refusal wrote (a consumed assertion jti, a grant
                # revoked after a code or refresh token was reused).
                failure = error
        if failure is not None:
            return oauth_error_response(failure)
        return JSONResponse(answer, headers=NO_STORE)

    async def bearer(request: Request) -> str:
        token_ = bearer_token(request.headers.get("authorization"))
        if not token_:
            raise OAuthError("invalid_token", "a Bearer access token is required", status=401)
        return token_

    @app.get("/userinfo", tags=["OpenID Connect"], operation_id="userinfo_get")
    @app.post("/userinfo", tags=["OpenID Connect"], operation_id="userinfo_post")
    async def userinfo(access_token: str = Depends(bearer)) -> JSONResponse:
        """UserInfo endpoint (OIDC Core section 5.3)."""
        async with db.read() as session:
            claims = await oidc.userinfo(session, context, keys, access_token)
        return JSONResponse(claims, headers=NO_STORE)

    @app.post("/introspect", tags=["OpenID Connect"])
    async def introspect(request: Request) -> JSONResponse:
        """Token introspection (RFC 7662), for the client the token was issued to."""
        form = single_values(await request.form())
        async with db.write() as session:
            client = await oidc.authenticate_client(
                session,
                context,
                client_keys,
                form=form,
                authorization=request.headers.get("authorization"),
            )
            answer = await oidc.introspect(
                session, context, keys, client, token=form.get("token", "")
            )
        return JSONResponse(answer, headers=NO_STORE)

    @app.post("/revoke", tags=["OpenID Connect"])
    async def revoke(request: Request) -> Response:
        """Token revocation (RFC 7009): 200 even for an unknown token."""
        form = single_values(await request.form())
        async with db.write() as session:
            client = await oidc.authenticate_client(
                session,
                context,
                client_keys,
                form=form,
                authorization=request.headers.get("authorization"),
            )
            await oidc.revoke(session, context, keys, client, token=form.get("token", ""))
        return Response(status_code=200, headers=NO_STORE)

    @app.get("/logout", tags=["OpenID Connect"])
    async def logout(request: Request) -> Response:
        """RP-initiated logout: end the citizen's sessions, then back to the client."""
        try:
            params = single_values(request.query_params)
            async with db.write() as session:
                browser = await accounts.session_for_cookie(
                    session, request.cookies.get(accounts.SESSION_COOKIE)
                )
                target = await oidc.logout(
                    session, context, keys, params=params, browser_session=browser
                )
        except OAuthError as error:
            return error_page(error)
        if target:
            response: Response = RedirectResponse(target, status_code=303, headers=NO_STORE)
        elif params.get("id_token_hint"):
            response = simple_page("You have signed out", ["You can close this window."])
        else:
            # Without an ID token from the service, this may be a forged cross-site
            # request: sign out only from the account page's own (CSRF-protected) button.
            return simple_page(
                "Sign out",
                ["To sign out, go to your account page at /account and use the Sign out button."],
            )
        response.delete_cookie(accounts.SESSION_COOKIE, path="/")
        return response

    # -- admin REST API -----------------------------------------------------------------

    admin = APIRouter(prefix="/admin/identity", tags=["Admin"])

    async def operator(request: Request) -> None:
        if not context.is_operator(request.headers.get("authorization")):
            raise DomainError("UNAUTHENTICATED", "the operator credential is missing or wrong")
        for where, values in (
            ("query", request.query_params.multi_items()),
            ("path", request.path_params.items()),
        ):
            for name, value in values:
                if unstorable(value):
                    raise InvalidArgumentError(
                        "INVALID_REQUEST",
                        f"{where} parameter {name[:64]!r} must not contain NUL characters "
                        "or lone surrogates",
                    )

    @admin.post("/organisations", status_code=201, dependencies=[Depends(operator)])
    async def create_organisation(body: OrganisationIn) -> dict:
        async with db.write() as session:
            return organisation_json(await credentials.create_organisation(session, name=body.name))

    @admin.get("/organisations", dependencies=[Depends(operator)])
    async def list_organisations(page_size: int = 0, page_token: str = "") -> dict:
        async with db.read() as session:
            rows, next_token = await credentials.list_organisations(
                session, page_size=page_size, page_token=page_token
            )
        return {
            "organisations": [organisation_json(o) for o in rows],
            "next_page_token": next_token,
        }

    @admin.post(
        "/organisations/{organisation_id}/services",
        status_code=201,
        dependencies=[Depends(operator)],
    )
    async def create_service(organisation_id: str, body: ServiceIn) -> dict:
        async with db.write() as session:
            return service_json(
                await credentials.create_service(
                    session, organisation_id=organisation_id, name=body.name
                )
            )

    @admin.get("/services", dependencies=[Depends(operator)])
    async def list_services(
        organisation_id: str = "", page_size: int = 0, page_token: str = ""
    ) -> dict:
        async with db.read() as session:
            rows, next_token = await credentials.list_services(
                session, organisation_id=organisation_id, page_size=page_size, page_token=page_token
            )
        return {"services": [service_json(s) for s in rows], "next_page_token": next_token}

    @admin.post(
        "/services/{service_id}/api-keys", status_code=201, dependencies=[Depends(operator)]
    )
    async def create_api_key(service_id: str, body: ApiKeyIn) -> dict:
        async with db.write() as session:
            key, key_string = await credentials.create_api_key(
                session,
                context.box,
                service_id=service_id,
                name=body.name,
                api=body.api,
                key_type=body.key_type,
            )
        return {**api_key_json(key), "key": key_string}

    @admin.get("/services/{service_id}/api-keys", dependencies=[Depends(operator)])
    async def list_api_keys(service_id: str) -> dict:
        async with db.read() as session:
            return {
                "api_keys": [
                    api_key_json(k)
                    for k in await credentials.list_api_keys(session, service_id=service_id)
                ]
            }

    @admin.post("/api-keys/{api_key_id}/revoke", dependencies=[Depends(operator)])
    async def revoke_api_key(api_key_id: str) -> dict:
        async with db.write() as session:
            return api_key_json(
                await credentials.revoke_api_key(session, context, api_key_id=api_key_id)
            )

    @admin.post("/oauth-clients", status_code=201, dependencies=[Depends(operator)])
    async def create_oauth_client(body: OAuthClientIn) -> dict:
        import json

        async with db.write() as session:
            client, secret = await credentials.create_oauth_client(
                session,
                organisation_id=body.organisation_id,
                service_id=body.service_id,
                name=body.name,
                auth_method=body.auth_method,
                redirect_uris=body.redirect_uris,
                post_logout_redirect_uris=body.post_logout_redirect_uris,
                scopes=body.scopes,
                grant_types=body.grant_types,
                jwks=json.dumps(body.jwks) if body.jwks else "",
                jwks_uri=body.jwks_uri,
            )
        return {**client_json(client), "client_secret": secret or None}

    @admin.get("/organisations/{organisation_id}/oauth-clients", dependencies=[Depends(operator)])
    async def list_oauth_clients(organisation_id: str) -> dict:
        async with db.read() as session:
            rows = await credentials.list_oauth_clients(session, organisation_id=organisation_id)
        return {"clients": [client_json(c) for c in rows]}

    @admin.post("/oauth-clients/{client_id}/revoke", dependencies=[Depends(operator)])
    async def revoke_oauth_client(client_id: str) -> dict:
        async with db.write() as session:
            return client_json(await credentials.revoke_oauth_client(session, client_id=client_id))

    @admin.post("/sandbox/citizen", status_code=201, dependencies=[Depends(operator)])
    async def sandbox_citizen(body: SandboxCitizenIn) -> dict:
        """Create (or find) the sandbox's test citizen, with an authenticator app
        enrolled; only when ``GOVPLAT_ENVIRONMENT`` is ``sandbox``."""
        if context.settings.environment != "sandbox":
            raise DomainError("SANDBOX_ONLY", "test citizens exist only in the sandbox")
        try:
            totp_secret = await accounts.create_sandbox_citizen(
                db, context.box, body.email, body.password
            )
        except accounts.InvalidInput as error:
            raise DomainError(
                "INVALID_CITIZEN", "; ".join(f"{k}: {v}" for k, v in error.errors.items())
            ) from None
        return {"email": body.email.lower(), "totp_secret": totp_secret}

    @admin.get("/countries", dependencies=[Depends(operator)])
    async def list_countries() -> dict:
        """The read copy of the ``country`` register: every record, by key."""
        records = await countries.all_countries(db)
        today = countries.today()
        return {
            "register": countries.REGISTER,
            "total": len(records),
            "last_entry_number": max((c.entry_number for c in records), default=0),
            "countries": [country_json(c, today) for c in records],
        }

    @admin.get("/countries/{code}", dependencies=[Depends(operator)])
    async def get_country(code: str) -> dict:
        """One record of the read copy of the ``country`` register."""
        found = await countries.get(db, code[:64])
        if found is None:
            raise NotFoundError("COUNTRY_NOT_FOUND", "no such key in the country register's copy")
        return country_json(found, countries.today())

    @admin.post("/signing-keys/rotate", dependencies=[Depends(operator)])
    async def rotate_signing_keys() -> dict:
        async with db.write() as session:
            kid = await signing.rotate(session, context.box)
        keys.forget()
        return {"active_kid": kid}

    app.include_router(admin)
    document_errors(app, error_schema_for)

    @app.exception_handler(DomainError)
    async def on_domain_error(request: Request, error: DomainError) -> JSONResponse:
        status = (
            401 if error.reason == "UNAUTHENTICATED" else STATUS_FOR_CODE.get(error.code.name, 400)
        )
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(
            {"error": error.reason, "message": error.message}, status_code=status, headers=headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, error: StarletteHTTPException) -> Response:
        """Framework errors (405, unparseable forms) in each endpoint's own format."""
        detail = str(error.detail)[:200]
        if request.url.path in OAUTH_PATHS:
            description = "method not allowed" if error.status_code == 405 else detail
            return oauth_error_response(
                OAuthError("invalid_request", description, status=error.status_code)
            )
        if request.url.path.startswith("/admin/"):
            return JSONResponse(
                {"error": "INVALID_REQUEST", "message": detail}, status_code=error.status_code
            )
        return JSONResponse(
            {"detail": detail},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def on_invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in error.errors()
        ]
        return JSONResponse(
            {"error": "INVALID_REQUEST", "message": "; ".join(problems)}, status_code=400
        )

    app.include_router(pages.create_router(context))
    return app
