"""Fault tests: the whole platform (``govplat up``) under a steady load of payments,
notifications and register appends, while each component in turn, then the NATS
server, is killed with SIGKILL and started again by ``govplat up``'s supervision
(decision 42). Real parts throughout: NATS JetStream, SQLite or PostgreSQL, a real
SMTP server (aiosmtpd) and a real HTTP text message provider that takes an
``Idempotency-Key``.

Afterwards, read through the API, the databases and JetStream:

- every request that got a 2xx reaches its final state: each accepted notification
  is ``delivered``; each created payment is there with its amount; each payment whose
  confirmation reached the return URL is ``success`` and captured; each accepted
  refund is ``success``;
- no notification reaches a provider twice: every accepted text message was sent by
  the provider exactly once (the provider is keyed by the notification id; notify
  may *ask* again for one in flight at its kill, and the key makes that a no-op).
  SMTP has no idempotency key: docs/notify.md says email delivery is at least once,
  with the same Message-ID, so an email may arrive twice, but only one that was in
  flight when ``notify-events`` (notify's relay and consumers, which deliver) was
  killed (first received before the kill, at most the delivery's provider
  concurrency of them) — that is what is asserted, no more;
- no payment is captured or refunded twice: the ledger has one pair of lines per
  captured payment and per successful refund, and each payment at most the one
  refund the load asked for (the sandbox acquirer keeps no records of its own, and
  its calls are keyed by the payment's or refund's id);
- every outbox is drained (no ``outbox_message`` row unsent in any service), every
  durable consumer is at the end of its stream (nothing pending, nothing waiting for
  an ack), nothing was dead-lettered, and each consumer's inbox holds exactly the
  events of its subjects (a subset for consumers that pass over events they never act
  on, decision 39);
- ``govplat registers verify`` passes for every register.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict

import httpx
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from govkit.db import async_url
from govkit.nats_server import port_open
from govkit.testing import database_backends
from govkit.testing.platform import COMPONENTS, SERVICES, notify_token, start_platform
from govkit.testing.providers import SmsProvider, SmtpServer, wait_until

#: Messages notify's delivery hands to providers at once (``Delivery.provider_concurrency``).
DELIVERY_CONCURRENCY = 8
#: Consumers that acknowledge events they never act on without an inbox row.
PASSING_OVER = {"identity-country-register", "notify-callbacks", "payments-recurring"}
CARD = {
    "card-number": "4444333322221111",
    "expiry-month": "11",
    "expiry-year": "2039",
    "cardholder-name": "Ada Lovelace",
    "cvc": "321",
    "address-line-1": "1 High Street",
    "address-city": "Leeds",
    "address-postcode": "LS1 1AA",
    "address-country": "GB",
    "email": "ada@example.com",
}
RETURN_URL = "https://agency.example/done"


class Load:
    """Clients that keep the platform busy from threads and record every 2xx answer.

    - payments: created with an ``Idempotency-Key`` (retried with the same key when
      the answer is lost), every second one paid on the hosted pages, every fourth
      paid one refunded 100p with ``refund_amount_available`` (so a retry cannot
      refund twice);
    - notifications: live text messages and emails, alternately (no retry: Notify's
      API has no idempotency key);
    - register appends to the ``country`` register (a user-assigned code).
    """

    def __init__(self, platform) -> None:
        self.gateway = platform.gateway_url
        self.credentials = platform.credentials()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.created: dict[str, int] = {}  # payment id → amount
        self.paid: set[str] = set()  # confirmation redirected to the return URL
        self.refunds: dict[str, str] = {}  # payment id → refund id (202, or 412 after a retry)
        self.notifications: dict[str, str] = {}  # id → sms | email
        self.appended = 0
        self.failures: Counter[str] = Counter()
        self.threads = [
            threading.Thread(target=self._payments, args=(n,), daemon=True) for n in range(2)
        ] + [
            threading.Thread(target=self._notifications, daemon=True),
            threading.Thread(target=self._appends, daemon=True),
        ]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def _fail(self, what: str) -> None:
        with self.lock:
            self.failures[what] += 1

    def _retrying(self, call, what: str, attempts: int = 20):
        """``call()`` until it answers other than 5xx (or ``attempts`` run out): its answer."""
        for _ in range(attempts):
            try:
                answer = call()
                if answer.status_code < 500:
                    return answer
            except httpx.HTTPError:
                pass
            self._fail(what)
            if self.stop.wait(0.5):
                return None
        return None

    def _payments(self, worker: int) -> None:
        api = httpx.Client(
            base_url=self.gateway,
            headers={"Authorization": f"Bearer {self.credentials['pay_api_key']}"},
            timeout=15,
        )
        n = 0
        while not self.stop.is_set():
            n += 1
            amount = 1000 + worker * 1000 + n
            key = str(uuid.uuid4())
            request = {
                "amount": amount,
                "reference": f"FAULT-{worker}-{n}",
                "description": "Fault test fee",
                "return_url": RETURN_URL,
            }
            created = self._retrying(
                lambda request=request, key=key: api.post(
                    "/v1/payments", json=request, headers={"Idempotency-Key": key}
                ),
                "payment create",
            )
            if created is None or created.status_code != 201:
                continue
            body = created.json()
            with self.lock:
                self.created[body["payment_id"]] = amount
            if n % 2:
                continue
            if self._pay(body["_links"]["next_url"]["href"]):
                with self.lock:
                    self.paid.add(body["payment_id"])
                if n % 4 == 0:
                    self._refund(api, body["payment_id"], amount)
            self.stop.wait(0.05)
        api.close()

    def _pay(self, next_url: str) -> bool:
        """What a payer's browser does on the hosted pages; whether the payer was sent
        to the return URL (the payment is then ``success``)."""
        import re

        try:
            with httpx.Client(base_url=self.gateway, timeout=15) as browser:
                form = browser.get(next_url, follow_redirects=True)
                nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
                if form.status_code != 200 or nonce is None:
                    self._fail("payment page")
                    return False
                sent = browser.post(str(form.url), data={**CARD, "nonce": nonce.group(1)})
                location = sent.headers.get("location", "")
                if sent.status_code != 303 or not location.startswith("/pay/confirm/"):
                    self._fail("card details")
                    return False
                page = browser.get(location)
                nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
                if nonce is None:
                    self._fail("confirm page")
                    return False
                done = browser.post(location, data={"nonce": nonce.group(1)})
                if done.status_code == 303 and done.headers.get("location") == RETURN_URL:
                    return True
                self._fail("confirm")
        except httpx.HTTPError:
            self._fail("payment pages")
        return False

    def _refund(self, api: httpx.Client, payment_id: str, amount: int) -> None:
        answer = self._retrying(
            lambda: api.post(
                f"/v1/payments/{payment_id}/refunds",
                json={"amount": 100, "refund_amount_available": amount},
            ),
            "refund",
        )
        if answer is not None and answer.status_code == 202:
            with self.lock:
                self.refunds[payment_id] = answer.json()["refund_id"]
        elif answer is not None and answer.status_code == 412:
            # A retry after a lost answer: the first attempt was counted.
            listed = self._retrying(lambda: api.get(f"/v1/payments/{payment_id}/refunds"), "list")
            refunds = listed.json()["_embedded"]["refunds"] if listed is not None else []
            if len(refunds) == 1:
                with self.lock:
                    self.refunds[payment_id] = refunds[0]["refund_id"]

    def _notifications(self) -> None:
        key = self.credentials["notify_live_api_key"]
        with httpx.Client(base_url=self.gateway, timeout=15) as api:
            n = 0
            while not self.stop.is_set():
                n += 1
                kind = "sms" if n % 2 else "email"
                recipient = (
                    # 07700900300 and up: not Notify's smoke-test numbers (000, 111, 222:
                    # answered and never stored) nor its simulated failures (002, 003).
                    {"phone_number": f"07700900{300 + n % 700:03d}"}
                    if kind == "sms"
                    else {"email_address": f"person{n}@example.org"}
                )
                try:
                    answer = api.post(
                        f"/v2/notifications/{kind}",
                        json={
                            "template_id": self.credentials[f"notify_{kind}_template_id"],
                            "personalisation": {"name": f"Person {n}", "show_reference": "no"},
                            **recipient,
                        },
                        headers={"Authorization": f"Bearer {notify_token(key)}"},
                    )
                except httpx.HTTPError:
                    answer = None
                if answer is not None and answer.status_code == 201:
                    with self.lock:
                        self.notifications[answer.json()["id"]] = kind
                else:
                    self._fail(f"notification {answer.status_code if answer else 'lost'}")
                self.stop.wait(0.05)

    def _appends(self) -> None:
        credentials = self.credentials
        token = None
        with httpx.Client(base_url=self.gateway, timeout=15) as api:
            n = 0
            while not self.stop.is_set():
                try:
                    if token is None:
                        answer = api.post(
                            "/token",
                            data={
                                "grant_type": "client_credentials",
                                "scope": "registers:write:country",
                            },
                            auth=(
                                credentials["oauth_client_id"],
                                credentials["oauth_client_secret"],
                            ),
                        )
                        token = answer.json()["access_token"] if answer.status_code == 200 else None
                    if token is not None:
                        n += 1
                        answer = api.post(
                            "/registers/country/entries",
                            json={
                                "entries": [
                                    {
                                        "key": "XF",
                                        "item": {"country": "XF", "name": f"Faultland {n}"},
                                    }
                                ]
                            },
                            headers={"Authorization": f"Bearer {token}"},
                        )
                        if answer.status_code == 201:
                            with self.lock:
                                self.appended += 1
                        else:
                            self._fail("append")
                            if answer.status_code == 401:
                                token = None
                except httpx.HTTPError:
                    self._fail("append")
                self.stop.wait(0.5)


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def kill_and_wait_for_restart(
    platform, name: str, timeout: float = 90, replaced: dict[str, float] | None = None
) -> float:
    """SIGKILL one of the platform's processes (a component, or ``nats``) and wait
    until ``govplat up`` has started a new one and every component is ready again;
    the seconds that took. ``replaced[name]`` gets the moment (``time.monotonic()``)
    the new process was first seen: whatever arrived before it came from the old one."""
    old = platform.pids()[name]
    killed = time.monotonic()
    os.kill(old, signal.SIGKILL)

    def back() -> bool:
        new = platform.pids().get(name)
        if new is None or new == old:
            return False
        if replaced is not None:
            replaced.setdefault(name, time.monotonic())
        if name == "nats":
            return port_open("127.0.0.1", int(platform.nats_url.rsplit(":", 1)[1]))
        return all(ready(platform.url(c)) for c in COMPONENTS)

    assert platform.process.poll() is None, "govplat up is still running"
    assert wait_until(back, timeout=timeout, interval=0.2), (
        f"{name} was not started again within {timeout} s"
    )
    if name == "nats":
        assert wait_until(lambda: all(ready(platform.url(c)) for c in COMPONENTS), timeout=60)
    return time.monotonic() - killed


def database_urls(platform) -> dict[str, str]:
    """Each service's database URL."""
    return {
        service: platform.env.get(f"GOVPLAT_{service.upper()}_DATABASE_URL")
        or f"sqlite:///{(platform.data_dir / f'{service}.db').resolve()}"
        for service in SERVICES
    }


async def _rows(url: str, query: str, **params) -> list[tuple]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            return [tuple(r) for r in (await connection.execute(text(query), params)).all()]
    finally:
        await engine.dispose()


def rows(url: str, query: str, **params) -> list[tuple]:
    """The rows of a read-only query on a service's database."""
    return asyncio.run(_rows(url, query, **params))


async def _streams(nats_url: str) -> dict:
    """Every stream's messages (subject, event id) and every durable consumer's state."""
    connection = await nats.connect(nats_url, allow_reconnect=False)
    try:
        js = connection.jetstream()
        found = {"messages": {}, "consumers": {}}
        for stream in await js.streams_info():
            name = stream.config.name
            found["messages"][name] = []
            if stream.state.messages:
                subscription = await js.pull_subscribe(
                    stream.config.subjects[0],
                    stream=name,
                    config=ConsumerConfig(
                        ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL
                    ),
                )
                while len(found["messages"][name]) < stream.state.messages:
                    for message in await subscription.fetch(1000, timeout=5):
                        found["messages"][name].append(
                            (message.subject, message.headers.get("Nats-Msg-Id"))
                        )
                await subscription.unsubscribe()
            for consumer in await js.consumers_info(name):
                if not consumer.config.durable_name:
                    continue
                found["consumers"][consumer.config.durable_name] = {
                    "stream": name,
                    "subjects": list(consumer.config.filter_subjects or [])
                    or [consumer.config.filter_subject],
                    "num_pending": consumer.num_pending,
                    "num_ack_pending": consumer.num_ack_pending,
                    "num_redelivered": consumer.num_redelivered,
                    "ack_floor": consumer.ack_floor.stream_seq,
                    "delivered": consumer.delivered.stream_seq,
                }
        return found
    finally:
        await connection.close()


def streams(nats_url: str) -> dict:
    """:func:`_streams` from sync code."""
    return asyncio.run(_streams(nats_url))


@pytest.mark.parametrize("backend", database_backends())
def test_killing_each_component_and_nats_under_load_loses_nothing_and_does_nothing_twice(
    tmp_path, backend
):
    with SmtpServer() as smtp, SmsProvider() as sms:
        platform = start_platform(
            tmp_path,
            backend,
            extra_env={
                **smtp.notify_env(),
                "GOVPLAT_NOTIFY_SMTP_TIMEOUT_SECONDS": "5",
                "GOVPLAT_NOTIFY_SMS_PROVIDER": "http",
                "GOVPLAT_NOTIFY_SMS_PROVIDER_URL": sms.url,
                "GOVPLAT_NOTIFY_DELIVERY_RETRY_SECONDS": "0.5,1,2,4",
                # Messages in flight at a kill come back after this, not after a minute.
                "GOVPLAT_NOTIFY_DELIVERY_ACK_WAIT_SECONDS": "10",
                # Captures and refunds unanswered at payments' kill are asked again soon.
                "GOVPLAT_PAYMENTS_EXPIRY_SWEEP_SECONDS": "2",
                "GOVPLAT_PAYMENTS_SETTLE_GRACE_SECONDS": "3",
                "GOVPLAT_READY_TIMEOUT_SECONDS": "120",
            },
        )
        output = ""
        try:
            restarts: dict[str, float] = {}
            replaced: dict[str, float] = {}
            with Load(platform) as load:
                time.sleep(2)
                for name in (*COMPONENTS, "nats"):
                    before = len(load.created), len(load.notifications)
                    if name == "notify-events":  # the process that delivers
                        notify_killed = time.monotonic()
                    restarts[name] = kill_and_wait_for_restart(platform, name, replaced=replaced)
                    # The load goes on between kills: something is accepted after each.
                    assert wait_until(
                        lambda b=before: (
                            len(load.created) > b[0] and len(load.notifications) > b[1]
                        ),
                        timeout=30,
                    ), f"nothing accepted after {name} came back: {load.failures}"
                time.sleep(1)
            print(f"restarted in (s): { {k: round(v, 1) for k, v in restarts.items()} }")
            print(
                f"accepted: {len(load.created)} payments, {len(load.paid)} paid, "
                f"{len(load.refunds)} refunds, {len(load.notifications)} notifications, "
                f"{load.appended} appends; refused or lost during kills: {dict(load.failures)}"
            )
            assert load.paid and load.refunds and load.appended

            # Every accepted notification is delivered.
            key = platform.credentials()["notify_live_api_key"]

            def undelivered() -> list[str]:
                with httpx.Client(base_url=platform.gateway_url, timeout=15) as api:
                    statuses = {}
                    url = "/v2/notifications"
                    while url:
                        page = api.get(
                            url, headers={"Authorization": f"Bearer {notify_token(key)}"}
                        ).json()
                        statuses.update({n["id"]: n["status"] for n in page["notifications"]})
                        following = page["links"].get("next") if page["notifications"] else None
                        url = httpx.URL(following).raw_path.decode() if following else ""
                return [i for i in load.notifications if statuses.get(i) != "delivered"]

            started = time.monotonic()
            wait_until(lambda: not undelivered(), timeout=120, interval=1)
            print(f"delivered after {time.monotonic() - started:.1f} s")
            assert not undelivered(), f"not delivered: {undelivered()[:10]}"

            # Every payment is there; every paid one is success and captured; every
            # accepted refund is success.
            with httpx.Client(
                base_url=platform.gateway_url,
                headers={"Authorization": f"Bearer {platform.credentials()['pay_api_key']}"},
                timeout=15,
            ) as api:

                def unsettled() -> list[str]:
                    left = []
                    for payment_id, amount in load.created.items():
                        body = api.get(f"/v1/payments/{payment_id}").json()
                        assert body["amount"] == amount
                        if payment_id in load.paid and not (
                            body["state"]["status"] == "success"
                            and body.get("settlement_summary", {}).get("capture_submit_time")
                        ):
                            left.append(payment_id)
                        if payment_id in load.refunds:
                            refunds = api.get(f"/v1/payments/{payment_id}/refunds").json()
                            refunds = refunds["_embedded"]["refunds"]
                            assert [r["refund_id"] for r in refunds] == [load.refunds[payment_id]]
                            if refunds[0]["status"] != "success":
                                left.append(payment_id)
                    return left

                started = time.monotonic()
                wait_until(lambda: not unsettled(), timeout=60, interval=1)
                print(f"settled after {time.monotonic() - started:.1f} s")
                assert not unsettled()

            # Providers: each text message sent once; emails at least once, twice only
            # for those in flight at notify-events' kill.
            sms_ids = {i for i, kind in load.notifications.items() if kind == "sms"}
            assert sms_ids <= set(sms.sent), "every accepted text message reached the provider"
            asked_again = {k: c for k, c in sms.calls.items() if c > 1}
            print(f"text messages asked for again (same key, not sent again): {asked_again}")
            email_ids = {
                f"<{i}@notifications.govplat.local>"
                for i, kind in load.notifications.items()
                if kind == "email"
            }
            assert email_ids <= set(smtp.mailbox.message_ids), "every accepted email arrived"
            repeated = {m: c for m, c in smtp.mailbox.message_ids.items() if c > 1}
            print(f"emails received twice (same Message-ID): {len(repeated)}")
            first_seen: dict[str, float] = {}
            for message_id, at in smtp.mailbox.received:
                first_seen.setdefault(message_id, at)
            assert len(repeated) <= DELIVERY_CONCURRENCY and all(
                # First sent by the old process: received before its replacement existed
                # (bytes it wrote just before the kill may be read a moment after it).
                c == 2 and first_seen[m] < replaced["notify-events"]
                for m, c in repeated.items()
            ), f"only emails in flight at notify-events' kill may arrive twice: {repeated}"
            second_copies = [
                at for m, at in smtp.mailbox.received if m in repeated and at > first_seen[m]
            ]
            assert all(at > notify_killed for at in second_copies)

            urls = database_urls(platform)
            # The ledger: one pair of lines per captured payment and per refund.
            lines = rows(
                urls["payments"],
                "SELECT payment_id, transaction_type, side FROM ledger_line",
            )
            by_payment: dict[str, Counter] = defaultdict(Counter)
            for payment_id, kind, side in lines:
                by_payment[payment_id][(kind, side)] += 1
            refund_rows = rows(urls["payments"], "SELECT payment_id, id, status FROM refund")
            refunds_of: dict[str, list] = defaultdict(list)
            for payment_id, refund_id, status in refund_rows:
                refunds_of[payment_id].append((refund_id, status))
            for payment_id in load.created:
                booked = by_payment.get(payment_id, Counter())
                payment_lines = sum(c for (kind, _), c in booked.items() if kind == "payment")
                refund_lines = sum(c for (kind, _), c in booked.items() if kind == "refund")
                expected = 2 if payment_id in load.paid else payment_lines
                assert payment_lines == expected and payment_lines in (0, 2), (payment_id, booked)
                assert len(refunds_of.get(payment_id, [])) <= 1, "refunded once at most"
                successful = [r for r in refunds_of.get(payment_id, []) if r[1] == "success"]
                assert refund_lines == 2 * len(successful), (payment_id, booked)

            # Outboxes drained; consumers at the end of their streams; inboxes match.
            def unsent() -> dict[str, int]:
                counts = {
                    service: rows(url, "SELECT count(*) FROM outbox_message WHERE sent_at IS NULL")[
                        0
                    ][0]
                    for service, url in urls.items()
                }
                return {s: c for s, c in counts.items() if c}

            started = time.monotonic()
            wait_until(lambda: not unsent(), timeout=60, interval=0.5)
            print(f"outboxes after {time.monotonic() - started:.1f} s")
            assert not unsent(), f"outbox rows not published: {unsent()}"

            def behind() -> dict:
                state = streams(platform.nats_url)
                return {
                    durable: c
                    for durable, c in state["consumers"].items()
                    if c["num_pending"] or c["num_ack_pending"] or c["ack_floor"] != c["delivered"]
                }

            started = time.monotonic()
            wait_until(lambda: not behind(), timeout=60, interval=1)
            print(f"consumers after {time.monotonic() - started:.1f} s")
            assert not behind(), f"consumers not at the end of their streams: {behind()}"
            state = streams(platform.nats_url)
            assert state["messages"].get("GOVPLAT_DEADLETTER", []) == [], "nothing dead-lettered"
            assert state["consumers"], "the durable consumers are there"
            for durable, consumer in state["consumers"].items():
                service = durable.split("-")[0]
                published = {
                    event_id
                    for subject, event_id in state["messages"][consumer["stream"]]
                    if subject in consumer["subjects"]
                }
                inbox = {
                    r[0]
                    for r in rows(
                        urls[service],
                        "SELECT event_id FROM inbox_message WHERE consumer = :consumer",
                        consumer=durable,
                    )
                }
                if durable in PASSING_OVER:
                    assert inbox <= published, durable
                else:
                    assert inbox == published, (
                        f"{durable}: {len(published - inbox)} published events not in the inbox, "
                        f"{len(inbox - published)} in the inbox not published"
                    )

            # Every register's tree and signed checkpoints verify.
            registers = httpx.get(f"{platform.gateway_url}/registers/", timeout=15).json()
            assert {"country", "register", "field"} <= {r["register"] for r in registers}
            # One process per register, all at once (each is mostly the CLI's start-up).
            verifying = {
                register["register"]: subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "govplat_cli",
                        "registers",
                        "verify",
                        register["register"],
                        "--database-url",
                        urls["registers"],
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                for register in registers
            }
            for name, process in verifying.items():
                out, _ = process.communicate(timeout=120)
                assert process.returncode == 0, f"{name}: {out}"
        finally:
            platform.stop()
            if platform.process.stdout is not None:
                output = platform.process.stdout.read()
        for name in (*COMPONENTS, "nats"):
            assert f"{name} stopped unexpectedly" in output, output[-3000:]
