"""Delivery providers: who actually sends an email or a text message.

Every provider call is keyed by the notification id:

- :class:`SmtpEmailProvider` sends through a real mail server (``aiosmtplib``) with
  ``Message-ID: <notification id@email domain>``. SMTP has no idempotency keys, so
  a crash between the server's acceptance and the status being recorded sends that
  one email again, with the same Message-ID (mail systems that de-duplicate drop
  it): at least once, never lost.
- :class:`HttpSmsProvider` posts to a text message provider's JSON API with
  ``Idempotency-Key: <notification id>``, so a repeated call returns the first
  answer instead of sending again: exactly once.
- The sandbox (test keys, and any channel configured ``sandbox``) is not a provider
  object: the delivery service records the message in the sandbox inbox in the same
  transaction as its final status (:mod:`notify.service.delivery`): exactly once.

A provider answers a :class:`ProviderResult` (``delivered``, ``sending`` when the
final receipt comes later, or ``permanent-failure``), or raises
:class:`ProviderUnavailable` for a temporary failure worth retrying (connection
refused, timeout, SMTP 4xx, HTTP 429 or 5xx).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate

import aiosmtplib
import httpx

log = logging.getLogger(__name__)


class ProviderUnavailable(Exception):
    """A temporary failure: the same call may succeed later."""


@dataclass(frozen=True)
class ProviderResult:
    """What a provider said: ``status`` (Notify's) and its own ``reference``."""

    status: str
    reference: str | None = None


@dataclass(frozen=True)
class OutgoingEmail:
    """An email ready to send (addresses normalised, content rendered)."""

    notification_id: str
    to: str
    from_name: str
    from_address: str
    reply_to: str | None
    subject: str
    text: str
    html: str
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class OutgoingSms:
    """A text message ready to send: ``to`` in E.164 without ``+``, ``body`` as sent."""

    notification_id: str
    to: str
    sender: str
    body: str


def ascii_address(address: str) -> str:
    """An email address with its domain IDNA-encoded (``test@例え.テスト`` →
    ``test@xn--r8jz45g.xn--zckzah``), what a mail server without SMTPUTF8 takes; the
    local part is ASCII already (Notify's rules)."""
    local, _, domain = address.rpartition("@")
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address


class SmtpEmailProvider:
    """Sends emails through an SMTP server.

    Args:
        host / port: the server.
        security: ``starttls`` (upgrade after connecting), ``tls`` (implicit TLS) or
            ``none`` (plain; only for a server on a trusted network or in tests).
        username / password: SMTP AUTH credentials, if the server needs them.
        timeout: seconds for the whole exchange.
        message_id_domain: the domain of every ``Message-ID``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        message_id_domain: str = "govplat.local",
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout
        self.message_id_domain = message_id_domain

    def message(self, email: OutgoingEmail) -> EmailMessage:
        """The MIME message (plain text and HTML alternatives)."""
        message = EmailMessage()
        message["Message-ID"] = f"<{email.notification_id}@{self.message_id_domain}>"
        message["Date"] = formatdate(usegmt=True)
        message["From"] = formataddr((email.from_name, email.from_address))
        message["To"] = ascii_address(email.to)
        message["Subject"] = email.subject
        if email.reply_to:
            message["Reply-To"] = email.reply_to
        if email.unsubscribe_url:
            # RFC 8058 one-click unsubscribe.
            message["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        return message

    async def send(self, email: OutgoingEmail) -> ProviderResult:
        """Hand the email to the server.

        Returns ``delivered`` when the server accepts it (SMTP gives no later
        receipt), ``permanent-failure`` when it refuses the recipient for good (5xx).

        Raises:
            ProviderUnavailable: connection problems, timeouts, temporary (4xx) refusals.
        """
        try:
            errors, _reply = await aiosmtplib.send(
                self.message(email),
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(500 <= c < 600 for c in codes):
                return ProviderResult("permanent-failure")
            raise ProviderUnavailable(f"recipient refused for now: {codes}") from None
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                return ProviderResult("permanent-failure")
            raise ProviderUnavailable(f"SMTP {exc.code}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise ProviderUnavailable(type(exc).__name__) from None
        if errors:
            return ProviderResult("permanent-failure")
        return ProviderResult(
            "delivered", reference=f"<{email.notification_id}@{self.message_id_domain}>"
        )


class HttpSmsProvider:
    """Sends text messages through a provider's JSON API.

    ``POST {url}`` with ``Authorization: Bearer <token>``, ``Idempotency-Key:
    <notification id>`` and ``{"to": "447700900123", "from": sender, "body": text,
    "reference": notification id}``; a 2xx answer ``{"id": ..., "status": ...}`` with
    status ``delivered``, ``sent`` or ``accepted`` (anything else but a failure is
    treated as accepted, final receipt to follow); a 4xx other than 408/429 is a
    permanent failure.
    """

    def __init__(self, url: str, token: str | None, client: httpx.AsyncClient) -> None:
        self.url = url
        self.token = token
        self.client = client

    async def send(self, sms: OutgoingSms) -> ProviderResult:
        """Send one text message.

        Raises:
            ProviderUnavailable: connection problems, timeouts, 408, 429 and 5xx.
        """
        headers = {"Idempotency-Key": sms.notification_id}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = await self.client.post(
                self.url,
                json={
                    "to": sms.to,
                    "from": sms.sender,
                    "body": sms.body,
                    "reference": sms.notification_id,
                },
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(type(exc).__name__) from None
        if response.status_code in (408, 429) or response.status_code >= 500:
            raise ProviderUnavailable(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            return ProviderResult("permanent-failure")
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        status = str(answer.get("status", "")) if isinstance(answer, dict) else ""
        reference = str(answer.get("id", "")) if isinstance(answer, dict) else ""
        if status in ("failed", "permanent-failure", "undeliverable"):
            return ProviderResult("permanent-failure", reference or None)
        if status == "delivered":
            return ProviderResult("delivered", reference or None)
        if status == "sent":
            return ProviderResult("sent", reference or None)
        return ProviderResult("sending", reference or None)


@dataclass
class Providers:
    """The configured providers; ``None`` for a channel means the sandbox."""

    email: SmtpEmailProvider | None = None
    sms: HttpSmsProvider | None = None

    def is_sandbox(self, channel: str) -> bool:
        """Whether live messages of ``channel`` go to the sandbox (letters always do:
        there is no print provider adapter but the sandbox's)."""
        if channel == "email":
            return self.email is None
        if channel == "sms":
            return self.sms is None
        return True
