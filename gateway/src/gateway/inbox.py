"""The sandbox inbox behind the portal's ``/sandbox/inbox`` pages.

Messages that notify "delivered" with its sandbox providers (everything sent with a
test key, and live messages of channels that have no real provider) are kept in
notify; this module reads them through notify's admin API with the operator token.

A developer opens their service's inbox with one of the service's Notify API keys:
the gateway checks the key with identity (as it checks every Notify call, by a fresh
HS256 token signed with it) and remembers the service in a signed cookie
(``govplat_portal_inbox``, ``Path=/sandbox``, ``HttpOnly``, ``SameSite=Strict``, 8
hours). A browser only ever sees the messages of the service it proved a key for.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import aiohttp
from itsdangerous import BadData, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.jwk import OctKey
from starlette.requests import Request
from starlette.responses import Response

from gateway.auth import Authenticator
from gateway.proxy import UpstreamClient
from govkit.principal import Principal

COOKIE = "govplat_portal_inbox"
#: Seconds the inbox stays open in a browser.
MAX_AGE = 8 * 3600
_NOTIFY_KEY = re.compile(r"^.{0,200}[0-9a-fA-F-]{36}-[0-9a-fA-F-]{36}$")


class InboxUnavailable(Exception):
    """Notify could not be asked just now."""


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None


class SandboxInbox:
    """Reads sandbox inboxes and checks the Notify keys that open them.

    Args:
        notify_url: notify's base URL.
        admin_token: the operator token (notify's admin API needs it).
        client: the gateway's pooled upstream client.
        authenticator: checks Notify keys with identity.
        secret: signs the inbox cookie.
        secure: set the cookie ``Secure`` (the public origin is https).
    """

    def __init__(
        self,
        notify_url: str,
        admin_token: str,
        client: UpstreamClient,
        authenticator: Authenticator,
        secret: str,
        *,
        secure: bool = False,
    ) -> None:
        self.notify_url = notify_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {admin_token}"}
        self.client = client
        self.authenticator = authenticator
        self.serializer = URLSafeTimedSerializer(secret, salt="govplat portal inbox")
        self.secure = secure

    async def service_of_key(self, key: str) -> str | None:
        """The service a Notify API key (``{name}-{service id}-{secret}``) belongs to, or
        ``None`` when identity does not accept it.

        Raises:
            InboxUnavailable: identity could not be asked.
        """
        key = key.strip()
        if not _NOTIFY_KEY.match(key) or _uuid(key[-73:-37]) is None:
            return None
        try:
            token = jwt.encode(
                {"typ": "JWT", "alg": "HS256"},
                {"iss": key[-73:-37], "iat": int(time.time())},
                OctKey.import_key(key[-36:]),
            )
        except ValueError:
            return None
        outcome = await self.authenticator.notify(f"Bearer {token}")
        if isinstance(outcome, Principal):
            return outcome.service_id
        if getattr(outcome.response, "status_code", 0) == 503:
            raise InboxUnavailable("identity is not answering")
        return None

    def opened_service(self, request: Request) -> str | None:
        """The service whose inbox this browser opened (from its signed cookie), if any."""
        value = request.cookies.get(COOKIE, "")
        if not value or len(value) > 500:
            return None
        try:
            service_id = self.serializer.loads(value, max_age=MAX_AGE)
        except BadData:
            return None
        return _uuid(service_id) if isinstance(service_id, str) else None

    def open(self, response: Response, service_id: str) -> None:
        """Remember in the browser that it may read ``service_id``'s inbox."""
        response.set_cookie(
            COOKIE,
            self.serializer.dumps(service_id),
            max_age=MAX_AGE,
            path="/sandbox",
            httponly=True,
            samesite="strict",
            secure=self.secure,
        )

    def close(self, response: Response) -> None:
        """Forget the inbox this browser opened."""
        response.delete_cookie(COOKIE, path="/sandbox")

    async def _get(self, path: str) -> tuple[int, bytes, str]:
        try:
            async with self.client.session.get(
                f"{self.notify_url}/admin/notify{path}",
                headers=self.headers,
                timeout=aiohttp.ClientTimeout(total=10),
                allow_redirects=False,
            ) as response:
                return response.status, await response.read(), response.content_type
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise InboxUnavailable(type(exc).__name__) from None

    async def messages(
        self, service_id: str, *, before: str | None = None, limit: int = 50
    ) -> list[dict]:
        """A page of ``service_id``'s inbox, newest first (``before``: a message id).

        Raises:
            InboxUnavailable: notify could not be asked.
        """
        path = f"/services/{service_id}/sandbox-inbox?limit={limit}"
        if before and _uuid(before):
            path += f"&before={_uuid(before)}"
        status, body, _ = await self._get(path)
        if status != 200:
            raise InboxUnavailable(f"notify answered {status}")
        return list(json.loads(body)["messages"])

    async def message(self, service_id: str, notification_id: str) -> dict | None:
        """One message of ``service_id``'s inbox, with the email's HTML (``None`` when it
        is not there, or is another service's).

        Raises:
            InboxUnavailable: notify could not be asked.
        """
        identifier = _uuid(notification_id)
        if identifier is None:
            return None
        status, body, _ = await self._get(f"/sandbox-inbox/{identifier}")
        if status == 404:
            return None
        if status != 200:
            raise InboxUnavailable(f"notify answered {status}")
        message = json.loads(body)
        return message if message.get("service_id") == service_id else None

    async def letter_pdf(self, service_id: str, notification_id: str) -> bytes | None:
        """A letter's PDF from ``service_id``'s inbox, or ``None``.

        Raises:
            InboxUnavailable: notify could not be asked.
        """
        message = await self.message(service_id, notification_id)
        if message is None or message.get("type") != "letter":
            return None
        status, body, content_type = await self._get(f"/sandbox-inbox/{message['id']}/pdf")
        if status != 200 or content_type != "application/pdf":
            return None
        return body
