"""Unipile client: every success shape and every error row of the provider doc."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from integration_health.clients.unipile import (
    Account,
    Source,
    UnipileClient,
    account_health,
)
from integration_health.config import Settings
from integration_health.errors import (
    Category,
    ConfigError,
    ProviderConfigError,
    ProviderError,
)
from integration_health.models import HealthStatus

DSN = "https://api1.unipile.com:13111"
BASE = f"{DSN}/api/v1"
KEY = "unipile-test-key-123456"

ACCOUNT = {
    "object": "Account",
    "id": "acc_1",
    "type": "LINKEDIN",
    "name": "Sales One",
    "created_at": "2026-07-01T12:50:22.378Z",
    "connection_params": {"im": {"id": "ACoAA1", "publicIdentifier": "sales-one"}},
    "sources": [{"id": "acc_1_MESSAGING", "status": "OK"}],
}


@pytest.fixture
def client() -> UnipileClient:
    return UnipileClient(DSN, KEY, sleep=lambda _: None)


def _raised(call: Callable[[], Any]) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        call()
    return info.value


def _error(status: int, name: str) -> dict[str, Any]:
    return {"status": status, "type": f"errors/{name}", "title": "T", "detail": "D"}


CALLS: dict[str, Callable[[UnipileClient], Any]] = {
    "get_account": lambda c: c.get_account("acc_1"),
    "get_profile": lambda c: c.get_profile("jane-doe", "acc_1"),
    "start_chat": lambda c: c.start_chat("acc_1", ["ACo1"], "hi"),
    "send_message": lambda c: c.send_message("chat_1", "hi"),
    "send_invitation": lambda c: c.send_invitation("acc_1", "ACo1", "hello"),
    "list_accounts": lambda c: c.list_accounts(),
}

ERROR_ROWS = [
    (401, "disconnected_account", Category.DISCONNECTED_ACCOUNT),
    (401, "expired_credentials", Category.DISCONNECTED_ACCOUNT),
    (401, "invalid_credentials", Category.DISCONNECTED_ACCOUNT),
    (401, "wrong_account", Category.DISCONNECTED_ACCOUNT),
    (403, "account_restricted", Category.PERMISSION_DENIED),
    (403, "action_required", Category.PERMISSION_DENIED),
    (403, "unknown_authentication_context", Category.PERMISSION_DENIED),
    (422, "invalid_account", Category.PERMISSION_DENIED),
    (422, "invalid_recipient", Category.RECIPIENT_UNREACHABLE),
    (422, "recipient_cannot_be_reached", Category.RECIPIENT_UNREACHABLE),
    (422, "blocked_recipient", Category.RECIPIENT_UNREACHABLE),
    (422, "user_unreachable", Category.RECIPIENT_UNREACHABLE),
    (422, "recipient_rejected", Category.RECIPIENT_UNREACHABLE),
    (422, "cannot_invite_attendee", Category.RECIPIENT_UNREACHABLE),
    (422, "not_allowed_inmail", Category.RECIPIENT_UNREACHABLE),
    (422, "no_connection_with_recipient", Category.RECIPIENT_NOT_READY),
    (422, "already_invited_recently", Category.RECIPIENT_NOT_READY),
    (422, "action_already_performed", Category.RECIPIENT_NOT_READY),
    (429, "too_many_requests", Category.ACCOUNT_THROTTLED),
    (422, "cannot_resend_yet", Category.ACCOUNT_THROTTLED),
    (422, "cannot_resend_within_24hrs", Category.ACCOUNT_THROTTLED),
    (422, "limit_exceeded", Category.ACCOUNT_THROTTLED),
    (422, "insufficient_credits", Category.ACCOUNT_THROTTLED),
    (500, "provider_error", Category.SERVER_ERROR),
    (500, "unexpected_error", Category.SERVER_ERROR),
    (503, "network_down", Category.SERVER_ERROR),
    (503, "service_unavailable", Category.SERVER_ERROR),
    (503, "no_client_session", Category.SERVER_ERROR),
    (504, "request_timeout", Category.SERVER_ERROR),
    (400, "too_many_characters", Category.VALIDATION_ERROR),
    (502, "brand_new_type", Category.SERVER_ERROR),
    (429, "brand_new_type", Category.ACCOUNT_THROTTLED),
    (401, "brand_new_type", Category.DISCONNECTED_ACCOUNT),
    (418, "brand_new_type", Category.UNKNOWN),
]


@pytest.mark.parametrize(("status", "name", "category"), ERROR_ROWS)
def test_error_type_is_classified_with_its_code(
    httpx_mock: HTTPXMock,
    client: UnipileClient,
    status: int,
    name: str,
    category: Category,
) -> None:
    httpx_mock.add_response(status_code=status, json=_error(status, name))
    err = _raised(lambda: client.start_chat("acc_1", ["ACo1"], "hi"))
    assert (err.category, err.code, err.status) == (category, name, status)
    assert not isinstance(err, ProviderConfigError)


def test_classification_ignores_title_and_detail(
    httpx_mock: HTTPXMock, client: UnipileClient
) -> None:
    body = _error(422, "invalid_account") | {"title": "Recipient cannot be reached"}
    httpx_mock.add_response(status_code=422, json=body)
    err = _raised(lambda: client.send_message("chat_1", "hi"))
    assert err.category == Category.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("status", "name", "category"),
    [
        (401, "missing_credentials", Category.MISSING_CREDENTIALS),
        (400, "invalid_parameters", Category.CONFIG_ERROR),
        (400, "missing_parameters", Category.CONFIG_ERROR),
        (400, "malformed_request", Category.CONFIG_ERROR),
    ],
)
def test_config_types_raise_a_config_error(
    httpx_mock: HTTPXMock,
    client: UnipileClient,
    status: int,
    name: str,
    category: Category,
) -> None:
    httpx_mock.add_response(status_code=status, json=_error(status, name))
    err = _raised(client.list_accounts)
    assert isinstance(err, ProviderConfigError)
    assert (err.category, err.code, err.exit_code) == (category, name, 2)


@pytest.mark.parametrize(
    ("call", "category"),
    [
        ("get_profile", Category.RECIPIENT_UNREACHABLE),
        ("get_account", Category.NOT_FOUND),
    ],
)
def test_404_means_what_was_asked(
    httpx_mock: HTTPXMock, client: UnipileClient, call: str, category: Category
) -> None:
    httpx_mock.add_response(status_code=404, json=_error(404, "resource_not_found"))
    err = _raised(lambda: CALLS[call](client))
    assert (err.category, err.status) == (category, 404)


def test_404_html_on_profile_is_still_unreachable(
    httpx_mock: HTTPXMock, client: UnipileClient
) -> None:
    httpx_mock.add_response(status_code=404, html="<html>Not Found</html>")
    err = _raised(lambda: client.get_profile("jane", "acc_1"))
    assert err.category == Category.RECIPIENT_UNREACHABLE


def test_retry_after_is_kept(httpx_mock: HTTPXMock, client: UnipileClient) -> None:
    httpx_mock.add_response(
        status_code=429,
        json=_error(429, "too_many_requests"),
        headers={"Retry-After": "42"},
    )
    err = _raised(lambda: client.send_invitation("acc_1", "ACo1", None))
    assert (err.category, err.retry_after) == (Category.ACCOUNT_THROTTLED, 42.0)


FAULTS: list[tuple[str, dict[str, Any], Category, str | None]] = [
    ("html_502", {"status_code": 502, "html": "<html>Bad</html>"},
     Category.SERVER_ERROR, "non_json"),
    ("empty_200", {"status_code": 200, "content": b""}, Category.UNKNOWN, "non_json"),
    ("text_200", {"status_code": 200, "text": "hello"}, Category.UNKNOWN, "non_json"),
    ("html_429", {"status_code": 429, "html": "<p>slow</p>"},
     Category.ACCOUNT_THROTTLED, "non_json"),
    ("html_401", {"status_code": 401, "html": "<p>no</p>"},
     Category.DISCONNECTED_ACCOUNT, "non_json"),
    ("html_403", {"status_code": 403, "html": "<p>no</p>"},
     Category.PERMISSION_DENIED, "non_json"),
    ("json_list", {"status_code": 200, "json": [1, 2]},
     Category.UNKNOWN, "unexpected_shape"),
    ("json_string", {"status_code": 200, "json": "ok"},
     Category.UNKNOWN, "unexpected_shape"),
]  # fmt: skip


@pytest.mark.parametrize("call", ["get_account", "start_chat", "send_invitation"])
@pytest.mark.parametrize(("name", "response", "category", "code"), FAULTS)
def test_bad_bodies_are_classified(
    httpx_mock: HTTPXMock,
    client: UnipileClient,
    call: str,
    name: str,
    response: dict[str, Any],
    category: Category,
    code: str | None,
) -> None:
    httpx_mock.add_response(**response)
    err = _raised(lambda: CALLS[call](client))
    assert (err.category, err.code) == (category, code)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.ReadError("connection reset by peer"),
    ],
    ids=["read_timeout", "remote_protocol", "read_error"],
)
@pytest.mark.parametrize("call", ["list_accounts", "send_message"])
def test_network_faults_are_timeouts(
    httpx_mock: HTTPXMock, client: UnipileClient, exc: Exception, call: str
) -> None:
    httpx_mock.add_exception(exc)
    err = _raised(lambda: CALLS[call](client))
    assert err.category == Category.NETWORK_TIMEOUT
    assert err.__cause__ is exc
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize(
    "body",
    [{"items": {"a": 1}, "cursor": None}, {"cursor": None}, {"items": [{"no": "id"}]}],
)
def test_accounts_of_wrong_shape_are_unknown(
    httpx_mock: HTTPXMock, client: UnipileClient, body: dict[str, Any]
) -> None:
    httpx_mock.add_response(json=body)
    err = _raised(client.list_accounts)
    assert (err.category, err.detail) == (Category.UNKNOWN, "unexpected response shape")


def test_list_accounts_follows_the_cursor_and_keeps_linkedin(
    httpx_mock: HTTPXMock, client: UnipileClient
) -> None:
    other = ACCOUNT | {"id": "acc_2", "type": "WHATSAPP"}
    third = ACCOUNT | {"id": "acc_3"}
    httpx_mock.add_response(
        url=f"{BASE}/accounts?limit=250", json={"items": [ACCOUNT], "cursor": "c2"}
    )
    httpx_mock.add_response(
        url=f"{BASE}/accounts?limit=250&cursor=c2",
        json={"items": [other], "cursor": "c3"},
    )
    httpx_mock.add_response(
        url=f"{BASE}/accounts?limit=250&cursor=c3",
        json={"object": "AccountList", "items": [third], "cursor": None},
    )
    accounts = client.list_accounts()
    assert [a.id for a in accounts] == ["acc_1", "acc_3"]
    assert len(httpx_mock.get_requests()) == 3
    assert httpx_mock.get_requests()[0].headers["X-API-KEY"] == KEY


def test_list_accounts_stops_on_a_cursor_loop(
    httpx_mock: HTTPXMock, client: UnipileClient
) -> None:
    httpx_mock.add_response(json={"items": [], "cursor": "same"}, is_reusable=True)
    err = _raised(client.list_accounts)
    assert (err.category, err.detail) == (
        Category.UNKNOWN,
        "pagination cursor repeated",
    )
    assert len(httpx_mock.get_requests()) == 2


def test_get_account_parses_every_field(
    httpx_mock: HTTPXMock, client: UnipileClient
) -> None:
    httpx_mock.add_response(url=f"{BASE}/accounts/acc_1", json=ACCOUNT)
    account = client.get_account("acc_1")
    assert account == Account(
        id="acc_1",
        type="LINKEDIN",
        name="Sales One",
        created_at=datetime(2026, 7, 1, 12, 50, 22, 378000, tzinfo=UTC),
        sources=(Source("acc_1_MESSAGING", "OK"),),
        provider_id="ACoAA1",
        public_identifier="sales-one",
    )


@pytest.mark.parametrize(
    ("statuses", "status", "code"),
    [
        (["OK"], HealthStatus.OK, None),
        (["OK", "OK"], HealthStatus.OK, None),
        (["OK", "CREDENTIALS"], HealthStatus.DISCONNECTED, "CREDENTIALS"),
        (["CREDENTIALS", "STOPPED"], HealthStatus.DISCONNECTED, "CREDENTIALS"),
        (["STOPPED"], HealthStatus.DEGRADED, "STOPPED"),
        (["OK", "ERROR"], HealthStatus.DEGRADED, "ERROR"),
        (["PERMISSIONS"], HealthStatus.DEGRADED, "PERMISSIONS"),
        (["CONNECTING", "STOPPED"], HealthStatus.DEGRADED, "STOPPED"),
        (["CONNECTING"], None, "CONNECTING"),
        (["OK", "CONNECTING"], None, "CONNECTING"),
        ([], HealthStatus.DEGRADED, "unknown"),
        (["OK", "SOMETHING_NEW"], HealthStatus.DEGRADED, "unknown"),
    ],
)
def test_account_health_follows_the_source_table(
    statuses: list[str], status: HealthStatus | None, code: str | None
) -> None:
    sources = tuple(Source(f"s{i}", value) for i, value in enumerate(statuses))
    account = Account("a", "LINKEDIN", None, None, sources)
    health = account_health(account)
    assert (health.status, health.code) == (status, code)
    if status == HealthStatus.DISCONNECTED:
        assert health.category == Category.DISCONNECTED_ACCOUNT


@pytest.mark.parametrize("invitation", [None, {"type": "SENT", "status": "PENDING"}])
def test_get_profile_reads_relationship_and_invitation(
    httpx_mock: HTTPXMock, client: UnipileClient, invitation: Any
) -> None:
    body = {
        "provider_id": "ACoXYZ",
        "public_identifier": "jane-doe",
        "is_relationship": False,
        "network_distance": "SECOND_DEGREE",
    } | ({"invitation": invitation} if invitation else {})
    httpx_mock.add_response(url=f"{BASE}/users/jane-doe?account_id=acc_1", json=body)
    profile = client.get_profile("jane-doe", "acc_1")
    assert profile.provider_id == "ACoXYZ"
    assert (profile.is_relationship, profile.network_distance) == (
        False,
        "SECOND_DEGREE",
    )
    assert profile.has_invitation is (invitation is not None)


def test_profile_without_provider_id_is_unexpected(
    httpx_mock: HTTPXMock, client: UnipileClient
) -> None:
    httpx_mock.add_response(json={"public_identifier": "jane"})
    err = _raised(lambda: client.get_profile("jane", "acc_1"))
    assert err.category == Category.UNKNOWN


def test_start_chat_sends_multipart_with_one_field_per_attendee(
    httpx_mock: HTTPXMock, client: UnipileClient
) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/chats",
        status_code=201,
        json={"object": "ChatStarted", "chat_id": "ch1", "message_id": None},
    )
    result = client.start_chat("acc_1", ["ACo1", "ACo2"], "Hello there")
    assert (result.chat_id, result.message_id) == ("ch1", None)
    sent = httpx_mock.get_requests()[0]
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = sent.read().decode()
    assert body.count('name="attendees_ids"') == 2
    assert "ACo1" in body and "ACo2" in body
    assert 'name="account_id"' in body and "Hello there" in body
    assert "filename" not in body


def test_send_message_is_multipart(
    httpx_mock: HTTPXMock, client: UnipileClient
) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/chats/chat_1/messages",
        status_code=201,
        json={"object": "MessageSent", "message_id": "m1"},
    )
    assert client.send_message("chat_1", "Follow-up").message_id == "m1"
    sent = httpx_mock.get_requests()[0]
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert 'name="text"' in sent.read().decode()


@pytest.mark.parametrize(
    ("reply", "usage"),
    [
        ({"object": "UserInvitationSent", "invitation_id": "i1", "usage": 75}, 75.0),
        ({"object": "UserInvitationSent", "invitation_id": "i1"}, None),
    ],
)
def test_send_invitation_posts_json(
    httpx_mock: HTTPXMock,
    client: UnipileClient,
    reply: dict[str, Any],
    usage: float | None,
) -> None:
    httpx_mock.add_response(method="POST", url=f"{BASE}/users/invite", json=reply)
    result = client.send_invitation("acc_1", "ACo1", "Hi Jane")
    assert (result.invitation_id, result.usage) == ("i1", usage)
    sent = json.loads(httpx_mock.get_requests()[0].read())
    assert sent == {"provider_id": "ACo1", "account_id": "acc_1", "message": "Hi Jane"}


def test_invite_note_of_301_characters_sends_nothing(
    httpx_mock: HTTPXMock, client: UnipileClient
) -> None:
    err = _raised(lambda: client.send_invitation("acc_1", "ACo1", "x" * 301))
    assert (err.category, err.code) == (
        Category.VALIDATION_ERROR,
        "too_many_characters",
    )
    assert httpx_mock.get_requests() == []


def test_reconnect_link_returns_the_url(
    httpx_mock: HTTPXMock, client: UnipileClient
) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/hosted/accounts/link",
        json={"object": "HostedAuthURL", "url": "https://account.unipile.com/x"},
    )
    assert client.reconnect_link("acc_1") == "https://account.unipile.com/x"
    sent = json.loads(httpx_mock.get_requests()[0].read())
    assert sent["type"] == "reconnect"
    assert sent["reconnect_account"] == "acc_1"
    assert sent["api_url"] == DSN
    assert sent["expiresOn"].endswith("Z")


def test_ids_cannot_change_the_path(
    httpx_mock: HTTPXMock, client: UnipileClient
) -> None:
    httpx_mock.add_response(json=ACCOUNT)
    client.get_account("../users/x")
    assert (
        httpx_mock.get_requests()[0].url.raw_path == b"/api/v1/accounts/..%2Fusers%2Fx"
    )


@pytest.mark.parametrize(
    ("dsn", "key"), [(None, "k" * 10), ("https://a.unipile.com", None), (None, None)]
)
def test_from_settings_needs_dsn_and_key(dsn: str | None, key: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        UnipileClient.from_settings(Settings(unipile_dsn=dsn, unipile_api_key=key))
    assert info.value.exit_code == 2
    assert "UNIPILE_" in str(info.value)
