"""An open-loop burst of webhook events: request i is sent at t0 + i/rate.

Latency counts from the moment a request was *scheduled*, not sent, so a
stalled server cannot hide behind a slowed-down client (coordinated
omission). Requests run on a thread pool sized for ``rate x timeout``
requests in flight, so a stalled response does not delay a later send. The
burst is bounded in count, per request (``timeout``) and overall
(``deadline``); it never retries. Requests in flight at the deadline are
counted then; their threads end within their own timeout.

httpx is used here directly rather than through ``clients/``: the burst is a
measuring instrument, and every httpx failure becomes a status label below
(``timeout``, ``connect_error``, ``error``, ``deadline``), never an exception.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

SYNTHETIC_HEADER = "X-Synthetic-Check"
#: Labels of requests that got no HTTP response.
TRANSPORT_FAILURES = frozenset({"timeout", "connect_error", "error", "deadline"})
MAX_WORKERS = 512


@dataclass(frozen=True)
class BurstResult:
    """What one burst measured; latencies in seconds, from schedule time."""

    latencies: tuple[float, ...]
    statuses: Mapping[str, int]
    scheduled: int
    achieved_rate: float
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None
    send_lags: tuple[float, ...] = field(default=(), repr=False)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with q% at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def synthetic_payloads(count: int, *, seed: int = 0) -> list[bytes]:
    """Invented GHL inbound-message and Unipile account-status events, alternating."""
    rng = random.Random(seed)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    payloads: list[bytes] = []
    for i in range(count):
        tag = f"{i:05d}{rng.randrange(16**6):06x}"
        event: dict[str, Any]
        if i % 2 == 0:
            event = {
                "type": "InboundMessage",
                "locationId": f"synthetic-location-{tag[:5]}",
                "contactId": f"synthetic-contact-{tag}",
                "conversationId": f"synthetic-conversation-{tag}",
                "messageType": "SMS",
                "body": "Synthetic check message, please ignore.",
                "dateAdded": now,
                "messageId": f"synthetic-{uuid.UUID(int=rng.getrandbits(128))}",
            }
        else:
            event = {
                "AccountStatus": {
                    "account_id": f"synthetic-account-{tag}",
                    "account_type": "LINKEDIN",
                    "message": "OK",
                }
            }
        payloads.append(json.dumps(event).encode())
    return payloads


def _send(
    client: httpx.Client, url: str, body: bytes, headers: Mapping[str, str]
) -> str:
    try:
        response = client.post(url, content=body, headers=dict(headers))
    except httpx.TimeoutException:
        return "timeout"
    except httpx.ConnectError:
        return "connect_error"
    except httpx.HTTPError:
        return "error"
    return str(response.status_code)


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    lags: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)


def _workers(count: int, rate: float, timeout: float) -> int:
    """Enough threads that requests stalled for ``timeout`` never hold up a send.

    Threads are started only as needed; past the cap a long stall does delay
    later sends, and since latency counts from the schedule it still shows.
    """
    return max(1, min(count, math.ceil(rate * timeout) + 8, MAX_WORKERS))


def _burst(
    url: str,
    *,
    count: int,
    rate: float,
    timeout: float,
    deadline: float,
    headers: Mapping[str, str],
    payloads: Sequence[bytes],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> _Tally:
    workers = _workers(count, rate, timeout)
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    client = httpx.Client(timeout=timeout, limits=limits)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="burst")

    def one(i: int, scheduled: float) -> tuple[str, float, float]:
        sent = clock()
        label = _send(client, url, payloads[i % len(payloads)], headers)
        return label, clock() - scheduled, sent

    futures: dict[Future[tuple[str, float, float]], float] = {}
    t0 = clock()
    end = t0 + deadline
    try:
        for i in range(count):
            scheduled = t0 + i / rate
            if scheduled >= end:
                break
            wait = scheduled - clock()
            if wait > 0:
                sleep(wait)
            futures[pool.submit(one, i, scheduled)] = scheduled
        _, late = wait_futures(futures, timeout=max(0.0, end - clock()))
        return _tally(futures, late, clock(), count)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        client.close()


def _tally(
    futures: Mapping[Future[tuple[str, float, float]], float],
    late: set[Future[tuple[str, float, float]]],
    stopped: float,
    count: int,
) -> _Tally:
    tally = _Tally()
    for future, scheduled in futures.items():
        if future in late:
            tally.latencies.append(stopped - scheduled)
            tally.statuses["deadline"] += 1
            continue
        label, latency, sent = future.result()
        tally.latencies.append(latency)
        tally.statuses[label] += 1
        tally.sent_at.append(sent)
        tally.lags.append(sent - scheduled)
    if count > len(futures):
        tally.statuses["deadline"] += count - len(futures)
    return tally


def run_burst(
    url: str,
    *,
    count: int,
    rate: float,
    timeout: float,
    deadline: float,
    headers: Mapping[str, str],
    payloads: Sequence[bytes],
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> BurstResult:
    """Send ``count`` POSTs at ``rate`` per second and measure them open-loop.

    Requests not yet sent when ``deadline`` seconds have passed are not sent
    and count as ``deadline``; requests still in flight then count as
    ``deadline`` with their latency up to that moment.

    Known limitation: httpx's timeout is per phase (connect, read, write),
    so a server trickling bytes can hold the final clean-up past the
    deadline, though never the result.
    """
    if count < 1 or rate <= 0 or timeout <= 0 or deadline <= 0 or not payloads:
        raise ValueError("count, rate, timeout, deadline and payloads must be > 0")
    tally = _burst(
        url,
        count=count,
        rate=rate,
        timeout=timeout,
        deadline=deadline,
        headers=headers,
        payloads=payloads,
        clock=clock,
        sleep=sleep,
    )
    return _result(tally, count)


def _result(tally: _Tally, count: int) -> BurstResult:
    sent = sorted(tally.sent_at)
    span = sent[-1] - sent[0] if len(sent) > 1 else 0.0
    achieved = (len(sent) - 1) / span if span > 0 else 0.0
    lat = tuple(tally.latencies)
    return BurstResult(
        latencies=lat,
        statuses=dict(sorted(tally.statuses.items())),
        scheduled=count,
        achieved_rate=achieved,
        p50=percentile(lat, 50),
        p95=percentile(lat, 95),
        p99=percentile(lat, 99),
        max=max(lat) if lat else None,
        send_lags=tuple(tally.lags),
    )
