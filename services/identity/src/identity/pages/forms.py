"""The forms of the citizen's pages: reading a posted form, the CSRF check, the
``request`` parameter, and the typed :class:`Page` a handler receives once those
checks have passed.

CSRF: OWASP's signed double-submit cookie. The ``govplat_csrf`` cookie is a random
value and its HMAC (:meth:`~identity.security.SecretBox.csrf_token`, a key derived
from the service's secret key); every form repeats that HMAC as ``csrf_token``. A
POST passes when the cookie's HMAC is right for its value and the form's token is
that HMAC (both compared in constant time), so a cookie value that the server did
not make, e.g. one planted by whoever can set cookies for the domain, never passes;
nor is it signed when a page is shown: the browser gets a new cookie instead.

Checks that fail end the request early by raising :class:`Stop` with the answer
to send; routes made by :func:`page_router` send it. Handlers therefore start with
what is theirs to do, e.g.::

    @router.post("/sign-up")
    async def sign_up_submit(page: Page = Depends(journey.form)) -> Response:
        ...  # the form was read, its CSRF token and request id checked
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from identity.security import SecretBox, constant_time_equal, new_token
from identity.service import accounts

#: The CSRF cookie (SameSite=Strict) and the form field that repeats its HMAC.
CSRF_COOKIE = "govplat_csrf"
CSRF_FIELD = "csrf_token"
#: An authorization request id: 1 to 64 URL-safe characters.
REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: A CSRF cookie as these pages make them: ``new_token(32)``, a dot, its HMAC.
_CSRF_COOKIE = re.compile(r"^([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})$")
#: The most fields a posted form may have; the parser refuses more.
MAX_FIELDS = 20

T = TypeVar("T")


class Stop(Exception):
    """End the request now with ``response`` (a refusal, a redirect ...)."""

    def __init__(self, response: Response) -> None:
        super().__init__("request answered early")
        self.response = response


class BadRequestId(Exception):
    """The ``request`` parameter is not an authorization request id."""


class PageRoute(APIRoute):
    """A route whose handler and dependencies may raise :class:`Stop`."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Stop as stop:
                return stop.response

        return handle


def page_router() -> APIRouter:
    """A router for pages: hidden from the OpenAPI schema, routes are :class:`PageRoute`."""
    return APIRouter(include_in_schema=False, route_class=PageRoute)


def with_request(path: str, request_id: str | None, **params: str) -> str:
    """``path`` with ``?request=<id>`` when there is a request, then ``params``."""
    query = ({"request": request_id} if request_id else {}) | params
    return f"{path}?{urlencode(query)}" if query else path


def new_csrf_cookie(box: SecretBox) -> tuple[str, str]:
    """A new CSRF cookie value (a random value, a dot, its HMAC) and its form token."""
    value = new_token(32)
    token = box.csrf_token(value)
    return f"{value}.{token}", token


def csrf_token_of(http: Request, box: SecretBox) -> str | None:
    """The form token of the browser's CSRF cookie, if the cookie is one the server
    made (its HMAC is right for its random value); else ``None``."""
    found = _CSRF_COOKIE.match(http.cookies.get(CSRF_COOKIE) or "")
    if found is None:
        return None
    token = box.csrf_token(found.group(1))
    return token if constant_time_equal(token, found.group(2)) else None


def csrf_ok(http: Request, form: Mapping[str, str], box: SecretBox) -> bool:
    """Whether the browser has a CSRF cookie that the server made and the form
    repeats its token (compared in constant time)."""
    token = csrf_token_of(http, box)
    sent = form.get(CSRF_FIELD, "")
    return bool(token and sent) and constant_time_equal(token, sent)


async def read_form(http: Request) -> dict[str, str]:
    """The text fields of a posted form (no files; at most :data:`MAX_FIELDS`)."""
    form = await http.form(max_files=0, max_fields=MAX_FIELDS)
    return {k: v for k, v in form.items() if isinstance(v, str)}


def request_id_of(http: Request, form: Mapping[str, str] | None = None) -> str | None:
    """The ``request`` parameter (form field first, then query string), if any.

    Raises:
        BadRequestId: it is not 1 to 64 URL-safe characters.
    """
    value = (form or {}).get("request") or http.query_params.get("request")
    if not value:
        return None
    if not REQUEST_ID.match(value):
        raise BadRequestId()
    return value


@dataclass(frozen=True, kw_only=True)
class Page:
    """A page request that passed the common checks.

    Attributes:
        http: the request.
        request_id: the authorization request carried through the journey, if any.
        form: the posted text fields (empty for ``GET``); CSRF already checked.
        signed_in: the browser's session, when the handler's dependency looked it up.
    """

    http: Request
    request_id: str | None
    form: Mapping[str, str] = field(default_factory=dict)
    signed_in: accounts.SignedIn | None = None

    def field(self, name: str) -> str:
        """A posted field as sent (``""`` when absent)."""
        return self.form.get(name, "")

    def query(self, name: str) -> str:
        """A query string parameter (``""`` when absent)."""
        return self.http.query_params.get(name, "")

    def to(self, path: str, **params: str) -> str:
        """``path`` carrying this journey's request id (and ``params``)."""
        return with_request(path, self.request_id, **params)


@dataclass(frozen=True, kw_only=True)
class SignedInPage(Page):
    """A :class:`Page` of a signed-in browser."""

    signed_in: accounts.SignedIn


@dataclass(frozen=True)
class CodeMessages:
    """What to tell the citizen about a code they typed.

    Attributes:
        missing: no code was typed.
        wrong: :class:`~identity.service.accounts.CodeRejected`.
        expired: :class:`~identity.service.accounts.CodeExpired`; ``None`` lets the
            error reach the handler.
    """

    missing: str
    wrong: str = "The code is not correct: check it and try again"
    expired: str | None = "The code has expired or was tried too many times: get a new code"

    @classmethod
    def sent_to(cls, where: str) -> CodeMessages:
        """The messages of a code sent to the citizen's ``where`` (e.g. ``"phone"``)."""
        return cls(missing=f"Enter the code we sent to your {where}")


async def submit_code(
    page: Page, messages: CodeMessages, use: Callable[[str], Awaitable[T]]
) -> tuple[T | None, str | None]:
    """Pass the posted ``code`` field (stripped) to ``use``.

    Returns:
        ``(result, None)``, or ``(None, message)`` when no code was typed or ``use``
        refused it (other errors of ``use`` are raised).
    """
    code = page.field("code").strip()
    if not code:
        return None, messages.missing
    try:
        return await use(code), None
    except accounts.CodeRejected:
        return None, messages.wrong
    except accounts.CodeExpired:
        if messages.expired is None:
            raise
        return None, messages.expired
