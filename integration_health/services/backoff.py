"""Scheduled retries: exponential backoff with full jitter (design section 6).

A failed attempt is never slept on: the caller stores ``now + delay`` as the
next attempt time, so a cron run moves on and a later run picks it up.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def capped_delay(attempt: int, *, base: float, cap: float) -> float:
    """The upper bound of the wait before attempt ``attempt + 1`` (1-based)."""
    exponent = max(0, attempt - 1)
    if exponent > 60:
        return cap
    return min(cap, base * (2**exponent))


def full_jitter(
    attempt: int,
    *,
    base: float,
    cap: float,
    floor: float = 0.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """A random wait in [0, capped_delay], never below ``floor`` (Retry-After)."""
    delay = rand() * capped_delay(attempt, base=base, cap=cap)
    return min(max(delay, floor), max(cap, floor))
