"""Account pages: who is signed in, the postal address, the sandbox identity check,
signing out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from identity.pages.forms import SignedInPage, Stop, page_router
from identity.pages.journey import SIGNIN_COOKIE, SMS_SETUP_COOKIE, Journey
from identity.pages.rendering import SIGNED_OUT
from identity.service import accounts

#: How the citizen signed in, by credential level and second factor.
LEVEL_NAMES = {
    (accounts.LEVEL_PASSWORD, None): "password only",
    (accounts.LEVEL_TWO_FACTOR, accounts.SECOND_FACTOR_TOTP): "password and authenticator app",
    (accounts.LEVEL_TWO_FACTOR, accounts.SECOND_FACTOR_SMS): "password and text message code",
}


#: The fields of the postal address form, as :func:`accounts.set_postal_address` names them.
ADDRESS_FIELDS = ("address_line_1", "address_line_2", "locality", "postal_code", "country")


def level_name(current: accounts.SignedIn) -> str:
    """``"password only"``, ``"password and authenticator app"`` ... (else the level)."""
    factor = None if current.level == accounts.LEVEL_PASSWORD else current.account.second_factor
    return LEVEL_NAMES.get((current.level, factor), current.level)


def routes(journey: Journey) -> APIRouter:
    """``/account``, ``/account/address``, ``/identity-check``, ``/account/sign-out``,
    ``/account/signed-out``."""
    router = page_router()
    context = journey.context

    @router.get("/account")
    async def account_page(page: SignedInPage = Depends(journey.signed_in_visit)) -> Response:
        current = page.signed_in
        continue_to = await journey.next_step(current.account, current.level, page.request_id)
        return journey.render(
            page,
            "account.html",
            level_name=level_name(current),
            phone_ending=(current.account.phone_number or "")[-4:],
            continue_to=continue_to if page.request_id else None,
            address=await accounts.postal_address(context, current.account.id),
            saved=page.query("saved") == "address",
        )

    def address_form(
        page: SignedInPage, status_code: int = 200, unavailable: bool = False, **values: object
    ) -> Response:
        return journey.render(page, "address.html", status_code, unavailable=unavailable, **values)

    @router.get("/account/address")
    async def address_page(page: SignedInPage = Depends(journey.signed_in_visit)) -> Response:
        address = await accounts.postal_address(context, page.signed_in.account.id)
        values = {}
        if address is not None:
            lines = [*address.address_lines, ""]
            values = {
                "address_line_1": lines[0],
                "address_line_2": lines[1],
                "locality": address.locality,
                "postal_code": address.postal_code or "",
                "country": address.country_name,
            }
        return address_form(page, values=values)

    @router.post("/account/address")
    async def address_submit(page: SignedInPage = Depends(journey.signed_in_form)) -> Response:
        fields = {name: page.field(name) for name in ADDRESS_FIELDS}
        try:
            await accounts.set_postal_address(
                context,
                page.signed_in.account.id,
                address_line_1=fields["address_line_1"],
                address_line_2=fields["address_line_2"],
                locality=fields["locality"],
                postal_code=fields["postal_code"],
                country=fields["country"],
            )
        except accounts.InvalidInput as exc:
            return address_form(page, 400, errors=exc.errors, values=fields)
        except accounts.CountryUnavailable:
            return address_form(page, 503, values=fields, unavailable=True)
        return journey.redirect(page.to("/account", saved="address"))

    def identity_check(page: SignedInPage, status_code: int = 200, **values: object) -> Response:
        return journey.render(
            page,
            "identity_check.html",
            status_code,
            identities={
                key: person["label"] for key, person in accounts.SANDBOX_IDENTITIES.items()
            },
            **values,
        )

    def at_two_factors(page: SignedInPage, otherwise: str) -> accounts.SignedIn:
        """The session, when it reached ``Cl.Cm`` (else a redirect to ``otherwise``)."""
        if page.signed_in.level != accounts.LEVEL_TWO_FACTOR:
            raise Stop(journey.redirect(page.to(otherwise)))
        return page.signed_in

    @router.get("/identity-check")
    async def identity_check_page(
        page: SignedInPage = Depends(journey.signed_in_visit),
    ) -> Response:
        has_one = page.signed_in.account.second_factor is not None
        at_two_factors(page, "/sign-in/second-factor" if has_one else "/account/second-factor")
        return identity_check(page)

    @router.post("/identity-check")
    async def identity_check_submit(
        page: SignedInPage = Depends(journey.signed_in_form),
    ) -> Response:
        current = at_two_factors(page, "/identity-check")
        try:
            account = await accounts.complete_identity_check(
                context, current.account.id, page.field("identity")
            )
        except accounts.InvalidInput as exc:
            return identity_check(page, 400, errors=exc.errors)
        return await journey.go_on(page, account, current.level)

    @router.post("/account/sign-out")
    async def sign_out(http: Request, _: dict[str, str] = Depends(journey.csrf_form)) -> Response:
        await accounts.end_session(context, http.cookies.get(accounts.SESSION_COOKIE))
        response = journey.redirect("/account/signed-out")
        for cookie in (accounts.SESSION_COOKIE, SIGNIN_COOKIE, SMS_SETUP_COOKIE):
            journey.clear_cookie(response, cookie)
        return response

    @router.get("/account/signed-out")
    async def signed_out_page(http: Request) -> Response:
        return journey.message(http, SIGNED_OUT)

    return router
