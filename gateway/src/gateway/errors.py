"""The gateway's own refusals, in the format of the API family the path belongs to.

- Notify (``/v2``): ``{"status_code": N, "errors": [{"error": Name, "message": text}]}``.
- Pay (``/v1``, ``/pay``): ``{"code": "P09xx", "description": text}``.
- identity's OAuth endpoints: RFC 6749 ``{"error", "error_description"}``.
- everything else: ``{"error": text}``.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from gateway import routing

#: status → (Notify error name, Pay code) for the gateway's own refusals.
NAMES = {
    400: ("BadRequestError", "P0920"),
    413: ("BadRequestError", "P0920"),
    414: ("BadRequestError", "P0920"),
    502: ("BadGatewayError", "P0999"),
    503: ("ServiceUnavailableError", "P0999"),
    504: ("GatewayTimeoutError", "P0999"),
    500: ("Exception", "P0999"),
}


def family_of(path: str) -> str:
    """``notify``, ``payments``, ``oauth`` (identity) or ``plain``, by the path's backend."""
    backend = routing.backend_for(path)
    if backend == "notify" and not path.startswith("/admin/"):
        return "notify"
    if backend == "payments" and not path.startswith("/admin/"):
        return "payments"
    if backend == "identity" and not path.startswith("/admin/"):
        return "oauth"
    return "plain"


def refusal(path: str, status: int, message: str) -> JSONResponse:
    """A gateway refusal (400, 413, 414, 500, 502, 503, 504) in ``path``'s family format."""
    family = family_of(path)
    notify_name, pay_code = NAMES.get(status, ("BadRequestError", "P0999"))
    if family == "notify":
        body: dict = {"status_code": status, "errors": [{"error": notify_name, "message": message}]}
    elif family == "payments":
        body = {"code": pay_code, "description": message}
    elif family == "oauth":
        body = {
            "error": "invalid_request" if status < 500 else "temporarily_unavailable",
            "error_description": message,
        }
    else:
        body = {"error": message}
    headers = {"Retry-After": "10"} if status == 503 else None
    return JSONResponse(body, status_code=status, headers=headers)


#: Notify's answer for a path it does not have (Flask's 404, in Notify's internal shape).
NOTIFY_NOT_FOUND = (
    "The requested URL was not found on the server. If you entered the URL manually "
    "please check your spelling and try again."
)


def not_found(path: str) -> JSONResponse:
    """The gateway's 404 (an unsafe or unknown path) in the shape ``path``'s API family
    gives for a path it does not have; the path is never echoed back."""
    family = family_of(path)
    if family == "notify":
        body: dict = {"result": "error", "message": NOTIFY_NOT_FOUND}
    elif family == "payments":
        body = {"code": 404, "message": "HTTP 404 Not Found"}  # Dropwizard's, as Pay's
    else:
        body = {"error": "not found"}
    return JSONResponse(body, status_code=404)
