"""Injected failures: per-route faults, added latency and GHL's rate limiter.

Each table is thread-safe, since every request runs on its own thread.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from integration_health.sandbox.wire import Response, body_response

HTML_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head><body>"
    "<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>"
    "</body></html>"
)
MALFORMED_JSON = b'{"status": 5'
GHL_DAILY_LIMIT = 200_000


@dataclass
class Fault:
    """One rule: the first ``after`` matches pass, then ``times`` are hit."""

    method: str = "*"
    path: str = ".*"
    status: int | None = None
    body: str | bytes | dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    delay: float = 0.0
    drop: bool = False
    html: bool = False
    empty: bool = False
    malformed_json: bool = False
    times: int | None = None
    after: int = 0
    seen: int = 0
    applied: int = 0
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self.pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        return self.pattern.search(path) is not None

    @property
    def replaces_answer(self) -> bool:
        """Whether the route is skipped (else only delay and headers apply)."""
        overrides = (self.html, self.empty, self.malformed_json)
        return self.status is not None or self.body is not None or any(overrides)

    def response(self) -> Response:
        if self.drop:
            return Response(drop=True)
        if self.html:
            answer = Response(self.status or 502, HTML_PAGE.encode())
            answer.headers["Content-Type"] = "text/html"
        elif self.empty:
            answer = Response(self.status or 200, b"")
            answer.headers["Content-Type"] = "application/json"
        elif self.malformed_json:
            answer = Response(self.status or 200, MALFORMED_JSON)
            answer.headers["Content-Type"] = "application/json"
        else:
            answer = body_response(self.status or 500, self.body or b"")
        answer.headers.update(self.headers or {})
        return answer


class FaultTable:
    """The ordered faults; the first live match wins."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this request, counting it as seen/applied."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                if fault.times is not None and fault.applied >= fault.times:
                    continue
                fault.seen += 1
                if fault.seen <= fault.after:
                    continue
                fault.applied += 1
                return fault
        return None


class LatencyTable:
    """Added seconds per path pattern; every matching pattern adds up."""

    def __init__(self) -> None:
        self._rules: dict[str, tuple[re.Pattern[str], float]] = {}
        self._lock = threading.Lock()

    def set(self, seconds: float, path: str = ".*") -> None:
        with self._lock:
            if seconds <= 0:
                self._rules.pop(path, None)
            else:
                self._rules[path] = (re.compile(path), seconds)

    def delay_for(self, path: str) -> float:
        with self._lock:
            rules = list(self._rules.values())
        return sum(seconds for pattern, seconds in rules if pattern.search(path))


@dataclass
class RateLimit:
    limit: int
    interval_seconds: float
    retry_after: float | None = None


@dataclass
class RateDecision:
    allowed: bool
    headers: dict[str, str]


class GhlRateLimiter:
    """A sliding window per location, enforced only where a limit is set.

    Without a limit the headers still count down from GHL's documented
    100 per 10 seconds, so that clients reading them see real numbers.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._limits: dict[str | None, RateLimit] = {}
        self._windows: dict[str, deque[float]] = {}
        self._daily: dict[str, int] = {}
        self._lock = threading.Lock()

    def configure(self, location_id: str | None, limit: RateLimit | None) -> None:
        with self._lock:
            if limit is None:
                self._limits.pop(location_id, None)
            else:
                self._limits[location_id] = limit

    def check(self, location_id: str) -> RateDecision:
        with self._lock:
            configured = self._limits.get(location_id) or self._limits.get(None)
            limit = configured or RateLimit(100, 10.0)
            now = self._clock()
            window = self._windows.setdefault(location_id, deque())
            while window and window[0] <= now - limit.interval_seconds:
                window.popleft()
            allowed = configured is None or len(window) < limit.limit
            if allowed:
                window.append(now)
                self._daily[location_id] = self._daily.get(location_id, 0) + 1
            daily = self._daily.get(location_id, 0)
            headers = self._headers(limit, len(window), daily)
            if not allowed and limit.retry_after is not None:
                headers["Retry-After"] = f"{limit.retry_after:g}"
        return RateDecision(allowed, headers)

    def seconds_until_clear(self) -> float:
        """How long until no enforced window holds a call (0.0: clear now).

        A client starting afresh knows nothing of the calls before it; a
        caller that runs commands back to back waits this long in between.
        """
        with self._lock:
            now = self._clock()
            waits = [0.0]
            for location_id, window in self._windows.items():
                limit = self._limits.get(location_id) or self._limits.get(None)
                if limit is not None and window:
                    waits.append(window[-1] + limit.interval_seconds - now)
            return max(waits)

    def _headers(self, limit: RateLimit, used: int, daily: int) -> dict[str, str]:
        return {
            "X-RateLimit-Max": str(limit.limit),
            "X-RateLimit-Remaining": str(max(limit.limit - used, 0)),
            "X-RateLimit-Interval-Milliseconds": str(
                int(limit.interval_seconds * 1000)
            ),
            "X-RateLimit-Limit-Daily": str(GHL_DAILY_LIMIT),
            "X-RateLimit-Daily-Remaining": str(max(GHL_DAILY_LIMIT - daily, 0)),
        }
