"""The one redaction function every stored detail, log record and message uses.

Known secret values (API keys, workspace tokens, webhook URLs) are registered
at load time and removed verbatim; on top of that, patterns catch bearer
tokens, API-key headers, Slack webhook URLs, e-mail addresses and phone
numbers that were never registered (a provider echoing a lead's e-mail back
in an error, say).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

MASK = "[redacted]"
_MIN_SECRET_LEN = 6

_lock = threading.Lock()
_secrets: set[str] = set()

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"(?:https?://)?hooks\.slack\.com/[^\s\"'<>]+", re.I),
        "[slack-webhook]",
    ),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + MASK),
    (
        re.compile(
            r"(?i)((?:x-api-key|api[_-]?key|access[_-]?token|refresh[_-]?token"
            r"|authorization|token|password|secret)[\"']?\s*[:=]\s*[\"']?)"
            r"[^\s\"',;}&]+"
        ),
        r"\1" + MASK,
    ),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
]

# A phone: an optional "+", then 7 to 15 digits with common separators.
# ISO dates and times (2026-12-04, 13:32:21) are not touched; after a colon
# only a "+" number counts ("tel:+1555...", not the "32:21" of a time).
_PHONE = re.compile(
    r"(?:(?<![\w.:-])|(?<=:)(?=\+))\+?\(?\d[\d\s().-]{5,20}\d(?![\w:-])"
)
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it appears."""
    if value and len(value.strip()) >= _MIN_SECRET_LEN:
        with _lock:
            _secrets.add(value.strip())


def register_secrets(values: Iterable[str | None]) -> None:
    for value in values:
        register_secret(value)


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if _DATE_LIKE.match(text.lstrip("(")) or not 7 <= digits <= 15:
        return text
    if not text.startswith("+") and digits < 9:
        return text
    return "[phone]"


def redact(text: object) -> str:
    """Return ``text`` as a string with every secret and personal datum masked."""
    result = "" if text is None else str(text)
    if not result:
        return result
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in result:
            result = result.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        result = pattern.sub(replacement, result)
    return _PHONE.sub(_mask_phone, result)


class RedactingFilter(logging.Filter):
    """Logging filter that redacts the rendered message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        for key, value in list(vars(record).items()):
            if key.startswith("ctx_") and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and not record.exc_text:
            # Formatters reuse ``exc_text``: render the traceback once, redacted.
            record.exc_text = redact(_FORMATTER.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FORMATTER = logging.Formatter()
