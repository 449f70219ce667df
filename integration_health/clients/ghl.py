"""GoHighLevel (API v2) client for contacts and SMS conversations.

Per-workspace calls take the workspace's token and location; every call goes
through the rate limiter and is classified by ``shared/providers/ghl.md``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal
from urllib.parse import quote

import httpx

from integration_health.clients import transport as tx
from integration_health.clients.ghl_shapes import (
    Conversation,
    GhlMessage,
    SmsSent,
    UpsertResult,
    classify_error,
    conversation,
    extract_contact_id,
    is_duplicate,
    message,
    message_page,
    nonempty_str,
    status_category,
)
from integration_health.clients.rate_limit import RateLimiter
from integration_health.config import Settings
from integration_health.errors import Category, ProviderError
from integration_health.redact import register_secret

__all__ = [
    "Conversation",
    "GhlClient",
    "GhlMessage",
    "RateLimiter",
    "SmsSent",
    "UpsertResult",
    "classify_error",
    "extract_contact_id",
]

PROVIDER = "ghl"
_MAX_PAGES = 10_000
Family = Literal["contacts", "conversations"]


class GhlClient:
    """GHL API v2; one client serves every workspace (token per call)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_version: str = "2021-07-28",
        conversations_version: str = "2021-04-15",
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        limiter: RateLimiter | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        retry_after_cap: float = 60.0,
    ) -> None:
        self._versions: dict[Family, str] = {
            "contacts": api_version,
            "conversations": conversations_version,
        }
        self._limiter = limiter
        self._sleep = sleep
        self._retry_after_cap = retry_after_cap
        self._locations: dict[str, str] = {}
        self._http = tx.make_http_client(
            base_url.rstrip("/"),
            headers={"Accept": "application/json"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            transport=transport,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, transport: httpx.BaseTransport | None = None
    ) -> GhlClient:
        limiter = RateLimiter(
            settings.ghl_rate_limit,
            settings.ghl_rate_interval_seconds,
            retry_after_cap=settings.retry_after_cap_seconds,
        )
        return cls(
            settings.ghl_base_url,
            api_version=settings.ghl_api_version,
            conversations_version=settings.ghl_conversations_api_version,
            connect_timeout=settings.http_connect_timeout,
            read_timeout=settings.http_read_timeout,
            limiter=limiter,
            transport=transport,
            retry_after_cap=settings.retry_after_cap_seconds,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GhlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _key(self, token: str, location_id: str | None) -> str:
        """The limiter key: the location, learned from the token if not given."""
        digest = hashlib.sha256(token.encode()).hexdigest()[:16]
        if location_id:
            self._locations[digest] = location_id
            return location_id
        return self._locations.get(digest, f"token:{digest}")

    def _send(
        self,
        method: str,
        path: str,
        *,
        token: str,
        family: Family,
        location_id: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One rate-limited request; the raw response, whatever its status."""
        register_secret(token)
        key = self._key(token, location_id)
        headers = {
            "Authorization": f"Bearer {token}",
            "Version": self._versions[family],
        }
        if self._limiter is not None:
            self._limiter.acquire(key)
        try:
            response = tx.request(
                self._http,
                method,
                path,
                provider=PROVIDER,
                sleep=self._sleep,
                headers=headers,
                **kwargs,
            )
        finally:
            if self._limiter is not None:
                self._limiter.done(key)
        if self._limiter is not None:
            self._limiter.observe(key, response.headers)
            if response.status_code == 429:
                retry_after = tx.parse_retry_after(response.headers)
                self._limiter.penalise(key, retry_after)
        return response

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A request whose success is a JSON object; anything else raises."""
        response = self._send(method, path, **kwargs)
        if not response.is_success:
            raise classify_error(response, retry_after_cap=self._retry_after_cap)
        body = tx.json_body(response, PROVIDER, by_status=status_category)
        if not isinstance(body, dict):
            raise tx.shape_error(PROVIDER, response)
        return body

    def find_duplicate(
        self,
        token: str,
        location_id: str,
        *,
        email: str | None = None,
        number: str | None = None,
    ) -> str | None:
        """The existing contact with this e-mail or phone, or None."""
        if not email and not number:
            raise ProviderError(
                Category.VALIDATION_ERROR,
                provider=PROVIDER,
                code="no_email_or_phone",
                detail="duplicate search needs an e-mail or a phone",
            )
        params = {"locationId": location_id}
        params |= {"email": email} if email else {}
        params |= {"number": number} if number else {}
        body = self._call(
            "GET",
            "/contacts/search/duplicate",
            token=token,
            family="contacts",
            location_id=location_id,
            params=params,
        )
        if "contact" in body and body["contact"] is None:
            return None
        contact_id = extract_contact_id(body)
        if contact_id is None and "contact" not in body:
            raise tx.shape_error(PROVIDER)
        return contact_id

    def upsert_contact(
        self,
        token: str,
        location_id: str,
        *,
        email: str | None,
        phone: str | None,
        first_name: str | None,
        last_name: str | None,
    ) -> UpsertResult:
        """Create or update by e-mail/phone; never sends ``tags`` (it replaces).

        A location that forbids duplicates may answer the duplicate 400 here
        too: that is a success in disguise, and the existing ID is adopted.
        """
        contact = (token, location_id, email, phone, first_name, last_name)
        adopted, body = self._write_contact("/contacts/upsert", *contact)
        if adopted is not None:
            return UpsertResult(adopted, new=False)
        return UpsertResult(_require_id(body), new=body.get("new") is True)

    def create_contact(
        self,
        token: str,
        location_id: str,
        *,
        email: str | None,
        phone: str | None,
        first_name: str | None,
        last_name: str | None,
    ) -> str:
        """Create a contact; an existing duplicate's ID is adopted as the result."""
        contact = (token, location_id, email, phone, first_name, last_name)
        adopted, body = self._write_contact("/contacts/", *contact)
        return adopted if adopted is not None else _require_id(body)

    def _write_contact(
        self,
        path: str,
        token: str,
        location_id: str,
        email: str | None,
        phone: str | None,
        first_name: str | None,
        last_name: str | None,
    ) -> tuple[str | None, dict[str, Any]]:
        """POST a contact: (a duplicate's adopted ID, {}) or (None, the JSON body)."""
        payload = _contact_body(location_id, email, phone, first_name, last_name)
        response = self._send(
            "POST",
            path,
            token=token,
            family="contacts",
            location_id=location_id,
            json=payload,
        )
        ok, body = tx.parse_json(response)
        if ok and is_duplicate(response, body):
            found = self._adopt_duplicate(token, location_id, body, email, phone)
            return found, {}
        if not response.is_success:
            raise classify_error(response, retry_after_cap=self._retry_after_cap)
        if not ok:
            raise tx.non_json_error(response, PROVIDER, by_status=status_category)
        if not isinstance(body, dict):
            raise tx.shape_error(PROVIDER, response)
        return None, body

    def _adopt_duplicate(
        self,
        token: str,
        location_id: str,
        body: dict[str, Any],
        email: str | None,
        phone: str | None,
    ) -> str:
        contact_id = extract_contact_id(body)
        if contact_id:
            return contact_id
        meta = body.get("meta")
        field = str(meta.get("matchingField") or "") if isinstance(meta, dict) else ""
        by_phone = field == "phone" or (not field.endswith("mail") and not email)
        found = self.find_duplicate(
            token,
            location_id,
            email=None if by_phone else email,
            number=phone if by_phone else None,
        )
        if found is None:
            raise ProviderError(
                Category.UNKNOWN,
                provider=PROVIDER,
                status=400,
                code="duplicate_not_found",
                detail="duplicate reported but no contact found",
            )
        return found

    def get_contact(
        self, token: str, contact_id: str, *, location_id: str | None = None
    ) -> dict[str, Any]:
        body = self._call(
            "GET",
            f"/contacts/{_seg(contact_id)}",
            token=token,
            family="contacts",
            location_id=location_id,
        )
        contact = body.get("contact")
        if not isinstance(contact, dict):
            raise tx.shape_error(PROVIDER)
        return contact

    def search_conversations(
        self, token: str, location_id: str, contact_id: str
    ) -> list[Conversation]:
        body = self._call(
            "GET",
            "/conversations/search",
            token=token,
            family="conversations",
            location_id=location_id,
            params={"locationId": location_id, "contactId": contact_id},
        )
        items = body.get("conversations")
        if not isinstance(items, list):
            raise tx.shape_error(PROVIDER)
        return [conversation(item) for item in items]

    def iter_messages(
        self,
        token: str,
        conversation_id: str,
        *,
        limit: int = 100,
        location_id: str | None = None,
    ) -> Iterator[GhlMessage]:
        """Every message of a conversation, page by page, newest first."""
        last_id: str | None = None
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            params: dict[str, Any] = {"limit": limit}
            params |= {"lastMessageId": last_id} if last_id else {}
            body = self._call(
                "GET",
                f"/conversations/{_seg(conversation_id)}/messages",
                token=token,
                family="conversations",
                location_id=location_id,
                params=params,
            )
            items, last_id, next_page = message_page(body)
            yield from (message(item, conversation_id) for item in items)
            if not next_page:
                return
            if not last_id or last_id in seen:
                raise tx.shape_error(PROVIDER, detail="lastMessageId did not advance")
            seen.add(last_id)
        raise tx.shape_error(PROVIDER, detail="too many message pages")

    def send_sms(
        self, token: str, contact_id: str, text: str, *, location_id: str | None = None
    ) -> SmsSent:
        body = self._call(
            "POST",
            "/conversations/messages",
            token=token,
            family="conversations",
            location_id=location_id,
            json={"type": "SMS", "contactId": contact_id, "message": text},
        )
        return SmsSent(
            conversation_id=nonempty_str(body.get("conversationId")),
            message_id=nonempty_str(body.get("messageId")),
        )


def _contact_body(
    location_id: str,
    email: str | None,
    phone: str | None,
    first_name: str | None,
    last_name: str | None,
) -> dict[str, str]:
    fields = {
        "locationId": location_id,
        "email": email,
        "phone": phone,
        "firstName": first_name,
        "lastName": last_name,
    }
    return {key: value for key, value in fields.items() if value}


def _require_id(body: object) -> str:
    contact_id = extract_contact_id(body)
    if contact_id is None:
        raise ProviderError(
            Category.UNKNOWN,
            provider=PROVIDER,
            code="no_contact_id",
            detail="no contact id in response",
        )
    return contact_id


def _seg(value: str) -> str:
    return quote(value, safe="")
