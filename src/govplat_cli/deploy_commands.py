"""``govplat secrets`` and ``govplat healthcheck``: what a deployment (deploy/compose,
deploy/k8s) needs besides ``serve`` and ``migrate``.

``govplat secrets generate`` prints a fresh set of the platform's secrets as an env
file (``KEY='value'`` lines: docker compose reads it as ``deploy/compose/.env``, a
POSIX shell can source it to fill ``kubectl create secret``). ``govplat healthcheck``
asks the local component's ``/readyz`` (the container image's HEALTHCHECK).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from typing import Annotated

import typer

secrets_app = typer.Typer(
    help="Secrets of a deployment (deploy/compose, deploy/k8s).", no_args_is_help=True
)

#: The variables ``govplat secrets generate`` prints, in order, with what each is.
SECRET_VARIABLES: dict[str, str] = {
    "ADMIN_TOKEN": "the operator credential of every admin API (GOVPLAT_ADMIN_TOKEN)",
    "IDENTITY_SECRET_KEY": "identity's GOVPLAT_SECRET_KEY: encrypts keys at rest; back it up",
    "PAYMENTS_SECRET_KEY": "payments' GOVPLAT_SECRET_KEY: signs the payment pages' cookies",
    "PRINCIPAL_PRIVATE_KEY": "the gateway's Ed25519 private JWK (GOVPLAT_PRINCIPAL_PRIVATE_KEY)",
    "PRINCIPAL_PUBLIC_KEY": "its public JWK, for the services (GOVPLAT_PRINCIPAL_PUBLIC_KEY)",
    "REGISTERS_CHECKPOINT_KEY": "registers' GOVPLAT_CHECKPOINT_KEY: base64 Ed25519 seed",
    "POSTGRES_PASSWORD": "the PostgreSQL superuser's password (compose only)",
    "IDENTITY_DB_PASSWORD": "password of the PostgreSQL role identity",
    "PAYMENTS_DB_PASSWORD": "password of the PostgreSQL role payments",
    "NOTIFY_DB_PASSWORD": "password of the PostgreSQL role notify",
    "REGISTERS_DB_PASSWORD": "password of the PostgreSQL role registers",
}


def new_secrets() -> dict[str, str]:
    """Fresh random values for every name in :data:`SECRET_VARIABLES`.

    Tokens and keys are URL-safe base64 (64 characters, 48 random bytes), database
    passwords hex (so they need no escaping in a URL), the JWKs compact JSON.
    """
    from govkit.principal import new_key_pair

    private, public = new_key_pair()
    compact = {"separators": (",", ":")}
    values = {
        "ADMIN_TOKEN": secrets.token_urlsafe(48),
        "IDENTITY_SECRET_KEY": secrets.token_urlsafe(48),
        "PAYMENTS_SECRET_KEY": secrets.token_urlsafe(48),
        "PRINCIPAL_PRIVATE_KEY": json.dumps(json.loads(private), **compact),
        "PRINCIPAL_PUBLIC_KEY": json.dumps(json.loads(public), **compact),
        "REGISTERS_CHECKPOINT_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    for name in SECRET_VARIABLES:
        values.setdefault(name, secrets.token_hex(24))
    return values


def env_file_text(values: dict[str, str]) -> str:
    """``values`` as env-file lines, each value in single quotes (read literally by
    docker compose and by a POSIX shell), each preceded by a comment saying what it is."""
    lines = ["# govplat secrets: keep this file out of version control (mode 600)."]
    for name, value in values.items():
        if "'" in value or "\n" in value:
            raise ValueError(f"{name}: a value may not contain a quote or a newline")
        lines.append(f"# {SECRET_VARIABLES.get(name, name)}")
        lines.append(f"{name}='{value}'")
    return "\n".join(lines) + "\n"


@secrets_app.command("generate")
def generate() -> None:
    """Print a new set of secrets as an env file, e.g.
    `govplat secrets generate > deploy/compose/.env` (see docs/operations.md)."""
    typer.echo(env_file_text(new_secrets()), nl=False)


def healthcheck(
    port: Annotated[
        int | None,
        typer.Option(help="HTTP port \\[default: env GOVPLAT_HTTP_PORT, else 8000].", min=1),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.", min=0.1)] = 3.0,
) -> None:
    """Exit 0 when the component on this machine answers /readyz with 200, else 1
    (the container image's HEALTHCHECK)."""
    import httpx

    port = port or int(os.environ.get("GOVPLAT_HTTP_PORT") or 8000)
    try:
        status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=timeout).status_code
    except httpx.HTTPError as error:
        typer.echo(f"not ready: {type(error).__name__}", err=True)
        raise typer.Exit(1) from None
    if status != 200:
        typer.echo(f"not ready: /readyz answered {status}", err=True)
        raise typer.Exit(1)
