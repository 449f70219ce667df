"""The verify checklist's thresholds, read from an optional TOML file.

Every key has a default, so the file only names what an operator changes.
A table per check, named like the check::

    [webhook-burst]
    url = "https://platform.example/hooks/ingest"
    count = 100
    rate = 20.0
    timeout_seconds = 5.0
    deadline_seconds = 30.0
    p95_threshold_ms = 1000
    max_5xx_share = 0.0

    [inbox-count-timeout]
    statement_timeout_ms = 5000
    sql = "SELECT ..."          # the platform's own query; default: built in
    patterns = ["57014", "canceling statement due to statement timeout"]

    [token-refresh-spam]
    patterns = ["refresh_token_not_found"]
    max_count = 10
    window_minutes = 10

    [jobs-fresh.intervals_minutes]
    unipile-check = 15

An unknown key or a bad value is a configuration error (exit 2, one line).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from integration_health.errors import ConfigError

DEFAULT_INTERVALS: dict[str, float] = {
    "unipile-check": 15,
    "ghl-repair": 60,
    "ghl-sync-sms": 60,
    "followups-run": 15,
    "notify-flush": 15,
}


@dataclass(frozen=True)
class BurstConfig:
    url: str | None = None
    count: int = 100
    rate: float = 20.0
    timeout_seconds: float = 5.0
    deadline_seconds: float = 30.0
    p95_threshold_ms: float = 1000.0
    max_5xx_share: float = 0.0


@dataclass(frozen=True)
class InboxConfig:
    statement_timeout_ms: int = 5000
    sql: str | None = None
    patterns: tuple[str, ...] = (
        "57014",
        "canceling statement due to statement timeout",
    )


@dataclass(frozen=True)
class SpamConfig:
    patterns: tuple[str, ...] = ("refresh_token_not_found",)
    max_count: int = 10
    window_minutes: float = 10.0


@dataclass(frozen=True)
class JobsConfig:
    intervals_minutes: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_INTERVALS)
    )


@dataclass(frozen=True)
class VerifyConfig:
    burst: BurstConfig = field(default_factory=BurstConfig)
    inbox: InboxConfig = field(default_factory=InboxConfig)
    spam: SpamConfig = field(default_factory=SpamConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)


_SECTIONS: dict[str, tuple[str, type]] = {
    "webhook-burst": ("burst", BurstConfig),
    "inbox-count-timeout": ("inbox", InboxConfig),
    "token-refresh-spam": ("spam", SpamConfig),
    "jobs-fresh": ("jobs", JobsConfig),
}
_LIMITS: dict[str, tuple[float, float | None]] = {
    "count": (1, 100_000),
    "rate": (0.001, 10_000),
    "timeout_seconds": (0.001, 600),
    "deadline_seconds": (0.001, 3600),
    "p95_threshold_ms": (0.001, None),
    "max_5xx_share": (0, 1),
    "statement_timeout_ms": (1, None),
    "max_count": (0, None),
    "window_minutes": (0.001, None),
}


def _number(where: str, key: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}.{key}: accepted: a number")
    if kind is int and not isinstance(value, int):
        raise ConfigError(f"{where}.{key}: accepted: a whole number")
    low, high = _LIMITS[key]
    if value < low or (high is not None and value > high):
        upper = f"..{high:g}" if high is not None else " or more"
        raise ConfigError(f"{where}.{key}: accepted: {low:g}{upper}")
    return kind(value)


def _value(where: str, key: str, value: Any, default: Any) -> Any:
    if isinstance(default, tuple):
        if not (
            isinstance(value, list)
            and value
            and all(isinstance(v, str) and v for v in value)
        ):
            raise ConfigError(f"{where}.{key}: accepted: a list of non-empty strings")
        return tuple(value)
    if isinstance(default, dict):
        return {**default, **_intervals(f"{where}.{key}", value)}
    if key in {"url", "sql"}:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}.{key}: accepted: a non-empty string")
        if key == "url" and not re.match(r"^https?://[^/\s]+", value):
            raise ConfigError(f"{where}.url: accepted: an http:// or https:// URL")
        return value.strip()
    return _number(where, key, value, type(default))


def _intervals(where: str, value: Any) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{where}: accepted: a table of job = minutes")
    result: dict[str, float] = {}
    for job, minutes in value.items():
        if isinstance(minutes, bool) or not isinstance(minutes, int | float):
            raise ConfigError(f"{where}.{job}: accepted: minutes > 0")
        if minutes <= 0:
            raise ConfigError(f"{where}.{job}: accepted: minutes > 0")
        result[job] = float(minutes)
    return result


def _section(name: str, cls: type, table: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}]: accepted: a table")
    defaults = cls()
    known = {f.name for f in fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(
                f"[{name}]: unknown key {key!r}; accepted: {', '.join(sorted(known))}"
            )
        values[key] = _value(name, key, value, getattr(defaults, key))
    return replace(defaults, **values)


def load_config(path: Path | None) -> VerifyConfig:
    """The defaults, changed by the tables of ``path`` when given."""
    if path is None:
        return VerifyConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--config: cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config: not valid TOML: {exc}") from None
    config = VerifyConfig()
    for name, table in raw.items():
        if name not in _SECTIONS:
            accepted = ", ".join(sorted(_SECTIONS))
            raise ConfigError(f"--config: unknown table [{name}]; accepted: {accepted}")
        attr, cls = _SECTIONS[name]
        config = replace(config, **{attr: _section(name, cls, table)})
    return config


_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$", re.I)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: The earliest deploy time verify accepts, in days back. A deploy is checked
#: within hours; the bound keeps the date arithmetic (and the log windows)
#: inside what a datetime can hold, so a typo is an error, not a crash.
MAX_SINCE_DAYS = 3650


def parse_since(text: str | None, *, now: datetime) -> datetime:
    """The deploy time: ISO-8601 (naive is UTC), or relative like 30m, 2h."""
    if text is None:
        return now - timedelta(hours=1)
    from integration_health.services.logscan import parse_time

    too_far = ConfigError(
        f"--since: {text!r} is more than {MAX_SINCE_DAYS} days back; "
        f"accepted: a deploy time within the last {MAX_SINCE_DAYS} days"
    )
    match = _RELATIVE.match(text.strip())
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        if amount * _SECONDS[unit] > MAX_SINCE_DAYS * 86400:
            raise too_far
        return now - timedelta(**{_UNITS[unit]: amount})
    parsed = parse_time(text)
    if parsed is None:
        raise ConfigError(
            f"--since: cannot read {text!r}; accepted: ISO-8601 "
            "(2026-07-01T12:00:00Z) or relative (30m, 2h, 1d)"
        )
    if parsed > now:
        raise ConfigError(f"--since: {text!r} is in the future")
    if parsed < now - timedelta(days=MAX_SINCE_DAYS):
        raise too_far
    return parsed
