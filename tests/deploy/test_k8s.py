"""deploy/k8s: each overlay renders, every object is valid Kubernetes, and the
Deployments and NetworkPolicies are what operators are promised (docs/operations.md)."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from govplat_cli.components import COMPONENTS as COMPONENT_INFO

OVERLAYS = ("sandbox", "production")


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [obj for obj in objects if obj["kind"] == kind]


def component_of(obj: dict) -> str:
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_of_each_overlay_is_valid_against_the_kubernetes_schemas(
    rendered, kit, overlay
):
    objects = rendered[overlay]
    assert objects
    for obj in objects:
        # strict: an unknown field (a typo) is an error, not ignored.
        kubernetes_validate.validate(obj, kit.KUBERNETES_VERSION, strict=True)


def test_a_misspelt_field_is_caught_by_the_validation():
    wrong = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"prots": [{"port": 80}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, "1.32.0", strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_component_has_a_deployment_a_service_and_a_configmap(rendered, kit, overlay):
    objects = rendered[overlay]
    deployments = {component_of(d) for d in of_kind(objects, "Deployment")}
    services = {component_of(s): s for s in of_kind(objects, "Service")}
    configmaps = {c["metadata"]["name"].rsplit("-", 1)[0] for c in of_kind(objects, "ConfigMap")}
    assert deployments == set(kit.COMPONENTS)
    assert set(services) == set(kit.COMPONENTS)
    assert {f"govplat-{c}" for c in kit.COMPONENTS} | {"govplat-common"} == configmaps
    for name, service in services.items():
        ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
        info = COMPONENT_INFO[name]
        assert ports == {"http": info.http_port, "grpc": info.grpc_port}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_http_and_grpc_probes_resources_and_a_locked_down_security_context(
    rendered, overlay
):
    for deployment in of_kind(rendered[overlay], "Deployment"):
        name = component_of(deployment)
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        # Service links would add GOVPLAT_<SERVICE>_PORT... variables to the environment.
        assert spec["enableServiceLinks"] is False, name
        (container,) = spec["containers"]
        info = COMPONENT_INFO[name]
        assert container["args"] == ["serve", name]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": info.http_port, "grpc": info.grpc_port}
        assert container["startupProbe"]["grpc"]["port"] == info.grpc_port, name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}, (name, kind)
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_migration_job_runs_every_services_migrations_locked_down(rendered, overlay):
    (job,) = of_kind(rendered[overlay], "Job")
    spec = pod_spec(job)
    (container,) = spec["containers"]
    assert container["args"] == ["migrate", "all"]
    assert {e["name"] for e in container["env"]} == {
        f"GOVPLAT_{s.upper()}_DATABASE_URL" for s in ("identity", "payments", "notify", "registers")
    }
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_production_autoscales_and_budgets_disruptions_of_every_component_and_the_sandbox_does_not(
    rendered, kit
):
    production = rendered["production"]
    targets = {
        h["spec"]["scaleTargetRef"]["name"] for h in of_kind(production, "HorizontalPodAutoscaler")
    }
    assert targets == {f"govplat-{c}" for c in kit.COMPONENTS}
    for hpa in of_kind(production, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] >= 2
    budgets = {component_of(p): p for p in of_kind(production, "PodDisruptionBudget")}
    assert set(budgets) == set(kit.COMPONENTS)
    for name, budget in budgets.items():
        assert budget["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == name
    for deployment in of_kind(production, "Deployment"):
        assert deployment["spec"]["replicas"] >= 2
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert not of_kind(rendered["sandbox"], kind)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_is_inlined_and_every_referenced_secret_is_documented(rendered, kit, overlay):
    assert not of_kind(rendered[overlay], "Secret")
    for path in kit.DEPLOY.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            assert not (isinstance(doc, dict) and doc.get("kind") == "Secret"), path
    operations = (kit.ROOT / "docs" / "operations.md").read_text()
    for obj in of_kind(rendered[overlay], "Deployment") + of_kind(rendered[overlay], "Job"):
        for container in pod_spec(obj)["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in operations and ref["key"] in operations, ref


def test_the_image_is_named_and_tagged_in_one_place_only(rendered, kit):
    mentions = [
        path
        for path in (kit.DEPLOY / "k8s").rglob("kustomization.yaml")
        if "images" in (yaml.safe_load(path.read_text()) or {})
    ]
    assert mentions == [kit.DEPLOY / "k8s" / "base" / "kustomization.yaml"]
    (image,) = yaml.safe_load(mentions[0].read_text())["images"]
    expected = f"{image['newName']}:{image['newTag']}"
    for overlay in OVERLAYS:
        for obj in of_kind(rendered[overlay], "Deployment") + of_kind(rendered[overlay], "Job"):
            for container in pod_spec(obj)["containers"]:
                assert container["image"] == expected


def _selects(policy: dict, labels: dict) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return all(labels.get(key) == value for key, value in wanted.items())


def _peer_components(peers: list[dict]) -> set[str]:
    return {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for peer in peers
        if "podSelector" in peer
        and "namespaceSelector" not in peer
        and "app.kubernetes.io/component" in peer["podSelector"].get("matchLabels", {})
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_allow_only_the_platforms_paths(
    rendered, kit, overlay
):
    objects = rendered[overlay]
    policies = of_kind(objects, "NetworkPolicy")
    default_deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(default_deny) == 1
    pods = {
        component_of(d): d["spec"]["template"]["metadata"]["labels"]
        for d in of_kind(objects, "Deployment") + of_kind(objects, "Job")
    }
    ingress_from: dict[str, set[str]] = {}
    open_ingress: set[str] = set()
    egress_to: dict[str, set[str]] = {}
    egress_ports: dict[str, set[int]] = {}
    for name, labels in pods.items():
        own = [p for p in policies if p["spec"]["podSelector"] and _selects(p, labels)]
        assert any(
            p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")
            == name
            for p in own
        ), f"{name} has no NetworkPolicy of its own"
        ingress_from[name], egress_to[name], egress_ports[name] = set(), set(), set()
        for policy in own:
            for rule in policy["spec"].get("ingress", []):
                assert rule.get("ports"), f"{name}: an ingress rule without ports"
                if not rule.get("from"):
                    open_ingress.add(name)
                ingress_from[name] |= _peer_components(rule.get("from", []))
            for rule in policy["spec"].get("egress", []):
                assert rule.get("ports"), f"{name}: an egress rule without ports"
                egress_to[name] |= _peer_components(rule.get("to", []))
                egress_ports[name] |= {p["port"] for p in rule["ports"]}
    assert open_ingress == {"gateway"}
    for service in kit.SERVICES:
        assert "gateway" in ingress_from[service]
        assert ingress_from[service] <= {"gateway", "identity"}
        assert {4222, 5432} <= egress_ports[service], service
    assert egress_to["gateway"] == set(kit.SERVICES)
    assert ingress_from["registers"] == {"gateway", "identity"}
    assert egress_to["identity"] == {"registers"}
    assert 5432 in egress_ports["migrate"] and 4222 not in egress_ports["migrate"]
    for name in pods:
        assert 53 in egress_ports[name], f"{name} cannot resolve names"
