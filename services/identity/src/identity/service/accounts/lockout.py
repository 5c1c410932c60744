"""The lockout counter of failed sign-ins (wrong passwords and wrong second-factor
codes alike): ``settings.max_failed_sign_ins`` failures lock an account for
``settings.lockout_seconds``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime, timedelta

from govkit.db import utcnow
from identity.context import Context
from identity.models import Account
from identity.security import sha256_hex
from identity.service.accounts.errors import AccountError, AccountLocked

log = logging.getLogger(__name__)


class _UnknownEmailLockout:
    """Failed sign-ins of emails that have no account, counted in memory (bounded),
    so that they are "locked" like real accounts and the lockout page does not tell
    whether an email is registered. Per process: a decoy, not a defence."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[int, datetime | None]] = OrderedDict()

    def locked_until(self, email: str, now: datetime) -> datetime | None:
        """When the decoy lock of ``email`` ends, if it is locked now."""
        entry = self._entries.get(sha256_hex(email))
        if entry and entry[1] and entry[1] > now:
            return entry[1]
        return None

    def fail(self, email: str, now: datetime, limit: int, lockout: timedelta) -> datetime | None:
        """Count a failure; the lock's end when this failure locks it."""
        key = sha256_hex(email)
        count, until = self._entries.pop(key, (0, None))
        if until and until <= now:
            count, until = 0, None
        count += 1
        if count >= limit:
            count, until = 0, now + lockout
        self._entries[key] = (count, until)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return until if count == 0 else None

    def clear(self) -> None:
        """Forget every entry (tests)."""
        self._entries.clear()


#: The decoy lockout of emails without an account (this process's).
UNKNOWN_EMAILS = _UnknownEmailLockout()


def locked_until(account: Account, now: datetime | None = None) -> datetime | None:
    """When the account's lock ends, if it is locked at ``now`` (aware UTC)."""
    if account.locked_until is not None and account.locked_until > (now or utcnow()):
        return account.locked_until
    return None


def count_failure(account: Account, context: Context, now: datetime) -> datetime | None:
    """Count a failed sign-in; the lock's end when this failure locks the account."""
    account.failed_attempts = (account.failed_attempts or 0) + 1
    if account.failed_attempts >= context.settings.max_failed_sign_ins:
        account.failed_attempts = 0
        account.locked_until = now + timedelta(seconds=context.settings.lockout_seconds)
        log.info("account locked", extra={"account_id": account.id})
        return account.locked_until
    return None


def failed_guess(
    account: Account, context: Context, now: datetime, error: type[AccountError]
) -> AccountError:
    """Count a wrong password or second-factor code: the error to raise, which is
    :class:`AccountLocked` when this failure locks the account, else ``error()``."""
    until = count_failure(account, context, now)
    return AccountLocked(until) if until else error()
