"""The sandbox's Unipile: accounts, profiles, sends and their errors."""

from __future__ import annotations

import httpx
import pytest

from integration_health.sandbox import Sandbox
from tests.sandbox_fixtures import SandboxFactory


def client(sb: Sandbox, key: str | None = None) -> httpx.Client:
    headers = {"X-API-KEY": key or sb.unipile_api_key, "accept": "application/json"}
    return httpx.Client(base_url=sb.unipile_dsn + "/api/v1", headers=headers)


def test_wrong_api_key_answers_401_missing_credentials(sandbox: Sandbox) -> None:
    answer = client(sandbox, key="wrong").get("/accounts")
    assert answer.status_code == 401
    assert answer.json()["type"] == "errors/missing_credentials"
    assert answer.json()["status"] == 401


def test_accounts_are_paged_by_cursor_until_null(sandbox: Sandbox) -> None:
    http, ids, cursor, pages = client(sandbox), [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = http.get("/accounts", params=params).json()
        ids += [item["id"] for item in body["items"]]
        pages, cursor = pages + 1, body["cursor"]
        if cursor is None:
            break
    assert pages == 2
    assert ids == ["acc_ok", "acc_disconnected", "acc_connecting", "acc_whatsapp"]


def test_account_listing_has_sources_and_every_type(sandbox: Sandbox) -> None:
    items = client(sandbox).get("/accounts").json()["items"]
    assert {item["type"] for item in items} == {"LINKEDIN", "WHATSAPP"}
    first = items[0]
    assert first["object"] == "Account"
    assert first["sources"] == [{"id": "acc_ok_MESSAGING", "status": "OK"}]


def test_limit_out_of_range_is_400_invalid_parameters(sandbox: Sandbox) -> None:
    answer = client(sandbox).get("/accounts", params={"limit": 251})
    assert (answer.status_code, answer.json()["type"]) == (
        400,
        "errors/invalid_parameters",
    )


def test_get_account_and_404_when_absent(sandbox: Sandbox) -> None:
    http = client(sandbox)
    assert http.get("/accounts/acc_ok").json()["id"] == "acc_ok"
    missing = http.get("/accounts/nope")
    assert missing.status_code == 404
    assert missing.json()["type"] == "errors/resource_not_found"


def test_profile_lookup_by_slug(sandbox: Sandbox) -> None:
    answer = client(sandbox).get("/users/jane-doe", params={"account_id": "acc_ok"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["provider_id"] == "ACoAAJane"
    assert body["is_relationship"] is True
    assert "unreachable" not in body


def test_unknown_profile_is_404(sandbox: Sandbox) -> None:
    answer = client(sandbox).get("/users/nobody", params={"account_id": "acc_ok"})
    assert answer.status_code == 404


def test_unreachable_profile_answers_its_error(sandbox: Sandbox) -> None:
    answer = client(sandbox).get("/users/gone-user", params={"account_id": "acc_ok"})
    assert answer.status_code == 422
    assert answer.json()["type"] == "errors/invalid_recipient"


@pytest.mark.parametrize("account_id", ["acc_disconnected"])
def test_credentials_source_answers_401_disconnected(
    sandbox: Sandbox, account_id: str
) -> None:
    answer = client(sandbox).get("/users/jane-doe", params={"account_id": account_id})
    assert answer.status_code == 401
    assert answer.json()["type"] == "errors/disconnected_account"


def test_disconnected_flag_blocks_sends(make_sandbox: SandboxFactory) -> None:
    account = {"id": "a1", "disconnected": True}
    sb = make_sandbox({"unipile": {"api_key": "k", "accounts": [account]}})
    data = {"account_id": "a1", "attendees_ids": "ACoX", "text": "hi"}
    answer = client(sb).post("/chats", data=data, files={"f": ("f", b"")})
    assert answer.json()["type"] == "errors/disconnected_account"
    assert sb.state.sent_of() == []


def test_start_chat_answers_201_and_records_the_send(sandbox: Sandbox) -> None:
    data = {"account_id": "acc_ok", "attendees_ids": ["ACoAAJane"], "text": "Hello"}
    answer = client(sandbox).post("/chats", data=data, files={"f": ("f", b"")})
    assert answer.status_code == 201
    body = answer.json()
    assert body["object"] == "ChatStarted"
    sent = sandbox.state.sent_of("chat")
    assert [(s["chat_id"], s["text"]) for s in sent] == [(body["chat_id"], "Hello")]


def test_multipart_fields_are_recorded(sandbox: Sandbox) -> None:
    data = {"account_id": "acc_ok", "attendees_ids": ["ACoA1", "ACoA2"], "text": "x"}
    client(sandbox).post("/chats", data=data, files={"f": ("f", b"")})
    (recorded,) = sandbox.requests("/api/v1/chats", method="POST")
    assert recorded.form is not None
    assert recorded.form["attendees_ids"] == ["ACoA1", "ACoA2"]
    assert recorded.form["account_id"] == ["acc_ok"]


def test_chat_to_unreachable_attendee_is_422(sandbox: Sandbox) -> None:
    data = {"account_id": "acc_ok", "attendees_ids": ["ACoAAGone"], "text": "x"}
    answer = client(sandbox).post("/chats", data=data, files={"f": ("f", b"")})
    assert answer.status_code == 422
    assert answer.json()["type"] == "errors/invalid_recipient"
    assert sandbox.state.sent_of() == []


def test_message_in_chat_answers_201_message_sent(sandbox: Sandbox) -> None:
    http = client(sandbox)
    data = {"account_id": "acc_ok", "attendees_ids": ["ACoAAJane"], "text": "a"}
    chat_id = http.post("/chats", data=data, files={"f": ("f", b"")}).json()["chat_id"]
    answer = http.post(
        f"/chats/{chat_id}/messages", data={"text": "b"}, files={"f": ("f", b"")}
    )
    assert answer.status_code == 201
    assert answer.json()["object"] == "MessageSent"
    assert [s["text"] for s in sandbox.state.sent_of("message")] == ["b"]


def test_message_in_chat_of_disconnected_account_is_401(sandbox: Sandbox) -> None:
    http = client(sandbox)
    data = {"account_id": "acc_ok", "attendees_ids": ["ACoAAJane"], "text": "a"}
    chat_id = http.post("/chats", data=data, files={"f": ("f", b"")}).json()["chat_id"]
    sandbox.set_account_sources("acc_ok", ["OK", "CREDENTIALS"])
    answer = http.post(f"/chats/{chat_id}/messages", data={"text": "b"})
    assert answer.json()["type"] == "errors/disconnected_account"


def test_invitation_answers_200_and_is_recorded(sandbox: Sandbox) -> None:
    body = {"provider_id": "ACoAASam", "account_id": "acc_ok", "message": "Hi"}
    answer = client(sandbox).post("/users/invite", json=body)
    assert answer.status_code == 200
    assert answer.json()["object"] == "UserInvitationSent"
    assert [s["provider_id"] for s in sandbox.state.sent_of("invitation")] == [
        "ACoAASam"
    ]


def test_invitation_over_300_characters_is_400(sandbox: Sandbox) -> None:
    body = {"provider_id": "ACoAASam", "account_id": "acc_ok", "message": "x" * 301}
    answer = client(sandbox).post("/users/invite", json=body)
    assert answer.status_code == 400
    assert answer.json()["type"] == "errors/too_many_characters"


def test_hosted_link_points_at_the_reconnect_page(sandbox: Sandbox) -> None:
    body = {"type": "reconnect", "reconnect_account": "acc_disconnected"}
    answer = client(sandbox).post("/hosted/accounts/link", json=body)
    assert answer.json() == {
        "object": "HostedAuthURL",
        "url": f"{sandbox.url}/reconnect/acc_disconnected",
    }
    assert httpx.post(answer.json()["url"]).status_code == 200
    sources = sandbox.state.accounts["acc_disconnected"]["sources"]
    assert [s["status"] for s in sources] == ["OK"]


def test_set_account_sources_changes_the_listing(sandbox: Sandbox) -> None:
    sandbox.set_account_sources("acc_ok", ["CREDENTIALS"])
    account = client(sandbox).get("/accounts/acc_ok").json()
    assert account["sources"] == [{"id": "acc_ok_MESSAGING", "status": "CREDENTIALS"}]
