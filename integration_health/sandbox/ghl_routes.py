"""GHL v2 as the toolkit sees it: contacts, duplicate search, SMS conversations.

Auth, the Version header and the rate limiter come first, in that order of
checks: Version, token, location, rate limit. Shapes follow
``shared/providers/ghl.md``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from integration_health.sandbox.wire import RecordedRequest, Response, json_response

if TYPE_CHECKING:
    from integration_health.sandbox.server import Sandbox

Json = dict[str, Any]
Handler = Callable[["Sandbox", RecordedRequest, re.Match[str], str], Response]
VERSIONS = {"2021-07-28", "2021-04-15"}
DUPLICATE_TEXT = "This location does not allow duplicated contacts."
NO_ACCESS = "The token does not have access to this location"
CONTACT_FIELDS = ("email", "phone", "firstName", "lastName", "name", "companyName")


def error(status: int, message: str | list[str], **extra: Any) -> Response:
    return json_response(status, {"statusCode": status, "message": message, **extra})


def _digits(phone: str | None) -> str:
    return "".join(ch for ch in phone or "" if ch.isdigit())


def handle(sb: Sandbox, req: RecordedRequest) -> Response | None:
    """Answer a GHL request, or ``None`` when the path is not GHL's."""
    route = _route(req)
    if route is None:
        return None
    handler, match = route
    version = req.headers.get("version")
    if not version:
        return error(401, "Version header was not found")
    if version not in VERSIONS:
        return error(401, f"Version header is invalid: {version}")
    location_id, problem = _authorize(sb, req)
    if problem:
        return problem
    assert location_id is not None
    decision = sb.ghl_limiter.check(location_id)
    if not decision.allowed:
        sb.count("ghl_429")
        answer = error(429, "Too Many Requests", error="Too Many Requests")
    else:
        answer = handler(sb, req, match, location_id)
    answer.headers.update(decision.headers)
    return answer


def _route(req: RecordedRequest) -> tuple[Handler, re.Match[str]] | None:
    for method, pattern, handler in ROUTES:
        match = pattern.fullmatch(req.path)
        if match and req.method == method:
            return handler, match
    return None


def _authorize(sb: Sandbox, req: RecordedRequest) -> tuple[str | None, Response | None]:
    """The location this call acts on, or the 401/403 GHL would answer."""
    scheme, _, token = req.headers.get("authorization", "").partition(" ")
    invalid = error(401, "Invalid JWT")
    if scheme.lower() != "bearer" or not token:
        return None, invalid
    with sb.state.lock:
        owner, owned = sb.state.location_of_token(token.strip())
        if owner is None or (owned and sb.state.ghl_locations[owner]["revoked"]):
            return None, invalid
        named = req.first("locationId")
        if not owned or (named is not None and named != owner):
            return None, error(403, NO_ACCESS, error="Forbidden")
    return owner, None


def _contact_matches(
    contact: Json, location_id: str, email: str | None, phone: str | None
) -> bool:
    if contact.get("locationId") != location_id:
        return False
    if email and str(contact.get("email") or "").lower() == email.lower():
        return True
    return bool(_digits(phone)) and _digits(contact.get("phone")) == _digits(phone)


def _find_contact(
    sb: Sandbox, location_id: str, email: str | None, phone: str | None
) -> Json | None:
    """The first contact of the location matching by email, then by phone."""
    return sb.state.find_contact(location_id, email, phone)


def duplicate_search(
    sb: Sandbox, req: RecordedRequest, _: re.Match[str], loc: str
) -> Response:
    email, number = req.first("email"), req.first("number")
    if number and number.startswith(" "):
        number = "+" + number[1:]  # an unencoded "+" arrives as a space
    if not email and not number:
        return error(400, "email or number is required", error="Bad Request")
    contact = _find_contact(sb, loc, email, number)
    return json_response(200, {"contact": dict(contact) if contact else None})


def _contact_body(req: RecordedRequest) -> tuple[Json, Response | None]:
    body = req.json if isinstance(req.json, dict) else None
    if body is None:
        return {}, error(400, "Body must be a JSON object", error="Bad Request")
    if not body.get("locationId"):
        return body, error(
            422, ["locationId should not be empty"], error="Unprocessable Entity"
        )
    return body, None


def _new_contact(sb: Sandbox, body: Json, location_id: str) -> Json:
    contact = {key: body[key] for key in CONTACT_FIELDS if key in body}
    with sb.state.lock:
        contact = {"id": sb.state.new_id("ghlc"), "locationId": location_id, **contact}
        contact["dateAdded"] = datetime.now(UTC).isoformat()
        sb.state.add_contact(contact)
    return contact


def upsert_contact(
    sb: Sandbox, req: RecordedRequest, _: re.Match[str], loc: str
) -> Response:
    body, problem = _contact_body(req)
    if problem:
        return problem
    with sb.state.lock:  # find and write as one step, as concurrent upserts
        existing = _find_contact(sb, loc, body.get("email"), body.get("phone"))
        if existing is None:
            contact, new = _new_contact(sb, body, loc), True
        else:
            existing.update({k: body[k] for k in CONTACT_FIELDS if k in body})
            sb.state.index_contact(existing)
            contact, new = existing, False
        view = dict(contact)
    payload = {"new": new, "contact": view, "traceId": str(uuid.uuid4())}
    return json_response(200, payload)


def create_contact(
    sb: Sandbox, req: RecordedRequest, _: re.Match[str], loc: str
) -> Response:
    body, problem = _contact_body(req)
    if problem:
        return problem
    with sb.state.lock:
        return _create_locked(sb, body, loc)


def _create_locked(sb: Sandbox, body: Json, loc: str) -> Response:
    existing = _find_contact(sb, loc, body.get("email"), body.get("phone"))
    if existing is not None and not sb.state.ghl_locations[loc]["allow_duplicates"]:
        same_email = _contact_matches(existing, loc, body.get("email"), None)
        meta = {
            "contactId": existing["id"],
            "matchingField": "email" if same_email else "phone",
            "contactName": "",
        }
        return error(400, DUPLICATE_TEXT, error="Bad Request", meta=meta)
    return json_response(201, {"contact": dict(_new_contact(sb, body, loc))})


def get_contact(
    sb: Sandbox, _: RecordedRequest, match: re.Match[str], loc: str
) -> Response:
    with sb.state.lock:
        contact = sb.state.contacts.get(match["id"])
    if contact is None:
        return error(404, "Contact not found", error="Not Found")
    if contact.get("locationId") != loc:
        return error(403, NO_ACCESS, error="Forbidden")
    return json_response(200, {"contact": dict(contact)})


def search_conversations(
    sb: Sandbox, req: RecordedRequest, _: re.Match[str], loc: str
) -> Response:
    contact_id = req.first("contactId")
    with sb.state.lock:
        found = [
            dict(conv)
            for conv in sb.state.conversations.values()
            if conv.get("locationId") == loc
            and contact_id in (None, conv.get("contactId"))
        ]
    return json_response(200, {"conversations": found, "total": len(found)})


def list_messages(
    sb: Sandbox, req: RecordedRequest, match: re.Match[str], loc: str
) -> Response:
    conversation_id = match["id"]
    with sb.state.lock:
        conversation = sb.state.conversations.get(conversation_id)
        items = list(sb.state.messages.get(conversation_id, []))
        shape, default_size = sb.state.message_page_shape, sb.state.page_size
    if conversation is None or conversation.get("locationId") != loc:
        return error(404, "Conversation not found", error="Not Found")
    try:
        limit = min(int(req.first("limit") or default_size), 100)
    except ValueError:
        return error(422, ["limit must be a number"], error="Unprocessable Entity")
    after = req.first("lastMessageId")
    ids = [item.get("id") for item in items]
    start = ids.index(after) + 1 if after in ids else 0
    page = [dict(item) for item in items[start : start + max(limit, 1)]]
    inner = {
        "lastMessageId": page[-1]["id"] if page else None,
        "nextPage": start + len(page) < len(items),
        "messages": page,
    }
    return json_response(200, {"messages": inner} if shape == "nested" else inner)


def send_sms(sb: Sandbox, req: RecordedRequest, _: re.Match[str], loc: str) -> Response:
    body = req.json if isinstance(req.json, dict) else {}
    contact_id, text = body.get("contactId"), body.get("message")
    if not body.get("type") or not contact_id:
        return error(
            422, ["type and contactId are required"], error="Unprocessable Entity"
        )
    with sb.state.lock:
        contact = sb.state.contacts.get(contact_id)
        if contact is None or contact.get("locationId") != loc:
            return error(400, "Contact not found", error="Bad Request")
        conversation = _conversation_for(sb, contact_id, loc)
        message = {
            "id": sb.state.new_id("ghlm"),
            "messageType": f"TYPE_{str(body['type']).upper()}",
            "type": 2,
            "direction": "outbound",
            "body": text,
            "dateAdded": datetime.now(UTC).isoformat(),
            "status": "delivered",
            "contactId": contact_id,
            "conversationId": conversation["id"],
        }
        sb.state.messages.setdefault(conversation["id"], []).insert(0, message)
    payload = {"conversationId": conversation["id"], "messageId": message["id"]}
    return json_response(200, payload)


def _conversation_for(sb: Sandbox, contact_id: str, location_id: str) -> Json:
    for conversation in sb.state.conversations.values():
        if conversation.get("contactId") == contact_id:
            return conversation
    conversation = {
        "id": sb.state.new_id("ghlconv"),
        "contactId": contact_id,
        "locationId": location_id,
        "type": "TYPE_PHONE",
        "lastMessageType": "TYPE_SMS",
    }
    sb.state.conversations[conversation["id"]] = conversation
    return conversation


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"/contacts/search/duplicate/?"), duplicate_search),
    ("POST", re.compile(r"/contacts/upsert/?"), upsert_contact),
    ("POST", re.compile(r"/contacts/?"), create_contact),
    ("GET", re.compile(r"/contacts/(?P<id>[^/]+)/?"), get_contact),
    ("GET", re.compile(r"/conversations/search/?"), search_conversations),
    ("POST", re.compile(r"/conversations/messages/?"), send_sms),
    ("GET", re.compile(r"/conversations/(?P<id>[^/]+)/messages/?"), list_messages),
]
