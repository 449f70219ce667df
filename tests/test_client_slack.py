"""Slack webhook client: success, the plain-text failures, and URL secrecy."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from integration_health.clients.slack import SlackClient, is_permanent
from integration_health.errors import Category, ProviderError

WEBHOOK = "https://hooks.slack.com/services/T000/B000/slacksecretXYZ123"


@pytest.fixture
def client() -> SlackClient:
    return SlackClient(WEBHOOK, sleep=lambda _: None)


def _raised(client: SlackClient) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        client.post("GHL disconnected for Acme")
    return info.value


def test_post_sends_text_and_blocks(httpx_mock: HTTPXMock, client: SlackClient) -> None:
    httpx_mock.add_response(method="POST", url=WEBHOOK, text="ok")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*x*"}}]
    client.post("fallback", blocks)
    sent = httpx_mock.get_requests()[0]
    assert json.loads(sent.read()) == {"text": "fallback", "blocks": blocks}
    assert sent.headers["content-type"] == "application/json"


def test_post_without_blocks_sends_text_only(
    httpx_mock: HTTPXMock, client: SlackClient
) -> None:
    httpx_mock.add_response(text="ok")
    client.post("hello")
    assert json.loads(httpx_mock.get_requests()[0].read()) == {"text": "hello"}


ROWS = [
    (400, "invalid_payload", Category.VALIDATION_ERROR, True),
    (400, "no_text", Category.VALIDATION_ERROR, True),
    (401, "invalid_auth", Category.MISSING_CREDENTIALS, True),
    (403, "invalid_token", Category.PERMISSION_DENIED, True),
    (403, "action_prohibited", Category.PERMISSION_DENIED, True),
    (404, "channel_not_found", Category.NOT_FOUND, True),
    (404, "no_service", Category.NOT_FOUND, True),
    (410, "channel_is_archived", Category.NOT_FOUND, True),
    (413, "too_large", Category.VALIDATION_ERROR, True),
    (422, "unprocessable", Category.VALIDATION_ERROR, True),
    (429, "rate_limited", Category.RATE_LIMITED, False),
    (500, "rollup_error", Category.SERVER_ERROR, False),
    (503, "service_unavailable", Category.SERVER_ERROR, False),
]


@pytest.mark.parametrize(("status", "body", "category", "permanent"), ROWS)
def test_failures_are_classified(
    httpx_mock: HTTPXMock,
    client: SlackClient,
    status: int,
    body: str,
    category: Category,
    permanent: bool,
) -> None:
    httpx_mock.add_response(status_code=status, text=body)
    err = _raised(client)
    assert (err.category, err.code, err.status) == (category, body, status)
    assert is_permanent(err) is permanent


def test_429_keeps_retry_after(httpx_mock: HTTPXMock, client: SlackClient) -> None:
    httpx_mock.add_response(
        status_code=429, text="rate_limited", headers={"Retry-After": "3"}
    )
    assert _raised(client).retry_after == 3.0


FAULTS: list[tuple[dict[str, Any], Category]] = [
    ({"status_code": 502, "html": "<html><h1>502 Bad Gateway</h1></html>"},
     Category.SERVER_ERROR),
    ({"status_code": 200, "content": b""}, Category.UNKNOWN),
    ({"status_code": 200, "text": "<html>captive portal</html>"}, Category.UNKNOWN),
    ({"status_code": 200, "json": {"ok": True}}, Category.UNKNOWN),
    ({"status_code": 201, "text": "ok"}, Category.UNKNOWN),
]  # fmt: skip


@pytest.mark.parametrize(("response", "category"), FAULTS)
def test_anything_but_200_ok_is_a_failure(
    httpx_mock: HTTPXMock,
    client: SlackClient,
    response: dict[str, Any],
    category: Category,
) -> None:
    httpx_mock.add_response(**response)
    assert _raised(client).category == category


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected"),
        httpx.ReadError("Connection reset by peer"),
    ],
    ids=["read_timeout", "remote_protocol", "read_error"],
)
def test_network_faults_are_transient_timeouts(
    httpx_mock: HTTPXMock, client: SlackClient, exc: Exception
) -> None:
    httpx_mock.add_exception(exc)
    err = _raised(client)
    assert err.category == Category.NETWORK_TIMEOUT
    assert not is_permanent(err)
    assert len(httpx_mock.get_requests()) == 1


def test_webhook_url_is_in_no_error(httpx_mock: HTTPXMock, client: SlackClient) -> None:
    httpx_mock.add_exception(httpx.ConnectError(f"cannot reach {WEBHOOK}"))
    httpx_mock.add_exception(httpx.ConnectError(f"cannot reach {WEBHOOK}"))
    httpx_mock.add_exception(httpx.ConnectError(f"cannot reach {WEBHOOK}"))
    err = _raised(client)
    for text in (str(err), repr(err), err.detail, repr(client)):
        assert "slacksecretXYZ123" not in text
        assert "/services/" not in text
