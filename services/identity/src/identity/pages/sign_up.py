"""Sign-up pages: email and password, the emailed code, a new code.

They answer a sign-up of an email that has a verified account exactly as one of a
new email: the service plays its codes out (nothing is sent) and the pages treat
both the same way."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from identity.pages.forms import CodeMessages, Page, Stop, page_router, submit_code
from identity.pages.journey import SIGNUP_COOKIE, Journey
from identity.pages.rendering import TOO_MANY_CODES
from identity.service import accounts

EMAIL_CODE = CodeMessages.sent_to("email address")


def routes(journey: Journey) -> APIRouter:
    """``/sign-up``, ``/sign-up/verify-email`` and ``/sign-up/resend-code``."""
    router = page_router()
    context = journey.context

    def waiting_sign_up(page: Page) -> dict:
        """The sign-up waiting for its email code (else back to ``/sign-up``)."""
        waiting = journey.pending(page.http, SIGNUP_COOKIE, "signup")
        if waiting is None or not isinstance(waiting.get("a"), str):
            raise Stop(journey.redirect(page.to("/sign-up")))
        return waiting

    @router.get("/sign-up")
    async def sign_up_page(page: Page = Depends(journey.visit)) -> Response:
        return journey.render(page, "sign_up.html")

    @router.post("/sign-up")
    async def sign_up_submit(page: Page = Depends(journey.form)) -> Response:
        email = page.field("email")
        try:
            result = await accounts.sign_up(context, email, page.field("password"))
        except accounts.InvalidInput as exc:
            return journey.render(
                page, "sign_up.html", 400, errors=exc.errors, values={"email": email}
            )
        return journey.wait_for_email_code(page, result.account_id, accounts.normalise_email(email))

    @router.get("/sign-up/verify-email")
    async def verify_email_page(page: Page = Depends(journey.visit)) -> Response:
        waiting = waiting_sign_up(page)
        return journey.render(
            page, "verify_email.html", email=waiting["e"], resent=page.query("resent") == "1"
        )

    @router.post("/sign-up/verify-email")
    async def verify_email_submit(page: Page = Depends(journey.form)) -> Response:
        waiting = waiting_sign_up(page)
        try:
            account, error = await submit_code(
                page, EMAIL_CODE, lambda code: accounts.verify_email(context, waiting["a"], code)
            )
        except accounts.AccountNotFound:
            return journey.redirect(page.to("/sign-up"))
        if error:
            return journey.render(
                page,
                "verify_email.html",
                400,
                email=waiting["e"],
                resent=False,
                errors={"code": error},
            )
        cookie = await journey.replace_session(page.http, account.id, accounts.LEVEL_PASSWORD)
        response = await journey.go_on(page, account, accounts.LEVEL_PASSWORD, cookie)
        journey.clear_cookie(response, SIGNUP_COOKIE)
        return response

    @router.get("/sign-up/resend-code")
    async def resend_code_page(page: Page = Depends(journey.visit)) -> Response:
        waiting = waiting_sign_up(page)
        return journey.render(page, "resend_code.html", email=waiting["e"])

    @router.post("/sign-up/resend-code")
    async def resend_code_submit(page: Page = Depends(journey.form)) -> Response:
        waiting = waiting_sign_up(page)
        try:
            await accounts.resend_email_code(context, waiting["a"])
        except accounts.TooManyCodes:
            return journey.message(page, TOO_MANY_CODES)
        except accounts.AccountNotFound:
            return journey.redirect(page.to("/sign-up"))
        return journey.redirect(page.to("/sign-up/verify-email", resent="1"))

    return router
