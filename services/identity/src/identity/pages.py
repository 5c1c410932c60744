"""The citizen's pages: sign-up, sign-in, second factor (server-rendered, no JavaScript).

Every page works with plain HTML forms. Routes (the gateway forwards the
prefixes ``/sign-up``, ``/sign-in``, ``/account``, ``/identity-check`` and
``/account-assets`` to identity):

=====================================  ==============================================
``GET/POST /sign-up``                  email and password
``GET/POST /sign-up/verify-email``     the code emailed at sign-up
``GET/POST /sign-up/resend-code``      send that code again
``GET/POST /sign-in``                  email and password
``GET/POST /sign-in/second-factor``    the authenticator app's code
``GET      /account``                  who is signed in, at which level
``GET/POST /account/second-factor``    set up an authenticator app (TOTP)
``GET/POST /identity-check``           sandbox identity check (P2)
``POST     /account/sign-out``         end the session
``GET      /account/signed-out``       "you have signed out"
``GET      /account-assets/{name}``    the pages' stylesheet
=====================================  ==============================================

Each accepts an optional ``request`` parameter (query string, or hidden form field
on POST): the id of an ``/authorize`` request (1 to 64 URL-safe characters),
carried through the journey. When the citizen has reached what the request needs
(credential level ``Cl`` or ``Cl.Cm``, identity level ``P2``), the last page
redirects (303) to ``/authorize/continue?request=<id>``; without ``request`` the
journey ends on ``/account``.

Cookies (``Path=/``, ``HttpOnly``; ``Secure`` when the issuer is https):

- ``govplat_session`` (SameSite=Lax): the browser session.
- ``govplat_csrf`` (SameSite=Strict): a random token repeated in every form as
  ``csrf_token`` (double submit, compared in constant time); a POST without the
  right token gets 403.
- ``govplat_signup`` / ``govplat_signin`` (SameSite=Lax, short-lived, encrypted
  with the secret box): the account waiting for its email code / second factor.

Pages are ``Cache-Control: no-store`` and carry a strict Content-Security-Policy.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from identity.context import Context
from identity.security import constant_time_equal, new_token
from identity.service import accounts

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

CSRF_COOKIE = "govplat_csrf"
CSRF_FIELD = "csrf_token"
SIGNUP_COOKIE = "govplat_signup"
SIGNIN_COOKIE = "govplat_signin"
#: How long the sign-up and sign-in steps may wait for their code (seconds).
SIGNUP_PENDING_SECONDS = 3600
SIGNIN_PENDING_SECONDS = 600

#: An authorization request id: 1 to 64 URL-safe characters.
REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: A CSRF token as this module makes them (``new_token(32)``).
_CSRF_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    # No form-action: after a form post, /authorize/continue redirects to the
    # relying party, and browsers check form-action on every redirect.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
}

LEVEL_NAMES = {
    accounts.LEVEL_PASSWORD: "password only",
    accounts.LEVEL_TWO_FACTOR: "password and authenticator app",
}

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class _BadRequestId(Exception):
    """The ``request`` parameter is not an authorization request id."""


def _with_request(path: str, request_id: str | None) -> str:
    """``path`` with ``?request=<id>`` when there is a request."""
    return f"{path}?request={quote(request_id)}" if request_id else path


def create_router(context: Context) -> APIRouter:
    """The router of the citizen's pages (see the module docstring for the routes).

    Args:
        context: the identity component's settings, database and secret box.
    """
    router = APIRouter(include_in_schema=False)
    secure = context.settings.issuer.startswith("https")

    # -- helpers -----------------------------------------------------------

    def set_cookie(
        response: Response, name: str, value: str, *, max_age: int | None, same_site: str = "lax"
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=secure,
            httponly=True,
            samesite=same_site,
        )

    def clear_cookie(response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")

    def csrf_token_of(http: Request) -> str | None:
        token = http.cookies.get(CSRF_COOKIE)
        return token if token and _CSRF_TOKEN.match(token) else None

    def render(
        http: Request, template: str, status_code: int = 200, **values: object
    ) -> HTMLResponse:
        token = csrf_token_of(http)
        fresh = token is None
        if fresh:
            token = new_token(32)
        values.setdefault("errors", {})
        values.setdefault("values", {})
        values.setdefault("request_id", None)
        values.setdefault("signed_in", None)
        body = _environment.get_template(template).render(
            csrf_token=token, with_request=_with_request, **values
        )
        response = HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)
        if fresh:
            set_cookie(response, CSRF_COOKIE, token, max_age=None, same_site="strict")
        return response

    def redirect(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)

    def request_id_of(http: Request, form: dict[str, str] | None = None) -> str | None:
        value = (form or {}).get("request") or http.query_params.get("request")
        if not value:
            return None
        if not REQUEST_ID.match(value):
            raise _BadRequestId()
        return value

    async def read_form(http: Request) -> dict[str, str]:
        form = await http.form(max_files=0, max_fields=20)
        return {k: v for k, v in form.items() if isinstance(v, str)}

    def csrf_ok(http: Request, form: dict[str, str]) -> bool:
        cookie = csrf_token_of(http)
        sent = form.get(CSRF_FIELD, "")
        return bool(cookie and sent) and constant_time_equal(cookie, sent)

    def refused(http: Request) -> HTMLResponse:
        return render(
            http,
            "message.html",
            403,
            title="Your form could not be sent",
            lines=[
                "For your security, we could not accept the form you sent: "
                "it did not come from this page, or it was open too long.",
                "Go back, reload the page and try again.",
            ],
        )

    def bad_request_id(http: Request) -> HTMLResponse:
        return render(
            http,
            "message.html",
            400,
            title="This link is not valid",
            lines=["Go back to the service you were using and start again."],
        )

    def expired_request(http: Request) -> HTMLResponse:
        return render(
            http,
            "message.html",
            400,
            title="Your sign-in request has expired",
            lines=[
                "You took too long, or the link was already used.",
                "Go back to the service you were using and start again.",
            ],
            link=("/account", "Go to your account"),
        )

    def locked(http: Request, exc: accounts.AccountLocked, request_id: str | None) -> HTMLResponse:
        minutes = exc.minutes_left()
        response = render(
            http,
            "locked.html",
            429,
            minutes=minutes,
            request_id=request_id,
        )
        response.headers["Retry-After"] = str(minutes * 60)
        clear_cookie(response, SIGNIN_COOKIE)
        return response

    def pending(http: Request, cookie: str, kind: str) -> dict | None:
        """The decrypted content of a sign-up or sign-in cookie, if valid."""
        raw = http.cookies.get(cookie)
        if not raw or len(raw) > 4096:
            return None
        try:
            value = json.loads(context.box.decrypt(raw))
        except (ValueError, TypeError):
            return None
        if not isinstance(value, dict) or value.get("k") != kind:
            return None
        if not isinstance(value.get("x"), int | float) or value["x"] < time.time():
            return None
        return value

    def set_pending(
        response: Response, cookie: str, kind: str, seconds: int, **values: object
    ) -> None:
        token = context.box.encrypt(
            json.dumps({"k": kind, "x": int(time.time()) + seconds, **values})
        )
        set_cookie(response, cookie, token, max_age=seconds)

    async def signed_in(http: Request) -> accounts.SignedIn | None:
        return await accounts.current_session(context, http.cookies.get(accounts.SESSION_COOKIE))

    async def next_step(
        account: accounts.AccountInfo, level: str, request_id: str | None
    ) -> str | None:
        """Where a signed-in citizen goes next; ``None`` when the request expired."""
        if request_id:
            needs = await accounts.authorization_needs(context, request_id)
            if needs is None:
                return None
            wanted, identity = needs.credential_level, needs.identity_level
        else:
            wanted = accounts.LEVEL_TWO_FACTOR if account.second_factor else level
            identity = None
        if identity:
            wanted = accounts.LEVEL_TWO_FACTOR  # P2 is only given with Cl.Cm
        if wanted == accounts.LEVEL_TWO_FACTOR and level != accounts.LEVEL_TWO_FACTOR:
            if account.second_factor is None:
                return _with_request("/account/second-factor", request_id)
            return _with_request("/sign-in/second-factor", request_id)
        if identity and account.identity_level is None:
            return _with_request("/identity-check", request_id)
        if request_id:
            return _with_request("/authorize/continue", request_id)
        return "/account"

    async def go_on(
        http: Request,
        account: accounts.AccountInfo,
        level: str,
        request_id: str | None,
        session_cookie: str | None = None,
    ) -> Response:
        """Redirect to the next step, setting a new session cookie if given."""
        target = await next_step(account, level, request_id)
        response: Response = expired_request(http) if target is None else redirect(target)
        if session_cookie:
            set_cookie(
                response,
                accounts.SESSION_COOKIE,
                session_cookie,
                max_age=context.settings.session_seconds,
            )
        return response

    async def replace_session(http: Request, account_id: str, level: str) -> str:
        """A new session for the browser; its previous one (if any) ends."""
        await accounts.end_session(context, http.cookies.get(accounts.SESSION_COOKIE))
        return await accounts.create_session(context, account_id, level)

    def needs_sign_in(request_id: str | None) -> RedirectResponse:
        return redirect(_with_request("/sign-in", request_id))

    # -- sign-up -------------------------------------------------------------

    @router.get("/sign-up")
    async def sign_up_page(http: Request) -> Response:
        try:
            request_id = request_id_of(http)
        except _BadRequestId:
            return bad_request_id(http)
        return render(http, "sign_up.html", request_id=request_id)

    @router.post("/sign-up")
    async def sign_up_submit(http: Request) -> Response:
        form = await read_form(http)
        if not csrf_ok(http, form):
            return refused(http)
        try:
            request_id = request_id_of(http, form)
        except _BadRequestId:
            return bad_request_id(http)
        email = form.get("email", "")
        try:
            result = await accounts.sign_up(context, email, form.get("password", ""))
        except accounts.InvalidInput as exc:
            return render(
                http,
                "sign_up.html",
                400,
                errors=exc.errors,
                values={"email": email},
                request_id=request_id,
            )
        response = redirect(_with_request("/sign-up/verify-email", request_id))
        set_pending(
            response,
            SIGNUP_COOKIE,
            "signup",
            SIGNUP_PENDING_SECONDS,
            a=result.account_id,
            e=accounts.normalise_email(email),
        )
        return response

    @router.get("/sign-up/verify-email")
    async def verify_email_page(http: Request) -> Response:
        try:
            request_id = request_id_of(http)
        except _BadRequestId:
            return bad_request_id(http)
        waiting = pending(http, SIGNUP_COOKIE, "signup")
        if waiting is None:
            return redirect(_with_request("/sign-up", request_id))
        return render(
            http,
            "verify_email.html",
            email=waiting["e"],
            resent=http.query_params.get("resent") == "1",
            request_id=request_id,
        )

    @router.post("/sign-up/verify-email")
    async def verify_email_submit(http: Request) -> Response:
        form = await read_form(http)
        if not csrf_ok(http, form):
            return refused(http)
        try:
            request_id = request_id_of(http, form)
        except _BadRequestId:
            return bad_request_id(http)
        waiting = pending(http, SIGNUP_COOKIE, "signup")
        if waiting is None:
            return redirect(_with_request("/sign-up", request_id))
        code = form.get("code", "").strip()
        error = None
        if not code:
            error = "Enter the code we sent to your email address"
        elif not waiting.get("a"):
            # The email already had a verified account: no code was sent.
            error = "The code is not correct: check it and try again"
        else:
            try:
                account = await accounts.verify_email(context, waiting["a"], code)
            except accounts.CodeRejected:
                error = "The code is not correct: check it and try again"
            except accounts.CodeExpired:
                error = "The code has expired or was tried too many times: get a new code"
            except accounts.AccountNotFound:
                return redirect(_with_request("/sign-up", request_id))
        if error:
            return render(
                http,
                "verify_email.html",
                400,
                email=waiting["e"],
                resent=False,
                errors={"code": error},
                request_id=request_id,
            )
        cookie = await replace_session(http, account.id, accounts.LEVEL_PASSWORD)
        response = await go_on(http, account, accounts.LEVEL_PASSWORD, request_id, cookie)
        clear_cookie(response, SIGNUP_COOKIE)
        return response

    @router.get("/sign-up/resend-code")
    async def resend_code_page(http: Request) -> Response:
        try:
            request_id = request_id_of(http)
        except _BadRequestId:
            return bad_request_id(http)
        waiting = pending(http, SIGNUP_COOKIE, "signup")
        if waiting is None:
            return redirect(_with_request("/sign-up", request_id))
        return render(http, "resend_code.html", email=waiting["e"], request_id=request_id)

    @router.post("/sign-up/resend-code")
    async def resend_code_submit(http: Request) -> Response:
        form = await read_form(http)
        if not csrf_ok(http, form):
            return refused(http)
        try:
            request_id = request_id_of(http, form)
        except _BadRequestId:
            return bad_request_id(http)
        waiting = pending(http, SIGNUP_COOKIE, "signup")
        if waiting is None:
            return redirect(_with_request("/sign-up", request_id))
        if waiting.get("a"):
            try:
                await accounts.resend_email_code(context, waiting["a"])
            except accounts.TooManyCodes:
                return render(
                    http,
                    "message.html",
                    429,
                    title="You asked for too many codes",
                    lines=["Wait an hour, then ask for a new code."],
                    request_id=request_id,
                )
            except accounts.AccountNotFound:
                return redirect(_with_request("/sign-up", request_id))
        target = _with_request("/sign-up/verify-email", request_id)
        return redirect(target + ("&" if "?" in target else "?") + "resent=1")

    # -- sign-in -------------------------------------------------------------

    @router.get("/sign-in")
    async def sign_in_page(http: Request) -> Response:
        try:
            request_id = request_id_of(http)
        except _BadRequestId:
            return bad_request_id(http)
        current = await signed_in(http)
        if current is not None and request_id:
            return await go_on(http, current.account, current.level, request_id)
        return render(http, "sign_in.html", request_id=request_id, signed_in=current)

    @router.post("/sign-in")
    async def sign_in_submit(http: Request) -> Response:
        form = await read_form(http)
        if not csrf_ok(http, form):
            return refused(http)
        try:
            request_id = request_id_of(http, form)
        except _BadRequestId:
            return bad_request_id(http)
        email, password = form.get("email", "").strip(), form.get("password", "")
        errors = {}
        if not email:
            errors["email"] = "Enter your email address"
        if not password:
            errors["password"] = "Enter your password"
        if not errors:
            try:
                result = await accounts.sign_in_password(context, email, password)
            except accounts.AccountLocked as exc:
                return locked(http, exc, request_id)
            except accounts.SignInFailed:
                errors["email"] = "The email address or password is not correct"
            except accounts.EmailNotVerified as exc:
                response = redirect(_with_request("/sign-up/verify-email", request_id))
                set_pending(
                    response,
                    SIGNUP_COOKIE,
                    "signup",
                    SIGNUP_PENDING_SECONDS,
                    a=exc.account_id,
                    e=exc.email,
                )
                return response
        if errors:
            return render(
                http,
                "sign_in.html",
                400,
                errors=errors,
                values={"email": email},
                request_id=request_id,
            )
        if result.needs_second_factor:
            response = redirect(_with_request("/sign-in/second-factor", request_id))
            set_pending(
                response, SIGNIN_COOKIE, "signin", SIGNIN_PENDING_SECONDS, a=result.account.id
            )
            return response
        cookie = await replace_session(http, result.account.id, accounts.LEVEL_PASSWORD)
        return await go_on(http, result.account, accounts.LEVEL_PASSWORD, request_id, cookie)

    async def second_factor_account(http: Request) -> tuple[str | None, bool]:
        """The account whose second factor is checked, and whether it came from the
        sign-in cookie (else from a ``Cl`` session of an account with an app)."""
        waiting = pending(http, SIGNIN_COOKIE, "signin")
        if waiting and waiting.get("a"):
            return waiting["a"], True
        current = await signed_in(http)
        if (
            current is not None
            and current.level == accounts.LEVEL_PASSWORD
            and current.account.second_factor
        ):
            return current.account.id, False
        return None, False

    @router.get("/sign-in/second-factor")
    async def sign_in_second_factor_page(http: Request) -> Response:
        try:
            request_id = request_id_of(http)
        except _BadRequestId:
            return bad_request_id(http)
        account_id, _ = await second_factor_account(http)
        if account_id is None:
            current = await signed_in(http)
            if current is not None and current.account.second_factor is None:
                # Signed in with a password, no app yet (e.g. sent here by /authorize).
                return redirect(_with_request("/account/second-factor", request_id))
            if current is not None:  # already at Cl.Cm
                return await go_on(http, current.account, current.level, request_id)
            return needs_sign_in(request_id)
        return render(http, "sign_in_second_factor.html", request_id=request_id)

    @router.post("/sign-in/second-factor")
    async def sign_in_second_factor_submit(http: Request) -> Response:
        form = await read_form(http)
        if not csrf_ok(http, form):
            return refused(http)
        try:
            request_id = request_id_of(http, form)
        except _BadRequestId:
            return bad_request_id(http)
        account_id, from_sign_in = await second_factor_account(http)
        if account_id is None:
            return needs_sign_in(request_id)
        code = form.get("code", "").strip()
        error = None
        if not code:
            error = "Enter the 6-digit code from your authenticator app"
        else:
            try:
                account = await accounts.verify_second_factor(context, account_id, code)
            except accounts.AccountLocked as exc:
                return locked(http, exc, request_id)
            except accounts.CodeRejected:
                error = "The code is not correct: enter the code your app shows now"
            except (accounts.SecondFactorRequired, accounts.AccountNotFound):
                response = needs_sign_in(request_id)
                clear_cookie(response, SIGNIN_COOKIE)
                return response
        if error:
            return render(
                http,
                "sign_in_second_factor.html",
                400,
                errors={"code": error},
                request_id=request_id,
            )
        if from_sign_in:
            cookie = await replace_session(http, account.id, accounts.LEVEL_TWO_FACTOR)
        else:
            cookie = await accounts.upgrade_session(
                context, http.cookies.get(accounts.SESSION_COOKIE, "")
            )
        response = await go_on(http, account, accounts.LEVEL_TWO_FACTOR, request_id, cookie)
        clear_cookie(response, SIGNIN_COOKIE)
        return response

    # -- account -------------------------------------------------------------

    @router.get("/account")
    async def account_page(http: Request) -> Response:
        try:
            request_id = request_id_of(http)
        except _BadRequestId:
            return bad_request_id(http)
        current = await signed_in(http)
        if current is None:
            return needs_sign_in(request_id)
        continue_to = await next_step(current.account, current.level, request_id)
        return render(
            http,
            "account.html",
            signed_in=current,
            level_name=LEVEL_NAMES.get(current.level, current.level),
            continue_to=continue_to if request_id else None,
            request_id=request_id,
        )

    @router.get("/account/second-factor")
    async def second_factor_page(http: Request) -> Response:
        try:
            request_id = request_id_of(http)
        except _BadRequestId:
            return bad_request_id(http)
        current = await signed_in(http)
        if current is None:
            return needs_sign_in(request_id)
        if current.account.second_factor:
            return render(
                http,
                "second_factor_done.html",
                signed_in=current,
                continue_to=await next_step(current.account, current.level, request_id),
                request_id=request_id,
            )
        setup = await accounts.start_totp_setup(context, current.account.id)
        return render(
            http, "second_factor.html", setup=setup, signed_in=current, request_id=request_id
        )

    @router.post("/account/second-factor")
    async def second_factor_submit(http: Request) -> Response:
        form = await read_form(http)
        if not csrf_ok(http, form):
            return refused(http)
        try:
            request_id = request_id_of(http, form)
        except _BadRequestId:
            return bad_request_id(http)
        current = await signed_in(http)
        if current is None:
            return needs_sign_in(request_id)
        if current.account.second_factor:
            return redirect(_with_request("/account/second-factor", request_id))
        code = form.get("code", "").strip()
        error = None
        if not code:
            error = "Enter the 6-digit code from your authenticator app"
        else:
            try:
                account = await accounts.confirm_totp(context, current.account.id, code)
            except accounts.CodeRejected:
                error = "The code is not correct: enter the code your app shows now"
            except accounts.CodeExpired:
                return redirect(_with_request("/account/second-factor", request_id))
        if error:
            setup = await accounts.start_totp_setup(context, current.account.id)
            return render(
                http,
                "second_factor.html",
                400,
                setup=setup,
                signed_in=current,
                errors={"code": error},
                request_id=request_id,
            )
        cookie = await accounts.upgrade_session(
            context, http.cookies.get(accounts.SESSION_COOKIE, "")
        )
        return await go_on(http, account, accounts.LEVEL_TWO_FACTOR, request_id, cookie)

    @router.get("/identity-check")
    async def identity_check_page(http: Request) -> Response:
        try:
            request_id = request_id_of(http)
        except _BadRequestId:
            return bad_request_id(http)
        current = await signed_in(http)
        if current is None:
            return needs_sign_in(request_id)
        if current.level != accounts.LEVEL_TWO_FACTOR:
            return redirect(
                _with_request(
                    "/account/second-factor"
                    if current.account.second_factor is None
                    else "/sign-in/second-factor",
                    request_id,
                )
            )
        return render(
            http,
            "identity_check.html",
            identities=accounts.SANDBOX_IDENTITIES,
            signed_in=current,
            request_id=request_id,
        )

    @router.post("/identity-check")
    async def identity_check_submit(http: Request) -> Response:
        form = await read_form(http)
        if not csrf_ok(http, form):
            return refused(http)
        try:
            request_id = request_id_of(http, form)
        except _BadRequestId:
            return bad_request_id(http)
        current = await signed_in(http)
        if current is None:
            return needs_sign_in(request_id)
        if current.level != accounts.LEVEL_TWO_FACTOR:
            return redirect(_with_request("/identity-check", request_id))
        try:
            account = await accounts.complete_identity_check(
                context, current.account.id, form.get("identity", "")
            )
        except accounts.InvalidInput as exc:
            return render(
                http,
                "identity_check.html",
                400,
                identities=accounts.SANDBOX_IDENTITIES,
                signed_in=current,
                errors=exc.errors,
                request_id=request_id,
            )
        return await go_on(http, account, current.level, request_id)

    @router.post("/account/sign-out")
    async def sign_out(http: Request) -> Response:
        form = await read_form(http)
        if not csrf_ok(http, form):
            return refused(http)
        await accounts.end_session(context, http.cookies.get(accounts.SESSION_COOKIE))
        response = redirect("/account/signed-out")
        clear_cookie(response, accounts.SESSION_COOKIE)
        clear_cookie(response, SIGNIN_COOKIE)
        return response

    @router.get("/account/signed-out")
    async def signed_out_page(http: Request) -> Response:
        return render(
            http,
            "message.html",
            title="You have signed out",
            lines=["You have signed out of your account on this device."],
            link=("/sign-in", "Sign in again"),
        )

    @router.get("/account-assets/{name}")
    async def asset(name: str) -> Response:
        if name not in _ASSETS:
            return Response(status_code=404)
        return Response(
            _ASSETS[name],
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    return router


#: The stylesheets served under ``/account-assets/`` (read once).
_ASSETS = {path.name: path.read_bytes() for path in STATIC_DIR.glob("*.css")}
