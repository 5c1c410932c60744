"""``govplat agencies``, ``govplat keys`` and ``govplat clients``: identity's admin API
from the terminal. They reach identity over gRPC (the address and token of the
local ``govplat up`` by default)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from govplat.identity.v1 import identity_service_pb2 as pb
from govplat_cli.identity_admin import (
    API,
    API_NAME,
    KEY_TYPE,
    KEY_TYPE_NAME,
    AdminError,
    IdentityAdmin,
    admin_token,
)

agencies_app = typer.Typer(
    help="Agencies (organisations) and their services.", no_args_is_help=True
)
keys_app = typer.Typer(help="API keys of a service (Notify and Pay styles).", no_args_is_help=True)
clients_app = typer.Typer(
    help="OAuth 2.0 / OpenID Connect clients of an agency.", no_args_is_help=True
)

Address = Annotated[
    str | None,
    typer.Option("--identity", help="identity's gRPC address (default: the local govplat up's)."),
]
Token = Annotated[
    str | None, typer.Option("--admin-token", envvar="GOVPLAT_ADMIN_TOKEN", help="Operator token.")
]
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data folder of the local govplat up.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _admin(address: str | None, token: str | None, data_dir: Path | None) -> IdentityAdmin:
    from govplat_cli.main import _up_settings

    settings = _up_settings(data_dir)
    if address is None:
        address = f"{settings.host}:{settings.identity_grpc_port}"
        try:  # the ports the local govplat up really uses (--port-offset, GOVPLAT_*_PORT)
            endpoints = json.loads((settings.data_dir / "endpoints.json").read_text())
            address = f"{endpoints['host']}:{endpoints['identity']['grpc']}"
        except (OSError, ValueError, KeyError):
            pass
    return IdentityAdmin(address, admin_token(settings.data_dir, token))


@contextlib.contextmanager
def _admin_session(
    address: str | None, token: str | None, data_dir: Path | None
) -> Iterator[IdentityAdmin]:
    """Identity's admin API for one command; a refusal or an unreachable identity
    ends the command with one clear line (exit 1), never a traceback."""
    from govplat_cli.main import fail

    try:
        with _admin(address, token, data_dir) as admin:
            yield admin
    except AdminError as error:
        raise fail(str(error)) from None


def _print_one(row: dict, as_json: bool, plain: str | None = None) -> None:
    """One created or changed thing: a JSON object, or ``row[plain]`` alone (for
    scripts: ``ID=$(govplat agencies create X)``), or every field."""
    if as_json:
        typer.echo(json.dumps(row))
    elif plain is not None:
        typer.echo(row[plain])
    else:
        typer.echo("  ".join(f"{key}={value}" for key, value in row.items()))


def _print(rows: list[dict], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        typer.echo("  ".join(f"{key}={value}" for key, value in row.items()))


@agencies_app.command("create")
def create_agency(
    name: str,
    identity: Address = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Create an agency; prints its id (--json for all fields)."""
    with _admin_session(identity, token, data_dir) as admin:
        created = admin.call(
            "CreateOrganisation", pb.CreateOrganisationRequest(name=name)
        ).organisation
    _print_one({"id": created.id, "name": created.name}, as_json, plain="id")


@agencies_app.command("list")
def list_agencies(
    identity: Address = None, token: Token = None, data_dir: DataDir = None, as_json: AsJson = False
) -> None:
    """List every agency."""
    rows, page_token = [], ""
    with _admin_session(identity, token, data_dir) as admin:
        while True:
            page = admin.call(
                "ListOrganisations",
                pb.ListOrganisationsRequest(page_size=500, page_token=page_token),
            )
            rows += [{"id": o.id, "name": o.name} for o in page.organisations]
            page_token = page.next_page_token
            if not page_token:
                break
    _print(rows, as_json)


@agencies_app.command("add-service")
def add_service(
    agency_id: str,
    name: str,
    identity: Address = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Create a service of an agency; prints its id (the Notify service id; --json for all fields)."""
    with _admin_session(identity, token, data_dir) as admin:
        created = admin.call(
            "CreateService", pb.CreateServiceRequest(organisation_id=agency_id, name=name)
        ).service
    _print_one(
        {"id": created.id, "agency_id": created.organisation_id, "name": created.name},
        as_json,
        plain="id",
    )


@agencies_app.command("services")
def list_services(
    agency_id: str,
    identity: Address = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """List an agency's services."""
    with _admin_session(identity, token, data_dir) as admin:
        page = admin.call(
            "ListServices", pb.ListServicesRequest(organisation_id=agency_id, page_size=500)
        )
    _print([{"id": s.id, "name": s.name} for s in page.services], as_json)


def _key_row(key: pb.ApiKey) -> dict:
    return {
        "id": key.id,
        "name": key.name,
        "api": API_NAME.get(key.api, ""),
        "type": KEY_TYPE_NAME.get(key.key_type, ""),
        "prefix": key.prefix,
        "revoked": key.HasField("revoke_time"),
    }


@keys_app.command("create")
def create_key(
    service_id: str,
    name: Annotated[str, typer.Option(help="A name to recognise the key by.")],
    api: Annotated[str, typer.Option(help="notify or payments.")],
    key_type: Annotated[
        str, typer.Option("--type", help="live, test or team (team: notify only).")
    ] = "test",
    identity: Address = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Create an API key; prints the key, once: store it now (--json adds its id and details)."""
    from govplat_cli.main import fail

    if api not in API:
        raise fail("--api must be notify or payments", 2)
    if key_type not in KEY_TYPE:
        raise fail("--type must be live, test or team", 2)

    with _admin_session(identity, token, data_dir) as admin:
        created = admin.call(
            "CreateApiKey",
            pb.CreateApiKeyRequest(
                service_id=service_id, name=name, api=API[api], key_type=KEY_TYPE[key_type]
            ),
        )
    _print_one({**_key_row(created.api_key), "key": created.key}, as_json, plain="key")


@keys_app.command("list")
def list_keys(
    service_id: str,
    identity: Address = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """List a service's keys (never their secrets)."""
    with _admin_session(identity, token, data_dir) as admin:
        keys = admin.call("ListApiKeys", pb.ListApiKeysRequest(service_id=service_id)).api_keys
    _print([_key_row(k) for k in keys], as_json)


@keys_app.command("revoke")
def revoke_key(
    key_id: str,
    identity: Address = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Revoke a key; the gateway stops accepting it within its cache time (30 s at most)."""
    with _admin_session(identity, token, data_dir) as admin:
        revoked = admin.call("RevokeApiKey", pb.RevokeApiKeyRequest(api_key_id=key_id)).api_key
    _print_one(_key_row(revoked), as_json)


@clients_app.command("create")
def create_client(
    agency_id: str,
    name: Annotated[str, typer.Option(help="The client's name.")],
    auth_method: Annotated[
        str, typer.Option(help="private_key_jwt or client_secret_basic.")
    ] = "private_key_jwt",
    redirect_uri: Annotated[list[str] | None, typer.Option(help="Repeat for several.")] = None,
    scope: Annotated[
        list[str] | None, typer.Option(help="Repeat for several, e.g. openid, notify:send.")
    ] = None,
    grant_type: Annotated[
        list[str] | None,
        typer.Option(help="authorization_code, refresh_token, client_credentials."),
    ] = None,
    jwks_file: Annotated[
        Path | None,
        typer.Option(help="The client's public keys (JWK Set JSON), for private_key_jwt."),
    ] = None,
    jwks_uri: Annotated[str, typer.Option(help="Or where identity fetches them.")] = "",
    service_id: Annotated[str, typer.Option(help="The agency service the client acts for.")] = "",
    identity: Address = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Register an OAuth client; a client_secret_basic secret is printed once."""
    from govplat_cli.main import fail

    try:
        jwks = jwks_file.read_text() if jwks_file else ""
    except OSError as error:
        raise fail(f"cannot read {jwks_file}: {error.strerror}", 2) from None

    with _admin_session(identity, token, data_dir) as admin:
        created = admin.call(
            "CreateOAuthClient",
            pb.CreateOAuthClientRequest(
                organisation_id=agency_id,
                service_id=service_id,
                name=name,
                auth_method=auth_method,
                redirect_uris=redirect_uri or [],
                scopes=scope or [],
                grant_types=grant_type or [],
                jwks=jwks,
                jwks_uri=jwks_uri,
            ),
        )
    _print_one(
        {
            "client_id": created.client.client_id,
            "name": created.client.name,
            "client_secret": created.client_secret,
        },
        as_json,
    )


@clients_app.command("list")
def list_clients(
    agency_id: str,
    identity: Address = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """List an agency's OAuth clients."""
    with _admin_session(identity, token, data_dir) as admin:
        clients = admin.call(
            "ListOAuthClients", pb.ListOAuthClientsRequest(organisation_id=agency_id)
        ).clients
    _print(
        [
            {
                "client_id": c.client_id,
                "name": c.name,
                "auth_method": c.auth_method,
                "revoked": c.HasField("revoke_time"),
            }
            for c in clients
        ],
        as_json,
    )


@clients_app.command("revoke")
def revoke_client(
    client_id: str, identity: Address = None, token: Token = None, data_dir: DataDir = None
) -> None:
    """Revoke an OAuth client and every token issued to it."""
    with _admin_session(identity, token, data_dir) as admin:
        admin.call("RevokeOAuthClient", pb.RevokeOAuthClientRequest(client_id=client_id))
    typer.echo(f"revoked {client_id}")
