"""The hosted payment pages (``/pay/...``), where the payer pays; no credential: the
single-use ``next_url`` token opens them, and a signed cookie keeps the browser on
its payment.

- ``GET /pay/secure/{token}`` (``next_url``) and ``POST /pay/secure``
  (``next_url_post``, form field ``chargeTokenId``): use the token up, remember the
  payment in the ``govplat_pay`` cookie (``Path=/pay``, ``HttpOnly``, ``SameSite=Lax``,
  signed), go to the card details.
- ``GET``/``POST /pay/card-details/{id}``: the card form; errors are listed in an error
  summary linked to each field.
- ``GET``/``POST /pay/confirm/{id}``: the summary and "Confirm payment"; then the payer
  goes back to the service's ``return_url``.
- ``POST /pay/cancel/{id}``: the payer cancels.
- ``GET /pay/result/{id}``: what happened (declined, cancelled, error, expired) and a
  link back to the service.

Every page works without JavaScript and sends a strict Content-Security-Policy (forms
may post only here, and redirect only to the payment's ``return_url``), also the pages
for an unknown path, a wrong method or an unexpected error (:func:`problem_page`). The
payer is sent back to the ``return_url`` in ASCII (IDNA host). A form post that cannot
be read (over :data:`MAX_FORM_BYTES`, a file, malformed multipart, too many fields) is
an empty form. The card number and security code are in no page, cookie or log.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from govkit import pages
from payments.context import Context
from payments.models import Payment
from payments.service import card_pages
from payments.service.card_pages import CardForm, PageError
from payments.validation import WebAddress, web_address

TEMPLATES_DIR = Path(__file__).parent.parent / "templates"
_environment = pages.environment(TEMPLATES_DIR)
COOKIE = "govplat_pay"
#: How long the pages of one payment stay open in a browser (seconds): Pay's expiry.
COOKIE_SECONDS = 90 * 60
#: The largest form post the pages read (bytes); the card form is under 4 KiB.
MAX_FORM_BYTES = 32 * 1024

RESULTS = {
    "P0010": ("Your payment has been declined", "No money has been taken from your account."),
    "P0020": ("Your payment session has expired", "No money has been taken from your account."),
    "P0030": ("Your payment has been cancelled", "No money has been taken from your account."),
    "P0040": (
        "Your payment has been cancelled",
        "The service cancelled this payment. No money has been taken.",
    ),
    "P0050": (
        "We could not take your payment",
        "There was a problem with the payment provider. No money has been taken.",
    ),
}


def pounds(pence: int) -> str:
    """``1250`` → ``£12.50``."""
    return f"\u00a3{pence // 100:,}.{pence % 100:02d}"


def _return_address(payment: Payment | None) -> WebAddress | None:
    if payment is None or not payment.return_url:
        return None
    return web_address(payment.return_url)


def return_url(payment: Payment | None) -> str | None:
    """Where the payer goes back to: the payment's ``return_url`` in ASCII (the host as
    IDNA, other characters percent-encoded), or ``None``."""
    parts = _return_address(payment)
    return parts.ascii if parts is not None else None


def _headers(payment: Payment | None) -> dict[str, str]:
    policy = pages.SECURITY_HEADERS["Content-Security-Policy"]
    targets = "'self'"
    parts = _return_address(payment)
    if parts is not None:
        targets += f" {parts.origin}"
    return {**pages.SECURITY_HEADERS, "Content-Security-Policy": f"{policy}; form-action {targets}"}


def render(
    template: str, payment: Payment | None, status_code: int = 200, **values
) -> HTMLResponse:
    """An HTML page with the security headers."""
    values.setdefault("errors", {})
    values.setdefault("values", {})
    values.setdefault("live", bool(payment.live) if payment is not None else False)
    body = _environment.get_template(template).render(payment=payment, **values)
    return HTMLResponse(body, status_code=status_code, headers=_headers(payment))


def message(
    payment: Payment | None, title: str, lines: list[str], status_code: int = 200, link=None
) -> HTMLResponse:
    """A page that only says something (with an optional ``(href, text)`` link)."""
    return render("message.html", payment, status_code, title=title, lines=lines, link=link)


#: The pages' answers to an HTTP error of their own: status → (title, line).
PROBLEMS = {
    404: ("Page not found", "If you typed the web address, check it is correct."),
    405: ("Page not found", "If you typed the web address, check it is correct."),
    413: ("Sorry, there is a problem", "What was sent is too large."),
    500: ("Sorry, there is a problem with the service", "No money has been taken."),
}


def problem_page(status_code: int) -> HTMLResponse:
    """The page for an unknown path, a wrong method (404, 405) or an unexpected error
    (500) under ``/pay``, with the pages' security headers and no detail of the error."""
    title, line = PROBLEMS.get(status_code, ("Sorry, there is a problem", ""))
    lines = [line, "Go back to the service you were using and try again."]
    return message(None, title, [text for text in lines if text], status_code=status_code)


def create_router(context: Context) -> APIRouter:
    """The ``/pay`` routes."""
    router = APIRouter(prefix="/pay", include_in_schema=False)
    payments = context.payments
    serializer = URLSafeTimedSerializer(context.page_secret, salt="govplat payment pages")
    secure = context.origin.startswith("https://")

    def opened(request: Request, payment_id: str) -> bool:
        value = request.cookies.get(COOKIE, "")
        if not value or len(value) > 500:
            return False
        try:
            return serializer.loads(value, max_age=COOKIE_SECONDS) == payment_id
        except BadData:
            return False

    def remember(response: Response, payment_id: str) -> Response:
        response.set_cookie(
            COOKIE,
            serializer.dumps(payment_id),
            max_age=COOKIE_SECONDS,
            path="/pay",
            httponly=True,
            samesite="lax",
            secure=secure,
        )
        return response

    def redirect(url: str, payment: Payment | None = None) -> RedirectResponse:
        return RedirectResponse(url, status_code=303, headers=_headers(payment))

    def not_opened() -> HTMLResponse:
        return message(
            None,
            "This payment link is not valid in this browser",
            [
                "Payment pages open from the link the service gave you, once.",
                "Go back to the service you were using and start the payment again.",
            ],
            status_code=403,
        )

    def where_now(payment: Payment) -> RedirectResponse:
        """The page for the payment's current state."""
        if payment.status in ("created", "started"):
            return redirect(f"/pay/card-details/{payment.id}", payment)
        if payment.status == "submitted":
            return redirect(f"/pay/confirm/{payment.id}", payment)
        back = return_url(payment)
        if payment.status in ("success", "capturable") and back:
            return redirect(back, payment)
        return redirect(f"/pay/result/{payment.id}", payment)

    def page_problem(error: PageError) -> Response:
        if error.reason == "used":
            back = return_url(error.payment)
            return message(
                error.payment,
                "This payment link has already been used",
                [
                    "Each payment link opens once.",
                    "Go back to the service you were using to check your payment.",
                ],
                status_code=400,
                link=(back, "Go back to the service") if back else None,
            )
        if error.reason == "unknown":
            return message(
                None,
                "This payment link is not valid",
                ["Go back to the service you were using and start again."],
                status_code=404,
            )
        assert error.payment is not None
        return where_now(error.payment)

    async def open_with(token: str) -> Response:
        try:
            payment = await card_pages.open_payment(payments, token)
        except PageError as error:
            return page_problem(error)
        return remember(redirect(f"/pay/card-details/{payment.id}", payment), payment.id)

    @router.get("/assets/{name}")
    async def assets(name: str) -> Response:
        if name not in pages.STYLESHEETS:
            return problem_page(404)
        return Response(
            pages.STYLESHEETS[name],
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    @router.get("/secure/{token}")
    async def secure_link(token: str) -> Response:
        return await open_with(token)

    @router.post("/secure")
    async def secure_post(request: Request) -> Response:
        form = await _form(request)
        return await open_with(str(form.get("chargeTokenId", "")))

    @router.get("/card-details/{payment_id}")
    async def card_details(payment_id: str, request: Request) -> Response:
        if not opened(request, payment_id):
            return not_opened()
        try:
            payment = await card_pages.page_payment(payments, payment_id)
        except PageError as error:
            return page_problem(error)
        if payment.status != "started":
            return where_now(payment)
        return card_form(payment)

    def card_form(
        payment: Payment, form: CardForm | None = None, status_code: int = 200
    ) -> HTMLResponse:
        values = {}
        if form is not None:
            values = {
                "expiry-month": form.expiry_month,
                "expiry-year": form.expiry_year,
                "cardholder-name": form.cardholder_name,
                "address-line-1": form.line1,
                "address-line-2": form.line2,
                "address-city": form.city,
                "address-postcode": form.postcode,
                "address-country": form.country,
                "email": form.email,
            }
        else:
            values = _prefilled(payment)
        return render(
            "card_details.html",
            payment,
            status_code,
            amount=pounds(payment.amount),
            nonce=payment.page_nonce,
            email_needed=not payment.email,
            errors=form.errors if form is not None else {},
            values=values,
        )

    @router.post("/card-details/{payment_id}")
    async def submit_card(payment_id: str, request: Request) -> Response:
        if not opened(request, payment_id):
            return not_opened()
        form = await _form(request)
        card = CardForm(
            card_number=str(form.get("card-number", ""))[:40],
            expiry_month=str(form.get("expiry-month", ""))[:4],
            expiry_year=str(form.get("expiry-year", ""))[:4],
            cardholder_name=str(form.get("cardholder-name", ""))[:300],
            cvc=str(form.get("cvc", ""))[:8],
            line1=str(form.get("address-line-1", ""))[:300],
            line2=str(form.get("address-line-2", ""))[:300],
            city=str(form.get("address-city", ""))[:300],
            postcode=str(form.get("address-postcode", ""))[:40],
            country=str(form.get("address-country", "GB"))[:4],
            email=str(form.get("email", ""))[:300],
        )
        try:
            payment = await card_pages.submit_card(
                payments, payment_id, str(form.get("nonce", "")), card
            )
        except PageError as error:
            return page_problem(error)
        if card.errors:
            return card_form(payment, card, status_code=400)
        return where_now(payment)

    @router.get("/confirm/{payment_id}")
    async def confirm_page(payment_id: str, request: Request) -> Response:
        if not opened(request, payment_id):
            return not_opened()
        try:
            payment = await card_pages.page_payment(payments, payment_id)
        except PageError as error:
            return page_problem(error)
        if payment.status != "submitted":
            return where_now(payment)
        return render(
            "confirm.html", payment, amount=pounds(payment.amount), nonce=payment.page_nonce
        )

    @router.post("/confirm/{payment_id}")
    async def confirm(payment_id: str, request: Request) -> Response:
        if not opened(request, payment_id):
            return not_opened()
        form = await _form(request)
        try:
            payment = await card_pages.confirm(payments, payment_id, str(form.get("nonce", "")))
        except PageError as error:
            return page_problem(error)
        return where_now(payment)

    @router.post("/cancel/{payment_id}")
    async def cancel(payment_id: str, request: Request) -> Response:
        if not opened(request, payment_id):
            return not_opened()
        form = await _form(request)
        try:
            payment = await card_pages.cancel_by_payer(
                payments, payment_id, str(form.get("nonce", ""))
            )
        except PageError as error:
            return page_problem(error)
        return where_now(payment)

    @router.get("/result/{payment_id}")
    async def result(payment_id: str, request: Request) -> Response:
        if not opened(request, payment_id):
            return not_opened()
        try:
            payment = await card_pages.page_payment(payments, payment_id)
        except PageError as error:
            return page_problem(error)
        if not payment.finished:
            return where_now(payment)
        if payment.status == "success":
            title, line = "Your payment was successful", "The service will send you a confirmation."
        else:
            title, line = RESULTS.get(payment.code or "", RESULTS["P0050"])
        back = return_url(payment)
        link = (back, "Go back to the service") if back else None
        return message(payment, title, [line], link=link)

    return router


class _FormTooLarge(Exception):
    """A form post over :data:`MAX_FORM_BYTES`."""


async def _form(request: Request) -> dict:
    """The posted form: at most 20 fields without files, :data:`MAX_FORM_BYTES` in all,
    read no further than that; anything else is an empty form."""
    try:
        if int(request.headers.get("content-length") or "0") > MAX_FORM_BYTES:
            return {}
    except ValueError:
        return {}
    received = 0

    async def receive():
        nonlocal received
        event = await request.receive()
        received += len(event.get("body", b""))
        if received > MAX_FORM_BYTES:
            raise _FormTooLarge
        return event

    try:
        form = await Request(request.scope, receive).form(
            max_files=0, max_fields=20, max_part_size=MAX_FORM_BYTES
        )
    except (_FormTooLarge, HTTPException, MultiPartException, ValueError):
        return {}
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _prefilled(payment: Payment) -> dict:
    details = json.loads(payment.prefilled or "{}")
    address = details.get("billing_address") or {}
    return {
        "cardholder-name": details.get("cardholder_name", ""),
        "address-line-1": address.get("line1", ""),
        "address-line-2": address.get("line2", ""),
        "address-city": address.get("city", ""),
        "address-postcode": address.get("postcode", ""),
        "address-country": (address.get("country") or "GB")[:2],
    }
