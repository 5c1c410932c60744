"""CSRF protection of the portal's forms: OWASP's signed double-submit cookie.

The ``govplat_portal_csrf`` cookie (``Path=/sandbox``, ``HttpOnly``, ``SameSite=Strict``)
holds a random value; each form repeats that value signed, with a timestamp, under
the gateway's key (itsdangerous, HMAC-SHA1 over a key derived for this purpose). A
POST passes when the form's token has a good signature, is at most ``max_age``
seconds old, and carries the cookie's value (compared in constant time). A cookie
value planted by whoever can set cookies for the domain never passes: without the
key, nobody can make the token that matches it. Identity's pages have their own
cookie (``govplat_csrf``), so the two never overwrite each other.
"""

from __future__ import annotations

import hmac
import re
import secrets

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "govplat_portal_csrf"
FIELD = "csrf_token"
_VALUE = re.compile(r"^[A-Za-z0-9_-]{43}$")


class CsrfGuard:
    """Makes and checks the portal's CSRF tokens.

    Args:
        secret: the signing secret (e.g. the operator token; any long random string).
        max_age: seconds a form stays valid.
        secure: set the cookie ``Secure`` (the public origin is https).
    """

    def __init__(self, secret: str, max_age: int = 3600, secure: bool = False) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="govplat portal csrf")
        self.max_age = max_age
        self.secure = secure

    def cookie_of(self, request: Request) -> str | None:
        """The browser's CSRF cookie value, if it has the form these pages give."""
        value = request.cookies.get(COOKIE, "")
        return value if _VALUE.match(value) else None

    def token_for(self, request: Request) -> tuple[str, str | None]:
        """The form token for this browser, and the new cookie value to give it when it
        has none (else ``None``)."""
        value = self.cookie_of(request)
        new = None
        if value is None:
            value = new = secrets.token_urlsafe(32)
        return self.serializer.dumps(value), new

    def set_cookie(self, response: Response, value: str) -> None:
        """Give the browser the CSRF cookie ``value``."""
        response.set_cookie(
            COOKIE,
            value,
            path="/sandbox",
            httponly=True,
            samesite="strict",
            secure=self.secure,
        )

    def passes(self, request: Request, form_token: str) -> bool:
        """Whether ``form_token`` (the posted ``csrf_token``) is a fresh signature of the
        browser's CSRF cookie."""
        value = self.cookie_of(request)
        if value is None or not form_token:
            return False
        try:
            signed = self.serializer.loads(form_token, max_age=self.max_age)
        except BadData:
            return False
        return isinstance(signed, str) and hmac.compare_digest(signed, value)
