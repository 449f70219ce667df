"""Error categories and the one exception tree the whole toolkit raises.

Every failure, whatever the provider, ends in exactly one :class:`Category`;
services branch on the category (and sometimes the provider code), never on
message text. The tree::

    IntegrationHealthError          base; ``exit_code`` says how the CLI ends
    ├── ConfigError                 our own setup or usage is wrong (exit 2)
    ├── DatabaseError               the database is unreachable or failed (exit 2/1)
    └── ProviderError               an outside API call failed, classified
        └── ProviderConfigError     the provider says our key/DSN/request is
                                    wrong (Unipile missing_credentials, GHL bad
                                    Version header): stop the run, exit 2

Clients raise only :class:`ProviderError` (or its subclass); lower-layer
exceptions (httpx) are translated in ``clients/transport.py`` and kept as
``__cause__``.
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """What kind of failure happened; each has one policy (design section 5)."""

    MISSING_CREDENTIALS = "missing_credentials"
    PERMISSION_DENIED = "permission_denied"
    DISCONNECTED_ACCOUNT = "disconnected_account"
    RECIPIENT_UNREACHABLE = "recipient_unreachable"
    RECIPIENT_NOT_READY = "recipient_not_ready"
    ACCOUNT_THROTTLED = "account_throttled"
    RATE_LIMITED = "rate_limited"
    VALIDATION_ERROR = "validation_error"
    NOT_FOUND = "not_found"
    NETWORK_TIMEOUT = "network_timeout"
    SERVER_ERROR = "server_error"
    CONFIG_ERROR = "config_error"
    UNKNOWN = "unknown"


#: Failures that a later attempt may cure without a person.
RETRYABLE: frozenset[Category] = frozenset(
    {
        Category.RATE_LIMITED,
        Category.NETWORK_TIMEOUT,
        Category.SERVER_ERROR,
        Category.UNKNOWN,
        Category.ACCOUNT_THROTTLED,
    }
)

#: Failures that mean the integration itself is cut off (health DISCONNECTED).
DISCONNECTING: frozenset[Category] = frozenset(
    {
        Category.MISSING_CREDENTIALS,
        Category.PERMISSION_DENIED,
        Category.DISCONNECTED_ACCOUNT,
    }
)

#: Transient failures that count towards DEGRADED.
TRANSIENT: frozenset[Category] = frozenset(
    {
        Category.RATE_LIMITED,
        Category.NETWORK_TIMEOUT,
        Category.SERVER_ERROR,
        Category.UNKNOWN,
    }
)


class IntegrationHealthError(Exception):
    """Base of every error the toolkit raises on purpose.

    ``exit_code`` is what the CLI exits with when this reaches the top;
    ``hint`` is an optional second line telling the user how to fix it.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(IntegrationHealthError):
    """Bad configuration or usage: the run stops before touching any state."""

    exit_code = 2


class DatabaseError(IntegrationHealthError):
    """The database could not be reached or a statement failed."""

    exit_code = 2


class ProviderError(IntegrationHealthError):
    """One classified failure of one outside API call.

    ``detail`` is always redacted before it is stored here, so the error can
    be logged, stored and shown as is.
    """

    def __init__(
        self,
        category: Category,
        *,
        provider: str,
        status: int | None = None,
        code: str | None = None,
        detail: str = "",
        retry_after: float | None = None,
        trace_id: str | None = None,
    ) -> None:
        from integration_health.redact import redact

        self.category = Category(category)
        self.provider = provider
        self.status = status
        # A provider's "code" may be its message, echoing a lead's data.
        self.code = redact(code) if code else code
        self.detail = redact(detail)[:500]
        self.retry_after = retry_after
        self.trace_id = trace_id
        parts = [f"{provider} {self.category.value}"]
        if status is not None:
            parts.append(f"HTTP {status}")
        if self.code:
            parts.append(self.code)
        text = " ".join(parts)
        if self.detail:
            text = f"{text}: {self.detail}"
        super().__init__(text)

    @property
    def retryable(self) -> bool:
        return self.category in RETRYABLE

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(category={self.category.value!r}, "
            f"provider={self.provider!r}, status={self.status!r}, "
            f"code={self.code!r}, detail={self.detail!r})"
        )


class ProviderConfigError(ProviderError):
    """The provider says our own setup is wrong: a run-level error, exit 2."""

    exit_code = 2
