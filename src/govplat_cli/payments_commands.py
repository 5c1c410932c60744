"""``govplat payments``: payments' admin API from the terminal (through the local
``govplat up``'s gateway, ``/admin/payments``, with the operator token).

- ``govplat payments reconcile --date 2026-12-01``: that UTC day's ledger as CSV
  (every line of every payment taken and refund paid, then the totals).
- ``govplat payments webhooks create|list|messages``: a service's webhook subscriptions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer

from govplat_cli.identity_admin import AdminError, admin_token

payments_app = typer.Typer(
    help="Payments: the daily reconciliation and webhooks.", no_args_is_help=True
)
webhooks_app = typer.Typer(help="Webhook subscriptions of a service.", no_args_is_help=True)
payments_app.add_typer(webhooks_app, name="webhooks")

Url = Annotated[
    str | None,
    typer.Option("--url", help="Where /admin/payments is served (default: the local gateway)."),
]
Token = Annotated[
    str | None, typer.Option("--admin-token", envvar="GOVPLAT_ADMIN_TOKEN", help="Operator token.")
]
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data folder of the local govplat up.")
]
Service = Annotated[
    str | None, typer.Option("--service", help="The service's id (default: the sandbox service).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@contextlib.contextmanager
def _client(
    url: str | None, token: str | None, data_dir: Path | None
) -> Iterator[tuple[httpx.Client, dict]]:
    from govplat_cli.main import _up_settings, fail

    settings = _up_settings(data_dir)
    try:
        sandbox = json.loads((settings.data_dir / "sandbox.json").read_text())
    except (OSError, ValueError):
        sandbox = {}
    base = (
        url or sandbox.get("gateway_url") or f"http://{settings.host}:{settings.gateway_http_port}"
    ).rstrip("/")
    try:
        secret = admin_token(settings.data_dir, token)
    except AdminError as error:
        raise fail(str(error)) from None
    with httpx.Client(
        base_url=f"{base}/admin/payments", headers={"Authorization": f"Bearer {secret}"}, timeout=30
    ) as client:
        yield client, sandbox


def _call(client: httpx.Client, method: str, path: str, **kwargs) -> httpx.Response:
    from govplat_cli.main import fail

    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise fail(f"payments is not reachable: {type(exc).__name__}") from None
    if response.status_code >= 400:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text[:200]
        raise fail(f"payments refused ({response.status_code}): {message}")
    return response


@payments_app.command("reconcile")
def reconcile(
    day: Annotated[
        str, typer.Option("--date", help="The UTC day, YYYY-MM-DD (default: today).")
    ] = "",
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service's lines.")
    ] = None,
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
) -> None:
    """Print one day's ledger as CSV: every payment taken and refund paid, then the totals."""
    from govplat_cli.main import fail

    day = day or datetime.now(UTC).date().isoformat()
    try:
        date.fromisoformat(day)
    except ValueError:
        raise fail("--date must be YYYY-MM-DD", 2) from None
    params = {"date": day, **({"service_id": service} if service else {})}
    with _client(url, token, data_dir) as (client, _sandbox):
        typer.echo(_call(client, "GET", "/ledger", params=params).text, nl=False)


@webhooks_app.command("create")
def create_webhook(
    callback_url: Annotated[str, typer.Argument(help="Where the events are POSTed.")],
    event_type: Annotated[
        list[str] | None,
        typer.Option("--event-type", help="An event type (repeat; default: all of them)."),
    ] = None,
    live: Annotated[
        bool, typer.Option("--live/--test", help="The live or the test account.")
    ] = False,
    service: Service = None,
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Subscribe a service's account; prints the webhook's signing secret."""
    from govplat_cli.main import fail

    types = event_type or [
        "card_payment_succeeded",
        "card_payment_captured",
        "card_payment_refunded",
        "card_payment_failed",
        "card_payment_expired",
    ]
    with _client(url, token, data_dir) as (client, sandbox):
        service = service or sandbox.get("sandbox_service_id")
        if not service:
            raise fail("no --service given and no sandbox service: run `govplat up` first")
        created = _call(
            client,
            "POST",
            f"/services/{service}/webhooks",
            json={"callback_url": callback_url, "event_types": types, "live": live},
        ).json()
    typer.echo(json.dumps(created) if as_json else created["signing_secret"])


@webhooks_app.command("list")
def list_webhooks(
    service: Service = None,
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """A service's webhooks."""
    from govplat_cli.main import fail

    with _client(url, token, data_dir) as (client, sandbox):
        service = service or sandbox.get("sandbox_service_id")
        if not service:
            raise fail("no --service given and no sandbox service: run `govplat up` first")
        found = _call(client, "GET", f"/services/{service}/webhooks").json()["webhooks"]
    if as_json:
        typer.echo(json.dumps(found))
        return
    for webhook in found:
        typer.echo(
            f"{webhook['id']}  {'live' if webhook['live'] else 'test'}  {webhook['status']}  "
            f"{webhook['callback_url']}  {','.join(webhook['event_types'])}"
        )


@webhooks_app.command("messages")
def webhook_messages(
    webhook_id: Annotated[str, typer.Argument(help="The webhook's id.")],
    service: Service = None,
    url: Url = None,
    token: Token = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """A webhook's latest messages and how their delivery went."""
    from govplat_cli.main import fail

    with _client(url, token, data_dir) as (client, sandbox):
        service = service or sandbox.get("sandbox_service_id")
        if not service:
            raise fail("no --service given and no sandbox service: run `govplat up` first")
        found = _call(client, "GET", f"/services/{service}/webhooks/{webhook_id}/messages").json()[
            "messages"
        ]
    if as_json:
        typer.echo(json.dumps(found))
        return
    for message in found:
        typer.echo(
            f"{message['created_date']}  {message['event_type']}  {message['status']}  "
            f"attempts={message['attempts']}  {message['webhook_message_id']}"
        )
