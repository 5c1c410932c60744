"""Sign-in pages: email and password, then the second factor (the authenticator
app's code, or a code sent by text message)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from identity.pages.forms import CodeMessages, Page, Stop, page_router, submit_code
from identity.pages.journey import SIGNIN_COOKIE, SIGNIN_PENDING_SECONDS, Journey
from identity.pages.rendering import TOO_MANY_CODES
from identity.service import accounts

APP_CODE = CodeMessages(
    missing="Enter the 6-digit code from your authenticator app",
    wrong="The code is not correct: enter the code your app shows now",
)
TEXTED_CODE = CodeMessages.sent_to("phone")


@dataclass(frozen=True)
class Challenge:
    """The account whose second factor is asked for.

    Attributes:
        account: the account (it has a second factor).
        from_sign_in: whether it came from the sign-in cookie (a password just
            typed), else from a ``Cl`` session.
        code_sent: whether a code was texted when the password was typed.
    """

    account: accounts.AccountInfo
    from_sign_in: bool
    code_sent: bool = False

    @property
    def texted(self) -> bool:
        """Whether the second factor is a code sent by text message."""
        return self.account.second_factor == accounts.SECOND_FACTOR_SMS


def routes(journey: Journey) -> APIRouter:
    """``/sign-in``, ``/sign-in/second-factor`` and ``/sign-in/second-factor/resend``."""
    router = page_router()
    context = journey.context

    @router.get("/sign-in")
    async def sign_in_page(page: Page = Depends(journey.visit)) -> Response:
        current = await journey.signed_in(page.http)
        if current is not None and page.request_id:
            return await journey.go_on(page, current.account, current.level)
        return journey.render(page, "sign_in.html", signed_in=current)

    @router.post("/sign-in")
    async def sign_in_submit(page: Page = Depends(journey.form)) -> Response:
        email, password = page.field("email").strip(), page.field("password")
        errors = {}
        if not email:
            errors["email"] = "Enter your email address"
        if not password:
            errors["password"] = "Enter your password"
        if not errors:
            try:
                result = await accounts.sign_in_password(context, email, password)
            except accounts.AccountLocked as exc:
                return journey.locked(page, exc)
            except accounts.SignInFailed:
                errors["email"] = "The email address or password is not correct"
            except accounts.EmailNotVerified as exc:
                return journey.wait_for_email_code(page, exc.account_id, exc.email)
        if errors:
            return journey.render(page, "sign_in.html", 400, errors=errors, values={"email": email})
        if result.needs_second_factor:
            response = journey.redirect(page.to("/sign-in/second-factor"))
            journey.set_pending(
                response,
                SIGNIN_COOKIE,
                "signin",
                SIGNIN_PENDING_SECONDS,
                a=result.account.id,
                s=result.code_sent,
            )
            return response
        cookie = await journey.replace_session(
            page.http, result.account.id, accounts.LEVEL_PASSWORD
        )
        return await journey.go_on(page, result.account, accounts.LEVEL_PASSWORD, cookie)

    async def challenge_of(page: Page) -> Challenge | None:
        """The second factor to check: of the account of the sign-in cookie, else of
        a ``Cl`` session whose account has one; ``None`` when neither."""
        waiting = journey.pending(page.http, SIGNIN_COOKIE, "signin")
        if waiting and waiting.get("a"):
            account = await accounts.find_account(context, waiting["a"])
            if account is None or account.second_factor is None:
                raise Stop(journey.restart_sign_in(page))
            return Challenge(account, from_sign_in=True, code_sent=bool(waiting.get("s")))
        current = await journey.signed_in(page.http)
        if (
            current is not None
            and current.level == accounts.LEVEL_PASSWORD
            and current.account.second_factor
        ):
            return Challenge(current.account, from_sign_in=False)
        return None

    def ask_for_code(
        page: Page, challenge: Challenge, status_code: int = 200, error: str | None = None
    ) -> Response:
        if not challenge.texted:
            return journey.render(
                page,
                "sign_in_second_factor.html",
                status_code,
                errors={"code": error} if error else {},
            )
        resent = page.query("sent") == "1"
        return journey.render(
            page,
            "sign_in_sms.html",
            status_code,
            errors={"code": error} if error else {},
            phone_ending=challenge.account.phone_number[-4:],
            code_sent=challenge.code_sent or resent or error is not None,
            resent=resent,
        )

    @router.get("/sign-in/second-factor")
    async def sign_in_second_factor_page(page: Page = Depends(journey.visit)) -> Response:
        challenge = await challenge_of(page)
        if challenge is not None:
            return ask_for_code(page, challenge)
        current = await journey.signed_in(page.http)
        if current is not None and current.account.second_factor is None:
            # Signed in with a password, no second factor yet (e.g. sent here by /authorize).
            return journey.redirect(page.to("/account/second-factor"))
        if current is not None:  # already at Cl.Cm
            return await journey.go_on(page, current.account, current.level)
        return journey.needs_sign_in(page.request_id)

    @router.post("/sign-in/second-factor")
    async def sign_in_second_factor_submit(page: Page = Depends(journey.form)) -> Response:
        challenge = await challenge_of(page)
        if challenge is None:
            return journey.needs_sign_in(page.request_id)
        try:
            account, error = await submit_code(
                page,
                TEXTED_CODE if challenge.texted else APP_CODE,
                lambda code: accounts.verify_second_factor(context, challenge.account.id, code),
            )
        except accounts.AccountLocked as exc:
            return journey.locked(page, exc)
        except (accounts.SecondFactorRequired, accounts.AccountNotFound):
            return journey.restart_sign_in(page)
        if error:
            return ask_for_code(page, challenge, 400, error)
        if challenge.from_sign_in:
            cookie = await journey.replace_session(page.http, account.id, accounts.LEVEL_TWO_FACTOR)
        else:
            cookie = await journey.upgrade_session(page)
        response = await journey.go_on(page, account, accounts.LEVEL_TWO_FACTOR, cookie)
        journey.clear_cookie(response, SIGNIN_COOKIE)
        return response

    @router.post("/sign-in/second-factor/resend")
    async def sign_in_resend_code(page: Page = Depends(journey.form)) -> Response:
        challenge = await challenge_of(page)
        if challenge is None:
            return journey.needs_sign_in(page.request_id)
        if not challenge.texted:
            return journey.redirect(page.to("/sign-in/second-factor"))
        try:
            await accounts.send_sign_in_code(context, challenge.account.id)
        except accounts.AccountLocked as exc:
            return journey.locked(page, exc)
        except accounts.TooManyCodes:
            return journey.message(page, TOO_MANY_CODES)
        except (accounts.SecondFactorRequired, accounts.AccountNotFound):
            return journey.restart_sign_in(page)
        return journey.redirect(page.to("/sign-in/second-factor", sent="1"))

    return router
