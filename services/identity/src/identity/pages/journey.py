"""Where the citizen is in a journey, and the dependencies every page handler
starts from.

State between steps lives in the session cookie and in short-lived cookies
encrypted with the secret box (``govplat_signup``, ``govplat_signin``,
``govplat_sms_setup``): the account waiting for its email code, for its second
factor, or for the code texted to a new phone number.
"""

from __future__ import annotations

import json
import time

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from identity.context import Context
from identity.pages.forms import (
    BadRequestId,
    Page,
    SignedInPage,
    Stop,
    csrf_ok,
    read_form,
    request_id_of,
    with_request,
)
from identity.pages.rendering import BAD_REQUEST_ID, EXPIRED_REQUEST, REFUSED, Renderer
from identity.service import accounts

SIGNUP_COOKIE = "govplat_signup"
SIGNIN_COOKIE = "govplat_signin"
SMS_SETUP_COOKIE = "govplat_sms_setup"
#: How long each step may wait for its code (seconds).
SIGNUP_PENDING_SECONDS = 3600
SIGNIN_PENDING_SECONDS = 600
SMS_SETUP_PENDING_SECONDS = int(accounts.CODE_LIFETIME.total_seconds())
#: The largest encrypted cookie read (bytes).
_MAX_PENDING_COOKIE = 4096


class Journey(Renderer):
    """The pages' shared behaviour over the identity component's ``context``."""

    def __init__(self, context: Context) -> None:
        super().__init__(secure=context.settings.issuer.startswith("https"), box=context.box)
        self.context = context

    # -- dependencies: what a handler receives -------------------------------------

    async def visit(self, http: Request) -> Page:
        """A ``GET`` page: its ``request`` parameter checked (400 page if malformed)."""
        return Page(http=http, request_id=self._request_id(http))

    async def signed_in_visit(self, http: Request) -> SignedInPage:
        """A ``GET`` page of a signed-in browser (else a redirect to sign in)."""
        return await self._with_session(await self.visit(http))

    async def csrf_form(self, http: Request) -> dict[str, str]:
        """A posted form whose CSRF token is right (else the 403 page)."""
        form = await read_form(http)
        if not csrf_ok(http, form, self.box):
            raise Stop(self.message(http, REFUSED))
        return form

    async def form(self, http: Request) -> Page:
        """A ``POST``: CSRF token, then ``request`` parameter, checked."""
        form = await self.csrf_form(http)
        return Page(http=http, request_id=self._request_id(http, form), form=form)

    async def signed_in_form(self, http: Request) -> SignedInPage:
        """A ``POST`` of a signed-in browser (else a redirect to sign in)."""
        return await self._with_session(await self.form(http))

    def _request_id(self, http: Request, form: dict[str, str] | None = None) -> str | None:
        try:
            return request_id_of(http, form)
        except BadRequestId:
            raise Stop(self.message(http, BAD_REQUEST_ID)) from None

    async def _with_session(self, page: Page) -> SignedInPage:
        current = await self.signed_in(page.http)
        if current is None:
            raise Stop(self.needs_sign_in(page.request_id))
        return SignedInPage(
            http=page.http, request_id=page.request_id, form=page.form, signed_in=current
        )

    # -- cookies waiting for a step ------------------------------------------------

    def pending(self, http: Request, cookie: str, kind: str) -> dict | None:
        """The decrypted content of a waiting step's cookie, if valid and not expired."""
        raw = http.cookies.get(cookie)
        if not raw or len(raw) > _MAX_PENDING_COOKIE:
            return None
        try:
            value = json.loads(self.context.box.decrypt(raw))
        except (ValueError, TypeError):
            return None
        if not isinstance(value, dict) or value.get("k") != kind:
            return None
        if not isinstance(value.get("x"), int | float) or value["x"] < time.time():
            return None
        return value

    def set_pending(
        self, response: Response, cookie: str, kind: str, seconds: int, **values: object
    ) -> None:
        """Set a waiting step's cookie: ``values`` encrypted, valid ``seconds``."""
        token = self.context.box.encrypt(
            json.dumps({"k": kind, "x": int(time.time()) + seconds, **values})
        )
        self.set_cookie(response, cookie, token, max_age=seconds)

    def wait_for_email_code(self, page: Page, account_id: str, email: str) -> Response:
        """To the page asking for the code emailed to ``email`` for ``account_id`` (the
        same whether a code was sent or, for an email already verified, played out)."""
        response = self.redirect(page.to("/sign-up/verify-email"))
        self.set_pending(
            response, SIGNUP_COOKIE, "signup", SIGNUP_PENDING_SECONDS, a=account_id, e=email
        )
        return response

    # -- sessions and where to go next ---------------------------------------------

    async def signed_in(self, http: Request) -> accounts.SignedIn | None:
        """The browser's live session, if any."""
        return await accounts.current_session(
            self.context, http.cookies.get(accounts.SESSION_COOKIE)
        )

    async def replace_session(self, http: Request, account_id: str, level: str) -> str:
        """A new session for the browser; its previous one (if any) ends."""
        await accounts.end_session(self.context, http.cookies.get(accounts.SESSION_COOKIE))
        return await accounts.create_session(self.context, account_id, level)

    async def upgrade_session(self, page: Page) -> str:
        """The browser's session raised to ``Cl.Cm`` (a new cookie value)."""
        return await accounts.upgrade_session(
            self.context, page.http.cookies.get(accounts.SESSION_COOKIE, "")
        )

    async def next_step(
        self, account: accounts.AccountInfo, level: str, request_id: str | None
    ) -> str | None:
        """Where a signed-in citizen goes next; ``None`` when the request expired."""
        if request_id:
            needs = await accounts.authorization_needs(self.context, request_id)
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
                return with_request("/account/second-factor", request_id)
            return with_request("/sign-in/second-factor", request_id)
        if identity and account.identity_level is None:
            return with_request("/identity-check", request_id)
        if request_id:
            return with_request("/authorize/continue", request_id)
        return "/account"

    async def go_on(
        self,
        page: Page,
        account: accounts.AccountInfo,
        level: str,
        session_cookie: str | None = None,
    ) -> Response:
        """Redirect to the next step, setting a new session cookie if given."""
        target = await self.next_step(account, level, page.request_id)
        response: Response = (
            self.message(page, EXPIRED_REQUEST) if target is None else self.redirect(target)
        )
        if session_cookie:
            self.set_cookie(
                response,
                accounts.SESSION_COOKIE,
                session_cookie,
                max_age=self.context.settings.session_seconds,
            )
        return response

    def needs_sign_in(self, request_id: str | None) -> RedirectResponse:
        """To the sign-in page, carrying the request."""
        return self.redirect(with_request("/sign-in", request_id))

    def restart_sign_in(self, page: Page) -> RedirectResponse:
        """To the sign-in page, forgetting the account waiting for its second factor."""
        response = self.needs_sign_in(page.request_id)
        self.clear_cookie(response, SIGNIN_COOKIE)
        return response

    def locked(self, page: Page, exc: accounts.AccountLocked) -> HTMLResponse:
        """429: the lockout page, with ``Retry-After``; the sign-in step is forgotten."""
        minutes = exc.minutes_left()
        response = self.render(page, "locked.html", 429, minutes=minutes)
        response.headers["Retry-After"] = str(minutes * 60)
        self.clear_cookie(response, SIGNIN_COOKIE)
        return response
