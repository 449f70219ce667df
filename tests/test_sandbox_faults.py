"""Injected faults and latency, Slack and the webhook endpoint, the controls."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from integration_health.sandbox import Sandbox
from integration_health.sandbox.faults import HTML_PAGE
from tests.sandbox_fixtures import SandboxFactory


def test_fault_replaces_status_and_body(sandbox: Sandbox) -> None:
    sandbox.add_fault("POST", "^/webhook$", status=503, body={"error": "down"})
    answer = httpx.post(sandbox.webhook_url)
    assert answer.status_code == 503
    assert answer.json() == {"error": "down"}


def test_fault_times_and_after_count_matches(sandbox: Sandbox) -> None:
    sandbox.add_fault("POST", "^/webhook$", status=504, after=1, times=2)
    statuses = [httpx.post(sandbox.webhook_url).status_code for _ in range(5)]
    assert statuses == [200, 504, 504, 200, 200]


def test_first_matching_fault_wins(sandbox: Sandbox) -> None:
    sandbox.add_fault(path="/webhook", status=500, times=1)
    sandbox.add_fault(path="/webhook", status=502)
    statuses = [httpx.post(sandbox.webhook_url).status_code for _ in range(3)]
    assert statuses == [500, 502, 502]


def test_fault_method_must_match(sandbox: Sandbox) -> None:
    sandbox.add_fault("GET", "/webhook", status=500)
    assert httpx.post(sandbox.webhook_url).status_code == 200


def test_drop_closes_without_answer(sandbox: Sandbox) -> None:
    sandbox.add_fault(path="/webhook", drop=True, times=1)
    with pytest.raises(httpx.TransportError):
        httpx.post(sandbox.webhook_url)
    assert httpx.post(sandbox.webhook_url).status_code == 200
    assert len(sandbox.requests("/webhook")) == 2


def test_html_fault_is_a_502_page(sandbox: Sandbox) -> None:
    sandbox.add_fault(path="/contacts", html=True)
    answer = httpx.get(f"{sandbox.ghl_base_url}/contacts/x")
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "text/html"
    assert answer.text == HTML_PAGE


def test_empty_fault_has_no_body(sandbox: Sandbox) -> None:
    sandbox.add_fault(path="/webhook", empty=True, status=200)
    answer = httpx.post(sandbox.webhook_url)
    assert (answer.status_code, answer.content) == (200, b"")


def test_malformed_json_fault(sandbox: Sandbox) -> None:
    sandbox.add_fault(path="/api/v1/accounts", malformed_json=True)
    answer = httpx.get(f"{sandbox.unipile_dsn}/api/v1/accounts")
    assert answer.content == b'{"status": 5'
    with pytest.raises(ValueError):
        answer.json()


def test_header_only_fault_keeps_the_route_answer(sandbox: Sandbox) -> None:
    sandbox.add_fault(path="/webhook", headers={"Retry-After": "3"})
    answer = httpx.post(sandbox.webhook_url)
    assert answer.json() == {"ok": True}
    assert answer.headers["Retry-After"] == "3"


def test_status_fault_with_retry_after_header(sandbox: Sandbox) -> None:
    sandbox.add_fault(
        path="/slack", status=429, body="rate_limited", headers={"Retry-After": "2"}
    )
    answer = httpx.post(sandbox.slack_webhook_url, json={"text": "x"})
    assert (answer.status_code, answer.text) == (429, "rate_limited")
    assert answer.headers["Retry-After"] == "2"


def test_delay_fault_delays_once_then_answers(sandbox: Sandbox) -> None:
    sandbox.add_fault(path="/webhook", delay=0.3, times=1, after=1)
    durations = []
    for _ in range(3):
        started = time.perf_counter()
        assert httpx.post(sandbox.webhook_url).status_code == 200
        durations.append(time.perf_counter() - started)
    assert durations[1] >= 0.3
    assert durations[0] < 0.3 and durations[2] < 0.3


def test_latency_applies_to_matching_paths(sandbox: Sandbox) -> None:
    sandbox.set_latency(0.2, path="^/webhook")
    started = time.perf_counter()
    httpx.post(sandbox.webhook_url)
    assert time.perf_counter() - started >= 0.2
    sandbox.set_latency(0, path="^/webhook")
    started = time.perf_counter()
    httpx.post(sandbox.webhook_url)
    assert time.perf_counter() - started < 0.2


def test_clear_faults(sandbox: Sandbox) -> None:
    sandbox.add_fault(path="/webhook", status=500)
    sandbox.clear_faults()
    assert httpx.post(sandbox.webhook_url).status_code == 200


def test_slack_answers_ok_and_records_the_text(sandbox: Sandbox) -> None:
    answer = httpx.post(sandbox.slack_webhook_url, json={"text": "Workspace down"})
    assert (answer.status_code, answer.text) == (200, "ok")
    assert answer.headers["content-type"].startswith("text/plain")
    assert sandbox.state.slack_messages == [{"text": "Workspace down"}]


def test_slack_without_text_is_400_no_text(sandbox: Sandbox) -> None:
    answer = httpx.post(sandbox.slack_webhook_url, json={})
    assert (answer.status_code, answer.text) == (400, "no_text")


def test_slack_scenario_failure(make_sandbox: SandboxFactory) -> None:
    sb = make_sandbox({"slack": {"fail": {"status": 404, "body": "no_service"}}})
    answer = httpx.post(sb.slack_webhook_url, json={"text": "x"})
    assert (answer.status_code, answer.text) == (404, "no_service")
    assert sb.state.slack_messages == []


def test_webhook_answers_ok_after_the_scenario_delay(
    make_sandbox: SandboxFactory,
) -> None:
    sb = make_sandbox({"webhook": {"delay": 0.2}})
    started = time.perf_counter()
    answer = httpx.post(
        sb.webhook_url, json={"event": "x"}, headers={"X-Synthetic-Check": "1"}
    )
    assert answer.json() == {"ok": True}
    assert time.perf_counter() - started >= 0.2
    assert sb.requests("/webhook")[0].headers["x-synthetic-check"] == "1"


def test_clear_requests(sandbox: Sandbox) -> None:
    httpx.post(sandbox.webhook_url)
    sandbox.clear_requests()
    assert sandbox.requests() == []


def test_http_controls_mirror_the_python_api(sandbox: Sandbox) -> None:
    control = httpx.Client(base_url=f"{sandbox.url}/_sandbox")
    fault = {"method": "POST", "path": "/webhook", "status": 504, "times": 1}
    assert control.post("/faults", json=fault).status_code == 200
    assert httpx.post(sandbox.webhook_url).status_code == 504
    recorded = control.get("/requests", params={"prefix": "/webhook"}).json()
    assert [item["path"] for item in recorded["requests"]] == ["/webhook"]
    control.delete("/requests")
    assert sandbox.requests() == []
    control.post("/accounts/acc_ok/sources", json={"statuses": ["CREDENTIALS"]})
    assert sandbox.state.accounts["acc_ok"]["sources"][0]["status"] == "CREDENTIALS"
    control.post(
        "/ghl-rate-limit",
        json={"location_id": "loc_1", "limit": 1, "interval_seconds": 60},
    )
    headers = {"Authorization": "Bearer ghl-token-loc-1", "Version": "2021-07-28"}
    codes = [
        httpx.get(f"{sandbox.url}/contacts/ghlc_jane", headers=headers).status_code
        for _ in range(2)
    ]
    assert codes == [200, 429]
    assert control.post("/faults", json={"nonsense": 1}).status_code == 400


def test_many_slow_requests_are_served_concurrently(sandbox: Sandbox) -> None:
    sandbox.set_latency(0.5, path="^/webhook")
    limits = httpx.Limits(max_connections=100)
    started = time.perf_counter()
    with httpx.Client(limits=limits) as http, ThreadPoolExecutor(100) as pool:
        answers = list(pool.map(lambda _: http.post(sandbox.webhook_url), range(100)))
    assert [answer.status_code for answer in answers] == [200] * 100
    assert time.perf_counter() - started < 5


def test_two_hundred_concurrent_requests_complete_quickly(sandbox: Sandbox) -> None:
    headers = {"X-API-KEY": sandbox.unipile_api_key}
    with httpx.Client(base_url=sandbox.unipile_dsn, headers=headers) as http:

        def call(_: int) -> int:
            return http.get("/api/v1/accounts/acc_ok").status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=10) as pool:
            codes = list(pool.map(call, range(200)))
    assert codes == [200] * 200
    assert time.perf_counter() - started < 10
