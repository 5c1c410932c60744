"""GOV.UK Pay's representations of payments, refunds and agreements (what the API, the
search results and webhook payloads show). Nulls are left out, as Pay's serialiser
leaves them out, except in ``card_details``, whose keys Pay always writes; times are
UTC ``YYYY-MM-DDThh:mm:ss.SSSZ``."""

from __future__ import annotations

import json
from datetime import datetime

from payments.models import Agreement, Payment, Refund
from payments.service import FINISHED


def pay_time(value: datetime | None) -> str | None:
    """``2026-12-01T09:30:00.123Z`` (milliseconds, as Pay writes them)."""
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def pay_date(value: datetime | None) -> str | None:
    """``2026-12-01``."""
    return value.strftime("%Y-%m-%d") if value is not None else None


def _drop_none(data: dict) -> dict:
    return {k: v for k, v in data.items() if v is not None}


def state_json(status: str, code: str | None = None, message: str | None = None) -> dict:
    """``{"status", "finished", "code"?, "message"?}``."""
    return _drop_none(
        {"status": status, "finished": FINISHED[status], "code": code, "message": message}
    )


def refund_summary(payment: Payment, refunded: int) -> dict:
    """``refund_summary``: ``pending`` until the payment is taken, ``available`` while
    money is left to refund, ``full`` when none is, ``unavailable`` if it failed."""
    if payment.status == "success":
        available = payment.amount - refunded
        status = "available" if available > 0 else "full"
    elif payment.finished:
        available, status = 0, "unavailable"
    else:
        available, status = payment.amount, "pending"
    return {"status": status, "amount_available": available, "amount_submitted": refunded}


#: ``card_details``' keys: pay-publicapi's ``CardDetails`` is serialised with
#: ``@JsonInclude(ALWAYS)``, so every key is there, null when not known.
CARD_DETAILS_KEYS = (
    "last_digits_card_number",
    "first_digits_card_number",
    "cardholder_name",
    "expiry_date",
    "billing_address",
    "card_brand",
    "card_type",
)


def card_details_json(values: dict) -> dict:
    """Pay's ``card_details`` from what is known of a card: every key of
    :data:`CARD_DETAILS_KEYS`, null when not known (``first_digits_card_number``
    always is: a card number's first digits are never kept)."""
    return {key: values.get(key) for key in CARD_DETAILS_KEYS}


def card_details(payment: Payment) -> dict | None:
    """``card_details`` once the payer gave a card (brand, type, last digits, expiry,
    name, billing address: never the number); before that, the
    ``prefilled_cardholder_details`` the service sent (name and address, as Pay's
    create and get answers show them); ``None`` without either."""
    if payment.card_brand is None and payment.cardholder_name is None:
        prefilled = json.loads(payment.prefilled) if payment.prefilled else None
        return card_details_json(prefilled) if prefilled else None
    return card_details_json(
        {
            "last_digits_card_number": payment.card_last_digits,
            "cardholder_name": payment.cardholder_name,
            "expiry_date": payment.card_expiry,
            "billing_address": json.loads(payment.billing_address)
            if payment.billing_address
            else None,
            "card_brand": payment.card_brand,
            "card_type": payment.card_type,
        }
    )


def link(href: str, method: str = "GET") -> dict:
    """``{"href", "method"}``."""
    return {"href": href, "method": method}


def payment_links(
    payment: Payment, origin: str, *, token: str | None = None, search: bool = False
) -> dict:
    """``_links``: ``self``, ``events``, ``refunds`` always; ``next_url``/``next_url_post``
    (with ``token``) while a web payment is neither finished nor capturable; ``cancel``
    while unfinished (not for agreement payments); ``capture`` while capturable."""
    base = f"{origin}/v1/payments/{payment.id}"
    links: dict = {"self": link(base)}
    if token and not search:
        links["next_url"] = link(f"{origin}/pay/secure/{token}")
        links["next_url_post"] = {
            "type": "application/x-www-form-urlencoded",
            "params": {"chargeTokenId": token},
            "href": f"{origin}/pay/secure",
            "method": "POST",
        }
    links["events"] = link(f"{base}/events")
    links["refunds"] = link(f"{base}/refunds")
    if not payment.finished and payment.authorisation_mode != "agreement":
        links["cancel"] = link(f"{base}/cancel", "POST")
    if payment.status == "capturable":
        links["capture"] = link(f"{base}/capture", "POST")
    return links


def payment_json(
    payment: Payment,
    refunded: int,
    origin: str,
    *,
    token: str | None = None,
    search: bool = False,
    links: bool = True,
) -> dict:
    """A payment as ``GET /v1/payments/{id}`` shows it (``search``: as a search result;
    ``links=False``: as a webhook's ``resource``)."""
    settlement: dict = {}
    if payment.status == "success" and payment.capture_submitted_at is not None:
        settlement["capture_submit_time"] = pay_time(payment.capture_submitted_at)
    if payment.captured_at is not None:
        settlement["captured_date"] = pay_date(payment.captured_at)
    data = {
        "amount": payment.amount,
        "description": payment.description,
        "reference": payment.reference,
        "language": payment.language,
        "email": payment.email,
        "metadata": json.loads(payment.metadata_json) if payment.metadata_json else None,
        "state": state_json(payment.status, payment.code, payment.message),
        "payment_id": payment.id,
        "payment_provider": "sandbox",
        "created_date": pay_time(payment.created_at),
        "refund_summary": refund_summary(payment, refunded),
        "settlement_summary": settlement,
        "delayed_capture": payment.delayed_capture,
        "moto": payment.moto,
        "return_url": payment.return_url,
        "provider_id": payment.provider_id if payment.provider_id else None,
        "card_details": card_details(payment),
        "card_brand": payment.card_brand,
        "authorisation_mode": payment.authorisation_mode,
        # Search results never show it (pay-publicapi's PaymentForSearchResult passes null).
        "agreement_id": None if search else payment.agreement_id or payment.set_up_agreement,
        "agreement_payment_type": payment.agreement_payment_type,
    }
    if links:
        data["_links"] = payment_links(payment, origin, token=token, search=search)
    return _drop_none(data)


def refund_json(refund: Refund, origin: str) -> dict:
    """A refund (``GET /v1/payments/{id}/refunds/{refund_id}``)."""
    base = f"{origin}/v1/payments/{refund.payment_id}"
    settlement = {"settled_date": pay_date(refund.settled_at)} if refund.settled_at else {}
    return {
        "refund_id": refund.id,
        "created_date": pay_time(refund.created_at),
        "amount": refund.amount,
        "status": refund.status,
        "settlement_summary": settlement,
        "payment_id": refund.payment_id,
        "_links": {
            "self": link(f"{base}/refunds/{refund.id}"),
            "payment": link(base),
        },
    }


def agreement_json(agreement: Agreement) -> dict:
    """An agreement (``GET /v1/agreements/{id}``)."""
    instrument = None
    if agreement.instrument:
        instrument = {
            "type": "card",
            "created_date": pay_time(agreement.instrument_created_at),
            "card_details": card_details_json(json.loads(agreement.instrument)),
        }
    return _drop_none(
        {
            "agreement_id": agreement.id,
            "reference": agreement.reference,
            "description": agreement.description,
            "status": agreement.status,
            "created_date": pay_time(agreement.created_at),
            "cancelled_date": pay_time(agreement.cancelled_at),
            "user_identifier": agreement.user_identifier,
            "payment_instrument": instrument,
        }
    )
