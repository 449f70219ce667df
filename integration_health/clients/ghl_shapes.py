"""GHL response shapes and error classification (``shared/providers/ghl.md``).

Each parser accepts every documented variant and raises a classified
``unknown`` error for anything else, never an empty result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from integration_health.clients import transport as tx
from integration_health.errors import Category, ProviderConfigError, ProviderError
from integration_health.redact import redact

PROVIDER = "ghl"


@dataclass(frozen=True)
class UpsertResult:
    contact_id: str
    new: bool


@dataclass(frozen=True)
class Conversation:
    id: str
    contact_id: str | None
    type: str | None
    last_message_type: str | None


@dataclass(frozen=True)
class GhlMessage:
    id: str
    message_type: str | None
    type_code: int | None
    direction: str | None
    body: str | None
    date_added: datetime | None
    status: str | None
    contact_id: str | None
    conversation_id: str | None


@dataclass(frozen=True)
class SmsSent:
    conversation_id: str | None
    message_id: str | None


def extract_contact_id(payload: object) -> str | None:
    """The contact ID wherever a GHL response may carry it, else None."""
    if not isinstance(payload, dict):
        return None
    contact = payload.get("contact")
    if isinstance(contact, dict) and nonempty_str(contact.get("id")):
        return str(contact["id"])
    contacts = payload.get("contacts")
    if isinstance(contacts, list):
        for item in contacts:
            if isinstance(item, dict) and nonempty_str(item.get("id")):
                return str(item["id"])
    meta = payload.get("meta")
    if isinstance(meta, dict) and nonempty_str(meta.get("contactId")):
        return str(meta["contactId"])
    for key in ("id", "contactId"):
        if nonempty_str(payload.get(key)):
            return str(payload[key])
    return None


def nonempty_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def conversation(item: object) -> Conversation:
    if not isinstance(item, dict) or not nonempty_str(item.get("id")):
        raise tx.shape_error(PROVIDER)
    return Conversation(
        id=item["id"],
        contact_id=nonempty_str(item.get("contactId")),
        type=nonempty_str(item.get("type")),
        last_message_type=nonempty_str(item.get("lastMessageType")),
    )


def message_page(body: dict[str, Any]) -> tuple[list[Any], str | None, bool]:
    """(messages, lastMessageId, nextPage) from the nested or the flat shape."""
    page: Any = body
    if isinstance(body.get("messages"), dict):
        page = body["messages"]
    items = page.get("messages")
    if not isinstance(items, list):
        raise tx.shape_error(PROVIDER)
    return items, nonempty_str(page.get("lastMessageId")), page.get("nextPage") is True


def message(item: object, conversation_id: str) -> GhlMessage:
    if not isinstance(item, dict) or not nonempty_str(item.get("id")):
        raise tx.shape_error(PROVIDER)
    type_code = item.get("type")
    body = item.get("body")
    return GhlMessage(
        id=item["id"],
        message_type=nonempty_str(item.get("messageType")),
        type_code=type_code if isinstance(type_code, int) else None,
        direction=nonempty_str(item.get("direction")),
        body=body if isinstance(body, str) else None,
        date_added=tx.parse_datetime(item.get("dateAdded")),
        status=nonempty_str(item.get("status")),
        contact_id=nonempty_str(item.get("contactId")),
        conversation_id=nonempty_str(item.get("conversationId")) or conversation_id,
    )


def _message_text(body: object) -> str:
    if not isinstance(body, dict):
        return ""
    message = body.get("message")
    if isinstance(message, list):
        return "; ".join(str(item) for item in message)
    return "" if message is None else str(message)


def _short_code(message: str) -> str | None:
    """A stable, short, redacted form of GHL's message, for grouping."""
    code = re.sub(r"[^a-z0-9]+", "_", redact(message).lower()).strip("_")
    return code[:48].rstrip("_") or None


def is_duplicate(response: httpx.Response, body: object) -> bool:
    """The 400 that says the contact exists already: a success in disguise."""
    text = _message_text(body).lower()
    return response.status_code == 400 and "duplicate" in text


def status_category(status: int) -> Category:
    if status >= 500:
        return Category.SERVER_ERROR
    table = {
        400: Category.VALIDATION_ERROR,
        401: Category.MISSING_CREDENTIALS,
        403: Category.PERMISSION_DENIED,
        404: Category.NOT_FOUND,
        422: Category.VALIDATION_ERROR,
        429: Category.RATE_LIMITED,
    }
    return table.get(status, Category.UNKNOWN)


def classify_error(
    response: httpx.Response, *, retry_after_cap: float | None = 60.0
) -> ProviderError:
    """The classified error for one non-2xx GHL response."""
    status = response.status_code
    ok, body = tx.parse_json(response)
    if not ok:
        return tx.non_json_error(
            response,
            PROVIDER,
            by_status=status_category,
            retry_after_cap=retry_after_cap,
        )
    message = _message_text(body)
    lowered = message.lower()
    trace = body.get("traceId") if isinstance(body, dict) else None
    fields: dict[str, Any] = {
        "provider": PROVIDER,
        "status": status,
        "code": _short_code(message),
        "detail": message,
        "trace_id": trace if isinstance(trace, str) else None,
    }
    if status == 401 and "version" in lowered:
        return ProviderConfigError(Category.CONFIG_ERROR, **fields)
    category = status_category(status)
    if status == 401 and "scope" in lowered:
        category = Category.PERMISSION_DENIED
    retry_after = tx.parse_retry_after(response.headers, cap=retry_after_cap)
    return ProviderError(category, retry_after=retry_after, **fields)
