"""Unipile v1 as the toolkit sees it: accounts, profiles, chats, invitations.

Shapes and error bodies follow ``shared/providers/unipile.md``. Known
limitation: an account ID the key does not know answers 401
``errors/wrong_account``; what live Unipile answers there is not documented.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from integration_health.sandbox.wire import RecordedRequest, Response, json_response

if TYPE_CHECKING:
    from integration_health.sandbox.server import Sandbox

Handler = Callable[["Sandbox", RecordedRequest, re.Match[str]], Response]
PREFIX = "/api/v1"
INVITE_MAX_CHARS = 300
TITLES = {
    "missing_credentials": "Missing credentials",
    "disconnected_account": "Disconnected account",
    "wrong_account": "Wrong account",
    "resource_not_found": "Resource not found.",
    "missing_parameters": "Missing parameters",
    "invalid_parameters": "Invalid parameters",
    "too_many_characters": "Too many characters",
    "invalid_recipient": "Recipient cannot be reached",
}


def error(status: int, name: str, detail: str) -> Response:
    """Unipile's error body: branch on ``status`` and ``type``."""
    title = TITLES.get(name, name.replace("_", " ").capitalize())
    body = {
        "status": status,
        "type": f"errors/{name}",
        "title": title,
        "detail": detail,
    }
    return json_response(status, body)


def handle(sb: Sandbox, req: RecordedRequest) -> Response | None:
    """Answer a Unipile request, or ``None`` when the path is not Unipile's."""
    if not req.path.startswith(PREFIX + "/"):
        return None
    if req.headers.get("x-api-key") != sb.state.unipile_api_key:
        return error(401, "missing_credentials", "The API key is missing or invalid.")
    subpath = req.path[len(PREFIX) :]
    for method, pattern, handler in ROUTES:
        match = pattern.fullmatch(subpath)
        if match and req.method == method:
            return handler(sb, req, match)
    return error(404, "resource_not_found", f"No route for {req.method} {subpath}.")


def _account_error(sb: Sandbox, account_id: str | None) -> Response | None:
    """The answer for a call naming an unknown or disconnected account."""
    if not account_id:
        return error(400, "missing_parameters", "account_id is required.")
    with sb.state.lock:
        account = sb.state.accounts.get(account_id)
        if account is None:
            return error(401, "wrong_account", "This account is not known to this key.")
        statuses = {source["status"] for source in account["sources"]}
        if account["disconnected"] or "CREDENTIALS" in statuses:
            detail = "The account appears to be disconnected from the provider."
            return error(401, "disconnected_account", detail)
    return None


def _account_view(account: dict[str, Any]) -> dict[str, Any]:
    account_id = account["id"]
    im = {"id": f"ACoAA{account_id}", "publicIdentifier": account_id}
    return {
        "object": "Account",
        "id": account_id,
        "type": account["type"],
        "name": account["name"],
        "created_at": account["created_at"],
        "connection_params": account.get("connection_params", {"im": im}),
        "sources": [dict(source) for source in account["sources"]],
    }


def list_accounts(sb: Sandbox, req: RecordedRequest, _: re.Match[str]) -> Response:
    try:
        limit = int(req.first("limit") or 100)
        start = int(req.first("cursor") or 0)
    except ValueError:
        return error(400, "invalid_parameters", "limit and cursor must be valid.")
    if not 1 <= limit <= 250 or start < 0:
        return error(400, "invalid_parameters", "limit must be between 1 and 250.")
    with sb.state.lock:
        accounts = list(sb.state.accounts.values())
    page = [_account_view(account) for account in accounts[start : start + limit]]
    cursor = str(start + limit) if start + limit < len(accounts) else None
    return json_response(
        200, {"object": "AccountList", "items": page, "cursor": cursor}
    )


def get_account(sb: Sandbox, _: RecordedRequest, match: re.Match[str]) -> Response:
    with sb.state.lock:
        account = sb.state.accounts.get(match["id"])
        if account is None:
            return error(404, "resource_not_found", "Account not found.")
        return json_response(200, _account_view(account))


def _unreachable(profile: dict[str, Any] | None) -> Response | None:
    if profile is None or not (profile.get("unreachable") or profile.get("error")):
        return None
    spec = profile.get("error") or {}
    status = int(spec.get("status", 422))
    name = str(spec.get("type", "errors/invalid_recipient")).removeprefix("errors/")
    return error(status, name, str(spec.get("detail", "The recipient is unreachable.")))


def get_user(sb: Sandbox, req: RecordedRequest, match: re.Match[str]) -> Response:
    problem = _account_error(sb, req.first("account_id"))
    if problem:
        return problem
    with sb.state.lock:
        profile = sb.state.find_profile(match["identifier"])
        sb.count("unipile_profile_views")
    if profile is None:
        return error(404, "resource_not_found", "User not found.")
    unreachable = _unreachable(profile)
    if unreachable:
        return unreachable
    view = {k: v for k, v in profile.items() if k not in ("unreachable", "error")}
    return json_response(200, {"object": "UserProfile", "provider": "LINKEDIN", **view})


def _form_values(req: RecordedRequest, name: str) -> list[str]:
    if req.form is not None:
        return req.form.get(name, []) or req.form.get(f"{name}[]", [])
    value = req.json.get(name) if isinstance(req.json, dict) else None
    if value is None:
        return []
    return [str(item) for item in value] if isinstance(value, list) else [str(value)]


def start_chat(sb: Sandbox, req: RecordedRequest, _: re.Match[str]) -> Response:
    account_id = next(iter(_form_values(req, "account_id")), None)
    attendees = _form_values(req, "attendees_ids")
    text = next(iter(_form_values(req, "text")), None)
    problem = _account_error(sb, account_id)
    if problem:
        return problem
    if not attendees or text is None:
        return error(400, "missing_parameters", "attendees_ids and text are required.")
    for attendee in attendees:
        unreachable = _unreachable(sb.state.find_profile(attendee))
        if unreachable:
            return unreachable
    with sb.state.lock:
        chat_id, message_id = sb.state.new_id("chat"), sb.state.new_id("msg")
        sb.state.chats[chat_id] = {"account_id": account_id, "attendees_ids": attendees}
    sb.state.record_send(
        "chat",
        account_id=account_id,
        attendees_ids=attendees,
        text=text,
        chat_id=chat_id,
        message_id=message_id,
    )
    body = {"object": "ChatStarted", "chat_id": chat_id, "message_id": message_id}
    return json_response(201, body)


def send_message(sb: Sandbox, req: RecordedRequest, match: re.Match[str]) -> Response:
    chat_id = match["chat_id"]
    with sb.state.lock:
        chat = sb.state.chats.get(chat_id)
    named = next(iter(_form_values(req, "account_id")), None)
    account_id = named or (chat or {}).get("account_id")
    if chat is None and named is None:
        return error(404, "resource_not_found", "Chat not found.")
    problem = _account_error(sb, account_id)
    if problem:
        return problem
    text = next(iter(_form_values(req, "text")), None)
    if text is None:
        return error(400, "missing_parameters", "text is required.")
    message_id = sb.state.new_id("msg")
    sb.state.record_send(
        "message",
        account_id=account_id,
        chat_id=chat_id,
        text=text,
        message_id=message_id,
    )
    return json_response(201, {"object": "MessageSent", "message_id": message_id})


def invite(sb: Sandbox, req: RecordedRequest, _: re.Match[str]) -> Response:
    payload = req.json if isinstance(req.json, dict) else {}
    problem = _account_error(sb, payload.get("account_id"))
    if problem:
        return problem
    provider_id = payload.get("provider_id")
    if not provider_id:
        return error(400, "missing_parameters", "provider_id is required.")
    message = payload.get("message")
    if isinstance(message, str) and len(message) > INVITE_MAX_CHARS:
        detail = f"The message exceeds {INVITE_MAX_CHARS} characters."
        return error(400, "too_many_characters", detail)
    unreachable = _unreachable(sb.state.find_profile(str(provider_id)))
    if unreachable:
        return unreachable
    invitation_id = sb.state.new_id("inv")
    sb.state.record_send(
        "invitation",
        account_id=payload["account_id"],
        provider_id=provider_id,
        message=message,
        invitation_id=invitation_id,
    )
    body = {"object": "UserInvitationSent", "invitation_id": invitation_id}
    return json_response(200, body)


def hosted_link(sb: Sandbox, req: RecordedRequest, _: re.Match[str]) -> Response:
    """A reconnect link; the named account may be disconnected, that's the point."""
    payload = req.json if isinstance(req.json, dict) else {}
    account_id = payload.get("reconnect_account") or "new"
    url = f"{sb.url}/reconnect/{account_id}"
    return json_response(201, {"object": "HostedAuthURL", "url": url})


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"/accounts/?"), list_accounts),
    ("GET", re.compile(r"/accounts/(?P<id>[^/]+)"), get_account),
    ("GET", re.compile(r"/users/(?P<identifier>[^/]+)"), get_user),
    ("POST", re.compile(r"/users/invite"), invite),
    ("POST", re.compile(r"/chats/?"), start_chat),
    ("POST", re.compile(r"/chats/(?P<chat_id>[^/]+)/messages"), send_message),
    ("POST", re.compile(r"/hosted/accounts/link"), hosted_link),
]
