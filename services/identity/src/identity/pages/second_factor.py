"""Setting up a second factor: choose an authenticator app or text messages, then
prove it works with a code."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from identity.pages.forms import CodeMessages, SignedInPage, Stop, page_router, submit_code
from identity.pages.journey import SMS_SETUP_COOKIE, SMS_SETUP_PENDING_SECONDS, Journey
from identity.pages.rendering import TOO_MANY_CODES
from identity.pages.sign_in import APP_CODE, TEXTED_CODE
from identity.service import accounts

#: The choices of ``/account/second-factor`` and where each is set up.
SETUP_PAGES = {
    "sms": "/account/second-factor/sms",
    "app": "/account/second-factor/app",
}
#: An app being set up: ``CodeExpired`` means none was (the handler starts one).
APP_SETUP_CODE = CodeMessages(missing=APP_CODE.missing, wrong=APP_CODE.wrong, expired=None)


def routes(journey: Journey) -> APIRouter:
    """``/account/second-factor`` and its ``/app``, ``/sms`` and ``/sms/code`` steps."""
    router = page_router()
    context = journey.context

    def enrolling(page: SignedInPage) -> SignedInPage:
        """A page of an account without a second factor (else back to the choice)."""
        if page.signed_in.account.second_factor:
            raise Stop(journey.redirect(page.to("/account/second-factor")))
        return page

    async def enrolling_visit(
        page: SignedInPage = Depends(journey.signed_in_visit),
    ) -> SignedInPage:
        return enrolling(page)

    async def enrolling_form(
        page: SignedInPage = Depends(journey.signed_in_form),
    ) -> SignedInPage:
        return enrolling(page)

    async def finish(page: SignedInPage, account: accounts.AccountInfo) -> Response:
        """The second factor works: the session reaches ``Cl.Cm``; on to the next step."""
        cookie = await journey.upgrade_session(page)
        return await journey.go_on(page, account, accounts.LEVEL_TWO_FACTOR, cookie)

    # -- the choice ------------------------------------------------------------------

    @router.get("/account/second-factor")
    async def second_factor_page(
        page: SignedInPage = Depends(journey.signed_in_visit),
    ) -> Response:
        current = page.signed_in
        if current.account.second_factor:
            return journey.render(
                page,
                "second_factor_done.html",
                continue_to=await journey.next_step(
                    current.account, current.level, page.request_id
                ),
            )
        return journey.render(page, "second_factor_choice.html")

    @router.post("/account/second-factor")
    async def second_factor_choose(page: SignedInPage = Depends(enrolling_form)) -> Response:
        chosen = SETUP_PAGES.get(page.field("method"))
        if chosen is None:
            return journey.render(
                page,
                "second_factor_choice.html",
                400,
                errors={"method": "Choose how you want to get security codes"},
            )
        return journey.redirect(page.to(chosen))

    # -- an authenticator app ----------------------------------------------------------

    async def app_setup(page: SignedInPage, status_code: int = 200, **values: object) -> Response:
        setup = await accounts.start_totp_setup(context, page.signed_in.account.id)
        return journey.render(page, "second_factor_app.html", status_code, setup=setup, **values)

    @router.get("/account/second-factor/app")
    async def app_page(page: SignedInPage = Depends(enrolling_visit)) -> Response:
        return await app_setup(page)

    @router.post("/account/second-factor/app")
    async def app_submit(page: SignedInPage = Depends(enrolling_form)) -> Response:
        account_id = page.signed_in.account.id
        try:
            account, error = await submit_code(
                page,
                APP_SETUP_CODE,
                lambda code: accounts.confirm_totp(context, account_id, code),
            )
        except accounts.CodeExpired:  # no app was being set up
            return journey.redirect(page.to("/account/second-factor/app"))
        if error:
            return await app_setup(page, 400, errors={"code": error})
        return await finish(page, account)

    # -- text messages -----------------------------------------------------------------

    def number_waiting(page: SignedInPage) -> str | None:
        """The E.164 number a setup code was texted to, for this account."""
        waiting = journey.pending(page.http, SMS_SETUP_COOKIE, "smssetup")
        if waiting and waiting.get("a") == page.signed_in.account.id:
            return waiting.get("p")
        return None

    @router.get("/account/second-factor/sms")
    async def sms_page(page: SignedInPage = Depends(enrolling_visit)) -> Response:
        return journey.render(
            page, "second_factor_sms.html", values={"phone_number": number_waiting(page) or ""}
        )

    @router.post("/account/second-factor/sms")
    async def sms_submit(page: SignedInPage = Depends(enrolling_form)) -> Response:
        number = page.field("phone_number")
        try:
            sent = await accounts.start_sms_setup(context, page.signed_in.account.id, number)
        except accounts.InvalidInput as exc:
            return journey.render(
                page,
                "second_factor_sms.html",
                400,
                errors=exc.errors,
                values={"phone_number": number},
            )
        except accounts.TooManyCodes:
            return journey.message(page, TOO_MANY_CODES)
        response = journey.redirect(page.to("/account/second-factor/sms/code"))
        journey.set_pending(
            response,
            SMS_SETUP_COOKIE,
            "smssetup",
            SMS_SETUP_PENDING_SECONDS,
            a=page.signed_in.account.id,
            p=sent.phone_number,
        )
        return response

    def sms_code_page(
        page: SignedInPage, number: str, status_code: int = 200, error: str | None = None
    ) -> Response:
        return journey.render(
            page,
            "second_factor_sms_code.html",
            status_code,
            phone_number=accounts.format_phone_number(number),
            errors={"code": error} if error else {},
        )

    def number_or_back(page: SignedInPage) -> str:
        number = number_waiting(page)
        if number is None:
            raise Stop(journey.redirect(page.to("/account/second-factor/sms")))
        return number

    @router.get("/account/second-factor/sms/code")
    async def sms_code(page: SignedInPage = Depends(enrolling_visit)) -> Response:
        return sms_code_page(page, number_or_back(page))

    @router.post("/account/second-factor/sms/code")
    async def sms_code_submit(page: SignedInPage = Depends(enrolling_form)) -> Response:
        number = number_or_back(page)
        account_id = page.signed_in.account.id
        account, error = await submit_code(
            page,
            TEXTED_CODE,
            lambda code: accounts.confirm_sms(context, account_id, number, code),
        )
        if error:
            return sms_code_page(page, number, 400, error)
        response = await finish(page, account)
        journey.clear_cookie(response, SMS_SETUP_COOKIE)
        return response

    return router
