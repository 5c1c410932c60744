"""The platform's five components: how to build each, its migrations, its default ports."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ComponentInfo:
    """One component.

    Attributes:
        name: ``gateway``, ``identity``, ``payments``, ``notify`` or ``registers``.
        builder: ``module:function`` that returns a :class:`govkit.runtime.Component`.
        migrations: the package whose ``migrations/`` folder holds its Alembic history
            (``None`` for the gateway, which has no database).
        http_port / grpc_port: default ports (ARCHITECTURE.md).
    """

    name: str
    builder: str
    migrations: str | None
    http_port: int
    grpc_port: int

    def build(self):
        """Build the component from the environment (fails fast on bad settings)."""
        module, function = self.builder.split(":")
        return getattr(importlib.import_module(module), function)()


COMPONENTS: dict[str, ComponentInfo] = {
    info.name: info
    for info in (
        ComponentInfo("gateway", "gateway.app:build", None, 8000, 9000),
        ComponentInfo("identity", "identity.app:build", "identity", 8001, 50051),
        ComponentInfo("payments", "payments.app:build", "payments", 8002, 50052),
        ComponentInfo("notify", "notify.app:build", "notify", 8003, 50053),
        ComponentInfo("registers", "registers.app:build", "registers", 8004, 50054),
    )
}
#: The components with a database and events, in start order.
SERVICES = ("identity", "payments", "notify", "registers")
#: Processes of their own for a component's events (its outbox relay and consumers),
#: which ``govplat up`` runs beside the component's API process (role ``api``):
#: process name → component. ``govplat serve notify-events`` is notify with the role
#: ``events`` (decision 45).
EVENT_PROCESSES: dict[str, str] = {"notify-events": "notify"}


def processes() -> tuple[str, ...]:
    """What ``govplat up`` starts, in order: every component, then the event processes."""
    return (*COMPONENTS, *EVENT_PROCESSES)


def component_of(process: str) -> str:
    """The component a process of ``govplat up`` runs (``notify-events`` → ``notify``)."""
    return EVENT_PROCESSES.get(process, process)
