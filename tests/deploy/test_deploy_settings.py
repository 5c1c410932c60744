"""Every setting a component cannot run without in a deployment (read from its settings
class, see ``deployment_settings`` in conftest) is given by compose and by Kubernetes."""

from __future__ import annotations

import os

import pytest

COMPONENTS = ("gateway", "identity", "payments", "notify", "registers")


def test_the_settings_classes_name_what_a_deployment_must_give(kit):
    # A sanity check of the reading itself: the fields without defaults are found.
    assert "GOVPLAT_PRINCIPAL_PRIVATE_KEY" in kit.deployment_settings("gateway")
    assert {"GOVPLAT_DATABASE_URL", "GOVPLAT_SECRET_KEY", "GOVPLAT_ADMIN_TOKEN"} <= set(
        kit.deployment_settings("identity")
    )
    assert "GOVPLAT_ISSUER" in kit.deployment_settings("identity")
    assert "GOVPLAT_HOST" in kit.deployment_settings("notify")
    assert "GOVPLAT_NATS_URL" not in kit.deployment_settings("gateway")


@pytest.mark.parametrize("component", COMPONENTS)
def test_compose_gives_each_component_every_setting_it_needs_and_they_load(compose, kit, component):
    env = compose.environment(component)
    missing = set(kit.deployment_settings(component)) - {k for k, v in env.items() if v}
    assert not missing, f"compose does not give {component}: {sorted(missing)}"


def _settings_class(component):
    import importlib

    return importlib.import_module(f"{component}.config").Settings


@pytest.mark.parametrize("component", COMPONENTS)
def test_the_compose_environment_is_accepted_by_each_components_settings(
    compose, component, monkeypatch
):
    for key in list(os.environ):
        if key.startswith("GOVPLAT_") or key == "NATS_URL":
            monkeypatch.delenv(key)
    for key, value in compose.environment(component).items():
        monkeypatch.setenv(key, value)
    settings = _settings_class(component).load()
    assert settings.host == "0.0.0.0"
    assert "127.0.0.1" not in settings.public_url


def _kubernetes_environment(objects: list[dict], component: str) -> dict[str, str]:
    """Variable → where it comes from, for the component's container."""
    configmaps = {
        c["metadata"]["name"]: c.get("data", {}) for c in objects if c["kind"] == "ConfigMap"
    }
    (deployment,) = [
        d
        for d in objects
        if d["kind"] == "Deployment"
        and d["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        assert name in configmaps, f"{component} refers to a missing ConfigMap {name}"
        env.update({key: f"configmap {name}" for key in configmaps[name]})
    for variable in container.get("env", []):
        value_from = variable.get("valueFrom", {})
        if "secretKeyRef" in value_from:
            ref = value_from["secretKeyRef"]
            if ref.get("optional"):
                continue
            env[variable["name"]] = f"secret {ref['name']}/{ref['key']}"
        elif "configMapKeyRef" in value_from:
            ref = value_from["configMapKeyRef"]
            assert ref["key"] in configmaps[ref["name"]]
            env[variable["name"]] = f"configmap {ref['name']}/{ref['key']}"
        else:
            assert "value" in variable
            env[variable["name"]] = "value"
    return env


@pytest.mark.parametrize("overlay", ("sandbox", "production"))
@pytest.mark.parametrize("component", COMPONENTS)
def test_kubernetes_gives_each_component_every_setting_it_needs_from_configmaps_or_secrets(
    rendered, kit, overlay, component
):
    env = _kubernetes_environment(rendered[overlay], component)
    missing = set(kit.deployment_settings(component)) - set(env)
    assert not missing, f"{overlay} does not give {component}: {sorted(missing)}"
    secret_like = {
        "GOVPLAT_SECRET_KEY",
        "GOVPLAT_ADMIN_TOKEN",
        "GOVPLAT_DATABASE_URL",
        "GOVPLAT_PRINCIPAL_PRIVATE_KEY",
        "GOVPLAT_CHECKPOINT_KEY",
    }
    for variable in secret_like & set(env):
        assert env[variable].startswith("secret "), f"{component}: {variable} from {env[variable]}"


def test_the_production_overlay_runs_in_the_production_environment(rendered):
    for overlay, expected in (("sandbox", "sandbox"), ("production", "production")):
        (common,) = [
            c
            for c in rendered[overlay]
            if c["kind"] == "ConfigMap" and c["metadata"]["name"].startswith("govplat-common")
        ]
        assert common["data"]["GOVPLAT_ENVIRONMENT"] == expected
        assert common["data"]["GOVPLAT_HOST"] == "0.0.0.0"
