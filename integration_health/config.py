"""Settings from the environment and a ``.env`` file, validated once at start.

Precedence, highest first: the process environment, the ``.env`` file
(``./.env``, or the one named by ``--env-file``), the default. Every variable
is declared once in :data:`VARIABLES`; ``.env.example``, the ``flags``
command and the settings dump are all derived from that table, so they
cannot drift apart. Secret values are registered with the redactor as soon as
they are read and are never rendered.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from integration_health.errors import ConfigError
from integration_health.redact import register_secret

DEFAULT_DATABASE_URL = "sqlite:///integration-health.db"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("accepted: 1/0, true/false, yes/no, on/off")


_DATABASE_URLS = "sqlite:///PATH or postgresql://USER@HOST:PORT/DB"


def _sqlite_in_memory(rest: str) -> bool:
    """Whether a SQLite URL (after ``sqlite://``) names no file at all."""
    path, _, query = rest.partition("?")
    database = path[1:] if path.startswith("/") else path
    return (
        database in {"", ":memory:"}
        or database.startswith("file::memory:")
        or "mode=memory" in query.split("&")
    )


def _parse_database_url(value: str) -> str:
    value = value.strip()
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme in {"sqlite", "sqlite+pysqlite"}:
        # Each command is its own process: an in-memory database would be
        # migrated, filled and lost at every exit, so no run could see another.
        if _sqlite_in_memory(value.split("://", 1)[1]):
            raise ValueError(
                f"accepted: {_DATABASE_URLS}; an in-memory SQLite database "
                "is lost when the command exits, so give a file"
            )
        return value
    if scheme in {"postgresql", "postgres", "postgresql+psycopg"}:
        rest = value.split("://", 1)[1]
        return f"postgresql+psycopg://{rest}"
    raise ValueError(f"accepted: {_DATABASE_URLS}")


def _parse_http_url(value: str) -> str:
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # not a number, or out of range
        port_ok = False
    if parts.scheme not in {"http", "https"} or not parts.hostname or not port_ok:
        raise ValueError("accepted: an http:// or https:// URL")
    return value


_DSN_ACCEPTED = "accepted: https://HOST[:PORT], or HOST:PORT as Unipile shows it"


def _parse_dsn(value: str) -> str:
    """A Unipile DSN: ``host:port`` or a URL; stored as a base URL without path.

    Unipile's dashboard gives the DSN as ``HOST:PORT``, without a scheme, so
    that form is read as HTTPS. Without a scheme the port is required: a
    bare word is a mistake (a key pasted in the wrong place), not a host.
    """
    value = value.strip().rstrip("/")
    if "://" not in value:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(_DSN_ACCEPTED)
        value = f"https://{value}"
    try:
        value = _parse_http_url(value)
    except ValueError:
        raise ValueError(_DSN_ACCEPTED) from None
    parts = urlsplit(value)
    return f"{parts.scheme}://{parts.netloc}"


#: No threshold needs more; larger values overflow dates and database ints.
MAX_SETTING = 1_000_000_000


def _float(value: str, *, minimum_exclusive: bool) -> float:
    lowest = "> 0" if minimum_exclusive else ">= 0"
    accepted = f"accepted: a number {lowest} and <= {MAX_SETTING}"
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError(accepted) from None
    bad = number <= 0 if minimum_exclusive else number < 0
    if bad or number != number or number > MAX_SETTING:
        raise ValueError(accepted)
    return number


def _non_negative_float(value: str) -> float:
    return _float(value, minimum_exclusive=False)


def _positive_float(value: str) -> float:
    return _float(value, minimum_exclusive=True)


def _int(value: str, minimum: int) -> int:
    accepted = f"accepted: a whole number from {minimum} to {MAX_SETTING}"
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(accepted) from None
    if not minimum <= number <= MAX_SETTING:
        raise ValueError(accepted)
    return number


def _positive_int(value: str) -> int:
    return _int(value, 1)


def _non_negative_int(value: str) -> int:
    return _int(value, 0)


def _optional_str(value: str) -> str | None:
    return value.strip() or None


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, parser, default and description."""

    env: str
    attr: str
    parse: Callable[[str], Any]
    default: str
    help: str
    secret: bool = False
    group: str = "general"


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "DATABASE_URL",
        "database_url",
        _parse_database_url,
        DEFAULT_DATABASE_URL,
        "SQLite file (default, in the working "
        "directory) or postgresql://user@host:port/db",
        group="database",
    ),
    Variable(
        "UNIPILE_DSN",
        "unipile_dsn",
        lambda v: _parse_dsn(v) if v.strip() else None,
        "",
        "Unipile DSN, e.g. https://api8.unipile.com:13851",
        group="unipile",
    ),
    Variable(
        "UNIPILE_API_KEY",
        "unipile_api_key",
        _optional_str,
        "",
        "Unipile API key (X-API-KEY)",
        secret=True,
        group="unipile",
    ),
    Variable(
        "GHL_BASE_URL",
        "ghl_base_url",
        _parse_http_url,
        "https://services.leadconnectorhq.com",
        "GHL API base URL",
        group="ghl",
    ),
    Variable(
        "GHL_API_VERSION",
        "ghl_api_version",
        str.strip,
        "2021-07-28",
        "GHL Version header for contacts",
        group="ghl",
    ),
    Variable(
        "GHL_CONVERSATIONS_API_VERSION",
        "ghl_conversations_api_version",
        str.strip,
        "2021-04-15",
        "GHL Version header for conversations",
        group="ghl",
    ),
    Variable(
        "SLACK_WEBHOOK_URL",
        "slack_webhook_url",
        lambda v: _parse_http_url(v) if v.strip() else None,
        "",
        "Slack incoming webhook URL (empty: notices stay queued)",
        secret=True,
        group="slack",
    ),
    Variable(
        "VERIFY_WEBHOOK_URL",
        "verify_webhook_url",
        lambda v: _parse_http_url(v) if v.strip() else None,
        "",
        "the platform's webhook ingestion URL for the verify burst",
        group="verify",
    ),
    Variable(
        "UNIPILE_HEALTH_GATE",
        "unipile_health_gate",
        _parse_bool,
        "1",
        "gate follow-ups on health (0 = try every send and record)",
        group="flags",
    ),
    Variable(
        "AUTO_DISABLE",
        "auto_disable",
        _parse_bool,
        "1",
        "pause on disconnect, quarantine on unreachable (0 = record only)",
        group="flags",
    ),
    Variable(
        "HTTP_CONNECT_TIMEOUT",
        "http_connect_timeout",
        _positive_float,
        "5",
        "seconds to connect to a provider",
        group="http",
    ),
    Variable(
        "HTTP_READ_TIMEOUT",
        "http_read_timeout",
        _positive_float,
        "30",
        "seconds to wait for a provider's answer",
        group="http",
    ),
    Variable(
        "RETRY_AFTER_CAP_SECONDS",
        "retry_after_cap_seconds",
        _non_negative_float,
        "60",
        "longest Retry-After honoured in a run",
        group="http",
    ),
    Variable(
        "DEGRADED_AFTER_FAILURES",
        "degraded_after_failures",
        _positive_int,
        "3",
        "consecutive transient failures before DEGRADED",
        group="health",
    ),
    Variable(
        "GRACE_PERIOD_MINUTES",
        "grace_period_minutes",
        _non_negative_float,
        "15",
        "after a (re)connection, a 401 is re-checked, not believed",
        group="health",
    ),
    Variable(
        "UNIPILE_CHECK_CONCURRENCY",
        "unipile_check_concurrency",
        _positive_int,
        "4",
        "single-account checks run at once",
        group="unipile",
    ),
    Variable(
        "GHL_RATE_LIMIT",
        "ghl_rate_limit",
        _positive_int,
        "100",
        "GHL requests allowed per interval per location",
        group="ghl",
    ),
    Variable(
        "GHL_RATE_INTERVAL_SECONDS",
        "ghl_rate_interval_seconds",
        _positive_float,
        "10",
        "GHL rate-limit interval",
        group="ghl",
    ),
    Variable(
        "REPAIR_MAX_ATTEMPTS",
        "repair_max_attempts",
        _positive_int,
        "8",
        "attempts before a repair job is dead",
        group="repair",
    ),
    Variable(
        "REPAIR_BACKOFF_BASE_SECONDS",
        "repair_backoff_base_seconds",
        _positive_float,
        "60",
        "first retry delay cap (doubles)",
        group="repair",
    ),
    Variable(
        "REPAIR_BACKOFF_CAP_SECONDS",
        "repair_backoff_cap_seconds",
        _positive_float,
        "21600",
        "longest retry delay",
        group="repair",
    ),
    Variable(
        "REPAIR_CONCURRENCY",
        "repair_concurrency",
        _positive_int,
        "4",
        "workspaces repaired or synced at once (one worker per GHL location)",
        group="repair",
    ),
    Variable(
        "LEASE_SECONDS",
        "lease_seconds",
        _positive_float,
        "300",
        "how long a claim or an in-flight send is held",
        group="engine",
    ),
    Variable(
        "FOLLOWUP_MAX_STEP_ATTEMPTS",
        "followup_max_step_attempts",
        _positive_int,
        "5",
        "transient failures before an instance fails",
        group="engine",
    ),
    Variable(
        "FOLLOWUP_BATCH_SIZE",
        "followup_batch_size",
        _positive_int,
        "200",
        "instances claimed per batch",
        group="engine",
    ),
    Variable(
        "SEND_CONCURRENCY",
        "send_concurrency",
        _positive_int,
        "8",
        "accounts sending at once",
        group="engine",
    ),
    Variable(
        "LINKEDIN_DAILY_INVITES",
        "linkedin_daily_invites",
        _non_negative_int,
        "80",
        "invitations per account per day",
        group="engine",
    ),
    Variable(
        "LINKEDIN_DAILY_MESSAGES",
        "linkedin_daily_messages",
        _non_negative_int,
        "100",
        "messages per account per day",
        group="engine",
    ),
    Variable(
        "LINKEDIN_SEND_SPACING_SECONDS",
        "linkedin_send_spacing_seconds",
        _non_negative_float,
        "30",
        "least time between two sends of one account (jittered up to +50%)",
        group="engine",
    ),
    Variable(
        "LOG_WINDOW_SECONDS",
        "log_window_seconds",
        _positive_float,
        "3600",
        "a repeating error is logged once per window",
        group="logging",
    ),
    Variable(
        "SLACK_MIN_INTERVAL_SECONDS",
        "slack_min_interval_seconds",
        _non_negative_float,
        "1",
        "least time between two Slack posts",
        group="slack",
    ),
    Variable(
        "NOTIFY_MAX_ATTEMPTS",
        "notify_max_attempts",
        _positive_int,
        "10",
        "transient Slack failures before a notice is given up",
        group="slack",
    ),
)


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one run. Secrets are hidden in repr."""

    database_url: str = DEFAULT_DATABASE_URL
    unipile_dsn: str | None = None
    unipile_api_key: str | None = field(default=None, repr=False)
    ghl_base_url: str = "https://services.leadconnectorhq.com"
    ghl_api_version: str = "2021-07-28"
    ghl_conversations_api_version: str = "2021-04-15"
    slack_webhook_url: str | None = field(default=None, repr=False)
    verify_webhook_url: str | None = None
    unipile_health_gate: bool = True
    auto_disable: bool = True
    http_connect_timeout: float = 5.0
    http_read_timeout: float = 30.0
    retry_after_cap_seconds: float = 60.0
    degraded_after_failures: int = 3
    grace_period_minutes: float = 15.0
    unipile_check_concurrency: int = 4
    ghl_rate_limit: int = 100
    ghl_rate_interval_seconds: float = 10.0
    repair_max_attempts: int = 8
    repair_backoff_base_seconds: float = 60.0
    repair_backoff_cap_seconds: float = 21600.0
    repair_concurrency: int = 4
    lease_seconds: float = 300.0
    followup_max_step_attempts: int = 5
    followup_batch_size: int = 200
    send_concurrency: int = 8
    linkedin_daily_invites: int = 80
    linkedin_daily_messages: int = 100
    linkedin_send_spacing_seconds: float = 30.0
    log_window_seconds: float = 3600.0
    slack_min_interval_seconds: float = 1.0
    notify_max_attempts: int = 10
    #: Where each value came from: "environment", ".env" or "default".
    sources: Mapping[str, str] = field(default_factory=dict, repr=False)

    def public_items(self) -> list[tuple[str, str, str]]:
        """(variable, shown value, source) with every secret masked."""
        rows = []
        for var in VARIABLES:
            value = getattr(self, var.attr)
            if var.secret:
                shown = "(set)" if value else "(not set)"
            else:
                shown = "" if value is None else mask_url_password(str(value))
            rows.append((var.env, shown, self.sources.get(var.env, "default")))
        return rows


def mask_url_password(value: str) -> str:
    """``scheme://user:***@host/...`` for a URL with a password; else as is."""
    if "://" not in value:
        return value
    parts = urlsplit(value)
    if parts.password is None:
        return value
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def read_env_file(path: Path) -> dict[str, str]:
    """Read a dotenv file without touching ``os.environ``."""
    from dotenv import dotenv_values

    try:
        raw = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read env file {path}: {exc}") from exc
    return {key: value for key, value in raw.items() if value is not None}


def load_settings(
    env_file: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings`; raise :class:`ConfigError` naming a bad variable.

    ``env_file`` given explicitly must exist; without it ``./.env`` is read
    when present. ``overrides`` (command-line options such as
    ``--database-url``) win over everything.
    """
    environ = os.environ if environ is None else environ
    file_values: dict[str, str] = {}
    if env_file is not None:
        if not env_file.is_file():
            raise ConfigError(f"--env-file: no such file: {env_file}")
        file_values = read_env_file(env_file)
    elif Path(".env").is_file():
        file_values = read_env_file(Path(".env"))

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for var in VARIABLES:
        if overrides and var.env in overrides:
            raw, source = overrides[var.env], "option"
        elif var.env in environ:
            raw, source = environ[var.env], "environment"
        elif var.env in file_values:
            raw, source = file_values[var.env], ".env"
        else:
            raw, source = var.default, "default"
        try:
            parsed = var.parse(raw)
        except ValueError as exc:
            reason = str(exc) if str(exc).startswith("accepted") else "invalid"
            raise ConfigError(
                f"{var.env}: invalid value; {reason}",
            ) from None
        if var.secret:
            register_secret(parsed)
        elif isinstance(parsed, str) and "://" in parsed:
            register_secret(urlsplit(parsed).password)
        values[var.attr] = parsed
        sources[var.env] = source
    _check_together(values)
    if file_values:
        _warn_unknown(env_file or Path(".env"), file_values)
    return Settings(**values, sources=sources)


def _check_together(values: Mapping[str, Any]) -> None:
    """Rules between variables, each valid alone (one line naming both)."""
    base = values["repair_backoff_base_seconds"]
    cap = values["repair_backoff_cap_seconds"]
    if cap < base:
        # The cap would silently win over the base: every retry at the cap.
        raise ConfigError(
            f"REPAIR_BACKOFF_CAP_SECONDS ({cap:g}) is below "
            f"REPAIR_BACKOFF_BASE_SECONDS ({base:g}); accepted: a cap at "
            "least the base"
        )


#: First words of our variables' names: a key of an env file that starts
#: with one of them (``AUTO_DISBALE``) is most likely one of ours, mistyped.
_FAMILIES = frozenset(var.env.split("_", 1)[0] for var in VARIABLES)
#: Read by the HTTP client itself (``HTTP_PROXY``), not settings of ours.
_NOT_OURS = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"})
_warned: set[tuple[str, str]] = set()


def _warn_unknown(path: Path, file_values: Mapping[str, str]) -> None:
    """Warn, once per key, of an env-file key that looks like ours but is not.

    A mistyped flag (``AUTO_DISBALE=0``) would otherwise leave the default in
    effect without a word. Keys of other families (the cron wrapper's
    ``JOB_TIMEOUT_SECONDS``, another program's) are left alone.
    """
    import difflib
    import logging

    known = [var.env for var in VARIABLES]
    for key in file_values:
        upper = key.upper()
        if key in known or upper in _NOT_OURS:
            continue
        if upper.split("_", 1)[0] not in _FAMILIES or (str(path), key) in _warned:
            continue
        _warned.add((str(path), key))
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]}?)" if close else ""
        logging.getLogger(__name__).warning(
            "%s in %s is not a setting of integration-health%s; it is ignored",
            key,
            path,
            hint,
            extra={"action": "config.unknown_variable"},
        )


def env_example() -> str:
    """The text of ``.env.example``: every variable, its default and meaning."""
    lines = [
        "# integration-health configuration. Every variable is optional;",
        "# the value shown is the default. Real environment variables win",
        "# over this file.",
    ]
    group = None
    for var in VARIABLES:
        if var.group != group:
            group = var.group
            lines += ["", f"# --- {group} ---"]
        lines.append(f"# {var.help}")
        lines.append(f"{var.env}={var.default}")
    return "\n".join(lines) + "\n"


def settings_field_names() -> set[str]:
    return {f.name for f in fields(Settings)} - {"sources"}
