"""Which backend serves a public path.

The gateway is the platform's one public origin (ARCHITECTURE.md). Paths are
matched by whole segments, so ``/v1`` matches ``/v1`` and ``/v1/payments`` but
not ``/v10``:

===============================================  =========
paths                                            backend
===============================================  =========
``/.well-known/openid-configuration``,           identity
``/.well-known/jwks.json``,
``/.well-known/oauth-authorization-server``,
``/trustmark``, ``/identity-check``,
``/account-assets``, ``/authorize``,
``/token``, ``/userinfo``, ``/introspect``,
``/revoke``, ``/logout``, ``/sign-in``,
``/sign-up``, ``/account``, ``/admin/identity``
``/v1`` (GOV.UK Pay API), ``/pay`` (hosted        payments
payment pages), ``/admin/payments``
``/v2`` (GOV.UK Notify API, at the root because  notify
the official client drops any base path),
``/admin/notify``
``/registers``, ``/admin/registers``              registers
===============================================  =========

The gateway itself answers ``/healthz``, ``/readyz``, ``/metrics`` and ``/sandbox``.
"""

from __future__ import annotations

ROUTES: tuple[tuple[str, str], ...] = (
    ("/.well-known/openid-configuration", "identity"),
    ("/.well-known/jwks.json", "identity"),
    ("/.well-known/oauth-authorization-server", "identity"),
    ("/trustmark", "identity"),
    ("/identity-check", "identity"),
    ("/account-assets", "identity"),
    ("/authorize", "identity"),
    ("/token", "identity"),
    ("/userinfo", "identity"),
    ("/introspect", "identity"),
    ("/revoke", "identity"),
    ("/logout", "identity"),
    ("/sign-in", "identity"),
    ("/sign-up", "identity"),
    ("/account", "identity"),
    ("/admin/identity", "identity"),
    ("/v1", "payments"),
    ("/pay", "payments"),
    ("/admin/payments", "payments"),
    ("/v2", "notify"),
    ("/admin/notify", "notify"),
    ("/registers", "registers"),
    ("/admin/registers", "registers"),
)


def backend_for(path: str) -> str | None:
    """The backend that serves ``path`` (an already normalised absolute path), or ``None``."""
    for prefix, backend in ROUTES:
        if path == prefix or path.startswith(prefix + "/"):
            return backend
    return None


#: Methods that change a register (need a ``registers:write:<name>`` access token).
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def auth_for(path: str, method: str) -> str | None:
    """Which credential a request needs at the gateway: ``notify`` (``/v2``),
    ``payments`` (``/v1``), ``oauth`` (register writes), or ``None`` (public reads,
    identity's own endpoints, hosted payment pages, admin APIs that check the
    operator token themselves)."""
    backend = backend_for(path)
    if path.startswith("/admin/"):
        return None
    if backend == "notify":
        return "notify"
    if backend == "payments" and (path == "/v1" or path.startswith("/v1/")):
        return "payments"
    if backend == "registers" and method in WRITE_METHODS:
        return "oauth"
    return None


def route_prefix(path: str) -> str:
    """The routing prefix ``path`` matched (a bounded metrics and log label), or ``other``."""
    for prefix, _backend in ROUTES:
        if path == prefix or path.startswith(prefix + "/"):
            return prefix
    return "other"
