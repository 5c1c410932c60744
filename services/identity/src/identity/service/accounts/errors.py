"""The errors of the accounts use cases (each one a reason a page can explain)."""

from __future__ import annotations

from datetime import datetime

from govkit.db import utcnow


class AccountError(Exception):
    """Base of the errors of :mod:`identity.service.accounts`."""


class InvalidInput(AccountError):
    """The citizen's input is not acceptable.

    Attributes:
        errors: field name (``email``, ``password``, ``phone_number``, ``code``,
            ``identity``) → a message that can be shown to the citizen.
    """

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("invalid input: " + ", ".join(sorted(errors)))
        self.errors = errors


class SignInFailed(AccountError):
    """Wrong email or password (deliberately does not say which)."""


class AccountLocked(AccountError):
    """Too many failed sign-ins: refused until ``until`` (aware UTC datetime)."""

    def __init__(self, until: datetime) -> None:
        super().__init__("account locked")
        self.until = until

    def minutes_left(self, now: datetime | None = None) -> int:
        """Whole minutes until the lock ends, rounded up (at least 1)."""
        seconds = (self.until - (now or utcnow())).total_seconds()
        return max(1, -(-int(seconds) // 60))


class EmailNotVerified(AccountError):
    """The password was right but the email address was never verified; a new code
    was sent (``code_sent`` false when too many codes were sent this hour)."""

    def __init__(self, account_id: str, email: str, code_sent: bool) -> None:
        super().__init__("email not verified")
        self.account_id = account_id
        self.email = email
        self.code_sent = code_sent


class CodeRejected(AccountError):
    """The code is not the one sent (or not the authenticator app's current one)."""


class CodeExpired(AccountError):
    """No code can be accepted any more: expired, used, or tried too many times.
    The citizen must ask for a new one."""


class TooManyCodes(AccountError):
    """Too many codes were sent in the last hour; try again later."""


class SecondFactorRequired(AccountError):
    """The operation needs an account with a second factor set up."""


class AlreadyEnrolled(AccountError):
    """The account already has a second factor (changing it is not offered)."""


class AccountNotFound(AccountError):
    """No account with that id."""


class SessionNotFound(AccountError):
    """No live browser session for that cookie."""
