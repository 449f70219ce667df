"""Unipile (LinkedIn gateway) API v1 client: typed results, classified errors.

Errors are classified on the HTTP status and the ``type`` of Unipile's error
body only, never on its title or detail text (``shared/providers/unipile.md``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from integration_health.clients import transport as tx
from integration_health.clients.unipile_accounts import (
    Account,
    AccountHealth,
    ChatStarted,
    InvitationSent,
    MessageSent,
    Profile,
    Source,
    account_health,
    optional_str,
    parse_account,
)
from integration_health.config import Settings
from integration_health.errors import (
    Category,
    ConfigError,
    ProviderConfigError,
    ProviderError,
)
from integration_health.redact import register_secret

__all__ = [
    "Account",
    "AccountHealth",
    "ChatStarted",
    "InvitationSent",
    "MessageSent",
    "Profile",
    "Source",
    "UnipileClient",
    "account_health",
    "classify_error",
    "parse_account",
]

PROVIDER = "unipile"
INVITE_NOTE_MAX = 300
PAGE_LIMIT = 250
_MAX_PAGES = 1000

_CONFIG_TYPES = {
    "missing_credentials": Category.MISSING_CREDENTIALS,
    "invalid_parameters": Category.CONFIG_ERROR,
    "missing_parameters": Category.CONFIG_ERROR,
    "malformed_request": Category.CONFIG_ERROR,
}


def _types(category: Category, *names: str) -> dict[str, Category]:
    return dict.fromkeys(names, category)


#: Unipile error ``type`` (without ``errors/``) to category.
TYPE_CATEGORIES: dict[str, Category] = {
    **_types(
        Category.DISCONNECTED_ACCOUNT,
        "disconnected_account",
        "expired_credentials",
        "invalid_credentials",
        "wrong_account",
    ),
    **_types(
        Category.PERMISSION_DENIED,
        "account_restricted",
        "action_required",
        "unknown_authentication_context",
        "invalid_account",
    ),
    **_types(
        Category.RECIPIENT_UNREACHABLE,
        "invalid_recipient",
        "recipient_cannot_be_reached",
        "blocked_recipient",
        "user_unreachable",
        "recipient_rejected",
        "cannot_invite_attendee",
        "not_allowed_inmail",
    ),
    **_types(
        Category.RECIPIENT_NOT_READY,
        "no_connection_with_recipient",
        "already_invited_recently",
        "action_already_performed",
    ),
    **_types(
        Category.ACCOUNT_THROTTLED,
        "too_many_requests",
        "cannot_resend_yet",
        "cannot_resend_within_24hrs",
        "limit_exceeded",
        "insufficient_credits",
    ),
    **_types(
        Category.SERVER_ERROR,
        "provider_error",
        "unexpected_error",
        "network_down",
        "service_unavailable",
        "no_client_session",
        "request_timeout",
    ),
    **_types(Category.VALIDATION_ERROR, "too_many_characters"),
}


def _status_category(status: int) -> Category:
    """Category by status alone, for Unipile error types we do not know."""
    if status >= 500:
        return Category.SERVER_ERROR
    if status == 429:
        return Category.ACCOUNT_THROTTLED
    if status == 401:
        return Category.DISCONNECTED_ACCOUNT
    if status == 403:
        return Category.PERMISSION_DENIED
    if status == 404:
        return Category.NOT_FOUND
    return Category.UNKNOWN


def classify_error(
    response: httpx.Response, *, not_found: Category = Category.NOT_FOUND
) -> ProviderError:
    """The classified error for one non-2xx Unipile response.

    ``not_found`` is what a 404 means where it was asked: an account gone
    (``not_found``) or a profile that cannot be reached.
    """
    status = response.status_code
    ok, body = tx.parse_json(response)
    if not ok:
        error = tx.non_json_error(response, PROVIDER, by_status=_status_category)
        return _with_not_found(error, not_found)
    raw_type = body.get("type") if isinstance(body, dict) else None
    code = _strip_type(raw_type)
    retry_after = tx.parse_retry_after(response.headers)
    detail = _error_detail(body)
    if code in _CONFIG_TYPES and status in {400, 401}:
        return ProviderConfigError(
            _CONFIG_TYPES[code], provider=PROVIDER, status=status, code=code,
            detail=detail,
        )  # fmt: skip
    if status == 404:
        category = not_found
    else:
        category = TYPE_CATEGORIES.get(code or "") or _status_category(status)
    return ProviderError(
        category,
        provider=PROVIDER,
        status=status,
        code=code,
        detail=detail,
        retry_after=retry_after,
    )


def _with_not_found(error: ProviderError, not_found: Category) -> ProviderError:
    if error.status != 404 or not_found == Category.NOT_FOUND:
        return error
    return ProviderError(
        not_found,
        provider=PROVIDER,
        status=404,
        code=error.code,
        detail=error.detail,
    )


def _strip_type(raw: object) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    return raw.strip().removeprefix("errors/")


def _error_detail(body: object) -> str:
    """Title and detail, for people only: never branched on."""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[key]) for key in ("title", "detail") if body.get(key)]
    return ": ".join(parts)


class UnipileClient:
    """One Unipile workspace (DSN + API key); every LinkedIn account in it."""

    def __init__(
        self,
        dsn: str,
        api_key: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        register_secret(api_key)
        self.dsn = dsn.rstrip("/")
        self._sleep = sleep
        self._now = now
        self._http = tx.make_http_client(
            f"{self.dsn}/api/v1",
            headers={"X-API-KEY": api_key, "accept": "application/json"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            transport=transport,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, transport: httpx.BaseTransport | None = None
    ) -> UnipileClient:
        if not settings.unipile_dsn or not settings.unipile_api_key:
            missing = [
                name
                for name, value in (
                    ("UNIPILE_DSN", settings.unipile_dsn),
                    ("UNIPILE_API_KEY", settings.unipile_api_key),
                )
                if not value
            ]
            raise ConfigError(
                f"{' and '.join(missing)} not set",
                hint="set them in the environment or the .env file",
            )
        return cls(
            settings.unipile_dsn,
            settings.unipile_api_key,
            connect_timeout=settings.http_connect_timeout,
            read_timeout=settings.http_read_timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> UnipileClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        not_found: Category = Category.NOT_FOUND,
        **kwargs: Any,
    ) -> Any:
        response = tx.request(
            self._http, method, path, provider=PROVIDER, sleep=self._sleep, **kwargs
        )
        if not response.is_success:
            raise classify_error(response, not_found=not_found)
        return tx.json_body(response, PROVIDER, by_status=_status_category)

    def list_accounts(self) -> list[Account]:
        """Every LinkedIn account, following the cursor to the last page."""
        accounts: list[Account] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            params = {"limit": PAGE_LIMIT} | ({"cursor": cursor} if cursor else {})
            body = self._call("GET", "/accounts", params=params)
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise tx.shape_error(PROVIDER)
            accounts.extend(parse_account(item) for item in items)
            cursor = optional_str(body.get("cursor"))
            if cursor is None:
                return [a for a in accounts if a.type.upper() == "LINKEDIN"]
            if cursor in seen:
                raise tx.shape_error(PROVIDER, detail="pagination cursor repeated")
            seen.add(cursor)
        raise tx.shape_error(PROVIDER, detail="too many account pages")

    def get_account(self, account_id: str) -> Account:
        return parse_account(self._call("GET", f"/accounts/{_seg(account_id)}"))

    def get_profile(self, identifier: str, account_id: str) -> Profile:
        """A LinkedIn profile as this account sees it; 404 is unreachable."""
        body = self._call(
            "GET",
            f"/users/{_seg(identifier)}",
            params={"account_id": account_id},
            not_found=Category.RECIPIENT_UNREACHABLE,
        )
        if not isinstance(body, dict) or not optional_str(body.get("provider_id")):
            raise tx.shape_error(PROVIDER)
        distance = body.get("network_distance")
        relationship = body.get("is_relationship")
        return Profile(
            provider_id=body["provider_id"],
            public_identifier=optional_str(body.get("public_identifier")),
            is_relationship=relationship if isinstance(relationship, bool) else None,
            network_distance=None if distance is None else str(distance),
            has_invitation=bool(body.get("invitation")),
        )

    def start_chat(
        self, account_id: str, attendee_ids: list[str], text: str
    ) -> ChatStarted:
        fields = [("account_id", account_id), ("text", text)]
        fields += [("attendees_ids", attendee) for attendee in attendee_ids]
        body = self._dict(self._call("POST", "/chats", files=_multipart(fields)))
        return ChatStarted(
            chat_id=optional_str(body.get("chat_id")),
            message_id=optional_str(body.get("message_id")),
        )

    def send_message(self, chat_id: str, text: str) -> MessageSent:
        path = f"/chats/{_seg(chat_id)}/messages"
        body = self._dict(self._call("POST", path, files=_multipart([("text", text)])))
        return MessageSent(message_id=optional_str(body.get("message_id")))

    def send_invitation(
        self, account_id: str, provider_id: str, message: str | None
    ) -> InvitationSent:
        """Invite a profile; a note over 300 characters is refused unsent."""
        if message is not None and len(message) > INVITE_NOTE_MAX:
            raise ProviderError(
                Category.VALIDATION_ERROR,
                provider=PROVIDER,
                code="too_many_characters",
                detail=f"invitation note over {INVITE_NOTE_MAX} characters",
            )
        payload = {"provider_id": provider_id, "account_id": account_id}
        if message:
            payload["message"] = message
        body = self._dict(self._call("POST", "/users/invite", json=payload))
        usage = body.get("usage")
        if not isinstance(usage, int | float) or isinstance(usage, bool):
            usage = None
        return InvitationSent(
            invitation_id=optional_str(body.get("invitation_id")),
            usage=None if usage is None else float(usage),
        )

    def reconnect_link(self, account_id: str) -> str:
        """A hosted-auth URL a person can open to reconnect the account."""
        expires = self._now() + timedelta(hours=1)
        payload = {
            "type": "reconnect",
            "reconnect_account": account_id,
            "providers": ["LINKEDIN"],
            "api_url": self.dsn,
            "expiresOn": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
        body = self._dict(self._call("POST", "/hosted/accounts/link", json=payload))
        url = optional_str(body.get("url"))
        if url is None:
            raise tx.shape_error(PROVIDER)
        return url

    @staticmethod
    def _dict(body: object) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise tx.shape_error(PROVIDER)
        return body


def _seg(value: str) -> str:
    """One path segment, so an ID can never change the path."""
    return quote(value, safe="")


def _multipart(fields: list[tuple[str, str]]) -> list[tuple[str, Any]]:
    """Form fields as multipart parts (no filename), even with no file at all."""
    return [(name, (None, value)) for name, value in fields]
