"""The httpx seam: exception mapping, connect retries, bodies, secrecy."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from integration_health.clients import transport as tx
from integration_health.clients.ghl import GhlClient
from integration_health.clients.slack import SlackClient
from integration_health.clients.unipile import UnipileClient
from integration_health.errors import Category, ProviderError

URL = "https://api.test/x"


@pytest.fixture
def http() -> httpx.Client:
    return tx.make_http_client(
        "https://api.test", headers={}, connect_timeout=1.5, read_timeout=7.0
    )


def test_client_has_explicit_timeouts(http: httpx.Client) -> None:
    assert http.timeout.connect == 1.5
    assert http.timeout.read == 7.0


EXCEPTIONS = [
    (httpx.ReadTimeout("t"), Category.NETWORK_TIMEOUT, "timeout"),
    (httpx.WriteTimeout("t"), Category.NETWORK_TIMEOUT, "timeout"),
    (httpx.PoolTimeout("t"), Category.NETWORK_TIMEOUT, "pool_timeout"),
    (httpx.RemoteProtocolError("peer closed"), Category.NETWORK_TIMEOUT,
     "connection_reset"),
    (httpx.ReadError("reset"), Category.NETWORK_TIMEOUT, "connection_reset"),
    (httpx.WriteError("broken pipe"), Category.NETWORK_TIMEOUT, "connection_reset"),
    (httpx.DecodingError("bad gzip"), Category.UNKNOWN, "decoding_error"),
    (httpx.LocalProtocolError("bad header"), Category.UNKNOWN, "transport_error"),
    (httpx.TooManyRedirects("loop"), Category.UNKNOWN, "transport_error"),
]  # fmt: skip


@pytest.mark.parametrize(("exc", "category", "code"), EXCEPTIONS)
def test_exceptions_are_mapped_once_with_cause(
    httpx_mock: HTTPXMock,
    http: httpx.Client,
    exc: Exception,
    category: Category,
    code: str,
) -> None:
    httpx_mock.add_exception(exc)
    with pytest.raises(ProviderError) as info:
        tx.request(http, "POST", "/x", provider="p", sleep=lambda _: None)
    assert (info.value.category, info.value.code) == (category, code)
    assert info.value.__cause__ is exc
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (httpx.ConnectError("refused"), "connect_error"),
        (httpx.ConnectTimeout("slow"), "connect_timeout"),
    ],
)
def test_connect_failures_are_retried_at_most_twice(
    httpx_mock: HTTPXMock, http: httpx.Client, exc: Exception, code: str
) -> None:
    sleeps: list[float] = []
    for _ in range(3):
        httpx_mock.add_exception(exc)
    with pytest.raises(ProviderError) as info:
        tx.request(http, "POST", "/x", provider="p", sleep=sleeps.append)
    assert (info.value.category, info.value.code) == (Category.NETWORK_TIMEOUT, code)
    assert len(httpx_mock.get_requests()) == 3
    assert len(sleeps) == 2 and all(0 < s <= 1 for s in sleeps)


def test_connect_retry_succeeds_on_the_next_attempt(
    httpx_mock: HTTPXMock, http: httpx.Client
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    httpx_mock.add_response(text="fine")
    response = tx.request(http, "GET", "/x", provider="p", sleep=lambda _: None)
    assert response.text == "fine"


def test_detail_drops_urls_and_queries(
    httpx_mock: HTTPXMock, http: httpx.Client
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timeout for https://a.b/c?email=x"))
    with pytest.raises(ProviderError) as info:
        tx.request(http, "GET", "/x", provider="p")
    assert "email=x" not in info.value.detail
    assert "https://" not in info.value.detail


def _response(status: int, **kwargs: Any) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", URL), **kwargs)


@pytest.mark.parametrize(
    ("status", "kwargs", "category"),
    [
        (502, {"html": "<html>bad gateway</html>"}, Category.SERVER_ERROR),
        (503, {"content": b""}, Category.SERVER_ERROR),
        (429, {"text": "slow"}, Category.RATE_LIMITED),
        (401, {"html": "<p/>"}, Category.MISSING_CREDENTIALS),
        (403, {"html": "<p/>"}, Category.PERMISSION_DENIED),
        (200, {"content": b"  "}, Category.UNKNOWN),
        (200, {"text": "{not json"}, Category.UNKNOWN),
    ],
)
def test_json_body_classifies_non_json_by_status(
    status: int, kwargs: dict[str, Any], category: Category
) -> None:
    with pytest.raises(ProviderError) as info:
        tx.json_body(_response(status, **kwargs), "p")
    assert (info.value.category, info.value.detail) == (category, "non-JSON response")


def test_json_body_uses_the_provider_status_table() -> None:
    with pytest.raises(ProviderError) as info:
        tx.json_body(
            _response(429, text="x"),
            "p",
            by_status=lambda _: Category.ACCOUNT_THROTTLED,
        )
    assert info.value.category == Category.ACCOUNT_THROTTLED


def test_json_body_returns_json() -> None:
    assert tx.json_body(_response(200, json={"a": 1}), "p") == {"a": 1}


NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "cap", "expected"),
    [
        ("12", None, 12.0),
        ("1.5", None, 1.5),
        ("900", 60.0, 60.0),
        ("Thu, 01 Jan 2026 00:00:30 GMT", None, 30.0),
        ("-4", None, 0.0),
        ("soon", None, None),
        ("", None, None),
    ],
)
def test_parse_retry_after(
    value: str, cap: float | None, expected: float | None
) -> None:
    headers = httpx.Headers({"Retry-After": value})
    assert tx.parse_retry_after(headers, cap=cap, now=NOW) == expected


SECRET_KEY = "unipile-key-SECRET-0001"
SECRET_TOKEN = "ghl-token-SECRET-0002"
SECRET_HOOK = "https://hooks.slack.com/services/T1/B1/SECRET0003"


def _echo(secret: str) -> str:
    return f"rejected key {secret} for X-API-KEY: {secret}"


def test_no_secret_reaches_errors_or_logs(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Other tests configure the CLI's logging, which holds httpx at WARNING.
    caplog.set_level(logging.DEBUG, logger="httpx")
    unipile = UnipileClient("https://u.test", SECRET_KEY, sleep=lambda _: None)
    ghl = GhlClient("https://g.test", limiter=None)
    slack = SlackClient(SECRET_HOOK, sleep=lambda _: None)
    httpx_mock.add_response(
        url="https://u.test/api/v1/accounts/a1",
        status_code=401,
        json={"status": 401, "type": "errors/x", "detail": _echo(SECRET_KEY)},
    )
    httpx_mock.add_response(
        url="https://g.test/contacts/c1",
        status_code=401,
        json={"message": _echo(SECRET_TOKEN)},
    )
    httpx_mock.add_exception(httpx.ReadTimeout(_echo(SECRET_HOOK)), url=SECRET_HOOK)
    httpx_mock.add_response(url=SECRET_HOOK, status_code=404, text=SECRET_HOOK)
    errors = []
    calls = [
        lambda: unipile.get_account("a1"),
        lambda: ghl.get_contact(SECRET_TOKEN, "c1"),
        lambda: slack.post("hi"),
        lambda: slack.post("again"),
    ]
    for call in calls:
        with pytest.raises(ProviderError) as info:
            call()
        errors.append(info.value)
    texts = [t for e in errors for t in (str(e), repr(e), e.detail)]
    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records, "httpx request logs are expected at DEBUG"
    for secret in (SECRET_KEY, SECRET_TOKEN, SECRET_HOOK, "SECRET0003"):
        assert not [t for t in texts if secret in t]
