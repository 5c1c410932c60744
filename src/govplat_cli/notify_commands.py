"""``govplat templates`` and ``govplat notify``: notify's admin API from the terminal.

They reach notify through the local ``govplat up``'s gateway (``/admin/notify``) with
the operator token; ``--url`` points elsewhere. ``--service`` defaults to the
sandbox service.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from govplat_cli.identity_admin import AdminError, admin_token
from govplat_cli.notify_admin import NotifyAdmin

templates_app = typer.Typer(
    help="Notify templates of a service: list, create, new versions, archive.",
    no_args_is_help=True,
)
notify_app = typer.Typer(
    help="Notify settings of a service, its sandbox inbox and received texts.",
    no_args_is_help=True,
)

Url = Annotated[
    str | None,
    typer.Option("--url", help="Where /admin/notify is served (default: the local gateway)."),
]
Token = Annotated[
    str | None, typer.Option("--admin-token", envvar="GOVPLAT_ADMIN_TOKEN", help="Operator token.")
]
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data folder of the local govplat up.")
]
Service = Annotated[
    str | None,
    typer.Option("--service", help="The service's id (default: the sandbox service)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@contextlib.contextmanager
def _session(
    url: str | None, token: str | None, data_dir: Path | None, service: str | None
) -> Iterator[tuple[NotifyAdmin, str]]:
    """Notify's admin API and the service id for one command; a refusal ends the
    command with one clear line (exit 1)."""
    from govplat_cli.main import _up_settings, fail

    settings = _up_settings(data_dir)
    try:
        sandbox = json.loads((settings.data_dir / "sandbox.json").read_text())
    except (OSError, ValueError):
        sandbox = {}
    url = (
        url or sandbox.get("gateway_url") or f"http://{settings.host}:{settings.gateway_http_port}"
    )
    service = service or sandbox.get("sandbox_service_id")
    if not service:
        raise fail("no --service given and no sandbox service: run `govplat up` first")
    try:
        with NotifyAdmin(url, admin_token(settings.data_dir, token)) as admin:
            yield admin, service
    except AdminError as error:
        raise fail(str(error)) from None


def _echo(data, as_json: bool, plain: str | None = None) -> None:
    if as_json:
        typer.echo(json.dumps(data))
    elif plain is not None:
        typer.echo(data[plain])
    elif isinstance(data, list):
        for row in data:
            typer.echo("  ".join(f"{k}={v}" for k, v in row.items() if k != "body"))
    else:
        for key, value in data.items():
            typer.echo(f"{key} = {value}")


def _body(body: str | None, body_file: Path | None) -> str | None:
    from govplat_cli.main import fail

    if body is not None and body_file is not None:
        raise fail("give --body or --body-file, not both", 2)
    if body_file is not None:
        try:
            return body_file.read_text()
        except OSError as exc:
            raise fail(f"cannot read {body_file}: {exc.strerror}") from None
    return body


@templates_app.command("list")
def list_templates(
    service: Service = None,
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """List a service's templates (archived ones too)."""
    with _session(url, token, data_dir, service) as (admin, service_id):
        rows = admin.call("GET", f"/services/{service_id}/templates")["templates"]
    _echo(rows, as_json)


@templates_app.command("create")
def create_template(
    kind: Annotated[str, typer.Option("--type", help="email, sms or letter.")],
    name: Annotated[str, typer.Option(help="The template's name.")],
    body: Annotated[str | None, typer.Option(help="The body, with ((placeholders)).")] = None,
    body_file: Annotated[Path | None, typer.Option(help="Read the body from a file.")] = None,
    subject: Annotated[str | None, typer.Option(help="Subject (emails and letters).")] = None,
    postage: Annotated[str | None, typer.Option(help="Letters: first, second or economy.")] = None,
    service: Service = None,
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Create a template; prints its id (--json for all fields)."""
    from govplat_cli.main import fail

    text = _body(body, body_file)
    if not text:
        raise fail("a template needs --body or --body-file", 2)
    payload = {"type": kind, "name": name, "body": text}
    if subject is not None:
        payload["subject"] = subject
    if postage is not None:
        payload["postage"] = postage
    with _session(url, token, data_dir, service) as (admin, service_id):
        created = admin.call("POST", f"/services/{service_id}/templates", payload)
    _echo(created, as_json, plain=None if as_json else "id")


@templates_app.command("update")
def update_template(
    template_id: Annotated[str, typer.Argument(help="The template's id.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    body: Annotated[str | None, typer.Option(help="A new body.")] = None,
    body_file: Annotated[Path | None, typer.Option(help="Read the new body from a file.")] = None,
    subject: Annotated[str | None, typer.Option(help="A new subject.")] = None,
    service: Service = None,
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Save a new version of a template; prints the new version number."""
    payload = {
        key: value
        for key, value in {"name": name, "body": _body(body, body_file), "subject": subject}.items()
        if value is not None
    }
    with _session(url, token, data_dir, service) as (admin, service_id):
        updated = admin.call("PUT", f"/services/{service_id}/templates/{template_id}", payload)
    _echo(updated, as_json, plain=None if as_json else "version")


@templates_app.command("archive")
def archive_template(
    template_id: Annotated[str, typer.Argument(help="The template's id.")],
    service: Service = None,
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Archive a template: it can no longer be sent."""
    with _session(url, token, data_dir, service) as (admin, service_id):
        archived = admin.call("POST", f"/services/{service_id}/templates/{template_id}/archive")
    _echo(archived, as_json, plain=None if as_json else "id")


@notify_app.command("settings")
def show_settings(
    service: Service = None,
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Show a service's Notify settings."""
    with _session(url, token, data_dir, service) as (admin, service_id):
        settings = admin.call("GET", f"/services/{service_id}")
    _echo(settings, as_json)


@notify_app.command("configure")
def configure(
    name: Annotated[
        str | None, typer.Option(help="The service's name (emails' From, text prefix).")
    ] = None,
    email_from: Annotated[str | None, typer.Option(help="Local part of the From address.")] = None,
    sms_sender: Annotated[
        str | None, typer.Option(help="Text message sender (up to 11 characters).")
    ] = None,
    permissions: Annotated[
        str | None, typer.Option(help="Comma-separated: email,sms,letter,international_sms ...")
    ] = None,
    team_member: Annotated[
        list[str] | None,
        typer.Option(help="A team member's email or phone (repeat; replaces the list)."),
    ] = None,
    guest: Annotated[
        list[str] | None,
        typer.Option(help="A guest-list email or phone (repeat; replaces the list)."),
    ] = None,
    restricted: Annotated[
        bool | None, typer.Option("--trial/--live", help="Trial mode or live.")
    ] = None,
    callback_url: Annotated[
        str | None, typer.Option(help="Delivery-status callback URL ('' to remove).")
    ] = None,
    callback_token: Annotated[
        str | None, typer.Option(help="Its bearer token (at least 10 characters).")
    ] = None,
    receipt_template: Annotated[
        str | None, typer.Option(help="Email template sent when a payment succeeds ('' to stop).")
    ] = None,
    service: Service = None,
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Change a service's Notify settings (only what is given changes)."""
    change = {
        "name": name,
        "email_from": email_from,
        "sms_sender": sms_sender,
        "permissions": [p.strip() for p in permissions.split(",") if p.strip()]
        if permissions is not None
        else None,
        "team_members": team_member,
        "guest_list": guest,
        "restricted": restricted,
        "callback_url": callback_url,
        "callback_bearer_token": callback_token,
        "receipt_template_id": receipt_template,
    }
    with _session(url, token, data_dir, service) as (admin, service_id):
        settings = admin.call(
            "PUT", f"/services/{service_id}", {k: v for k, v in change.items() if v is not None}
        )
    _echo(settings, as_json)


@notify_app.command("inbox")
def inbox(
    limit: Annotated[int, typer.Option(min=1, max=250, help="How many messages.")] = 20,
    service: Service = None,
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """The sandbox inbox: messages a service sent with test keys (or to sandbox providers)."""
    with _session(url, token, data_dir, service) as (admin, service_id):
        messages = admin.call("GET", f"/services/{service_id}/sandbox-inbox?limit={limit}")[
            "messages"
        ]
    if as_json:
        _echo(messages, True)
        return
    for message in messages:
        typer.echo(
            f"{message['created_at']}  {message['type']:<6} to {message['to']!r}  {message['id']}"
        )
        if message["subject"]:
            typer.echo(f"    subject: {message['subject']}")
        typer.echo("    " + message["body"].replace("\n", "\n    "))


@notify_app.command("receive-text")
def receive_text(
    sender: Annotated[str, typer.Option("--from", help="The sender's phone number.")],
    content: Annotated[str, typer.Option(help="The message.")],
    service: Service = None,
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Record a text message sent to a service (what an inbound SMS provider reports)."""
    with _session(url, token, data_dir, service) as (admin, service_id):
        received = admin.call(
            "POST",
            f"/services/{service_id}/received-text-messages",
            {"user_number": sender, "content": content},
        )
    _echo(received, as_json, plain=None if as_json else "id")
