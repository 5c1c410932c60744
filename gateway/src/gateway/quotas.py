"""Quotas per credential, with the ``limits`` library, answered in each family's format.

- GOV.UK Notify: ``POST /v2/notifications/...`` at most 3,000 per minute per
  service and key type (``429 RateLimitError``, ``Exceeded rate limit for key type
  LIVE of 3000 requests per 60 seconds``), and per-type daily limits per service
  (email 250,000, sms 250,000, letter 20,000; ``429 TooManyRequestsError``,
  ``Exceeded send limits (email: 250000) for today``), reset at midnight UTC. Test
  keys are not counted against daily limits (Notify's behaviour).
- GOV.UK Pay: at most 15 ``POST`` requests per second per account (service and key
  type): ``429 {"code": "P0900", "description": "Too many requests"}``.

Keys are the authenticated credential's service and key type, never a client
address, so a spoofed ``X-Forwarded-For`` cannot escape a quota. Counts are kept
in memory, or in Redis when ``GOVPLAT_RATE_LIMIT_STORAGE`` is a ``redis://`` URL,
so that several gateway replicas share them.
"""

from __future__ import annotations

import logging

from fastapi.responses import JSONResponse, Response
from limits import RateLimitItemPerDay, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from govkit.principal import Principal

log = logging.getLogger(__name__)

NOTIFY_PER_MINUTE = 3000
NOTIFY_DAILY = {"email": 250_000, "sms": 250_000, "letter": 20_000}
PAY_POSTS_PER_SECOND = 15
NOTIFY_KEY_TYPE_NAMES = {"live": "LIVE", "team": "TEAM", "test": "TEST"}


def storage_for(url: str):
    """The ``limits`` async storage for ``memory://`` or ``redis://host:port/db``.

    Raises:
        ValueError: for any other scheme.
    """
    if url in ("", "memory://"):
        return storage_from_string("async+memory://")
    if url.startswith(("redis://", "rediss://")):
        return storage_from_string("async+" + url, implementation="redispy")
    raise ValueError("GOVPLAT_RATE_LIMIT_STORAGE must be memory:// or a redis:// URL")


class Quotas:
    """The gateway's quotas.

    Args:
        storage_url: ``memory://`` (default) or ``redis://...``.
        notify_per_minute / notify_daily / pay_posts_per_second: the limits (configurable
            for tests and for agencies with other agreements).
    """

    def __init__(
        self,
        storage_url: str = "memory://",
        *,
        notify_per_minute: int = NOTIFY_PER_MINUTE,
        notify_daily: dict[str, int] | None = None,
        pay_posts_per_second: int = PAY_POSTS_PER_SECOND,
    ) -> None:
        storage = storage_for(storage_url)
        self.sliding = SlidingWindowCounterRateLimiter(storage)
        self.fixed = FixedWindowRateLimiter(storage)
        self.notify_rate = RateLimitItemPerMinute(notify_per_minute)
        self.notify_per_minute = notify_per_minute
        self.notify_daily = {
            kind: RateLimitItemPerDay(n) for kind, n in (notify_daily or NOTIFY_DAILY).items()
        }
        self.pay_rate = RateLimitItemPerSecond(pay_posts_per_second)

    async def check(
        self, family: str, principal: Principal, method: str, path: str
    ) -> Response | None:
        """Count this request; return the family's 429 response when over a quota, else ``None``."""
        if family == "notify" and method == "POST" and path.startswith("/v2/notifications"):
            return await self._notify(principal, path)
        if family == "payments" and method == "POST":
            if not await self.sliding.hit(
                self.pay_rate, "pay", principal.service_id, principal.key_type
            ):
                return JSONResponse(
                    {"code": "P0900", "description": "Too many requests"}, status_code=429
                )
        return None

    async def _notify(self, principal: Principal, path: str) -> Response | None:
        key_type = principal.key_type
        if not await self.sliding.hit(
            self.notify_rate, "notify-rate", principal.service_id, key_type
        ):
            name = NOTIFY_KEY_TYPE_NAMES.get(key_type, key_type.upper())
            message = f"Exceeded rate limit for key type {name} of {self.notify_per_minute} requests per 60 seconds"
            return _notify_error("RateLimitError", message)
        kind = path.rstrip("/").rsplit("/", 1)[-1]
        kind = "letter" if kind == "precompiled" else kind
        daily = self.notify_daily.get(kind)
        if daily is None or key_type == "test":
            return None
        if not await self.fixed.hit(daily, "notify-daily", principal.service_id, kind):
            return _notify_error(
                "TooManyRequestsError", f"Exceeded send limits ({kind}: {daily.amount}) for today"
            )
        return None


def _notify_error(name: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"status_code": 429, "errors": [{"error": name, "message": message}]}, status_code=429
    )
