"""Answers of the citizen's pages: templates, cookies, security headers, and the
messages several pages share (refused form, bad link, expired request, lockout)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from govkit import pages
from identity.pages.forms import CSRF_COOKIE, Page, csrf_token_of, new_csrf_cookie, with_request
from identity.security import SecretBox

TEMPLATES_DIR = Path(__file__).parent.parent / "templates"
STATIC_DIR = pages.STATIC_DIR

# No form-action in the Content-Security-Policy: after a form post, /authorize/continue
# redirects to the relying party, and browsers check form-action on every redirect.
SECURITY_HEADERS = pages.SECURITY_HEADERS

_environment = pages.environment(TEMPLATES_DIR)


@dataclass(frozen=True)
class Message:
    """A page that only says something.

    Attributes:
        status_code: HTTP status.
        title: the heading (and the page title).
        lines: its paragraphs.
        link: an optional ``(href, text)`` link under them.
    """

    status_code: int
    title: str
    lines: tuple[str, ...]
    link: tuple[str, str] | None = None


#: 403: a form's CSRF token was missing or wrong.
REFUSED = Message(
    403,
    "Your form could not be sent",
    (
        "For your security, we could not accept the form you sent: "
        "it did not come from this page, or it was open too long.",
        "Go back, reload the page and try again.",
    ),
)
#: 400: the ``request`` parameter is malformed.
BAD_REQUEST_ID = Message(
    400, "This link is not valid", ("Go back to the service you were using and start again.",)
)
#: 400: the authorization request is unknown or has expired.
EXPIRED_REQUEST = Message(
    400,
    "Your sign-in request has expired",
    (
        "You took too long, or the link was already used.",
        "Go back to the service you were using and start again.",
    ),
    link=("/account", "Go to your account"),
)
#: 429: too many codes were sent this hour.
TOO_MANY_CODES = Message(
    429, "You asked for too many codes", ("Wait an hour, then ask for a new code.",)
)
#: After signing out.
SIGNED_OUT = Message(
    200,
    "You have signed out",
    ("You have signed out of your account on this device.",),
    link=("/sign-in", "Sign in again"),
)


class Renderer:
    """Renders pages and sets cookies (``Path=/``, ``HttpOnly``; ``Secure`` when
    ``secure``, i.e. when the issuer is https); ``box`` signs the CSRF cookies."""

    def __init__(self, secure: bool, box: SecretBox) -> None:
        self.secure = secure
        self.box = box

    def set_cookie(
        self,
        response: Response,
        name: str,
        value: str,
        *,
        max_age: int | None,
        same_site: str = "lax",
    ) -> None:
        """Set cookie ``name``; ``max_age`` in seconds, ``None`` for the browser session."""
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite=same_site,
        )

    def clear_cookie(self, response: Response, name: str) -> None:
        """Remove cookie ``name`` from the browser."""
        response.delete_cookie(name, path="/", secure=self.secure, httponly=True, samesite="lax")

    def render(
        self, at: Page | Request, template: str, status_code: int = 200, **values: object
    ) -> HTMLResponse:
        """An HTML page from ``template``, with the security headers.

        The template gets ``values`` and ``csrf_token``, ``with_request``, and, unless
        given, empty ``errors`` and ``values``, and the page's ``request_id`` and
        ``signed_in``. A browser without a CSRF cookie that the server made is given
        a new one.
        """
        http = at.http if isinstance(at, Page) else at
        token = csrf_token_of(http, self.box)
        cookie = None
        if token is None:
            cookie, token = new_csrf_cookie(self.box)
        values.setdefault("errors", {})
        values.setdefault("values", {})
        values.setdefault("request_id", at.request_id if isinstance(at, Page) else None)
        values.setdefault("signed_in", at.signed_in if isinstance(at, Page) else None)
        body = _environment.get_template(template).render(
            csrf_token=token, with_request=with_request, **values
        )
        response = HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)
        if cookie is not None:
            self.set_cookie(response, CSRF_COOKIE, cookie, max_age=None, same_site="strict")
        return response

    def redirect(self, url: str) -> RedirectResponse:
        """``303 See Other`` to ``url``."""
        return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)

    def message(self, at: Page | Request, message: Message) -> HTMLResponse:
        """A page that only says ``message``."""
        values: dict[str, object] = {"title": message.title, "lines": list(message.lines)}
        if message.link:
            values["link"] = message.link
        return self.render(at, "message.html", message.status_code, **values)
