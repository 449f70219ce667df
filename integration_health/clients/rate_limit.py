"""A per-location sliding-window limiter that keeps GHL calls under its limits.

GHL allows about 100 requests per 10 seconds per app and location and tells
what is left in ``X-RateLimit-*`` headers; some locations throttle lower, and
over another interval (5 a second, say), so the limiter keeps to both the
configured window and the one the location reports, and listens to what is
left.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

#: Below this share of the budget left, calls are spread over the interval.
_LOW_SHARE = 0.2
#: Calls of other clients tolerated before the rest is spread (the server's
#: count and ours drift a little): up to this share of the budget.
_SKEW_SHARE = 0.1


@dataclass
class _Window:
    stamps: deque[float] = field(default_factory=deque)
    #: Stamps of calls sent and not answered yet, oldest first.
    in_flight: deque[float] = field(default_factory=deque)
    #: The location's own window, from its headers (None: not reported).
    limit: int | None = None
    interval: float | None = None
    blocked_until: float = 0.0
    spacing: float = 0.0
    last: float | None = None
    #: When the call answered last was sent: the server counted what it
    #: reports at some moment after that.
    answered_sent: float | None = None


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
                    window.in_flight.append(now)
                    window.last = now
                    return waited
            self._sleep(wait)
            waited += wait

    def done(self, key: str) -> None:
        """A call was answered (or failed): re-stamp it with the time now.

        The server counts a call from when it arrives, which is between our
        send and its answer; counting ours from the answer keeps our window
        from letting go of a call before the server's does.
        """
        with self._lock:
            window = self._windows.get(key)
            if window is None or not window.in_flight:
                return
            sent = window.in_flight.popleft()
            window.answered_sent = sent
            try:
                window.stamps.remove(sent)
            except ValueError:
                return  # already aged out of the window
            window.stamps.append(
                max(self._clock(), window.stamps[-1] if window.stamps else 0.0)
            )

    def _server_interval(self, window: _Window) -> float:
        """The location's window: as reported, else the configured one."""
        return window.interval or self.interval

    def _prune(self, window: _Window, now: float) -> None:
        horizon = max(self.interval, self._server_interval(window))
        while window.stamps and window.stamps[0] <= now - horizon:
            window.stamps.popleft()

    def _wait_needed(self, window: _Window, now: float) -> float:
        self._prune(window, now)
        waits = [window.blocked_until - now]
        waits.append(_window_wait(window.stamps, self.limit, self.interval, now))
        if window.limit:
            interval = self._server_interval(window)
            waits.append(_window_wait(window.stamps, window.limit, interval, now))
        if window.spacing and window.last is not None:
            waits.append(window.last + window.spacing - now)
        return max(waits)

    def observe(self, key: str, headers: Mapping[str, str]) -> None:
        """Adopt the location's window and what it says is left.

        When what is left is low only because of our own calls, the windows
        above already hold us to the limit and nothing more is done; when
        other clients of the same location use it too, the rest is spread
        over the interval, or, with nothing left, calls wait an interval.
        """
        lowered = {name.lower(): value for name, value in headers.items()}
        remaining = _int_header(lowered, "x-ratelimit-remaining")
        maximum = _int_header(lowered, "x-ratelimit-max")
        interval_ms = _int_header(lowered, "x-ratelimit-interval-milliseconds")
        with self._lock:
            window = self._windows.setdefault(key, _Window())
            if maximum and maximum > 0:
                window.limit = maximum
            if interval_ms and interval_ms > 0:
                window.interval = interval_ms / 1000
            if remaining is not None:
                self._adapt(window, remaining, maximum)

    def _adapt(self, window: _Window, remaining: int, maximum: int | None) -> None:
        """Slow down for calls of other clients that the location counted.

        Our calls it may have counted are those of the window that ended when
        the answered call was sent (the location counted between its arrival
        and its answer): counting from now would take the calls that just
        left our window for another client's.
        """
        now = self._clock()
        interval = self._server_interval(window)
        since = now if window.answered_sent is None else window.answered_sent
        ours = sum(1 for stamp in window.stamps if stamp > since - interval)
        self._prune(window, now)
        budget = maximum or self.limit
        used_by_others = budget - remaining - ours
        window.spacing = 0.0
        if remaining <= 0 and used_by_others > 0:
            # Nothing left, not all of it ours: our window would let a call
            # through that the location refuses.
            window.blocked_until = max(window.blocked_until, now + interval)
        elif used_by_others <= max(1, int(budget * _SKEW_SHARE)):
            return
        elif remaining < budget * _LOW_SHARE:
            window.spacing = interval / remaining

    def penalise(self, key: str, seconds: float | None = None) -> float:
        """After a 429: wait the advised time (capped), else a whole interval."""
        with self._lock:
            window = self._windows.setdefault(key, _Window())
            wait = self._server_interval(window) if seconds is None else seconds
            wait = min(max(wait, 0.0), self.retry_after_cap)
            until = self._clock() + wait
            window.blocked_until = max(window.blocked_until, until)
        return wait


def _window_wait(
    stamps: deque[float], limit: int, interval: float, now: float
) -> float:
    """Seconds until one more call fits ``limit`` calls per ``interval``."""
    recent = sum(1 for stamp in stamps if stamp > now - interval)
    if recent < limit:
        return 0.0
    return stamps[-limit] + interval - now


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw.strip()))
    except ValueError:
        return None
