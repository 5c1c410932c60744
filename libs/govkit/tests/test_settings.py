"""Fail-fast settings: a component refuses to start on a missing or invalid
variable, and the message names the variable (``govkit.settings``)."""

from __future__ import annotations

import os

import pytest

from gateway.config import Settings as GatewaySettings
from govkit.settings import ConfigurationError
from payments.config import Settings as PaymentsSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment with no govplat or NATS variables."""
    for name in list(os.environ):
        if name.upper().startswith("GOVPLAT_") or name.upper() == "NATS_URL":
            monkeypatch.delenv(name)


def test_a_missing_database_url_stops_the_component_with_the_variable_named() -> None:
    with pytest.raises(ConfigurationError) as excinfo:
        PaymentsSettings.load()

    assert "GOVPLAT_DATABASE_URL" in str(excinfo.value)
    assert "required" in str(excinfo.value).lower()


def test_a_configuration_error_exits_with_status_2_instead_of_a_stack_trace() -> None:
    with pytest.raises(SystemExit) as excinfo:
        PaymentsSettings.load()

    assert isinstance(excinfo.value, ConfigurationError)
    assert excinfo.value.code == 2


def test_an_empty_database_url_is_refused_as_if_it_were_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVPLAT_DATABASE_URL", "")

    with pytest.raises(ConfigurationError) as excinfo:
        PaymentsSettings.load()

    assert "GOVPLAT_DATABASE_URL" in str(excinfo.value)


def test_a_database_url_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVPLAT_DATABASE_URL", "sqlite:///var/payments.db")

    settings = PaymentsSettings.load()

    assert settings.database_url == "sqlite:///var/payments.db"
    assert settings.component == "payments"
    assert (settings.http_port, settings.grpc_port) == (8002, 50052)


@pytest.mark.parametrize("variable", ["GOVPLAT_HTTP_PORT", "GOVPLAT_GRPC_PORT"])
@pytest.mark.parametrize("value", ["70000", "0", "-1", "eighty"])
def test_an_invalid_port_stops_the_component_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("GOVPLAT_DATABASE_URL", "sqlite:///var/payments.db")
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigurationError) as excinfo:
        PaymentsSettings.load()

    assert variable in str(excinfo.value)
    assert "GOVPLAT_DATABASE_URL" not in str(excinfo.value)


def test_an_invalid_gateway_port_stops_the_gateway_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVPLAT_HTTP_PORT", "65536")

    with pytest.raises(ConfigurationError) as excinfo:
        GatewaySettings.load()

    assert "GOVPLAT_HTTP_PORT" in str(excinfo.value)


def test_every_problem_is_named_in_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVPLAT_GRPC_PORT", "99999")
    monkeypatch.setenv("GOVPLAT_LOG_LEVEL", "CHATTY")

    with pytest.raises(ConfigurationError) as excinfo:
        PaymentsSettings.load()

    message = str(excinfo.value)
    assert "GOVPLAT_DATABASE_URL" in message
    assert "GOVPLAT_GRPC_PORT" in message
    assert "GOVPLAT_LOG_LEVEL" in message


def test_a_valid_port_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVPLAT_DATABASE_URL", "sqlite:///var/payments.db")
    monkeypatch.setenv("GOVPLAT_HTTP_PORT", "18002")
    monkeypatch.setenv("GOVPLAT_GRPC_PORT", "65535")

    settings = PaymentsSettings.load()

    assert (settings.http_port, settings.grpc_port) == (18002, 65535)


def test_the_conventional_nats_url_variable_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVPLAT_DATABASE_URL", "sqlite:///var/payments.db")
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:4999")

    assert PaymentsSettings.load().nats_url == "nats://127.0.0.1:4999"


def test_the_prefixed_nats_url_variable_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVPLAT_DATABASE_URL", "sqlite:///var/payments.db")
    monkeypatch.setenv("GOVPLAT_NATS_URL", "nats://127.0.0.1:4888")

    assert PaymentsSettings.load().nats_url == "nats://127.0.0.1:4888"


def test_the_prefixed_nats_url_wins_over_the_conventional_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVPLAT_DATABASE_URL", "sqlite:///var/payments.db")
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:4999")
    monkeypatch.setenv("GOVPLAT_NATS_URL", "nats://127.0.0.1:4888")

    assert PaymentsSettings.load().nats_url == "nats://127.0.0.1:4888"


def test_without_a_nats_url_the_local_default_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVPLAT_DATABASE_URL", "sqlite:///var/payments.db")

    assert PaymentsSettings.load().nats_url == "nats://127.0.0.1:4222"


def test_explicit_overrides_take_precedence_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVPLAT_DATABASE_URL", "sqlite:///var/payments.db")
    monkeypatch.setenv("GOVPLAT_HTTP_PORT", "18002")

    settings = PaymentsSettings.load(database_url="sqlite:///other.db", http_port=18003)

    assert settings.database_url == "sqlite:///other.db"
    assert settings.http_port == 18003
