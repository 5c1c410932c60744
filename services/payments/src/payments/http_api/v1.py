"""GOV.UK Pay's public API v1 (``/v1/...``), as agencies' integrations know it.

Every route needs the gateway's principal for ``payments``: a Pay API key (test keys
are the sandbox) or an OAuth access token with ``payments:read`` (reads) or
``payments:write`` (writes). Answers are Pay's shapes (:mod:`payments.views`), errors
Pay's ``{"code", "description", "field"?}`` (:mod:`payments.errors`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from govkit.principal import HEADER
from payments import repository
from payments.context import Context
from payments.errors import PayError, not_found
from payments.service import Caller, search
from payments.service import agreements as agreements_service
from payments.service import payments as payments_service
from payments.service import refunds as refunds_service
from payments.validation import parse_json, resource_id
from payments.views import agreement_json, link, pay_time, payment_json, refund_json, state_json

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: The largest request body the Pay API reads (bytes).
MAX_BODY_BYTES = 64 * 1024


def caller_of(context: Context, request: Request, *, write: bool) -> Caller:
    """The account calling, from the gateway's principal.

    Raises:
        govkit.errors.UnauthenticatedError: no valid principal (Pay's 401).
        PayError: 403 ``P0930`` for an access token without the scope.
    """
    principal = context.guard.verify(request.headers.get(HEADER))
    if principal.api == "oauth":
        needed = "payments:write" if write else "payments:read"
        if needed not in principal.scopes:
            raise PayError(
                "P0930",
                "Access to this resource is not enabled for this account. Contact support with "
                "your error code - https://www.payments.service.gov.uk/support/ .",
                status=403,
            )
    elif principal.api != "payments":
        raise PayError(
            "P0930", "Access to this resource is not enabled for this account.", status=403
        )
    if not principal.service_id:
        raise PayError(
            "P0930", "Access to this resource is not enabled for this account.", status=403
        )
    return Caller.from_principal(principal)


async def body_of(request: Request, code: str = "P0197") -> object:
    """The JSON body (Pay's 400 ``Unable to parse JSON`` otherwise), read no further than
    :data:`MAX_BODY_BYTES`.

    Raises:
        PayError: 413 ``P0920`` for a larger body (Pay's WAF answer); 400 ``code``.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayError(
                "P0920",
                "Request blocked by security rules. Please consult API documentation for "
                "more information.",
                status=413,
            )
        chunks.append(chunk)
    return parse_json(b"".join(chunks), code=code)


def _id(value: str, code: str) -> str:
    found = resource_id(value)
    if found is None:
        raise not_found(code)
    return found


def _params(request: Request) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, value)
    return params


def search_json(page: search.SearchPage, results: list[dict]) -> dict:
    """A search answer: ``total``, ``count``, ``page``, ``results``, ``_links``."""
    return {
        "total": page.total,
        "count": len(results),
        "page": page.page,
        "results": results,
        "_links": page.links,
    }


def create_router(context: Context) -> APIRouter:
    """The ``/v1`` routes."""
    router = APIRouter(prefix="/v1", tags=["GOV.UK Pay API v1"])
    db = context.db
    payments = context.payments
    origin = context.origin

    @router.post("/payments", status_code=201)
    async def create_payment(request: Request) -> Response:
        """Create a card payment (``Idempotency-Key`` honoured on every create)."""
        caller = caller_of(context, request, write=True)
        data = await body_of(request)
        created = await payments_service.create_payment(
            payments, caller, data, request.headers.get("idempotency-key")
        )
        body = payment_json(created.payment, created.refunded, origin, token=created.token)
        return JSONResponse(
            body,
            status_code=200 if created.replayed else 201,
            headers={**NO_STORE, "Location": body["_links"]["self"]["href"]},
        )

    @router.get("/payments")
    async def search_payments(request: Request) -> Response:
        """Search the account's payments (Pay's filters and paging)."""
        caller = caller_of(context, request, write=False)
        page = await search.search_payments(db, caller, _params(request), origin)
        async with db.read() as session:
            results = [
                payment_json(p, await repository.refunded(session, p.id), origin, search=True)
                for p in page.rows
            ]
        return JSONResponse(search_json(page, results), headers=NO_STORE)

    @router.get("/payments/{payment_id}")
    async def get_payment(payment_id: str, request: Request) -> Response:
        """One payment (each read gives a new ``next_url`` while it has one)."""
        caller = caller_of(context, request, write=False)
        found = await payments_service.get_payment(payments, caller, _id(payment_id, "P0200"))
        return JSONResponse(
            payment_json(found.payment, found.refunded, origin, token=found.token), headers=NO_STORE
        )

    @router.post("/payments/{payment_id}/cancel", status_code=204)
    async def cancel_payment(payment_id: str, request: Request) -> Response:
        """Cancel an unfinished payment."""
        caller = caller_of(context, request, write=True)
        await payments_service.cancel_payment(payments, caller, _id(payment_id, "P0500"))
        return Response(status_code=204)

    @router.post("/payments/{payment_id}/capture", status_code=204)
    async def capture_payment(payment_id: str, request: Request) -> Response:
        """Capture a delayed-capture payment."""
        caller = caller_of(context, request, write=True)
        await payments_service.capture_payment(payments, caller, _id(payment_id, "P1000"))
        return Response(status_code=204)

    @router.get("/payments/{payment_id}/events")
    async def payment_events(payment_id: str, request: Request) -> Response:
        """The states a payment went through, oldest first."""
        caller = caller_of(context, request, write=False)
        payment, events = await payments_service.payment_events(
            payments, caller, _id(payment_id, "P0300")
        )
        base = f"{origin}/v1/payments/{payment.id}"
        return JSONResponse(
            {
                "events": [
                    {
                        "payment_id": payment.id,
                        "state": state_json(e.status, e.code, e.message),
                        "updated": pay_time(e.created_at),
                        "_links": {"payment_url": link(base)},
                    }
                    for e in events
                ],
                "payment_id": payment.id,
                "_links": {"self": link(f"{base}/events")},
            },
            headers=NO_STORE,
        )

    @router.post("/payments/{payment_id}/refunds", status_code=202)
    async def create_refund(payment_id: str, request: Request) -> Response:
        """Refund part or all of a payment (202, as Pay answers)."""
        caller = caller_of(context, request, write=True)
        identifier = _id(payment_id, "P0600")
        data = await body_of(request, code="P0697")
        refund = await refunds_service.create_refund(
            db, context.acquirer, caller, identifier, data, origin
        )
        return JSONResponse(refund_json(refund, origin), status_code=202, headers=NO_STORE)

    @router.get("/payments/{payment_id}/refunds")
    async def list_refunds(payment_id: str, request: Request) -> Response:
        """A payment's refunds."""
        caller = caller_of(context, request, write=False)
        identifier = _id(payment_id, "P0800")
        refunds = await refunds_service.list_refunds(db, caller, identifier)
        base = f"{origin}/v1/payments/{identifier}"
        return JSONResponse(
            {
                "payment_id": identifier,
                "_links": {"self": link(f"{base}/refunds"), "payment": link(base)},
                "_embedded": {"refunds": [refund_json(r, origin) for r in refunds]},
            },
            headers=NO_STORE,
        )

    @router.get("/payments/{payment_id}/refunds/{refund_id}")
    async def get_refund(payment_id: str, refund_id: str, request: Request) -> Response:
        """One refund."""
        caller = caller_of(context, request, write=False)
        refund = await refunds_service.get_refund(
            db, caller, _id(payment_id, "P0700"), _id(refund_id, "P0700")
        )
        return JSONResponse(refund_json(refund, origin), headers=NO_STORE)

    @router.get("/refunds")
    async def search_refunds(request: Request) -> Response:
        """Search the account's refunds."""
        caller = caller_of(context, request, write=False)
        page = await search.search_refunds(db, caller, _params(request), origin)
        return JSONResponse(
            search_json(page, [refund_json(r, origin) for r in page.rows]), headers=NO_STORE
        )

    @router.post("/agreements", status_code=201)
    async def create_agreement(request: Request) -> Response:
        """Create a recurring-payment agreement."""
        caller = caller_of(context, request, write=True)
        data = await body_of(request, code="P2197")
        agreement, replayed = await agreements_service.create_agreement(
            db,
            caller,
            data,
            request.headers.get("idempotency-key"),
            context.settings.idempotency_seconds,
        )
        return JSONResponse(
            agreement_json(agreement), status_code=200 if replayed else 201, headers=NO_STORE
        )

    @router.get("/agreements")
    async def search_agreements(request: Request) -> Response:
        """Search the account's agreements."""
        caller = caller_of(context, request, write=False)
        page = await search.search_agreements(db, caller, _params(request), origin)
        return JSONResponse(
            search_json(page, [agreement_json(a) for a in page.rows]), headers=NO_STORE
        )

    @router.get("/agreements/{agreement_id}")
    async def get_agreement(agreement_id: str, request: Request) -> Response:
        """One agreement."""
        caller = caller_of(context, request, write=False)
        found = await agreements_service.get_agreement(db, caller, _id(agreement_id, "P2200"))
        return JSONResponse(agreement_json(found), headers=NO_STORE)

    @router.post("/agreements/{agreement_id}/cancel", status_code=204)
    async def cancel_agreement(agreement_id: str, request: Request) -> Response:
        """End an agreement."""
        caller = caller_of(context, request, write=True)
        await agreements_service.cancel_agreement(db, caller, _id(agreement_id, "P2500"))
        return Response(status_code=204)

    @router.get("/disputes")
    async def search_disputes(request: Request) -> Response:
        """Disputes (chargebacks): the sandbox acquirer has none. The page links are
        ``links``, not ``_links`` (pay-publicapi's ``DisputesSearchResults``)."""
        caller = caller_of(context, request, write=False)
        params = _params(request)
        bad: list[str] = []
        page, size = search._paging(params, bad)
        search._refuse(bad, "P0401")
        del caller
        empty = search.SearchPage(
            0, page, [], search._links(origin, "/v1/disputes", params, page, size, 0)
        )
        body = search_json(empty, [])
        body["links"] = body.pop("_links")
        return JSONResponse(body, headers=NO_STORE)

    @router.post("/auth", status_code=204)
    async def authorise_moto(request: Request) -> Response:
        """MOTO "card details by API": no account has ``moto_api`` enabled, so no one-time
        token is ever valid (400 ``P1211``), as Pay answers an unknown token."""
        data = await body_of(request)
        if not isinstance(data, dict) or not isinstance(data.get("one_time_token"), str):
            raise PayError(
                "P0101",
                "Missing mandatory attribute: one_time_token",
                status=400,
                field="one_time_token",
            )
        raise PayError("P1211", "The one_time_token is not a valid one time token", status=400)

    @router.api_route(
        "", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    @router.api_route(
        "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    async def elsewhere(request: Request) -> Response:
        """Any other ``/v1`` path: Pay's 401 without a credential, else Dropwizard's 404."""
        caller_of(context, request, write=False)
        return JSONResponse({"code": 404, "message": "HTTP 404 Not Found"}, status_code=404)

    return router
