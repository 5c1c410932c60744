"""Fixtures for the deployment tests: the rendered Kubernetes overlays, the compose file
with its variables substituted as docker compose substitutes them, and what each
component must be given to run in a deployment (read from its settings class).

No Docker engine or Kubernetes cluster is used: the manifests are rendered with
``kubectl kustomize`` and checked against the Kubernetes and Compose schemas."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose" / "compose.yaml"
OVERLAYS = ("sandbox", "production")
COMPONENTS = ("gateway", "identity", "payments", "notify", "registers")
SERVICES = COMPONENTS[1:]
#: The Kubernetes version the manifests are validated for (kubernetes-validate's schemas).
KUBERNETES_VERSION = "1.32.0"


def settings_class(component: str):
    """The component's pydantic settings class (``<component>.config.Settings``)."""
    return importlib.import_module(f"{component}.config").Settings


def deployment_settings(component: str) -> dict[str, str]:
    """Variable → why, for every setting a deployed ``component`` must be given.

    From its settings class: the fields without a default, and the fields whose
    default is a loopback address (right for ``govplat up`` on one machine, wrong in a
    container). Then the ones it starts without but cannot work without: the
    principal's public key (a service refuses every request without it), the
    operator token (the admin APIs refuse everyone), payments' secret key (otherwise
    random per process, so a payment's pages break across replicas) and registers'
    checkpoint key (otherwise generated and kept in the database). The gateway uses
    no NATS (its Component has ``uses_nats=False``)."""
    cls = settings_class(component)
    needed: dict[str, str] = {}
    for name, field in cls.model_fields.items():
        if name == "component":
            continue
        variable = f"GOVPLAT_{name.upper()}"
        if field.is_required():
            needed[variable] = "required by the settings class"
        elif field.default is not None and "127.0.0.1" in str(field.default):
            needed[variable] = f"its default ({field.default}) is the loopback address"
    needed["GOVPLAT_ADMIN_TOKEN"] = "the admin APIs refuse everyone without it"
    if component != "gateway":
        needed["GOVPLAT_PRINCIPAL_PUBLIC_KEY"] = "every request is refused without it"
    else:
        needed.pop("GOVPLAT_NATS_URL", None)
    if component == "payments":
        needed["GOVPLAT_SECRET_KEY"] = "random per process without it"
    if component == "registers":
        needed["GOVPLAT_CHECKPOINT_KEY"] = "generated and kept in the database without it"
    return needed


def read_env_file(text: str) -> dict[str, str]:
    """An env file as docker compose reads it (the subset govplat writes): ``KEY=value``,
    ``KEY='literal'``, ``KEY="value"``, blank lines and ``#`` comments."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value, variables: dict[str, str]):
    """Substitute ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?message}`` in every
    string of ``value`` as docker compose does.

    Raises:
        KeyError: for ``${NAME:?message}`` when NAME is unset or empty.
    """
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = variables.get(name)
        if op in (":?", "?") and not current:
            raise KeyError(f"{name}: {arg}")
        if op in (":-", "-") and not current:
            return arg
        return current or ""

    return _VARIABLE.sub(substitute, value)


def image_environment() -> dict[str, str]:
    """The ``ENV`` of the Dockerfile's last stage (what every container starts with)."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    last_stage = text.rsplit("\nFROM ", 1)[1]
    values: dict[str, str] = {}
    for line in last_stage.splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                key, _, value = pair.partition("=")
                values[key] = value
    return values


@dataclass
class Compose:
    """The compose file, raw (YAML merge keys resolved) and with a set of variables."""

    raw: dict
    variables: dict[str, str]

    @property
    def resolved(self) -> dict:
        """The file after substitution, without its ``x-`` extension fields."""
        return {
            key: interpolate(value, self.variables)
            for key, value in self.raw.items()
            if not key.startswith("x-")
        }

    def environment(self, service: str) -> dict[str, str]:
        """The environment compose gives ``service``: the image's ``ENV``, then its
        ``environment`` (a map in this file)."""
        env = dict(image_environment()) if self.raw["services"][service].get("build") else {}
        env.pop("PATH", None)
        given = self.resolved["services"][service].get("environment") or {}
        env.update({key: str(value) for key, value in given.items()})
        return env


@pytest.fixture(scope="session")
def secrets_env() -> dict[str, str]:
    """A fresh set of secrets from ``govplat secrets generate`` (as an operator makes .env)."""
    output = subprocess.run(
        [sys.executable, "-m", "govplat_cli", "secrets", "generate"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return read_env_file(output)


@pytest.fixture(scope="session")
def compose(secrets_env) -> Compose:
    """The compose file with the generated secrets as its ``.env``."""
    return Compose(yaml.safe_load(COMPOSE_FILE.read_text()), dict(secrets_env))


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    """Overlay name → every object ``kubectl kustomize`` renders for it."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed to render the overlays (it is at /usr/bin/kubectl)")
    out = {}
    for overlay in OVERLAYS:
        result = subprocess.run(
            [kubectl, "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        out[overlay] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


@pytest.fixture(scope="session")
def kit():
    """This folder's helpers and constants for its test modules (which cannot import
    conftest): ``kit.deployment_settings(component)``, ``kit.read_env_file(text)`` ..."""
    from types import SimpleNamespace

    return SimpleNamespace(
        ROOT=ROOT,
        DEPLOY=DEPLOY,
        COMPOSE_FILE=COMPOSE_FILE,
        OVERLAYS=OVERLAYS,
        COMPONENTS=COMPONENTS,
        SERVICES=SERVICES,
        KUBERNETES_VERSION=KUBERNETES_VERSION,
        deployment_settings=deployment_settings,
        read_env_file=read_env_file,
        interpolate=interpolate,
        image_environment=image_environment,
    )
