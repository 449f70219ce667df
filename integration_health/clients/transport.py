"""The one place where httpx exceptions become classified provider errors.

Every client sends through :func:`request` and parses through
:func:`json_body`, so that nothing above ``clients/`` ever sees an httpx
exception, and no detail carries a URL query, a header or a secret.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import tenacity

from integration_health.errors import Category, ProviderConfigError, ProviderError
from integration_health.redact import RedactingFilter, redact

NON_JSON = "non-JSON response"
BAD_SHAPE = "unexpected response shape"
_CONNECT_WAIT_SECONDS = 0.5
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I)

StatusClassifier = Callable[[int], Category]

#: Codes of failures that happened before the request left this machine: no
#: connection was made, so the provider cannot have acted on it.
NOT_SENT_CODES = frozenset({"connect_error", "connect_timeout", "pool_timeout"})


def _guard_httpx_logger() -> None:
    """httpx logs each request URL at INFO; mask it wherever logs are shown."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactingFilter) for f in httpx_logger.filters):
        httpx_logger.addFilter(RedactingFilter())


_guard_httpx_logger()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verified TLS context per process: building one costs milliseconds."""
    return httpx.create_ssl_context()


def make_http_client(
    base_url: str,
    *,
    headers: dict[str, str],
    connect_timeout: float,
    read_timeout: float,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An httpx client whose every phase has an explicit, finite timeout."""
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    return httpx.Client(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        transport=transport,
        follow_redirects=False,
        verify=_ssl_context(),
    )


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    provider: str,
    retries: int = 2,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; retry only failures that happened before sending.

    A connect error or connect timeout means the server never saw the
    request, so even a POST may be tried again (at most ``retries`` times).
    A read that failed is never retried here: the server may have acted.
    """
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(
            (httpx.ConnectError, httpx.ConnectTimeout)
        ),
        stop=tenacity.stop_after_attempt(max(retries, 0) + 1),
        wait=tenacity.wait_fixed(_CONNECT_WAIT_SECONDS),
        sleep=sleep,
        reraise=True,
    )
    try:
        response: httpx.Response = retrying(client.request, method, url, **kwargs)
    except httpx.InvalidURL as exc:
        raise ProviderConfigError(
            Category.CONFIG_ERROR,
            provider=provider,
            code="invalid_url",
            detail=_exception_detail(exc, method),
        ) from exc
    except httpx.HTTPError as exc:
        raise map_exception(exc, provider=provider, method=method) from exc
    return response


def map_exception(
    exc: httpx.HTTPError, *, provider: str, method: str = ""
) -> ProviderError:
    """Classify one httpx exception; the caller keeps it as ``__cause__``."""
    category, code = _category_of(exc)
    return ProviderError(
        category,
        provider=provider,
        code=code,
        detail=_exception_detail(exc, method),
    )


def _category_of(exc: httpx.HTTPError) -> tuple[Category, str]:
    if isinstance(exc, httpx.ConnectTimeout):
        return Category.NETWORK_TIMEOUT, "connect_timeout"
    if isinstance(exc, httpx.PoolTimeout):
        return Category.NETWORK_TIMEOUT, "pool_timeout"
    if isinstance(exc, httpx.TimeoutException):
        return Category.NETWORK_TIMEOUT, "timeout"
    if isinstance(exc, httpx.ConnectError):
        return Category.NETWORK_TIMEOUT, "connect_error"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return Category.NETWORK_TIMEOUT, "connection_reset"
    if isinstance(exc, httpx.DecodingError):
        return Category.UNKNOWN, "decoding_error"
    return Category.UNKNOWN, "transport_error"


def _exception_detail(exc: Exception, method: str) -> str:
    """Exception name and message, with any URL in it dropped, redacted."""
    message = _URL.sub("[url]", str(exc))
    prefix = f"{type(exc).__name__} during {method}" if method else type(exc).__name__
    return redact(f"{prefix}: {message}" if message else prefix)[:300]


def parse_retry_after(
    headers: Mapping[str, str],
    *,
    cap: float | None = None,
    now: datetime | None = None,
) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or HTTP date), capped."""
    raw = headers.get("retry-after")
    if raw is None or not raw.strip():
        return None
    seconds: float | None
    try:
        seconds = float(raw.strip())
    except ValueError:
        seconds = _seconds_until(raw, now)
    if seconds is None or seconds != seconds:
        return None
    seconds = max(seconds, 0.0)
    return min(seconds, cap) if cap is not None else seconds


def _seconds_until(raw: str, now: datetime | None) -> float | None:
    try:
        when = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - (now or datetime.now(UTC))).total_seconds()


def default_status_category(status: int) -> Category:
    """What a status alone says when the body tells nothing more."""
    if status >= 500:
        return Category.SERVER_ERROR
    known = {
        401: Category.MISSING_CREDENTIALS,
        403: Category.PERMISSION_DENIED,
        404: Category.NOT_FOUND,
        429: Category.RATE_LIMITED,
        400: Category.VALIDATION_ERROR,
        422: Category.VALIDATION_ERROR,
    }
    return known.get(status, Category.UNKNOWN)


def parse_json(response: httpx.Response) -> tuple[bool, Any]:
    """(True, value) when the body is JSON, else (False, None); never raises."""
    content = response.content
    if not content or not content.strip():
        return False, None
    try:
        return True, json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return False, None


def json_body(
    response: httpx.Response,
    provider: str,
    *,
    by_status: StatusClassifier = default_status_category,
    retry_after_cap: float | None = None,
) -> Any:
    """The parsed JSON body, or a classified error when there is none.

    An HTML page from a proxy, an empty body or any other non-JSON text is
    classified by the status alone, with detail "non-JSON response".
    """
    ok, value = parse_json(response)
    if ok:
        return value
    raise non_json_error(
        response, provider, by_status=by_status, retry_after_cap=retry_after_cap
    )


def non_json_error(
    response: httpx.Response,
    provider: str,
    *,
    by_status: StatusClassifier = default_status_category,
    retry_after_cap: float | None = None,
) -> ProviderError:
    status = response.status_code
    category = Category.UNKNOWN if status < 400 else by_status(status)
    return ProviderError(
        category,
        provider=provider,
        status=status,
        code="non_json",
        detail=NON_JSON,
        retry_after=parse_retry_after(response.headers, cap=retry_after_cap),
    )


def shape_error(
    provider: str, response: httpx.Response | None = None, detail: str = BAD_SHAPE
) -> ProviderError:
    """A 2xx (or error) body that is JSON but not of any shape we know."""
    return ProviderError(
        Category.UNKNOWN,
        provider=provider,
        status=None if response is None else response.status_code,
        code="unexpected_shape",
        detail=detail,
    )


def parse_datetime(value: object) -> datetime | None:
    """An aware UTC datetime from ISO-8601 text; None when absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
