"""The sandbox's GHL: auth, contacts, conversations, SMS and the rate limit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from integration_health.sandbox import Sandbox
from integration_health.sandbox.faults import GhlRateLimiter, RateLimit
from tests.sandbox_fixtures import SandboxFactory

CONTACTS = "2021-07-28"


def client(sb: Sandbox, token: str = "ghl-token-loc-1", **headers: str) -> httpx.Client:
    base = {"Authorization": f"Bearer {token}", "Version": CONTACTS, **headers}
    return httpx.Client(base_url=sb.ghl_base_url, headers=base)


def test_unknown_token_is_401_invalid_jwt(sandbox: Sandbox) -> None:
    answer = client(sandbox, token="nope").get("/contacts/ghlc_jane")
    assert answer.status_code == 401
    assert answer.json() == {"statusCode": 401, "message": "Invalid JWT"}


def test_revoked_token_is_401(make_sandbox: SandboxFactory) -> None:
    location = {"token": "t", "revoked": True}
    sb = make_sandbox({"ghl": {"locations": {"L": location}}})
    answer = client(sb, token="t").get("/contacts/search/duplicate?email=a@b.c")
    assert answer.status_code == 401


@pytest.mark.parametrize(
    "token", ["ghl-token-loc-2", "ghl-token-other-agency"], ids=["other", "wrong"]
)
def test_token_of_another_location_is_403(sandbox: Sandbox, token: str) -> None:
    params = {"locationId": "loc_1", "email": "jane@example.com"}
    answer = client(sandbox, token=token).get(
        "/contacts/search/duplicate", params=params
    )
    assert answer.status_code == 403
    assert "does not have access to this location" in answer.json()["message"]


@pytest.mark.parametrize("version", [None, "1999-01-01"])
def test_missing_or_unknown_version_is_401(
    sandbox: Sandbox, version: str | None
) -> None:
    headers = {"Authorization": "Bearer ghl-token-loc-1"}
    if version:
        headers["Version"] = version
    answer = httpx.get(f"{sandbox.ghl_base_url}/contacts/ghlc_jane", headers=headers)
    assert answer.status_code == 401
    assert "Version header" in answer.json()["message"]


def test_duplicate_search_by_number_decodes_plus(sandbox: Sandbox) -> None:
    params = {"locationId": "loc_1", "number": "+14155550101"}
    answer = client(sandbox).get("/contacts/search/duplicate", params=params)
    assert answer.json()["contact"]["id"] == "ghlc_jane"
    assert sandbox.requests("/contacts/search")[0].query["number"] == ["+14155550101"]


def test_duplicate_search_not_found_is_null(sandbox: Sandbox) -> None:
    params = {"locationId": "loc_1", "email": "nobody@example.com"}
    answer = client(sandbox).get("/contacts/search/duplicate", params=params)
    assert answer.status_code == 200
    assert answer.json() == {"contact": None}


def test_duplicate_search_without_email_or_number_is_400(sandbox: Sandbox) -> None:
    answer = client(sandbox).get("/contacts/search/duplicate?locationId=loc_1")
    assert answer.status_code == 400


def test_upsert_matches_by_email_then_creates(sandbox: Sandbox) -> None:
    http = client(sandbox)
    same = {"locationId": "loc_1", "email": "JANE@example.com", "firstName": "J"}
    first = http.post("/contacts/upsert", json=same).json()
    assert (first["new"], first["contact"]["id"]) == (False, "ghlc_jane")
    assert first["traceId"]
    other = {"locationId": "loc_1", "phone": "+14155550199"}
    created = http.post("/contacts/upsert", json=other).json()
    assert created["new"] is True
    assert sandbox.state.contacts[created["contact"]["id"]]["phone"] == "+14155550199"


def test_upsert_without_location_is_422(sandbox: Sandbox) -> None:
    answer = client(sandbox).post("/contacts/upsert", json={"email": "a@b.c"})
    assert answer.status_code == 422


def test_create_answers_201(sandbox: Sandbox) -> None:
    body = {"locationId": "loc_1", "email": "new@example.com"}
    answer = client(sandbox).post("/contacts/", json=body)
    assert answer.status_code == 201
    assert answer.json()["contact"]["id"].startswith("ghlc_")


def test_create_duplicate_where_forbidden_is_400_with_meta(sandbox: Sandbox) -> None:
    body = {"locationId": "loc_2", "phone": "+1 415 555 0102"}
    answer = client(sandbox, token="ghl-token-loc-2").post("/contacts/", json=body)
    assert answer.status_code == 400
    payload = answer.json()
    assert payload["message"] == "This location does not allow duplicated contacts."
    assert payload["meta"]["contactId"] == "ghlc_max"
    assert payload["meta"]["matchingField"] == "phone"


def test_get_contact_and_404(sandbox: Sandbox) -> None:
    http = client(sandbox)
    assert http.get("/contacts/ghlc_jane").json()["contact"]["email"] == (
        "jane@example.com"
    )
    assert http.get("/contacts/missing").status_code == 404


def test_conversation_search_by_contact(sandbox: Sandbox) -> None:
    params = {"locationId": "loc_1", "contactId": "ghlc_jane"}
    body = client(sandbox).get("/conversations/search", params=params).json()
    assert body["total"] == 1
    assert body["conversations"][0]["id"] == "conv_jane"


def _all_pages(sb: Sandbox, unwrap: str | None) -> list[list[str]]:
    http, pages, last = client(sb, Version="2021-04-15"), [], None
    while True:
        params = {"lastMessageId": last} if last else {}
        body: dict[str, Any] = http.get(
            "/conversations/conv_jane/messages", params=params
        ).json()
        page = body[unwrap] if unwrap else body
        pages.append([item["id"] for item in page["messages"]])
        last = page["lastMessageId"]
        if not page["nextPage"]:
            return pages


def test_message_pages_nested_shape(sandbox: Sandbox) -> None:
    assert _all_pages(sandbox, "messages") == [["m3", "m2"], ["m1"]]


def test_message_pages_flat_shape(make_sandbox: SandboxFactory) -> None:
    from integration_health.sandbox import load_scenario

    scenario = load_scenario(None)
    scenario["ghl"]["message_page_shape"] = "flat"
    assert _all_pages(make_sandbox(scenario), None) == [["m3", "m2"], ["m1"]]


def test_send_sms_stores_an_outbound_message(sandbox: Sandbox) -> None:
    body = {"type": "SMS", "contactId": "ghlc_jane", "message": "Hi again"}
    answer = client(sandbox).post("/conversations/messages", json=body).json()
    assert answer["conversationId"] == "conv_jane"
    stored = sandbox.state.messages["conv_jane"][0]
    assert (stored["id"], stored["direction"], stored["body"]) == (
        answer["messageId"],
        "outbound",
        "Hi again",
    )


def test_every_answer_carries_rate_limit_headers(sandbox: Sandbox) -> None:
    answer = client(sandbox).get("/contacts/ghlc_jane")
    assert answer.headers["X-RateLimit-Max"] == "100"
    assert answer.headers["X-RateLimit-Remaining"] == "99"
    assert answer.headers["X-RateLimit-Interval-Milliseconds"] == "10000"
    assert answer.headers["X-RateLimit-Limit-Daily"] == "200000"
    assert answer.headers["X-RateLimit-Daily-Remaining"] == "199999"


def test_rate_limit_answers_429_beyond_the_window(sandbox: Sandbox) -> None:
    sandbox.set_ghl_rate_limit("loc_1", 3, 60)
    http = client(sandbox)
    statuses = [http.get("/contacts/ghlc_jane").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    last = http.get("/contacts/ghlc_jane")
    assert last.headers["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in last.headers
    assert sandbox.stats["ghl_429"] == 3


def test_rate_limit_sends_retry_after_when_configured(
    make_sandbox: SandboxFactory,
) -> None:
    limit = {"limit": 1, "interval_seconds": 30, "retry_after": 7}
    sb = make_sandbox(
        {"ghl": {"locations": {"L": {"token": "t", "rate_limit": limit}}}}
    )
    http = client(sb, token="t")
    http.get("/contacts/x")
    assert http.get("/contacts/x").headers["Retry-After"] == "7"


def test_rate_limit_window_slides() -> None:
    now = [100.0]
    limiter = GhlRateLimiter(clock=lambda: now[0])
    limiter.configure(None, RateLimit(1, 10.0))
    assert limiter.check("L").allowed
    now[0] = 109.9
    assert not limiter.check("L").allowed
    now[0] = 110.0
    assert limiter.check("L").allowed


def test_rate_limit_window_clears_when_its_last_call_ages_out() -> None:
    now = [100.0]
    limiter = GhlRateLimiter(clock=lambda: now[0])
    limiter.configure("L", RateLimit(5, 1.0))
    limiter.check("L")
    now[0] = 100.25
    limiter.check("L")
    limiter.check("M")  # not enforced: never waited for
    assert limiter.seconds_until_clear() == 1.0


def test_concurrent_upserts_of_one_email_create_one_contact(sandbox: Sandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    body = {"locationId": "loc_1", "email": "race@example.com"}
    with client(sandbox) as http, ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: http.post("/contacts/upsert", json=body), range(8))
        )
    ids = {answer.json()["contact"]["id"] for answer in answers}
    assert len(ids) == 1
    assert [answer.json()["new"] for answer in answers].count(True) == 1
