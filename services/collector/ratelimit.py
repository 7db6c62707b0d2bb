"""Rate limits of the collector (the `limits` library: moving windows, in memory, exact over any window).

Two budgets: requests per key (per key and client address for browser keys, whose key is public and shared by
every visitor, so one visitor cannot spend the budget of the others), and failed attempts (wrong or missing key,
bad signature, foreign origin) per client address. An address past its failure budget is refused before its key
is even looked at, so guessing keys is slowed to that budget whatever the guesses are.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


def parse_rate(text: str) -> RateLimitItem:
    """Parse a rate such as `100/second` or `20 per minute`; ValueError if it is none."""
    try:
        return parse(text)
    except ValueError:
        raise ValueError(f"expected a rate such as 100/second or 20/minute, got {text!r}") from None


class RateLimits:
    """The collector's budgets; each check returns None (go on) or the seconds to wait (Retry-After)."""

    def __init__(self, per_key: str, failures: str, key_rates: Mapping[str, str | None]) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._default = parse_rate(per_key)
        self._failures = parse_rate(failures)
        self._rates = {name: parse_rate(rate) for name, rate in key_rates.items() if rate}

    def _wait(self, item: RateLimitItem, *identifiers: str) -> int:
        reset = self._limiter.get_window_stats(item, *identifiers).reset_time
        return max(1, math.ceil(reset - time.time()))

    def address_blocked(self, address: str) -> int | None:
        """Return the wait when an address has used up its failure budget, else None (nothing is spent)."""
        if self._limiter.test(self._failures, "failures", address):
            return None
        return self._wait(self._failures, "failures", address)

    def failed(self, address: str) -> None:
        """Spend one failed attempt of an address."""
        self._limiter.hit(self._failures, "failures", address)

    def key_over(self, name: str, address: str | None = None) -> int | None:
        """Spend one request of a key (of a key at an address, for browser keys); the wait when it is over."""
        item = self._rates.get(name, self._default)
        identifiers = ("key", name, address or "")
        return None if self._limiter.hit(item, *identifiers) else self._wait(item, *identifiers)
