"""The open-loop webhook burst and the webhook-burst check, against a local endpoint."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest

from integration_health.models import utcnow
from integration_health.services.burst import percentile, run_burst, synthetic_payloads
from integration_health.services.verify import (
    Outcome,
    VerifyContext,
    check_webhook_burst,
    safe_url,
)
from integration_health.services.verify_config import BurstConfig, VerifyConfig
from tests.verify_endpoint import constant, serve

HEADERS = {"X-Synthetic-Check": "1", "Content-Type": "application/json"}


def _burst(url: str, count: int = 30, rate: float = 30.0, timeout: float = 5.0):
    return run_burst(
        url,
        count=count,
        rate=rate,
        timeout=timeout,
        deadline=10.0,
        headers=HEADERS,
        payloads=synthetic_payloads(4),
    )


def _context(url: str | None, **burst: object) -> VerifyContext:
    now = utcnow()
    config = VerifyConfig(burst=BurstConfig(url=url, **burst))  # type: ignore[arg-type]
    return VerifyContext(config=config, since=now - timedelta(hours=1), now=now)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_fast_endpoint_passes_and_receives_marked_events() -> None:
    with serve() as endpoint:
        result = check_webhook_burst(_context(endpoint.url, count=20, rate=40.0))
    assert result.outcome is Outcome.PASS
    assert result.data["statuses"] == {"200": 20}
    assert len(endpoint.bodies) == 20
    assert all(h.get("X-Synthetic-Check") == "1" for h in endpoint.headers)
    kinds = {("AccountStatus" in json.loads(b)) for b in endpoint.bodies}
    assert kinds == {True, False}


def test_synthetic_payloads_have_the_provider_shapes() -> None:
    ghl, unipile = (json.loads(p) for p in synthetic_payloads(2))
    assert ghl["messageType"] == "SMS"
    assert {
        "type",
        "locationId",
        "contactId",
        "conversationId",
        "body",
        "dateAdded",
    } <= (set(ghl))
    assert unipile["AccountStatus"]["account_type"] == "LINKEDIN"
    assert unipile["AccountStatus"]["message"] == "OK"


def test_one_stall_in_the_middle_shows_in_p99_and_max() -> None:
    with serve(lambda n, _b: (200, 2.0 if n == 15 else 0.0)) as endpoint:
        result = _burst(endpoint.url, count=30, rate=30.0)
    assert result.max is not None and result.max >= 2.0
    assert result.p99 is not None and result.p99 >= 2.0
    assert result.p50 is not None and result.p50 < 0.5
    assert result.statuses == {"200": 30}


def test_stall_does_not_delay_later_sends() -> None:
    with serve(lambda n, _b: (200, 2.0 if n == 5 else 0.0)) as endpoint:
        result = _burst(endpoint.url, count=30, rate=30.0)
    assert max(result.send_lags) < 0.5
    assert result.achieved_rate == pytest.approx(30.0, rel=0.1)


def test_p95_is_within_ten_percent_of_a_constant_delay() -> None:
    # 300 ms: a loaded 2-core host adds ~10 ms of scheduling to every request.
    with serve(constant(200, 0.3)) as endpoint:
        result = _burst(endpoint.url, count=20, rate=20.0)
    assert result.p95 == pytest.approx(0.3, rel=0.1)


def test_some_504s_fail_the_check() -> None:
    behaviour = lambda n, _b: (504 if n % 7 == 3 else 200, 0.0)  # noqa: E731
    with serve(behaviour) as endpoint:
        result = check_webhook_burst(_context(endpoint.url, count=21, rate=50.0))
    assert result.outcome is Outcome.FAIL
    assert result.data["statuses"] == {"200": 18, "504": 3}
    assert "3 responses were 504" in result.detail


def test_slow_p95_fails_the_check() -> None:
    with serve(constant(200, 0.2)) as endpoint:
        result = check_webhook_burst(
            _context(endpoint.url, count=10, rate=50.0, p95_threshold_ms=100.0)
        )
    assert result.outcome is Outcome.FAIL
    assert "p95" in result.detail.split("|")[0]


def test_connection_errors_have_their_own_label_and_fail() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/hooks"
    result = check_webhook_burst(_context(url, count=5, rate=50.0))
    assert result.outcome is Outcome.FAIL
    assert result.data["statuses"] == {"connect_error": 5}


def test_timeouts_have_their_own_label() -> None:
    with serve(constant(200, 1.0)) as endpoint:
        result = _burst(endpoint.url, count=4, rate=50.0, timeout=0.2)
    assert result.statuses == {"timeout": 4}


def test_overall_deadline_stops_the_burst_and_counts_what_was_left() -> None:
    with serve(constant(200, 3.0)) as endpoint:
        result = run_burst(
            endpoint.url,
            count=100,
            rate=10.0,
            timeout=10.0,
            deadline=0.5,
            headers=HEADERS,
            payloads=synthetic_payloads(2),
        )
    assert result.statuses == {"deadline": 100}
    assert len(endpoint.bodies) <= 6


def test_no_url_is_inconclusive() -> None:
    result = check_webhook_burst(_context(None))
    assert result.outcome is Outcome.INCONCLUSIVE
    assert "VERIFY_WEBHOOK_URL" in result.detail


def test_shown_url_has_no_path_query_or_credentials() -> None:
    shown = safe_url("https://user:pw@hooks.example:8443/in/T0k3n?token=s3cret#f")
    assert shown == "https://hooks.example:8443/..."


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95)) == (50.0, 95.0)
    assert percentile([], 95) is None
