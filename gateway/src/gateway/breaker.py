"""A circuit breaker per backend: stop sending to a backend that keeps failing.

Closed: requests flow; ``threshold`` consecutive failures (unreachable, reset, or
timed out) open it. Open: requests are refused at once with 503 for ``cooldown``
seconds. Then half-open: one trial request goes through; success closes the
breaker, failure opens it again.
"""

from __future__ import annotations

import time


class CircuitBreaker:
    """Args: ``threshold`` consecutive failures to open; ``cooldown`` seconds open."""

    def __init__(self, threshold: int = 5, cooldown: float = 10.0) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        if self.opened_at is None:
            return "closed"
        return "open" if time.monotonic() - self.opened_at < self.cooldown else "half-open"

    def allow(self) -> bool:
        """Whether a request may go to the backend now."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def succeeded(self) -> None:
        """The backend answered (any HTTP status)."""
        self.failures = 0
        self.opened_at = None
        self._trial_running = False

    def failed(self) -> None:
        """The backend could not be reached or did not answer in time."""
        self.failures += 1
        self._trial_running = False
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = time.monotonic()
