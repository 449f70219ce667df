"""Slack incoming-webhook client: one post, a classified error, never the URL.

The webhook URL is the secret: it is registered with the redactor and never
put in an error, so that the outbox can log and store failures as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from integration_health.clients import transport as tx
from integration_health.errors import Category, ProviderError
from integration_health.redact import register_secret

PROVIDER = "slack"

_STATUS_CATEGORIES = {
    401: Category.MISSING_CREDENTIALS,
    403: Category.PERMISSION_DENIED,
    404: Category.NOT_FOUND,
    410: Category.NOT_FOUND,
    429: Category.RATE_LIMITED,
}


def is_permanent_status(status: int | None) -> bool:
    """Every 4xx but 429 stays until a person fixes the webhook or the payload.

    Slack answers a revoked URL, a bad token and a rejected payload with a
    4xx; only its rate limit asks to come back later.
    """
    return status is not None and 400 <= status < 500 and status != 429


def is_permanent(err: ProviderError) -> bool:
    """True when retrying cannot help (a revoked URL, a rejected payload)."""
    return err.provider == PROVIDER and is_permanent_status(err.status)


class SlackClient:
    """Posts to one Slack incoming webhook."""

    def __init__(
        self,
        webhook_url: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        register_secret(webhook_url)
        self._url = webhook_url
        self._sleep = sleep
        self._http = tx.make_http_client(
            "",
            headers={"Content-Type": "application/json"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return "SlackClient(webhook_url=[redacted])"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SlackClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def post(self, text: str, blocks: list[Any] | None = None) -> None:
        """Send one message; success is HTTP 200 with the body ``ok``."""
        payload: dict[str, Any] = {"text": text}
        if blocks:
            payload["blocks"] = blocks
        response = tx.request(
            self._http,
            "POST",
            self._url,
            provider=PROVIDER,
            sleep=self._sleep,
            json=payload,
        )
        body = response.text.strip()
        if response.status_code == 200 and body == "ok":
            return
        raise classify_error(response.status_code, body, response.headers)


def classify_error(
    status: int, body: str, headers: httpx.Headers | None = None
) -> ProviderError:
    """Slack answers failures in plain text: ``invalid_payload``, ``no_service``..."""
    if status >= 500:
        category = Category.SERVER_ERROR
    elif is_permanent_status(status):
        category = _STATUS_CATEGORIES.get(status, Category.VALIDATION_ERROR)
    else:
        category = _STATUS_CATEGORIES.get(status, Category.UNKNOWN)
    code = _code(body)
    retry_after = tx.parse_retry_after(headers) if headers is not None else None
    return ProviderError(
        category,
        provider=PROVIDER,
        status=status,
        code=code,
        detail="" if code else "unexpected response body",
        retry_after=retry_after,
    )


def _code(body: str) -> str | None:
    """Slack's one-word reason, if the body is one; HTML pages give None."""
    word = body.strip()
    if word and len(word) <= 64 and word.replace("_", "").isalnum():
        return word.lower()
    return None
