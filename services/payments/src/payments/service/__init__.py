"""The payments service's use cases (GOV.UK Pay's behaviour). Each public function that
changes data owns its transaction.

- :mod:`.payments`: creating, reading, searching, cancelling, capturing and expiring
  payments, and their events.
- :mod:`.card_pages`: what the payer does on the hosted payment pages.
- :mod:`.refunds`: refunds, serialised per payment so they never exceed what was paid.
- :mod:`.agreements`: recurring-payment agreements and the payments taken on them.
- :mod:`.webhooks`: subscriptions and signed, retried deliveries.
- :mod:`.ledger`: balanced double-entry lines and the daily reconciliation.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from govkit.principal import Principal

_BASE32 = "0123456789abcdefghijklmnopqrstuv"

#: Pay's external statuses: status → finished.
FINISHED = {
    "created": False,
    "started": False,
    "submitted": False,
    "capturable": False,
    "success": True,
    "failed": True,
    "cancelled": True,
    "error": True,
}
#: Pay's codes for a payment that did not succeed.
REJECTED = ("P0010", "Payment method rejected")
EXPIRED = ("P0020", "Payment expired")
USER_CANCELLED = ("P0030", "Payment was cancelled by the user")
SERVICE_CANCELLED = ("P0040", "Payment was cancelled by the service")
PROVIDER_ERROR = ("P0050", "Payment provider returned an error")
#: Where a payment may go from each status (Pay's external transitions, without quirks).
TRANSITIONS = {
    "created": {"started", "failed", "cancelled", "error"},
    "started": {"submitted", "failed", "cancelled", "error"},
    "submitted": {"success", "capturable", "failed", "cancelled", "error"},
    "capturable": {"success", "cancelled", "failed"},
}


def new_id() -> str:
    """A Pay id: 26 lower-case base32 characters (0-9, a-v) from 128 random bits."""
    value = secrets.randbits(128)
    out = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        out.append(_BASE32[digit])
    return "".join(reversed(out))


@dataclass(frozen=True)
class Caller:
    """Who calls the Pay API: a service's live or test gateway account.

    Attributes:
        service_id: the service (identity's id).
        live: a live key (else a test key: the sandbox, http return URLs allowed).
    """

    service_id: str
    live: bool

    @property
    def account(self) -> str:
        """The gateway account: ``<service id>:live`` or ``<service id>:test``."""
        return f"{self.service_id}:{'live' if self.live else 'test'}"

    @classmethod
    def from_principal(cls, principal: Principal) -> Caller:
        """The account of a Pay key or an OAuth access token (test keys are test)."""
        return cls(principal.service_id, principal.key_type != "test")
