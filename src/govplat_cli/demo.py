"""``govplat demo``: one payment, from the agency's API to the citizen's receipt.

Against a running ``govplat up`` (``make up``), with the sandbox credentials it wrote
(``DATA_DIR/sandbox.json``), it does what an agency and a citizen do, through the
gateway, and prints each step:

1. The agency creates a payment: ``POST /v1/payments`` with its Pay test key (GOV.UK
   Pay's API: ``amount`` in pence, ``reference``, ``description``, ``return_url``,
   the payer's ``email`` for the receipt).
2. The citizen's browser opens ``_links.next_url``: the hosted card-details page.
3. The citizen enters a sandbox card (Visa ``4444 3333 2222 1111``, which succeeds).
4. The citizen confirms, and is sent back to the agency's ``return_url``.
5. The agency reads the payment: ``success``.
6. Notify sends the agency's receipt: payments published ``PaymentSucceeded`` on NATS
   and notify made an email from the service's receipt template. A test key's
   receipt lands in the sandbox inbox, which the demo reads (notify's admin API).
7. With ``--webhook``, the agency's webhook: a receiver on 127.0.0.1 subscribed to
   ``card_payment_succeeded`` gets the payment, signed (``Pay-Signature``, HMAC-SHA256
   of the body with the webhook's secret, compared in constant time). The
   subscription is deactivated afterwards.

Every request carries the W3C ``traceparent`` of the demo's own span, ``govplat demo``,
as an agency's instrumented system would send it: the whole journey (the create, each
page, and what the payer's confirmation causes: ``PaymentSucceeded``, notify's receipt,
its hand-over to the email provider) is one trace under that span, whose id the demo
prints (docs/architecture.md, decision 40; a browser sends no ``traceparent``, so there
the confirmation is the root). With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set on ``govplat
up`` the trace is in your tracing backend, with ``GOVPLAT_TRACE_FILE`` in that file
(and the demo prints its spans; given to the demo too, the demo's own span is written
there); without either, the spans go nowhere, but the trace id is still the one the
components propagated (and log inside). See docs/observability.md.

The browser is plain httpx: it keeps the pages' cookie and posts each form with its
one-time ``nonce``, as a browser does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from govplat_cli.identity_admin import AdminError
from govplat_cli.notify_admin import NotifyAdmin

#: A sandbox card that succeeds (GOV.UK Pay's test Visa), and what a payer types with it.
DEMO_CARD = {
    "card-number": "4444333322221111",
    "expiry-month": "12",
    "expiry-year": str(date.today().year + 3),
    "cardholder-name": "Demo Payer",
    "cvc": "123",
    "address-line-1": "1 Demo Street",
    "address-city": "London",
    "address-postcode": "SW1A 1AA",
    "address-country": "GB",
}
DEMO_EMAIL = "demo.payer@example.com"
_NONCE = re.compile(r'name="nonce" value="([^"]+)"')


class DemoError(Exception):
    """A step did not do what it should (the message says which and what happened)."""


def new_traceparent() -> tuple[str, str]:
    """A fresh W3C trace context: ``(trace id, traceparent header)``, sampled."""
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def start_demo_span():
    """The demo's own root span ``govplat demo`` (service ``govplat-demo``), exported as
    the components' spans are (:func:`govkit.telemetry.configure_telemetry`: to
    ``GOVPLAT_TRACE_FILE`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` when set in the demo's
    environment). Returns ``(span, trace id, traceparent header)``; the caller ends the
    span. With tracing off (``OTEL_SDK_DISABLED=true``) the span is ``None`` and the
    trace context a made-up one (:func:`new_traceparent`)."""
    from opentelemetry import propagate, trace

    from govkit.telemetry import configure_telemetry

    configure_telemetry("demo")
    span = trace.get_tracer("govplat.demo").start_span("govplat demo")
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    if "traceparent" not in carrier:
        span.end()
        return (None, *new_traceparent())
    return span, format(span.get_span_context().trace_id, "032x"), carrier["traceparent"]


def end_demo_span(span) -> None:
    """End the span of :func:`start_demo_span` and hand it to the exporters now."""
    from opentelemetry import trace

    if span is None:
        return
    span.end()
    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush(5000)


def signature_matches(secret: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` (a ``Pay-Signature`` header) is the lower-case hex
    HMAC-SHA256 of the raw ``body`` keyed by the webhook's signing ``secret``, as
    GOV.UK Pay signs webhooks; compared in constant time."""
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


@dataclass
class WebhookDelivery:
    """One POST the receiver took: its path, headers and raw body."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """An agency's webhook endpoint: a real HTTP server on 127.0.0.1 (a free port) that
    answers 200 to every POST and keeps it; a GET is answered with a plain page (it can
    be the payment's ``return_url`` too)."""

    deliveries: list[WebhookDelivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.deliveries.append(
                        WebhookDelivery(self.path, dict(self.headers.items()), body)
                    )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                page = b"<!DOCTYPE html><html lang='en'><title>Paid</title><h1>Thank you</h1>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"

    def wait_for(
        self, check: Callable[[WebhookDelivery], bool], timeout: float
    ) -> WebhookDelivery | None:
        """The first delivery ``check`` accepts, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = next((d for d in self.deliveries if check(d)), None)
            if found is not None or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def pay_on_hosted_pages(browser: httpx.Client, next_url: str, card: dict[str, str]) -> str:
    """What a payer's browser does: open ``next_url`` (it redirects to the card-details
    page), post the card form, open the confirmation page and post it. Returns where
    the pages send the payer at the end (the ``return_url``).

    Raises:
        DemoError: a page did not answer as the hosted pages do.
    """
    form = browser.get(next_url, follow_redirects=True)
    if form.status_code != 200 or not _NONCE.search(form.text):
        raise DemoError(f"next_url did not open the card-details page ({form.status_code})")
    sent = browser.post(str(form.url), data={**card, "nonce": _NONCE.search(form.text).group(1)})
    location = sent.headers.get("location", "")
    if sent.status_code != 303 or "/pay/confirm/" not in location:
        raise DemoError(f"the card was not accepted ({sent.status_code} {location})")
    confirm_url = sent.url.join(location)
    page = browser.get(confirm_url)
    if page.status_code != 200 or not _NONCE.search(page.text):
        raise DemoError(f"no confirmation page ({page.status_code})")
    done = browser.post(confirm_url, data={"nonce": _NONCE.search(page.text).group(1)})
    if done.status_code != 303:
        raise DemoError(f"confirming did not finish the payment ({done.status_code})")
    return str(done.url.join(done.headers["location"]))


def sandbox_receipt(
    admin: NotifyAdmin, service_id: str, reference: str, timeout: float
) -> dict | None:
    """The message in a service's sandbox inbox whose body names ``reference`` (a
    receipt says the payment's reference), waiting up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        messages = admin.call("GET", f"/services/{service_id}/sandbox-inbox?limit=50")["messages"]
        found = next((m for m in messages if reference in (m.get("body") or "")), None)
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@dataclass
class DemoResult:
    """What the demo did: the payment (as the agency last read it), the receipt from
    the sandbox inbox, the webhook delivery (with ``--webhook``) and the trace id."""

    trace_id: str
    payment: dict
    receipt: dict
    receipt_seconds: float
    webhook: WebhookDelivery | None = None
    spans: list[dict] = field(default_factory=list)


def run_demo(
    sandbox: dict,
    admin_token: str,
    *,
    amount: int = 1250,
    webhook: bool = False,
    timeout: float = 30.0,
    trace_file: Path | None = None,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Journey 2 against a running platform (see the module docstring).

    Args:
        sandbox: ``sandbox.json`` (``gateway_url``, ``pay_api_key``, ``sandbox_service_id``).
        admin_token: the operator token (notify's sandbox inbox, payments' webhooks).
        amount: pence.
        webhook: subscribe a local receiver and wait for ``card_payment_succeeded``.
        timeout: seconds to wait for the receipt and the webhook.
        trace_file: the platform's ``GOVPLAT_TRACE_FILE``: the trace's spans are read
            from it and printed.
        say: where each line goes.

    Raises:
        DemoError: a step failed (the platform is not running, a page, the receipt or
            the webhook did not come).
    """
    gateway = sandbox["gateway_url"].rstrip("/")
    service_id = sandbox["sandbox_service_id"]
    root, trace_id, traceparent = start_demo_span()
    reference = f"DEMO-{uuid.uuid4().hex[:8].upper()}"
    say("govplat demo: one payment, from the agency's API to the citizen's receipt")
    say(f"  gateway {gateway}   service {service_id}")
    say(f"  trace id {trace_id} (every request below carries it in traceparent)\n")

    receiver = WebhookReceiver() if webhook else None
    hook = None
    agency = httpx.Client(
        base_url=gateway,
        headers={"Authorization": f"Bearer {sandbox['pay_api_key']}", "traceparent": traceparent},
        timeout=30,
    )
    operator = {"Authorization": f"Bearer {admin_token}"}
    try:
        if receiver is not None:
            hook = _call(
                agency,
                "POST",
                f"/admin/payments/services/{service_id}/webhooks",
                json={
                    "callback_url": f"{receiver.origin}/webhooks/pay",
                    "event_types": ["card_payment_succeeded"],
                },
                headers=operator,
                expect=201,
            )
            say(
                f"0. The agency subscribes {receiver.origin}/webhooks/pay to card_payment_succeeded"
            )

        return_url = f"{receiver.origin}/paid" if receiver else "https://service.example/paid"
        created = _call(
            agency,
            "POST",
            "/v1/payments",
            json={
                "amount": amount,
                "reference": reference,
                "description": "govplat demo payment",
                "return_url": return_url,
                "email": DEMO_EMAIL,
            },
            expect=201,
        )
        payment_id = created["payment_id"]
        say(
            f"1. The agency creates a payment      POST /v1/payments -> 201, {payment_id}, "
            f"state {created['state']['status']}, {_pounds(amount)}, reference {reference}"
        )
        next_url = created["_links"]["next_url"]["href"]
        say(f"2. The citizen opens next_url        {next_url.split('/pay/')[0]}/pay/secure/...")
        with httpx.Client(timeout=30, headers={"traceparent": traceparent}) as browser:
            number = DEMO_CARD["card-number"]
            say(f"3. ... types the sandbox card        {' '.join(re.findall('....', number))}")
            back_to = pay_on_hosted_pages(browser, next_url, DEMO_CARD)
            paid_at = time.monotonic()
            say(f"4. ... confirms, and is sent back to {back_to}")
        payment = _call(agency, "GET", f"/v1/payments/{payment_id}", expect=200)
        card = payment.get("card_details") or {}
        say(
            f"5. The agency reads the payment      GET /v1/payments/{payment_id} -> "
            f"{payment['state']['status']}, {card.get('card_brand', '')} ending "
            f"{card.get('last_digits_card_number', '')}"
        )
        if payment["state"]["status"] != "success":
            raise DemoError(f"the payment is {payment['state']}, not success")

        with NotifyAdmin(gateway, admin_token) as notify:
            receipt = sandbox_receipt(notify, service_id, reference, timeout)
        if receipt is None:
            raise DemoError(f"no receipt in the sandbox inbox within {timeout:.0f} s")
        receipt_seconds = time.monotonic() - paid_at
        say(f"6. Notify sent the receipt ({receipt_seconds:.2f} s after the confirmation):")
        say(f"     to:      {receipt['to']}")
        say(f"     subject: {receipt.get('subject')}")
        for line in (receipt.get("body") or "").splitlines():
            say(f"     | {line}")

        delivery = None
        if receiver is not None and hook is not None:
            delivery = receiver.wait_for(
                lambda d: d.json().get("resource_id") == payment_id, timeout
            )
            if delivery is None:
                raise DemoError(f"no webhook within {timeout:.0f} s")
            signed = signature_matches(
                hook["signing_secret"], delivery.body, delivery.headers.get("Pay-Signature", "")
            )
            if not signed:
                raise DemoError("the webhook's Pay-Signature does not match its body")
            say(
                f"7. The agency's webhook got {delivery.json()['event_type']} for {payment_id}, "
                "Pay-Signature valid"
            )

        spans = _spans_of(trace_file, trace_id)
        if spans:
            say(f"\nThe trace {trace_id} ({len(spans)} spans; SQL statements left out):")
            for line in span_tree(spans):
                say(f"  {line}")
        say(f"\ntrace id: {trace_id}")
        return DemoResult(trace_id, payment, receipt, receipt_seconds, delivery, spans)
    except httpx.HTTPError as exc:
        raise DemoError(
            f"the platform is not reachable at {gateway}: {type(exc).__name__}"
        ) from None
    except AdminError as exc:
        raise DemoError(str(exc)) from None
    finally:
        if hook is not None:
            try:
                agency.post(
                    f"/admin/payments/services/{service_id}/webhooks/{hook['id']}/deactivate",
                    headers=operator,
                )
            except httpx.HTTPError:
                pass
        agency.close()
        if receiver is not None:
            receiver.close()
        end_demo_span(root)


def _call(client: httpx.Client, method: str, path: str, *, expect: int, **kwargs) -> dict:
    response = client.request(method, path, **kwargs)
    if response.status_code != expect:
        raise DemoError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
    return response.json()


def _pounds(pence: int) -> str:
    return f"\u00a3{pence // 100:,}.{pence % 100:02d}"


def _spans_of(trace_file: Path | None, trace_id: str) -> list[dict]:
    """The trace's spans from the platform's trace file, once notify's provider hand-over
    is among them (it ends last), or what there is after 3 seconds."""
    if trace_file is None:
        return []
    from govkit.telemetry import read_spans

    deadline = time.monotonic() + 3
    while True:
        spans = read_spans(trace_file, trace_id)
        if any(s["name"] == "email send" for s in spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.1)


def span_tree(spans: list[dict]) -> list[str]:
    """One line per span, ``service kind name``, indented under its parent, children
    in start order. SQL statement and ASGI send/receive spans are left out (their
    children, if any, move up); a span whose parent is not among ``spans`` is a root."""
    known = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict]] = {}
    for span in sorted(spans, key=lambda s: s["start_time_unix_nano"]):
        parent = span.get("parent_span_id")
        children.setdefault(parent if parent in known else None, []).append(span)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            attributes = span.get("attributes") or {}
            if "db.system" in attributes or "asgi.event.type" in attributes:
                walk(span["span_id"], depth)
                continue
            service = span["service"].removeprefix("govplat-")
            lines.append(f"{'  ' * depth}{service} {span['kind'].lower()} {span['name']}")
            walk(span["span_id"], depth + 1)

    walk(None, 0)
    return lines
