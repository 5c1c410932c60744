"""Searching payments, refunds and agreements as GOV.UK Pay's search endpoints do.

Pages: ``page`` (from 1) and ``display_size`` (1 to 500, default 500); newest first.
Every problem with the parameters is named in one 422 (``P0401`` payments, ``P1101``
refunds, ``P2401`` agreements): ``Invalid parameters: from_date, page. See Public API
documentation for the correct data formats``. A page past the last is 404 (``P0402``,
``P1100``, ``P2402``). Dates are ``YYYY-MM-DDThh:mm:ssZ`` (``from_date`` inclusive,
``to_date`` exclusive). A value with a NUL character (which PostgreSQL cannot compare)
is a bad parameter. The answer has ``total``, ``count``, ``page``, ``results`` and
``_links`` (``self``, ``first_page``, ``last_page``, ``prev_page``, ``next_page``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from sqlalchemy import func

from govkit.db import Database
from payments import repository
from payments.errors import PayError
from payments.models import Agreement, Payment, Refund
from payments.service import Caller
from payments.views import link

MAX_PAGE_SIZE = 500
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
PAYMENT_STATES = ("created", "started", "submitted", "success", "failed", "cancelled", "error")
AGREEMENT_STATES = ("created", "active", "cancelled", "inactive")


@dataclass(frozen=True)
class SearchPage:
    """One page of a search and how to link to the others."""

    total: int
    page: int
    rows: list
    links: dict


def _parse_date(value: str) -> datetime | None:
    if not _DATE.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _paging(params: dict[str, str], bad: list[str]) -> tuple[int, int]:
    page = size = None
    raw_page = params.get("page", "1")
    raw_size = params.get("display_size", str(MAX_PAGE_SIZE))
    if raw_page.isascii() and raw_page.isdigit() and len(raw_page) < 10 and int(raw_page) >= 1:
        page = int(raw_page)
    else:
        bad.append("page")
    if (
        raw_size.isascii()
        and raw_size.isdigit()
        and len(raw_size) < 10
        and 1 <= int(raw_size) <= MAX_PAGE_SIZE
    ):
        size = int(raw_size)
    else:
        bad.append("display_size")
    return page or 1, size or MAX_PAGE_SIZE


def _with_nul(params: dict[str, str], names, bad: list[str]) -> None:
    """Name each of ``names`` whose value holds a NUL character as bad (in the query's
    order)."""
    bad.extend(name for name, value in params.items() if name in names and "\x00" in value)


def _settled_dates(params: dict[str, str], bad: list[str]) -> None:
    """``from_settled_date`` and ``to_settled_date`` are ``YYYY-MM-DD`` (Stripe accounts
    only in Pay: checked, then not applied)."""
    for name in ("from_settled_date", "to_settled_date"):
        if name in params and not _DAY.fullmatch(params[name]):
            bad.append(name)


def _dates(params: dict[str, str], column, conditions: list, bad: list[str]) -> None:
    for name, compare in (("from_date", column.__ge__), ("to_date", column.__lt__)):
        if name in params:
            when = _parse_date(params[name])
            if when is None:
                bad.append(name)
            else:
                conditions.append(compare(when))


def _links(
    origin: str, path: str, params: dict[str, str], page: int, size: int, total: int
) -> dict:
    kept = [(k, v) for k, v in params.items() if k not in ("page", "display_size")]
    last = max(1, math.ceil(total / size))

    def href(number: int) -> str:
        return f"{origin}{path}?{urlencode([*kept, ('page', str(number)), ('display_size', str(size))])}"

    links = {
        "self": link(href(page)),
        "first_page": link(href(1)),
        "last_page": link(href(last)),
    }
    if page > 1:
        links["prev_page"] = link(href(page - 1))
    if page < last:
        links["next_page"] = link(href(page + 1))
    return links


async def _run(
    db: Database, query, order, page: int, size: int, not_found_code: str
) -> tuple[int, list]:
    async with db.read() as session:
        total, rows = await repository.page(session, query, order, page_number=page, size=size)
    if page > 1 and not rows:
        raise PayError(not_found_code, "Page not found", status=404)
    return total, rows


def _refuse(bad: list[str], code: str) -> None:
    if bad:
        names = ", ".join(dict.fromkeys(bad))
        raise PayError(
            code,
            f"Invalid parameters: {names}. See Public API documentation for the correct data formats",
            status=422,
        )


PAYMENT_FILTERS = {
    "reference",
    "email",
    "state",
    "card_brand",
    "cardholder_name",
    "first_digits_card_number",
    "last_digits_card_number",
    "agreement_id",
    "from_date",
    "to_date",
    "from_settled_date",
    "to_settled_date",
    "page",
    "display_size",
}


async def search_payments(
    db: Database, caller: Caller, params: dict[str, str], origin: str
) -> SearchPage:
    """``GET /v1/payments``: the account's payments matching Pay's filters.

    ``reference`` matches exactly, ``email`` and ``cardholder_name`` in part (ignoring
    case), ``card_brand`` ignoring case, ``last_digits_card_number`` (4 digits) exactly.
    ``first_digits_card_number`` (6 digits) is accepted, but no payment keeps its card's
    first digits, so it matches none.

    Raises:
        PayError: 422 ``P0401`` naming every bad parameter; 404 ``P0402`` past the last page.
    """
    bad: list[str] = []
    _with_nul(params, PAYMENT_FILTERS, bad)
    page, size = _paging(params, bad)
    conditions: list = []
    if "reference" in params:
        conditions.append(Payment.reference == params["reference"])
    if "email" in params:
        conditions.append(
            func.lower(Payment.email).contains(params["email"].lower(), autoescape=True)
        )
    if "cardholder_name" in params:
        conditions.append(
            func.lower(Payment.cardholder_name).contains(
                params["cardholder_name"].lower(), autoescape=True
            )
        )
    if "card_brand" in params:
        conditions.append(func.lower(Payment.card_brand) == params["card_brand"].lower())
    if "state" in params:
        if params["state"] not in PAYMENT_STATES:
            bad.append("state")
        else:
            conditions.append(Payment.status == params["state"])
    if "last_digits_card_number" in params:
        value = params["last_digits_card_number"]
        if not (value.isascii() and value.isdigit() and len(value) == 4):
            bad.append("last_digits_card_number")
        conditions.append(Payment.card_last_digits == value)
    if "first_digits_card_number" in params:
        value = params["first_digits_card_number"]
        if not (value.isascii() and value.isdigit() and len(value) == 6):
            bad.append("first_digits_card_number")
        conditions.append(Payment.id.is_(None))  # card numbers' first digits are not kept
    if "agreement_id" in params:
        conditions.append(Payment.agreement_id == params["agreement_id"])
    _settled_dates(params, bad)
    _dates(params, Payment.created_at, conditions, bad)
    _refuse(bad, "P0401")
    query = repository.payments_query(caller.account, conditions)
    total, rows = await _run(
        db, query, (Payment.created_at.desc(), Payment.id.desc()), page, size, "P0402"
    )
    return SearchPage(total, page, rows, _links(origin, "/v1/payments", params, page, size, total))


async def search_refunds(
    db: Database, caller: Caller, params: dict[str, str], origin: str
) -> SearchPage:
    """``GET /v1/refunds``: the account's refunds (``from_date``, ``to_date``,
    ``from_settled_date``, ``to_settled_date``, paging).

    Raises:
        PayError: 422 ``P1101``; 404 ``P1100`` past the last page.
    """
    bad: list[str] = []
    page, size = _paging(params, bad)
    conditions: list = []
    _dates(params, Refund.created_at, conditions, bad)
    _settled_dates(params, bad)
    _refuse(bad, "P1101")
    query = repository.refunds_query(caller.account, conditions)
    total, rows = await _run(
        db, query, (Refund.created_at.desc(), Refund.id.desc()), page, size, "P1100"
    )
    return SearchPage(total, page, rows, _links(origin, "/v1/refunds", params, page, size, total))


async def search_agreements(
    db: Database, caller: Caller, params: dict[str, str], origin: str
) -> SearchPage:
    """``GET /v1/agreements``: the account's agreements (``reference``, ``status``, paging).

    Raises:
        PayError: 422 ``P2401``; 404 ``P2402`` past the last page.
    """
    bad: list[str] = []
    _with_nul(params, ("reference", "status"), bad)
    page, size = _paging(params, bad)
    conditions: list = []
    if "reference" in params:
        conditions.append(Agreement.reference == params["reference"])
    if "status" in params:
        if params["status"] not in AGREEMENT_STATES:
            bad.append("status")
        else:
            conditions.append(Agreement.status == params["status"])
    _refuse(bad, "P2401")
    query = repository.agreements_query(caller.account, conditions)
    total, rows = await _run(
        db, query, (Agreement.created_at.desc(), Agreement.id.desc()), page, size, "P2402"
    )
    return SearchPage(
        total, page, rows, _links(origin, "/v1/agreements", params, page, size, total)
    )
