"""What the payer does on the hosted payment pages.

1. :func:`open_payment`: ``next_url``'s token opens the payment once (single use); the
   payment is ``started``.
2. :func:`submit_card`: the card details are checked (Luhn, brand, expiry, security
   code, name, address) and sent to the acquirer: ``submitted`` when authorised,
   ``failed`` (``P0010``) when declined, ``error`` (``P0050``) otherwise. The card number
   and security code go no further than the acquirer adapter.
3. :func:`confirm`: the payer confirms: ``success``, then captured (``capturable`` for
   a delayed-capture payment), or :func:`cancel_by_payer`: ``failed`` (``P0030``).

Each form carries the payment's current one-time nonce; a POST uses it up atomically
(under the payment's row lock), so the same form sent twice, or a form from another
site, does nothing (CSRF and double-submission protection).
"""

from __future__ import annotations

import json
import secrets
import unicodedata
from dataclasses import dataclass, field
from types import SimpleNamespace

from email_validator import EmailNotValidError, validate_email

from govkit.db import utcnow
from payments import repository
from payments.acquirer import AUTHORISED, DECLINED
from payments.cards import Card, brand_of, digits_of, expiry_valid, luhn_valid
from payments.models import Payment
from payments.service import PROVIDER_ERROR, REJECTED, USER_CANCELLED
from payments.service.agreements import activate
from payments.service.payments import Payments, token_hash, transition
from payments.service.settlement import AcquirerUnavailable, ask, capture, release


def _valid_email(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return len(address) <= 254


class PageError(Exception):
    """The pages cannot go on with this payment; ``reason``: ``used`` (the link was used
    already), ``unknown`` (no such link), ``finished``, ``wrong_state``, ``stale``
    (the form's nonce was used or replaced: sent twice, or from elsewhere)."""

    def __init__(self, reason: str, payment: Payment | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        # A copy: the transaction this is raised in rolls back, which expires the row.
        self.payment = (
            SimpleNamespace(
                id=payment.id,
                status=payment.status,
                finished=payment.finished,
                code=payment.code,
                return_url=payment.return_url,
                live=payment.live,
            )
            if payment is not None
            else None
        )


async def open_payment(payments: Payments, token: str) -> Payment:
    """Use up a ``next_url`` token; the payment is ``started`` (if it was ``created``).

    Raises:
        PageError: ``unknown``, ``used`` or ``finished``.
    """
    if not token or len(token) > 200:
        raise PageError("unknown")
    async with payments.db.write() as session:
        found = await repository.charge_token(session, token_hash(token), lock=True)
        if found is None:
            raise PageError("unknown")
        payment = await repository.payment(session, found.payment_id, lock=True)
        assert payment is not None
        if found.used_at is not None:
            raise PageError("used", payment)
        found.used_at = utcnow()
        if payment.finished:
            raise PageError("finished", payment)
        if payment.status == "created":
            await transition(session, payment, "started", origin=payments.origin)
        payment.page_nonce = secrets.token_urlsafe(24)
        return payment


async def page_payment(payments: Payments, payment_id: str) -> Payment:
    """The payment a page shows, with a fresh form nonce while it is not finished.

    Raises:
        PageError: ``unknown``.
    """
    async with payments.db.write() as session:
        payment = await repository.payment(session, payment_id, lock=True)
        if payment is None:
            raise PageError("unknown")
        if not payment.finished:
            payment.page_nonce = secrets.token_urlsafe(24)
        return payment


@dataclass
class CardForm:
    """What the payer typed (the number and security code are never kept, nor shown by
    ``repr``)."""

    card_number: str = field(default="", repr=False)
    expiry_month: str = ""
    expiry_year: str = ""
    cardholder_name: str = ""
    cvc: str = field(default="", repr=False)
    line1: str = ""
    line2: str = ""
    city: str = ""
    postcode: str = ""
    country: str = "GB"
    email: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _has_control_characters(value: str) -> bool:
    """Whether ``value`` holds a control character (Unicode ``Cc``: NUL, escape, DEL...),
    which no name or address has (and PostgreSQL cannot store NUL)."""
    return any(unicodedata.category(c) == "Cc" for c in value)


def check_card(form: CardForm, *, email_needed: bool) -> tuple[Card, str] | None:
    """The card (and the card number's digits) when the form is complete and valid;
    else ``None`` with ``form.errors`` naming each field's problem, as Pay's pages do.
    The country is two ASCII letters (ISO 3166-1 alpha-2 in shape); names and
    addresses hold no control characters."""
    errors = form.errors
    number = digits_of(form.card_number)
    brand = brand_of(number) if luhn_valid(number) else None
    if not form.card_number.strip():
        errors["card-number"] = "Enter a card number"
    elif brand is None:
        errors["card-number"] = "Enter a valid card number"
    expiry = expiry_valid(form.expiry_month, form.expiry_year)
    if not form.expiry_month.strip() or not form.expiry_year.strip():
        errors["expiry-month"] = "Enter the expiry date"
    elif expiry is None:
        errors["expiry-month"] = "Enter a valid expiry date"
    name = " ".join(form.cardholder_name.split())
    if not name:
        errors["cardholder-name"] = "Enter the name as it appears on the card"
    elif _has_control_characters(name):
        errors["cardholder-name"] = "Name on card must not contain special characters"
    elif len(name) > 255:
        errors["cardholder-name"] = "Name on card must be 255 characters or fewer"
    cvc = form.cvc.strip()
    wanted = brand[1] if brand else None
    if not cvc:
        errors["cvc"] = "Enter the card security code"
    elif (
        not (cvc.isascii() and cvc.isdigit())
        or (wanted and len(cvc) != wanted)
        or len(cvc) not in (3, 4)
    ):
        errors["cvc"] = "Enter a valid card security code"
    if not form.line1.strip():
        errors["address-line-1"] = "Enter a building name or number and street"
    if not form.city.strip():
        errors["address-city"] = "Enter a town or city"
    country = form.country.strip().upper() or "GB"
    if not (form.country.isascii() and len(country) == 2 and country.isalpha()):  # ß → SS
        errors["address-country"] = "Select a country"
    if country == "GB" and not form.postcode.strip():
        errors["address-postcode"] = "Enter a postcode"
    for key, value, limit in (
        ("address-line-1", form.line1, 255),
        ("address-line-2", form.line2, 255),
        ("address-city", form.city, 255),
        ("address-postcode", form.postcode, 25),
    ):
        if key in errors:
            continue
        if _has_control_characters(value):
            errors[key] = "This must not contain special characters"
        elif len(value) > limit:
            errors[key] = f"This must be {limit} characters or fewer"
    if email_needed:
        if not form.email.strip():
            errors["email"] = "Enter an email address"
        elif not _valid_email(form.email.strip()):
            errors["email"] = "Enter a valid email address"
    if errors or brand is None or expiry is None:
        return None
    return Card(brand[0], None, number[-4:], expiry, name), number


async def submit_card(payments: Payments, payment_id: str, nonce: str, form: CardForm) -> Payment:
    """Check the card details and ask the acquirer (see the module docstring).

    Returns the payment: ``submitted``, ``failed``, ``error``, or still ``started`` with
    ``form.errors`` when the details need correcting.

    Raises:
        PageError: ``stale`` (the form was used or is not the current one), ``finished``,
            ``wrong_state``.
    """
    async with payments.db.write() as session:
        payment = await repository.payment(session, payment_id, lock=True)
        _use_nonce(payment, nonce, expected_status="started")
        email_needed = not payment.email
        checked = check_card(form, email_needed=email_needed)
        if checked is None:
            payment.page_nonce = secrets.token_urlsafe(24)  # the corrected form's
            return payment
        amount = payment.amount
    card, number = checked
    try:
        answer = await ask(payments.acquirer.authorise(payment_id, number, amount))
    except AcquirerUnavailable:
        # No answer is no authorisation the platform knows of: Pay's "error" (P0050);
        # an authorisation made all the same lapses uncaptured.
        answer = None
    del number  # the card number goes no further than the acquirer
    async with payments.db.write() as session:
        payment = await repository.payment(session, payment_id, lock=True)
        if payment is None or payment.status != "started":
            raise PageError("wrong_state", payment)
        if answer is None:
            await transition(session, payment, "error", PROVIDER_ERROR, origin=payments.origin)
            return payment
        payment.provider_id = answer.provider_id
        payment.card_brand = card.brand
        payment.card_type = answer.card_type
        payment.card_last_digits = card.last_digits
        payment.card_expiry = card.expiry
        payment.cardholder_name = card.cardholder_name
        payment.billing_address = json.dumps(
            {
                k: v
                for k, v in {
                    "line1": form.line1.strip(),
                    "line2": form.line2.strip() or None,
                    "postcode": form.postcode.strip() or None,
                    "city": form.city.strip(),
                    "country": form.country.strip().upper() or "GB",
                }.items()
                if v is not None
            },
            ensure_ascii=False,
        )
        if not payment.email and form.email.strip():
            payment.email = form.email.strip()[:254]
        if answer.outcome == AUTHORISED:
            await transition(session, payment, "submitted", origin=payments.origin)
            payment.page_nonce = secrets.token_urlsafe(24)
            if payment.set_up_agreement:
                # The agreement takes the card's token once the payer confirms.
                payment.instrument_token = answer.instrument_token
        elif answer.outcome == DECLINED:
            await transition(session, payment, "failed", REJECTED, origin=payments.origin)
        else:
            await transition(session, payment, "error", PROVIDER_ERROR, origin=payments.origin)
        return payment


async def confirm(payments: Payments, payment_id: str, nonce: str) -> Payment:
    """The payer confirms: ``success`` at once, then the acquirer captures (see
    :mod:`payments.service.settlement`: an unanswered capture is asked again later);
    ``capturable`` for a delayed-capture payment. A set-up payment activates its
    agreement.

    Raises:
        PageError: ``stale``, ``finished``, ``wrong_state``.
    """
    async with payments.db.write() as session:
        payment = await repository.payment(session, payment_id, lock=True)
        _use_nonce(payment, nonce, expected_status="submitted")
        status = "capturable" if payment.delayed_capture else "success"
        await transition(session, payment, status, origin=payments.origin)
        if payment.set_up_agreement:
            await activate(session, payment, payment.instrument_token)
            payment.instrument_token = None
    if status == "success":
        await capture(payments.db, payments.acquirer, payment_id)
    return payment


async def cancel_by_payer(payments: Payments, payment_id: str, nonce: str) -> Payment:
    """The payer cancels on the pages: ``failed`` (``P0030``).

    Raises:
        PageError: ``stale``, ``finished``.
    """
    async with payments.db.write() as session:
        payment = await repository.payment(session, payment_id, lock=True)
        _use_nonce(payment, nonce, expected_status=None)
        provider_id = payment.provider_id
        await transition(session, payment, "failed", USER_CANCELLED, origin=payments.origin)
    await release(payments.acquirer, payment_id, provider_id)
    return payment


def _use_nonce(payment: Payment | None, nonce: str, *, expected_status: str | None) -> None:
    if payment is None:
        raise PageError("unknown")
    if payment.finished:
        raise PageError("finished", payment)
    current = payment.page_nonce
    if not current or not nonce or not secrets.compare_digest(current, nonce):
        raise PageError("stale", payment)
    if expected_status is not None and payment.status != expected_status:
        raise PageError("wrong_state", payment)
    payment.page_nonce = None
