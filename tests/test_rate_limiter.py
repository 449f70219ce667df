"""The GHL rate limiter, on an injected clock so that no test really waits."""

from __future__ import annotations

import threading

import pytest
from pytest_httpx import HTTPXMock

from integration_health.clients.ghl import GhlClient
from integration_health.clients.rate_limit import RateLimiter
from integration_health.errors import ProviderError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _limiter(clock: FakeClock, limit: int = 5, interval: float = 10.0) -> RateLimiter:
    return RateLimiter(
        limit, interval, clock=clock, sleep=clock.sleep, retry_after_cap=60.0
    )


def _max_in_any_window(stamps: list[float], interval: float) -> int:
    return max(sum(1 for s in stamps if t <= s < t + interval) for t in stamps)


def test_keeps_under_the_limit_in_every_window(clock: FakeClock) -> None:
    limiter = _limiter(clock)
    stamps = []
    for _ in range(23):
        limiter.acquire("loc")
        stamps.append(clock.now)
        clock.now += 0.3
    assert _max_in_any_window(stamps, 10.0) <= 5
    assert clock.sleeps


def test_first_calls_under_the_limit_do_not_wait(clock: FakeClock) -> None:
    limiter = _limiter(clock)
    for _ in range(5):
        assert limiter.acquire("loc") == 0.0
    assert clock.sleeps == []


def test_locations_have_separate_budgets(clock: FakeClock) -> None:
    limiter = _limiter(clock, limit=2)
    for key in ("a", "a", "b", "b"):
        limiter.acquire(key)
    assert clock.sleeps == []
    limiter.acquire("a")
    assert clock.sleeps == [10.0]


def test_penalise_honours_retry_after(clock: FakeClock) -> None:
    limiter = _limiter(clock)
    assert limiter.penalise("loc", 7.0) == 7.0
    limiter.acquire("loc")
    assert clock.now == 7.0


def test_penalise_caps_a_huge_retry_after(clock: FakeClock) -> None:
    limiter = _limiter(clock)
    assert limiter.penalise("loc", 3600.0) == 60.0
    limiter.acquire("loc")
    assert clock.now == 60.0


def test_penalise_without_retry_after_waits_an_interval(clock: FakeClock) -> None:
    limiter = _limiter(clock)
    limiter.penalise("loc", None)
    limiter.acquire("loc")
    assert clock.now == 10.0


def test_observe_zero_remaining_blocks_for_the_interval(clock: FakeClock) -> None:
    limiter = _limiter(clock, limit=100)
    limiter.observe(
        "loc",
        {
            "x-ratelimit-remaining": "0",
            "x-ratelimit-max": "100",
            "x-ratelimit-interval-milliseconds": "4000",
        },
    )
    limiter.acquire("loc")
    assert clock.now == 4.0


def test_observe_low_remaining_spreads_the_rest(clock: FakeClock) -> None:
    limiter = _limiter(clock, limit=100)
    limiter.acquire("loc")
    limiter.observe(
        "loc",
        {
            "x-ratelimit-remaining": "4",
            "x-ratelimit-max": "100",
            "x-ratelimit-interval-milliseconds": "10000",
        },
    )
    limiter.acquire("loc")
    assert clock.sleeps == [2.5]


def test_low_remaining_from_our_own_calls_adds_no_wait(clock: FakeClock) -> None:
    limiter = _limiter(clock, limit=10)
    for _ in range(9):
        limiter.acquire("loc")
    limiter.observe("loc", {"x-ratelimit-remaining": "1", "x-ratelimit-max": "10"})
    limiter.acquire("loc")
    assert clock.sleeps == []


def test_observe_adopts_a_lower_server_max(clock: FakeClock) -> None:
    limiter = _limiter(clock, limit=100)
    limiter.observe("loc", {"x-ratelimit-remaining": "50", "x-ratelimit-max": "3"})
    for _ in range(3):
        limiter.acquire("loc")
    assert clock.sleeps == []
    limiter.acquire("loc")
    assert clock.sleeps == [10.0]


def test_observe_adopts_the_interval_the_server_reports(clock: FakeClock) -> None:
    limiter = _limiter(clock, limit=100, interval=10.0)
    limiter.observe(
        "loc",
        {
            "x-ratelimit-remaining": "5",
            "x-ratelimit-max": "5",
            "x-ratelimit-interval-milliseconds": "1000",
        },
    )
    for _ in range(6):
        limiter.acquire("loc")
    assert clock.sleeps == [1.0]


def test_observe_reads_header_names_in_any_case(clock: FakeClock) -> None:
    limiter = _limiter(clock, limit=100)
    limiter.observe("loc", {"X-RateLimit-Remaining": "50", "X-RateLimit-Max": "3"})
    for _ in range(4):
        limiter.acquire("loc")
    assert clock.sleeps == [10.0]


def test_penalise_without_retry_after_waits_the_reported_interval(
    clock: FakeClock,
) -> None:
    limiter = _limiter(clock)
    limiter.observe(
        "loc",
        {"x-ratelimit-remaining": "5", "x-ratelimit-interval-milliseconds": "2000"},
    )
    limiter.penalise("loc", None)
    limiter.acquire("loc")
    assert clock.now == 2.0


def test_nothing_left_after_another_clients_call_waits_the_interval(
    clock: FakeClock,
) -> None:
    limiter = _limiter(clock, limit=100)
    headers = {"x-ratelimit-max": "5", "x-ratelimit-interval-milliseconds": "1000"}
    for remaining in (3, 2, 1, 0):  # another client had used one call
        limiter.acquire("loc")
        limiter.done("loc")
        limiter.observe("loc", {**headers, "x-ratelimit-remaining": str(remaining)})
    limiter.acquire("loc")
    assert clock.sleeps == [1.0]


def test_our_call_that_just_left_the_window_is_not_taken_for_anothers(
    clock: FakeClock,
) -> None:
    limiter = _limiter(clock, limit=100)
    window = {"x-ratelimit-max": "5", "x-ratelimit-interval-milliseconds": "1000"}
    for sent in (0.0, 0.5, 0.6, 0.7):
        clock.now = sent
        limiter.acquire("loc")
        limiter.done("loc")
    clock.now = 0.99
    limiter.acquire("loc")
    clock.now = 1.01  # the last call's answer: the server counted all five
    limiter.done("loc")
    limiter.observe("loc", {**window, "x-ratelimit-remaining": "0"})
    limiter.acquire("loc")
    assert clock.sleeps == []


def test_observe_ignores_missing_or_bad_headers(clock: FakeClock) -> None:
    limiter = _limiter(clock)
    limiter.observe("loc", {})
    limiter.observe("loc", {"x-ratelimit-remaining": "lots"})
    limiter.acquire("loc")
    assert clock.sleeps == []


def test_threads_share_one_budget(clock: FakeClock) -> None:
    limiter = _limiter(clock, limit=10, interval=60.0)
    lock = threading.Lock()
    stamps: list[float] = []

    def worker() -> None:
        limiter.acquire("loc")
        with lock:
            stamps.append(clock.now)

    threads = [threading.Thread(target=worker) for _ in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stamps) == 25
    assert _max_in_any_window(sorted(stamps), 60.0) <= 10


def test_ghl_client_acquires_observes_and_penalises(
    httpx_mock: HTTPXMock, clock: FakeClock
) -> None:
    limiter = _limiter(clock, limit=100)
    client = GhlClient("https://ghl.test", limiter=limiter, sleep=clock.sleep)
    httpx_mock.add_response(
        status_code=429, json={"message": "slow"}, headers={"Retry-After": "9"}
    )
    httpx_mock.add_response(json={"contact": None})
    with pytest.raises(ProviderError):
        client.find_duplicate("tok-123456", "loc", email="a@b.co")
    assert client.find_duplicate("tok-123456", "loc", email="a@b.co") is None
    assert clock.sleeps == [9.0]


def test_ghl_client_keeps_to_the_window_a_location_reports(
    httpx_mock: HTTPXMock, clock: FakeClock
) -> None:
    client = GhlClient("https://ghl.test", limiter=_limiter(clock, limit=100))
    for remaining in (4, 3, 2, 1, 0, 4):
        httpx_mock.add_response(
            json={"contact": None},
            headers={
                "X-RateLimit-Max": "5",
                "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Interval-Milliseconds": "1000",
            },
        )
    for _ in range(6):
        client.find_duplicate("tok-123456", "loc", email="a@b.co")
    assert clock.sleeps == [1.0]
