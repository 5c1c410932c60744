"""The citizen's pages: sign-up, sign-in, second factor (server-rendered, no JavaScript).

Every page works with plain HTML forms. Routes (the gateway forwards the
prefixes ``/sign-up``, ``/sign-in``, ``/account``, ``/identity-check`` and
``/account-assets`` to identity):

==============================================  ==========================================
``GET/POST /sign-up``                           email and password
``GET/POST /sign-up/verify-email``              the code emailed at sign-up
``GET/POST /sign-up/resend-code``               send that code again
``GET/POST /sign-in``                           email and password
``GET/POST /sign-in/second-factor``             the app's code, or the texted code
``POST     /sign-in/second-factor/resend``      text a new sign-in code
``GET      /account``                           who is signed in, at which level
``GET/POST /account/address``                   the postal address (country checked
                                                against the ``country`` register)
``GET/POST /account/second-factor``             choose: authenticator app or text messages
``GET/POST /account/second-factor/app``         set up an authenticator app (TOTP)
``GET/POST /account/second-factor/sms``         the mobile number to text codes to
``GET/POST /account/second-factor/sms/code``    the code texted to that number
``GET/POST /identity-check``                    sandbox identity check (P2)
``POST     /account/sign-out``                  end the session
``GET      /account/signed-out``                "you have signed out"
``GET      /account-assets/{name}``             the pages' stylesheet
==============================================  ==========================================

Each accepts an optional ``request`` parameter (query string, or hidden form field
on POST): the id of an ``/authorize`` request (1 to 64 URL-safe characters),
carried through the journey. When the citizen has reached what the request needs
(credential level ``Cl`` or ``Cl.Cm``, identity level ``P2``), the last page
redirects (303) to ``/authorize/continue?request=<id>``; without ``request`` the
journey ends on ``/account``.

Cookies (``Path=/``, ``HttpOnly``; ``Secure`` when the issuer is https):

- ``govplat_session`` (SameSite=Lax): the browser session.
- ``govplat_csrf`` (SameSite=Strict): a random value and its HMAC (a key derived
  from the service's secret key); every form repeats the HMAC as ``csrf_token``
  (OWASP's signed double-submit cookie, compared in constant time). A POST without
  the right token, or with a cookie the server did not make, gets 403.
- ``govplat_signup`` / ``govplat_signin`` / ``govplat_sms_setup`` (SameSite=Lax,
  short-lived, encrypted with the secret box): the account waiting for its email
  code / second factor / the code texted to its new phone number.

Pages are ``Cache-Control: no-store`` and carry a strict Content-Security-Policy.

Modules: :mod:`.forms` (CSRF, form reading, request id, the typed page context),
:mod:`.rendering` (templates, cookies, headers), :mod:`.journey` (state between
steps, sessions, the handlers' dependencies), and the routes of :mod:`.sign_up`,
:mod:`.sign_in`, :mod:`.second_factor` and :mod:`.account`.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from govkit.pages import STYLESHEETS
from identity.context import Context
from identity.pages import account, second_factor, sign_in, sign_up
from identity.pages.forms import page_router
from identity.pages.journey import Journey

#: The stylesheets served under ``/account-assets/`` (read once).
_ASSETS = STYLESHEETS


def create_router(context: Context) -> APIRouter:
    """The router of the citizen's pages (see the module docstring for the routes).

    Args:
        context: the identity component's settings, database and secret box.
    """
    journey = Journey(context)
    router = page_router()
    for pages in (sign_up, sign_in, second_factor, account):
        router.include_router(pages.routes(journey))

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
