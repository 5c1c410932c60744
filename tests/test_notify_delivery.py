"""Notify's delivery with real parts: a real SMTP server (aiosmtpd), a real HTTP text
message provider, real NATS, and the notify process killed with SIGKILL mid-batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from notifications_python_client.notifications import NotificationsAPIClient

from govkit.migrations import upgrade
from govkit.nats_server import NatsServer, free_port
from govkit.principal import HEADER, Principal, PrincipalSigner, new_key_pair
from govkit.testing import database_backends, drop_postgres_database, new_database_url
from govkit.testing.platform import start_platform
from govkit.testing.providers import SmsProvider, SmtpServer, wait_until
from govplat_cli.notify_admin import NotifyAdmin

ADMIN_TOKEN = "operator-" + "t" * 40
#: Messages notify's delivery consumer hands to providers at once (notify.app).
DELIVERY_CONCURRENCY = 8


@pytest.fixture
def smtp_server():
    with SmtpServer() as server:
        yield server.port, server.mailbox


@pytest.mark.parametrize("backend", database_backends())
def test_a_live_email_reaches_the_smtp_server_and_a_test_email_only_the_sandbox_inbox(
    tmp_path, backend, smtp_server
):
    port, mailbox = smtp_server
    platform = start_platform(
        tmp_path,
        backend,
        extra_env={
            "GOVPLAT_NOTIFY_SMTP_HOST": "127.0.0.1",
            "GOVPLAT_NOTIFY_SMTP_PORT": str(port),
            "GOVPLAT_NOTIFY_SMTP_SECURITY": "none",
        },
    )
    try:
        credentials = platform.credentials()
        live = NotificationsAPIClient(
            credentials["notify_live_api_key"], base_url=platform.gateway_url
        )
        test = NotificationsAPIClient(credentials["notify_api_key"], base_url=platform.gateway_url)
        template = credentials["notify_email_template_id"]
        sent_live = live.send_email_notification(
            email_address="Resident@Example.org",
            template_id=template,
            personalisation={"name": "Live", "show_reference": "no"},
        )
        sent_test = test.send_email_notification(
            email_address="developer@example.org",
            template_id=template,
            personalisation={"name": "Test", "show_reference": "no"},
        )
        assert wait_until(
            lambda: live.get_notification_by_id(sent_live["id"])["status"] == "delivered"
        )
        assert wait_until(
            lambda: test.get_notification_by_id(sent_test["id"])["status"] == "delivered"
        )
        received = mailbox.messages
        assert [m["To"] for m in received] == ["resident@example.org"]
        assert received[0]["Message-ID"].startswith(f"<{sent_live['id']}@")
        assert received[0]["Subject"] == "Hello Live"
        with NotifyAdmin(platform.gateway_url, platform.secrets()["identity_admin_token"]) as admin:
            inbox = admin.call(
                "GET", f"/services/{credentials['sandbox_service_id']}/sandbox-inbox"
            )
        assert [m["id"] for m in inbox["messages"]] == [sent_test["id"]]
        assert inbox["messages"][0]["subject"] == "Hello Test"
    finally:
        platform.stop()


class NotifyProcess:
    """``govplat serve notify`` as its own process, on real NATS and a real database."""

    def __init__(
        self, tmp_path: Path, database_url: str, nats_url: str, env: dict[str, str]
    ) -> None:
        self.http_port = free_port()
        self.log = tmp_path / "notify.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GOVPLAT_")}
        self.env.update(
            env,
            GOVPLAT_DATABASE_URL=database_url,
            GOVPLAT_NATS_URL=nats_url,
            GOVPLAT_HTTP_PORT=str(self.http_port),
            GOVPLAT_GRPC_PORT=str(free_port()),
            GOVPLAT_ADMIN_TOKEN=ADMIN_TOKEN,
            OTEL_SDK_DISABLED="true",
            PYTHONUNBUFFERED="1",
        )
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> NotifyProcess:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "govplat_cli", "serve", "notify"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def ready() -> bool:
            try:
                return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        # A cold start of a Python component on a busy 2-core machine can take tens of
        # seconds (imports under a load average of 10 or more).
        if not wait_until(ready, timeout=90):
            status = self.process.poll()
            state = "still running" if status is None else f"exited with status {status}"
            raise AssertionError(
                f"notify not ready within 90 s ({state}):\n{self.log.read_text()[-3000:]}"
            )
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.mark.slow
@pytest.mark.parametrize("backend", database_backends())
def test_killing_notify_mid_batch_and_restarting_it_sends_every_accepted_notification_once(
    tmp_path, backend, smtp_server
):
    smtp_port, mailbox = smtp_server
    nats = NatsServer(tmp_path / "nats").start()
    database_url = new_database_url(backend, tmp_path)
    upgrade("notify", database_url)
    private, public = new_key_pair()
    signer = PrincipalSigner(private)
    service_id = str(uuid.uuid4())
    with SmsProvider() as sms_provider:
        sms_provider.holding.set()  # answers wait until notify has been killed
        notify = NotifyProcess(
            tmp_path,
            database_url,
            nats.url,
            {
                "GOVPLAT_PRINCIPAL_PUBLIC_KEY": public,
                "GOVPLAT_SMTP_HOST": "127.0.0.1",
                "GOVPLAT_SMTP_PORT": str(smtp_port),
                "GOVPLAT_SMTP_SECURITY": "none",
                "GOVPLAT_SMS_PROVIDER": "http",
                "GOVPLAT_SMS_PROVIDER_URL": f"http://127.0.0.1:{sms_provider.port}/messages",
                "GOVPLAT_DELIVERY_RETRY_SECONDS": "0.5,1,2",
                # Messages in flight at the kill come back after this, not after a minute.
                "GOVPLAT_DELIVERY_ACK_WAIT_SECONDS": "12",
                "GOVPLAT_SMTP_TIMEOUT_SECONDS": "5",
            },
        ).start()
        try:
            with NotifyAdmin(notify.url, ADMIN_TOKEN) as admin:
                templates = {
                    kind: admin.call(
                        "POST",
                        f"/services/{service_id}/templates",
                        {
                            "type": kind,
                            "name": kind,
                            "body": "Message ((n))",
                            "subject": "Subject ((n))",
                        },
                    )["id"]
                    for kind in ("sms", "email")
                }

            def headers(key_type: str) -> dict:
                principal = Principal(
                    "org", service_id, key_type, ("notify:send",), f"key-{key_type}", "notify"
                )
                return {HEADER: signer.sign(principal, "notify")}

            accepted: dict[str, list[str]] = {"sms": [], "email": [], "test": []}
            with httpx.Client(base_url=notify.url, timeout=10) as client:
                for n in range(60):
                    for kind, key_type, recipient in (
                        ("sms", "live", {"phone_number": f"07700900{300 + n}"}),
                        ("email", "live", {"email_address": f"person{n}@example.org"}),
                        ("test", "test", {"phone_number": "07700900123"}),
                    ):
                        channel = "email" if kind == "email" else "sms"
                        response = client.post(
                            f"/v2/notifications/{channel}",
                            json={
                                "template_id": templates[channel],
                                "personalisation": {"n": n},
                                **recipient,
                            },
                            headers=headers(key_type),
                        )
                        assert response.status_code == 201, response.text
                        accepted[kind].append(response.json()["id"])
            total = sum(len(ids) for ids in accepted.values())
            assert wait_until(lambda: len(sms_provider.sent) >= 5, timeout=30)
            sent_before_kill = len(sms_provider.sent)
            notify.kill()
            sms_provider.holding.clear()
            assert sent_before_kill < len(accepted["sms"]), (
                "the kill came in the middle of the batch"
            )
            notify.start()

            def final_statuses() -> dict[str, str]:
                with httpx.Client(base_url=notify.url, timeout=10) as client:
                    statuses = {}
                    for key_type in ("live", "test"):
                        url = "/v2/notifications"
                        while url:
                            page = client.get(url, headers=headers(key_type)).json()
                            statuses.update({n["id"]: n["status"] for n in page["notifications"]})
                            following = page["links"].get("next") if page["notifications"] else None
                            url = httpx.URL(following).raw_path.decode() if following else ""
                    return statuses

            assert wait_until(
                lambda: sum(1 for s in final_statuses().values() if s == "delivered") == total,
                timeout=90,
            ), Counter(final_statuses().values())
            sms_ids = set(accepted["sms"])
            assert set(sms_provider.sent) == sms_ids, (
                "every accepted text message reached the provider"
            )
            assert len(sms_provider.sent) == len(sms_ids), "and the provider sent each exactly once"
            with NotifyAdmin(notify.url, ADMIN_TOKEN) as admin:
                inbox = admin.call("GET", f"/services/{service_id}/sandbox-inbox?limit=250")[
                    "messages"
                ]
            assert sorted(m["id"] for m in inbox) == sorted(accepted["test"]), (
                "test messages: each in the inbox once"
            )
            email_ids = {f"<{i}@notifications.govplat.local>" for i in accepted["email"]}
            assert set(mailbox.message_ids) == email_ids, (
                "every accepted email reached the mail server"
            )
            repeated = {m: c for m, c in mailbox.message_ids.items() if c > 1}
            print(f"emails repeated after the kill (same Message-ID): {len(repeated)}")
            assert len(repeated) <= DELIVERY_CONCURRENCY and all(
                c == 2 for c in repeated.values()
            ), (
                "SMTP has no idempotency key: only an email in flight at the kill may arrive twice, "
                f"with the same Message-ID; got {repeated}"
            )
        finally:
            notify.stop()
            nats.stop()
            if backend == "postgresql":
                drop_postgres_database(database_url)
