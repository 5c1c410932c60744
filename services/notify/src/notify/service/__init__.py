"""The notify service's use cases. Each public function that changes data owns its
transaction; functions named ``*_in`` take the caller's open session instead (for
event handlers, whose transaction also records the event in the inbox).

- :mod:`.services`: a service's Notify settings (made with defaults on first use).
- :mod:`.templates`: templates and their versions; preview.
- :mod:`.notifications`: sending emails, text messages and letters; reading them.
- :mod:`.letters`: postal addresses.
- :mod:`.delivery`: handing notifications to providers, statuses, the sandbox inbox.
- :mod:`.callbacks`: delivery-status callbacks to the service's URL.
- :mod:`.inbound`: events from other services (payment receipts, sign-in codes).
- :mod:`.received_texts`: text messages sent to a service.
"""

from __future__ import annotations

from dataclasses import dataclass

from govkit.principal import Principal

#: Statuses after which nothing changes (Notify sets ``completed_at``).
FINAL_STATUSES = frozenset(
    {
        "sent",
        "delivered",
        "failed",
        "technical-failure",
        "temporary-failure",
        "permanent-failure",
        "returned-letter",
        "cancelled",
        "validation-failed",
        "virus-scan-failed",
    }
)
#: What ``status=failed`` means in a list filter (Notify ``NOTIFICATION_STATUS_TYPES_FAILED``).
FAILED_STATUSES = [
    "technical-failure",
    "temporary-failure",
    "permanent-failure",
    "validation-failed",
    "virus-scan-failed",
    "returned-letter",
]
KEY_TYPES = ("live", "team", "test")


@dataclass(frozen=True)
class Caller:
    """Who is calling notify: the service, its key's type and the key.

    Attributes:
        service_id: the service (identity's id).
        key_type: ``live`` (Notify's "normal"), ``team`` or ``test``.
        api_key_id: the key's id (or the name of the platform flow that sends).
    """

    service_id: str
    key_type: str
    api_key_id: str

    @classmethod
    def from_principal(cls, principal: Principal) -> Caller:
        """The caller of a request the gateway authenticated with a Notify key."""
        key_type = principal.key_type if principal.key_type in KEY_TYPES else "live"
        return cls(principal.service_id, key_type, principal.credential_id or "unknown")
