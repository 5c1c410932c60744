"""Which backend serves a public path (``gateway.routing.backend_for``)."""

from __future__ import annotations

import pytest

from gateway.routing import ROUTES, backend_for

DOCUMENTED = [
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
]


@pytest.mark.parametrize(("prefix", "backend"), DOCUMENTED)
def test_each_documented_prefix_goes_to_its_backend(prefix: str, backend: str) -> None:
    assert backend_for(prefix) == backend


@pytest.mark.parametrize(("prefix", "backend"), DOCUMENTED)
def test_paths_below_a_documented_prefix_go_to_its_backend(prefix: str, backend: str) -> None:
    assert backend_for(prefix + "/") == backend
    assert backend_for(prefix + "/some/deeper/path") == backend


def test_the_routing_table_is_exactly_the_documented_one() -> None:
    assert list(ROUTES) == DOCUMENTED


@pytest.mark.parametrize(
    ("path", "backend"),
    [
        ("/v1/payments", "payments"),
        ("/v1/payments/pay_123/refunds", "payments"),
        ("/pay/card-details/abc", "payments"),
        ("/v2/notifications/email", "notify"),
        ("/registers/country/records/GB", "registers"),
        ("/account/profile", "identity"),
        ("/admin/identity/users", "identity"),
    ],
)
def test_typical_api_paths_reach_the_right_backend(path: str, backend: str) -> None:
    assert backend_for(path) == backend


@pytest.mark.parametrize(
    "path",
    [
        "/v10",
        "/v10/payments",
        "/v1payments",
        "/v2x",
        "/v3/notifications",
        "/registersx",
        "/registersx/country",
        "/payments",
        "/pays",
        "/tokens",
        "/sign-in-now",
        "/admin",
        "/admin/",
        "/admin/identityx",
        "/.well-known",
        "/.well-known/openid-configurationx",
    ],
)
def test_a_path_that_only_starts_with_a_prefix_belongs_to_no_backend(path: str) -> None:
    assert backend_for(path) is None


@pytest.mark.parametrize(
    "path",
    ["/", "", "/healthz", "/readyz", "/metrics", "/sandbox", "/favicon.ico", "/nothing/here"],
)
def test_unknown_paths_and_the_gateways_own_pages_belong_to_no_backend(path: str) -> None:
    assert backend_for(path) is None


@pytest.mark.parametrize("path", ["/V1/payments", "/Registers", "/ADMIN/payments"])
def test_prefixes_match_case_sensitively(path: str) -> None:
    assert backend_for(path) is None
