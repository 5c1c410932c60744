"""deploy/compose: the file is valid Compose (checked by the compose-spec package's
strict parser of the Compose specification, after variable substitution as docker
compose does it), starts things in the right order, and publishes only the gateway."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from compose_spec import PyCompose

COMPONENTS = ("gateway", "identity", "payments", "notify", "registers")


def test_the_compose_file_is_valid_against_the_compose_specification(compose):
    parsed = PyCompose.from_json(json.dumps(compose.resolved))
    parsed.validate()  # every network and volume a service uses is defined
    assert set(parsed.service_names()) == {
        *COMPONENTS,
        "migrate",
        "nats",
        "postgres",
        "otel-collector",
        "jaeger",
    }


def test_the_specification_check_refuses_what_compose_would_refuse(compose):
    broken = compose.resolved
    broken["services"]["gateway"]["depends_on"]["identity"]["condition"] = "service_ready"
    with pytest.raises(ValueError, match="service_ready"):
        PyCompose.from_json(json.dumps(broken))
    misspelt = compose.resolved
    misspelt["services"]["gateway"]["enviroment"] = {}
    with pytest.raises(ValueError, match="enviroment"):
        PyCompose.from_json(json.dumps(misspelt))


def test_every_secret_compose_insists_on_is_in_the_example_env_file_and_made_by_the_cli(
    kit, secrets_env
):
    text = kit.COMPOSE_FILE.read_text()
    insisted = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    example = kit.read_env_file((kit.COMPOSE_FILE.parent / ".env.example").read_text())
    assert insisted
    assert insisted <= set(secrets_env)
    assert set(secrets_env) <= set(example)
    commented = set(
        re.findall(r"^#([A-Z0-9_]+)=", (kit.COMPOSE_FILE.parent / ".env.example").read_text(), re.M)
    )
    assert used <= set(example) | commented, used - set(example) - commented


def test_a_missing_secret_stops_compose_with_its_name(compose, kit):
    without = {k: v for k, v in compose.variables.items() if k != "ADMIN_TOKEN"}
    with pytest.raises(KeyError, match="ADMIN_TOKEN"):
        kit.interpolate(compose.raw["services"], without)


def test_the_env_files_with_secrets_are_never_committed(kit):
    for name in (".env", "notify.env"):
        result = subprocess.run(
            ["git", "check-ignore", "-q", f"deploy/compose/{name}"], cwd=kit.ROOT
        )
        assert result.returncode == 0, f"deploy/compose/{name} is not ignored by git"
    assert (kit.COMPOSE_FILE.parent / ".env.example").exists()


def test_the_components_start_after_the_migrations_and_nats_and_the_gateway_after_them_all(
    compose,
):
    services = compose.resolved["services"]
    assert services["migrate"]["command"] == ["migrate", "all"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in COMPONENTS[1:]:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["nats"]["condition"] == "service_healthy", name
    # identity loads its copy of the country register from registers when it starts.
    assert services["identity"]["depends_on"]["registers"]["condition"] == "service_healthy"
    assert {name: dep["condition"] for name, dep in services["gateway"]["depends_on"].items()} == {
        name: "service_healthy" for name in COMPONENTS[1:]
    }


def test_every_component_runs_one_image_read_only_without_capabilities_with_a_health_check(
    compose,
):
    services = compose.resolved["services"]
    images = {services[name]["image"] for name in (*COMPONENTS, "migrate")}
    assert len(images) == 1
    for name in COMPONENTS:
        service = services[name]
        assert service["command"] == ["serve", name]
        assert service["healthcheck"]["test"] == ["CMD", "govplat", "healthcheck"]
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert "/tmp" in service["tmpfs"]
    assert services["nats"]["healthcheck"] and services["postgres"]["healthcheck"]


def test_only_the_gateway_is_published_and_jaeger_only_on_loopback_with_observability(compose):
    services = compose.resolved["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    always = {name for name in published if not services[name].get("profiles")}
    assert always == {"gateway"}
    assert services["gateway"]["ports"] == ["8000:8000"]
    for name in published - always:
        assert services[name]["profiles"] == ["observability"]
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"])


def test_nats_keeps_jetstream_on_a_volume_and_postgres_makes_one_database_per_service(compose, kit):
    services = compose.resolved["services"]
    assert "--jetstream" in services["nats"]["command"]
    assert any(v.startswith("nats-data:") for v in services["nats"]["volumes"])
    assert any(v.startswith("postgres-data:") for v in services["postgres"]["volumes"])
    mounted = [v for v in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert mounted
    script = (kit.COMPOSE_FILE.parent / mounted[0].split(":")[0]).read_text()
    assert "for service in identity payments notify registers" in script
    for name in COMPONENTS[1:]:
        url = services[name]["environment"]["GOVPLAT_DATABASE_URL"]
        assert url.startswith(f"postgresql://{name}:") and url.endswith(f"@postgres:5432/{name}")
        assert services["migrate"]["environment"][f"GOVPLAT_{name.upper()}_DATABASE_URL"] == url
        assert services["postgres"]["environment"][f"{name.upper()}_DB_PASSWORD"]


def test_the_observability_profile_adds_a_collector_and_jaeger_and_components_can_export(
    compose,
):
    services = compose.resolved["services"]
    assert services["otel-collector"]["profiles"] == ["observability"]
    assert services["jaeger"]["profiles"] == ["observability"]
    for name in COMPONENTS:
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" in services[name]["environment"], name
    raw = compose.raw["services"]["gateway"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert raw == "${OTEL_EXPORTER_OTLP_ENDPOINT:-}"
