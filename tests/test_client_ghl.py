"""GHL client: success shapes, the error table, paging and the duplicate dance."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from integration_health.clients.ghl import GhlClient, GhlMessage, extract_contact_id
from integration_health.errors import Category, ProviderConfigError, ProviderError

BASE = "https://services.leadconnectorhq.com"
TOKEN = "pit-test-token-abcdef123"
LOC = "loc_1"


@pytest.fixture
def client() -> GhlClient:
    return GhlClient(BASE, limiter=None, sleep=lambda _: None)


def _raised(call: Callable[[], Any]) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        call()
    return info.value


def _upsert(client: GhlClient) -> Any:
    return client.upsert_contact(
        TOKEN, LOC, email="a@b.co", phone="+15550001111", first_name="A", last_name="B"
    )


CALLS: dict[str, Callable[[GhlClient], Any]] = {
    "upsert": _upsert,
    "find_duplicate": lambda c: c.find_duplicate(TOKEN, LOC, email="a@b.co"),
    "search_conversations": lambda c: c.search_conversations(TOKEN, LOC, "c1"),
    "send_sms": lambda c: c.send_sms(TOKEN, "c1", "hi"),
    "get_contact": lambda c: c.get_contact(TOKEN, "c1"),
    "messages": lambda c: list(c.iter_messages(TOKEN, "conv1")),
}

ERROR_ROWS = [
    (400, "Bad phone format", Category.VALIDATION_ERROR, "bad_phone_format"),
    (401, "Invalid token", Category.MISSING_CREDENTIALS, "invalid_token"),
    (401, "Invalid JWT", Category.MISSING_CREDENTIALS, "invalid_jwt"),
    (
        401,
        "The token is not authorized for this scope.",
        Category.PERMISSION_DENIED,
        "the_token_is_not_authorized_for_this_scope",
    ),
    (
        403,
        "The token does not have access to this location.",
        Category.PERMISSION_DENIED,
        "the_token_does_not_have_access_to_this_location",
    ),
    (404, "Contact not found", Category.NOT_FOUND, "contact_not_found"),
    (
        422,
        ["email must be an email", "phone is invalid"],
        Category.VALIDATION_ERROR,
        "email_must_be_an_email_phone_is_invalid",
    ),
    (429, "Too many requests", Category.RATE_LIMITED, "too_many_requests"),
    (500, "Internal server error", Category.SERVER_ERROR, "internal_server_error"),
    (502, "Bad gateway", Category.SERVER_ERROR, "bad_gateway"),
    (503, "Service unavailable", Category.SERVER_ERROR, "service_unavailable"),
    (418, "teapot", Category.UNKNOWN, "teapot"),
]


@pytest.mark.parametrize("call", ["upsert", "search_conversations"])
@pytest.mark.parametrize(("status", "message", "category", "code"), ERROR_ROWS)
def test_error_table(
    httpx_mock: HTTPXMock,
    client: GhlClient,
    call: str,
    status: int,
    message: Any,
    category: Category,
    code: str,
) -> None:
    body = {"statusCode": status, "message": message, "traceId": "tr-1"}
    httpx_mock.add_response(status_code=status, json=body)
    err = _raised(lambda: CALLS[call](client))
    assert (err.category, err.status, err.code) == (category, status, code)
    assert err.trace_id == "tr-1"
    assert not isinstance(err, ProviderConfigError)


@pytest.mark.parametrize(
    "message", ["Version header is missing", "Invalid version header value"]
)
def test_401_about_version_is_a_config_error(
    httpx_mock: HTTPXMock, client: GhlClient, message: str
) -> None:
    httpx_mock.add_response(status_code=401, json={"message": message})
    err = _raised(lambda: _upsert(client))
    assert isinstance(err, ProviderConfigError)
    assert err.category == Category.CONFIG_ERROR


def test_422_joins_the_message_list_and_redacts_it(
    httpx_mock: HTTPXMock, client: GhlClient
) -> None:
    body = {"statusCode": 422, "message": ["email jane@example.com bad", "x"]}
    httpx_mock.add_response(status_code=422, json=body)
    err = _raised(lambda: _upsert(client))
    assert err.detail == "email [email] bad; x"
    assert "jane" not in (err.code or "")


def test_429_retry_after_is_capped(httpx_mock: HTTPXMock) -> None:
    client = GhlClient(BASE, limiter=None, retry_after_cap=30.0)
    httpx_mock.add_response(
        status_code=429, json={"message": "slow"}, headers={"Retry-After": "500"}
    )
    err = _raised(lambda: _upsert(client))
    assert (err.category, err.retry_after) == (Category.RATE_LIMITED, 30.0)


FAULTS: list[tuple[dict[str, Any], Category]] = [
    ({"status_code": 502, "html": "<html><h1>502 Bad Gateway</h1></html>"},
     Category.SERVER_ERROR),
    ({"status_code": 200, "content": b""}, Category.UNKNOWN),
    ({"status_code": 200, "text": "not json at all"}, Category.UNKNOWN),
    ({"status_code": 401, "html": "<p>denied</p>"}, Category.MISSING_CREDENTIALS),
    ({"status_code": 403, "content": b""}, Category.PERMISSION_DENIED),
    ({"status_code": 429, "text": "slow down"}, Category.RATE_LIMITED),
]  # fmt: skip


@pytest.mark.parametrize("call", ["upsert", "find_duplicate", "send_sms", "messages"])
@pytest.mark.parametrize(("response", "category"), FAULTS)
def test_non_json_bodies_are_classified_by_status(
    httpx_mock: HTTPXMock,
    client: GhlClient,
    call: str,
    response: dict[str, Any],
    category: Category,
) -> None:
    httpx_mock.add_response(**response)
    err = _raised(lambda: CALLS[call](client))
    assert (err.category, err.detail) == (category, "non-JSON response")


@pytest.mark.parametrize(
    ("call", "body"),
    [
        ("upsert", [1, 2]),
        ("search_conversations", {"conversations": "nope"}),
        ("get_contact", {"contact": None}),
        ("messages", {"messages": "nope"}),
        ("messages", {"something": []}),
        ("find_duplicate", {"other": 1}),
    ],
)
def test_unexpected_json_shape_is_unknown(
    httpx_mock: HTTPXMock, client: GhlClient, call: str, body: Any
) -> None:
    httpx_mock.add_response(json=body)
    err = _raised(lambda: CALLS[call](client))
    assert (err.category, err.detail) == (Category.UNKNOWN, "unexpected response shape")


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("[Errno 104] Connection reset by peer"),
    ],
    ids=["read_timeout", "remote_protocol", "read_error"],
)
@pytest.mark.parametrize("call", ["upsert", "messages"])
def test_network_faults_are_timeouts_and_not_retried(
    httpx_mock: HTTPXMock, client: GhlClient, exc: Exception, call: str
) -> None:
    httpx_mock.add_exception(exc)
    err = _raised(lambda: CALLS[call](client))
    assert err.category == Category.NETWORK_TIMEOUT
    assert len(httpx_mock.get_requests()) == 1


def test_find_duplicate_encodes_plus_in_number(
    httpx_mock: HTTPXMock, client: GhlClient
) -> None:
    httpx_mock.add_response(json={"contact": {"id": "c9"}})
    assert client.find_duplicate(TOKEN, LOC, number="+15550001111") == "c9"
    sent = httpx_mock.get_requests()[0]
    assert b"number=%2B15550001111" in sent.url.query
    assert sent.url.params["locationId"] == LOC
    assert "phone" not in sent.url.params
    assert sent.headers["Version"] == "2021-07-28"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"


def test_find_duplicate_null_contact_is_none(
    httpx_mock: HTTPXMock, client: GhlClient
) -> None:
    httpx_mock.add_response(json={"contact": None})
    assert client.find_duplicate(TOKEN, LOC, email="a@b.co") is None


def test_find_duplicate_needs_email_or_number(
    httpx_mock: HTTPXMock, client: GhlClient
) -> None:
    err = _raised(lambda: client.find_duplicate(TOKEN, LOC))
    assert err.category == Category.VALIDATION_ERROR
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize(("new", "expected"), [(True, True), (False, False)])
def test_upsert_returns_id_and_new_and_never_sends_tags(
    httpx_mock: HTTPXMock, client: GhlClient, new: bool, expected: bool
) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/contacts/upsert",
        json={"new": new, "contact": {"id": "c1"}, "traceId": "t"},
    )
    result = _upsert(client)
    assert (result.contact_id, result.new) == ("c1", expected)
    sent = json.loads(httpx_mock.get_requests()[0].read())
    assert sent == {
        "locationId": LOC,
        "email": "a@b.co",
        "phone": "+15550001111",
        "firstName": "A",
        "lastName": "B",
    }


def test_upsert_2xx_without_id_is_an_error(
    httpx_mock: HTTPXMock, client: GhlClient
) -> None:
    httpx_mock.add_response(status_code=201, json={"new": True, "contact": {}})
    err = _raised(lambda: _upsert(client))
    assert (err.category, err.detail) == (Category.UNKNOWN, "no contact id in response")


def _create(client: GhlClient, email: str | None = "a@b.co") -> str:
    return client.create_contact(
        TOKEN, LOC, email=email, phone="+15550001111", first_name="A", last_name=None
    )


def test_create_returns_the_new_id(httpx_mock: HTTPXMock, client: GhlClient) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/contacts/",
        status_code=201,
        json={"contact": {"id": "n1"}},
    )
    assert _create(client) == "n1"


def _dup(meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": 400,
        "message": "This location does not allow duplicated contacts.",
        "meta": meta,
    }


def test_create_duplicate_adopts_meta_contact_id(
    httpx_mock: HTTPXMock, client: GhlClient
) -> None:
    meta = {"contactId": "old1", "matchingField": "email", "contactName": ""}
    httpx_mock.add_response(status_code=400, json=_dup(meta))
    assert _create(client) == "old1"
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize(
    ("field", "param", "value"),
    [("email", "email", "a@b.co"), ("phone", "number", "+15550001111")],
)
def test_create_duplicate_without_id_searches_by_matching_field(
    httpx_mock: HTTPXMock, client: GhlClient, field: str, param: str, value: str
) -> None:
    httpx_mock.add_response(
        method="POST", status_code=400, json=_dup({"matchingField": field})
    )
    httpx_mock.add_response(method="GET", json={"contact": {"id": "found1"}})
    assert _create(client) == "found1"
    search = httpx_mock.get_requests()[1]
    assert search.url.path == "/contacts/search/duplicate"
    assert search.url.params[param] == value


def test_create_duplicate_that_search_cannot_find_is_unknown(
    httpx_mock: HTTPXMock, client: GhlClient
) -> None:
    httpx_mock.add_response(method="POST", status_code=400, json=_dup({}))
    httpx_mock.add_response(method="GET", json={"contact": None})
    err = _raised(lambda: _create(client))
    assert err.category == Category.UNKNOWN


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"contact": {"id": "a"}}, "a"),
        ({"contacts": [{"name": "x"}, {"id": "b"}]}, "b"),
        ({"meta": {"contactId": "c"}}, "c"),
        ({"id": "d"}, "d"),
        ({"contactId": "e"}, "e"),
        ({"contact": {"id": ""}, "contactId": "f"}, "f"),
        ({"contact": None}, None),
        ({}, None),
        ([], None),
    ],
)
def test_extract_contact_id(payload: Any, expected: str | None) -> None:
    assert extract_contact_id(payload) == expected


def test_get_contact_returns_the_contact(
    httpx_mock: HTTPXMock, client: GhlClient
) -> None:
    httpx_mock.add_response(url=f"{BASE}/contacts/c1", json={"contact": {"id": "c1"}})
    assert client.get_contact(TOKEN, "c1") == {"id": "c1"}


def test_search_conversations_parses_each(
    httpx_mock: HTTPXMock, client: GhlClient
) -> None:
    convs = [
        {
            "id": "v1",
            "contactId": "c1",
            "type": "TYPE_PHONE",
            "lastMessageType": "TYPE_SMS",
        },
        {"id": "v2", "contactId": "c1", "type": "TYPE_EMAIL"},
    ]
    httpx_mock.add_response(json={"conversations": convs, "total": 2})
    result = client.search_conversations(TOKEN, LOC, "c1")
    assert [(c.id, c.last_message_type) for c in result] == [
        ("v1", "TYPE_SMS"),
        ("v2", None),
    ]
    sent = httpx_mock.get_requests()[0]
    assert sent.headers["Version"] == "2021-04-15"
    assert dict(sent.url.params) == {"locationId": LOC, "contactId": "c1"}


def _msg(i: int) -> dict[str, Any]:
    return {
        "id": f"m{i}",
        "messageType": "TYPE_SMS",
        "type": 2,
        "direction": "inbound",
        "body": f"hello {i}",
        "dateAdded": "2026-01-02T03:04:05.000Z",
        "status": "delivered",
        "contactId": "c1",
        "conversationId": "conv1",
    }


@pytest.mark.parametrize("nested", [True, False], ids=["nested", "flat"])
def test_iter_messages_pages_until_next_page_is_false(
    httpx_mock: HTTPXMock, client: GhlClient, nested: bool
) -> None:
    def page(items: list[Any], last: str, more: bool) -> dict[str, Any]:
        inner = {"lastMessageId": last, "nextPage": more, "messages": items}
        return {"messages": inner} if nested else inner

    httpx_mock.add_response(json=page([_msg(1), _msg(2)], "m2", True))
    httpx_mock.add_response(json=page([_msg(3)], "m3", False))
    messages = list(client.iter_messages(TOKEN, "conv1", limit=2))
    assert [m.id for m in messages] == ["m1", "m2", "m3"]
    assert messages[0] == GhlMessage(
        id="m1",
        message_type="TYPE_SMS",
        type_code=2,
        direction="inbound",
        body="hello 1",
        date_added=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        status="delivered",
        contact_id="c1",
        conversation_id="conv1",
    )
    first, second = httpx_mock.get_requests()
    assert "lastMessageId" not in first.url.params
    assert second.url.params["lastMessageId"] == "m2"
    assert second.url.params["limit"] == "2"


def test_iter_messages_stops_when_last_id_does_not_advance(
    httpx_mock: HTTPXMock, client: GhlClient
) -> None:
    body = {"lastMessageId": "m1", "nextPage": True, "messages": [_msg(1)]}
    httpx_mock.add_response(json=body, is_reusable=True)
    err = _raised(lambda: list(client.iter_messages(TOKEN, "conv1")))
    assert err.category == Category.UNKNOWN
    assert len(httpx_mock.get_requests()) == 2


def test_send_sms_posts_type_contact_and_message(
    httpx_mock: HTTPXMock, client: GhlClient
) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/conversations/messages",
        json={"conversationId": "v1", "messageId": "m1"},
    )
    sent = client.send_sms(TOKEN, "c1", "Hi!")
    assert (sent.conversation_id, sent.message_id) == ("v1", "m1")
    body = json.loads(httpx_mock.get_requests()[0].read())
    assert body == {"type": "SMS", "contactId": "c1", "message": "Hi!"}
