"""A per-location sliding-window limiter that keeps GHL calls under its limits.

GHL allows about 100 requests per 10 seconds per app and location and tells
what is left in ``X-RateLimit-*`` headers; some locations throttle lower, so
the limiter both counts its own calls and listens to the headers.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

#: Below this share of the budget left, calls are spread over the interval.
_LOW_SHARE = 0.2


@dataclass
class _Window:
    stamps: deque[float] = field(default_factory=deque)
    limit: int | None = None
    blocked_until: float = 0.0
    spacing: float = 0.0
    last: float | None = None


class RateLimiter:
    """Thread-safe; one window per location key; waits with the injected sleep."""

    def __init__(
        self,
        limit: int = 100,
        interval: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        retry_after_cap: float = 60.0,
    ) -> None:
        if limit < 1 or interval <= 0:
            raise ValueError("limit must be >= 1 and interval > 0")
        self.limit = limit
        self.interval = interval
        self.retry_after_cap = retry_after_cap
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def acquire(self, key: str) -> float:
        """Block until one more call fits; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                window = self._windows.setdefault(key, _Window())
                now = self._clock()
                wait = self._wait_needed(window, now)
                if wait <= 0:
                    window.stamps.append(now)
                    window.last = now
                    return waited
            self._sleep(wait)
            waited += wait

    def _wait_needed(self, window: _Window, now: float) -> float:
        while window.stamps and window.stamps[0] <= now - self.interval:
            window.stamps.popleft()
        waits = [window.blocked_until - now]
        limit = min(self.limit, window.limit or self.limit)
        if len(window.stamps) >= limit:
            waits.append(window.stamps[-limit] + self.interval - now)
        if window.spacing and window.last is not None:
            waits.append(window.last + window.spacing - now)
        return max(waits)

    def observe(self, key: str, headers: Mapping[str, str]) -> None:
        """Adopt what GHL says is left; slow down when little is."""
        remaining = _int_header(headers, "x-ratelimit-remaining")
        if remaining is None:
            return
        maximum = _int_header(headers, "x-ratelimit-max")
        interval_ms = _int_header(headers, "x-ratelimit-interval-milliseconds")
        interval = interval_ms / 1000 if interval_ms else self.interval
        with self._lock:
            window = self._windows.setdefault(key, _Window())
            now = self._clock()
            if maximum:
                window.limit = maximum
            if remaining <= 0:
                window.blocked_until = max(window.blocked_until, now + interval)
                window.spacing = 0.0
            elif remaining < (maximum or self.limit) * _LOW_SHARE:
                window.spacing = interval / remaining
            else:
                window.spacing = 0.0

    def penalise(self, key: str, seconds: float | None = None) -> float:
        """After a 429: wait the advised time (capped), else a whole interval."""
        wait = self.interval if seconds is None else seconds
        wait = min(max(wait, 0.0), self.retry_after_cap)
        with self._lock:
            window = self._windows.setdefault(key, _Window())
            until = self._clock() + wait
            window.blocked_until = max(window.blocked_until, until)
        return wait


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw.strip()))
    except ValueError:
        return None
