"""Authentication at the edge: each API family's credential, checked by identity.

- ``/v2/...`` (GOV.UK Notify): ``Authorization: Bearer <HS256 JWT>``; refusals in
  Notify's envelope with Notify's messages (401 for a missing or non-Bearer header,
  403 for a bad token).
- ``/v1/...`` (GOV.UK Pay): ``Authorization: Bearer <api key or access token>``;
  refusals are a 401 without a JSON body, as GOV.UK Pay answers.
- Register writes (``POST``/``PUT``/``PATCH``/``DELETE`` under ``/registers``): an OAuth
  access token; refusals as RFC 6750 ``invalid_token``.

Identity's answers are cached for ``ttl`` seconds (at most 30), keyed by a hash of
the credential, so revocation takes effect within that time; refusals are cached
for 5 seconds. After authentication the gateway forwards a principal signed for the
backend (:mod:`govkit.principal`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

import grpc
from fastapi.responses import JSONResponse, Response

from govkit.http import bearer_token, pay_unauthorised
from govkit.principal import Principal
from govkit.telemetry import grpc_client_interceptors
from govplat.identity.v1 import identity_service_pb2 as pb
from govplat.identity.v1 import identity_service_pb2_grpc

KEY_TYPES = {pb.KEY_TYPE_LIVE: "live", pb.KEY_TYPE_TEST: "test", pb.KEY_TYPE_TEAM: "team"}
NEGATIVE_TTL_SECONDS = 5.0
NOTIFY_MISSING = "Unauthorized: authentication token must be provided"
NOTIFY_NOT_BEARER = "Unauthorized: authentication bearer scheme must be used"


@dataclass(frozen=True)
class Refusal:
    """Why a credential was refused: the response to send, in the family's format."""

    response: Response


def notify_error(status: int, message: str) -> JSONResponse:
    """GOV.UK Notify's v2 error envelope."""
    return JSONResponse(
        {"status_code": status, "errors": [{"error": "AuthError", "message": message}]},
        status_code=status,
    )


def oauth_invalid_token(description: str) -> JSONResponse:
    """RFC 6750 section 3.1."""
    return JSONResponse(
        {"error": "invalid_token", "error_description": description},
        status_code=401,
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        },
    )


def _principal(message: pb.Principal) -> Principal:
    return Principal(
        organisation_id=message.organisation_id,
        service_id=message.service_id,
        key_type=KEY_TYPES.get(message.key_type, ""),
        scopes=tuple(message.scopes),
        credential_id=message.credential_id,
        api=message.api,
        client_id=message.client_id,
        subject=message.subject,
    )


class Authenticator:
    """Verifies credentials with identity's gRPC ``Verify*`` RPCs, with a short cache.

    Args:
        identity_address: identity's gRPC ``host:port``.
        ttl: seconds a verified credential is trusted (at most 30).
        timeout: seconds per identity call.
    """

    def __init__(
        self,
        identity_address: str,
        ttl: float = 30.0,
        timeout: float = 3.0,
        max_entries: int = 50_000,
    ):
        # Made on first use: a grpc.aio channel belongs to the event loop it is created in.
        self.identity_address = identity_address
        self.channel: grpc.aio.Channel | None = None
        self.stub: identity_service_pb2_grpc.IdentityServiceStub | None = None
        self.ttl = min(ttl, 30.0)
        self.timeout = timeout
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, Principal | Refusal]] = {}
        self._calls_under_way: dict[str, asyncio.Future[Principal | Refusal]] = {}
        self.calls = 0

    async def close(self) -> None:
        """Close the channel to identity."""
        if self.channel is not None:
            await self.channel.close()

    async def _cached(self, kind: str, credential: str, check) -> Principal | Refusal:
        """Identity's answer for a credential: from the cache, else from the one call
        already under way for it (concurrent requests with a credential not yet
        cached share one identity call), else from a new call."""
        key = kind + ":" + hashlib.sha256(credential.encode("utf-8", "surrogateescape")).hexdigest()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        call = self._calls_under_way.get(key)
        if call is None:
            call = asyncio.ensure_future(self._ask(key, check))
            self._calls_under_way[key] = call
            call.add_done_callback(lambda _call: self._calls_under_way.pop(key, None))
        # Shielded: a caller that gives up does not cancel the others' answer.
        return await asyncio.shield(call)

    async def _ask(self, key: str, check) -> Principal | Refusal:
        outcome = await check()
        now = time.monotonic()
        if outcome is None:  # identity unavailable: nothing cached
            return Refusal(JSONResponse({"error": "authentication unavailable"}, status_code=503))
        if len(self._cache) >= self.max_entries:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
        ttl = self.ttl if isinstance(outcome, Principal) else min(self.ttl, NEGATIVE_TTL_SECONDS)
        self._cache[key] = (now + ttl, outcome)
        return outcome

    async def _call(self, rpc: str, request, refuse) -> Principal | Refusal | None:
        self.calls += 1
        if self.stub is None:
            self.channel = grpc.aio.insecure_channel(
                self.identity_address, interceptors=grpc_client_interceptors()
            )
            self.stub = identity_service_pb2_grpc.IdentityServiceStub(self.channel)
        try:
            reply = await getattr(self.stub, rpc)(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                return refuse(error)
            return None
        return _principal(reply.principal)

    async def notify(self, authorization: str | None) -> Principal | Refusal:
        """A GOV.UK Notify caller (Notify ``app/authentication/auth.py`` checks 1-2 here, the rest in identity)."""
        if not authorization:
            return Refusal(notify_error(401, NOTIFY_MISSING))
        token = bearer_token(authorization)
        if authorization[:7].lower() != "bearer ":
            return Refusal(notify_error(401, NOTIFY_NOT_BEARER))

        async def check():
            return await self._call(
                "VerifyNotifyJwt",
                pb.VerifyNotifyJwtRequest(token=token),
                lambda error: Refusal(notify_error(403, error.details() or "Invalid token")),
            )

        return await self._cached("notify", token, check)

    async def payments(self, authorization: str | None) -> Principal | Refusal:
        """A GOV.UK Pay caller: an ``api_...`` key, or an OAuth access token with a payments scope."""
        token = bearer_token(authorization)
        if not token:
            return Refusal(pay_unauthorised())
        if token.count(".") == 2:
            outcome = await self.access_token(
                token, refusal=lambda _error: Refusal(pay_unauthorised()), family="payments"
            )
            if isinstance(outcome, Principal) and not any(
                s.startswith("payments:") for s in outcome.scopes
            ):
                return Refusal(pay_unauthorised())
            return outcome

        async def check():
            return await self._call(
                "VerifyApiKey",
                pb.VerifyApiKeyRequest(key=token),
                lambda _error: Refusal(pay_unauthorised()),
            )

        return await self._cached("payments", token, check)

    async def access_token(
        self, token: str, refusal=None, family: str = "oauth"
    ) -> Principal | Refusal:
        """An OAuth access token issued by identity; refusals in ``family``'s format
        (the cache keeps each family's answers apart)."""
        refuse = refusal or (
            lambda error: Refusal(oauth_invalid_token(error.details() or "invalid token"))
        )

        async def check():
            return await self._call(
                "VerifyAccessToken", pb.VerifyAccessTokenRequest(token=token), refuse
            )

        return await self._cached(f"{family}-oauth", token, check)

    async def check(self, family: str, authorization: str | None) -> Principal | Refusal:
        """The credential a request to ``family`` needs: ``notify`` (:meth:`notify`),
        ``payments`` (:meth:`payments`), anything else an access token
        (:meth:`bearer_access_token`)."""
        if family == "notify":
            return await self.notify(authorization)
        if family == "payments":
            return await self.payments(authorization)
        return await self.bearer_access_token(authorization)

    async def bearer_access_token(self, authorization: str | None) -> Principal | Refusal:
        """``Authorization: Bearer <access token>`` (register writes)."""
        token = bearer_token(authorization)
        if not token:
            return Refusal(oauth_invalid_token("a Bearer access token is required"))
        return await self.access_token(token)
