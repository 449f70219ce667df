"""The post-deploy checklist: named checks that each end pass, fail or inconclusive.

No data is never a pass: a check that has nothing to measure (no URL, no log
source, no job ever recorded) is inconclusive. Verify is read-only: it takes
no run lock and records no JobRun. The database checks live in
:mod:`integration_health.services.verify_checks`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from integration_health.errors import ConfigError, IntegrationHealthError
from integration_health.models import HealthStatus
from integration_health.redact import redact
from integration_health.services import logscan
from integration_health.services.burst import (
    SYNTHETIC_HEADER,
    TRANSPORT_FAILURES,
    BurstResult,
    run_burst,
    synthetic_payloads,
)
from integration_health.services.verify_config import VerifyConfig

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

logger = logging.getLogger(__name__)

#: account_id -> health as Unipile reports it (None: not decidable yet).
LiveAccounts = Callable[[], Mapping[str, HealthStatus | None]]
LIVE_SKIPPED = "live check skipped: no Unipile settings"


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class CheckResult:
    """One line of the checklist: measured value, threshold, one line of detail."""

    name: str
    outcome: Outcome
    value: str
    threshold: str
    detail: str
    seconds: float = 0.0
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class VerifyContext:
    """Everything a check may read; the engine and the log scan are made once."""

    config: VerifyConfig
    since: datetime
    now: datetime
    engine_factory: Callable[[], Engine] | None = None
    log_sources: Sequence[str] = ()
    stdin: TextIO | None = None
    webhook_url: str | None = None
    auto_disable: bool = True
    live: bool = True
    live_accounts: LiveAccounts | None = None
    burst: Callable[..., BurstResult] = run_burst
    _engine: Engine | None = field(default=None, repr=False)
    _logs: dict[str, logscan.PatternCount] | None = field(default=None, repr=False)

    def engine(self) -> Engine:
        if self._engine is None:
            if self.engine_factory is None:
                raise ConfigError("no database configured for verify")
            self._engine = self.engine_factory()
        return self._engine

    def log_counts(self) -> dict[str, logscan.PatternCount]:
        if self._logs is None:
            groups = {
                "inbox": self.config.inbox.patterns,
                "spam": self.config.spam.patterns,
            }
            self._logs = logscan.scan(
                self.log_sources, groups, since=self.since, stdin=self.stdin
            )
        return self._logs


Check = Callable[[VerifyContext], CheckResult]


def safe_url(url: str) -> str:
    """scheme://host:port only: an ingestion URL may carry its token in the
    path (as Slack's do), in the query or as credentials, and reports of
    this check end up in CI artifacts."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    rest = "/..." if parts.path not in ("", "/") else "/"
    return f"{parts.scheme}://{parts.hostname}:{port}{rest}"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def check_webhook_burst(ctx: VerifyContext) -> CheckResult:
    cfg = ctx.config.burst
    threshold = f"p95 < {cfg.p95_threshold_ms:g} ms, no 504"
    url = cfg.url or ctx.webhook_url
    if not url:
        return CheckResult(
            "webhook-burst",
            Outcome.INCONCLUSIVE,
            "-",
            threshold,
            "no URL: set VERIFY_WEBHOOK_URL or [webhook-burst].url",
        )
    headers = {SYNTHETIC_HEADER: "1", "Content-Type": "application/json"}
    result = ctx.burst(
        url,
        count=cfg.count,
        rate=cfg.rate,
        timeout=cfg.timeout_seconds,
        deadline=cfg.deadline_seconds,
        headers=headers,
        payloads=synthetic_payloads(min(cfg.count, 100)),
    )
    return _burst_result(result, threshold, safe_url(url), ctx)


def _burst_problems(result: BurstResult, ctx: VerifyContext) -> list[str]:
    cfg = ctx.config.burst
    statuses = result.statuses
    problems = []
    if result.p95 is None or result.p95 * 1000 >= cfg.p95_threshold_ms:
        problems.append(f"p95 {_ms(result.p95)} ms >= {cfg.p95_threshold_ms:g} ms")
    if statuses.get("504"):
        problems.append(f"{statuses['504']} responses were 504")
    no_response = sum(statuses.get(label, 0) for label in TRANSPORT_FAILURES)
    if no_response:
        problems.append(f"{no_response} requests got no response")
    server_errors = sum(n for s, n in statuses.items() if s.startswith("5"))
    if server_errors / result.scheduled > cfg.max_5xx_share:
        problems.append(f"{server_errors} responses were 5xx")
    return problems


def _burst_result(
    result: BurstResult, threshold: str, shown_url: str, ctx: VerifyContext
) -> CheckResult:
    problems = _burst_problems(result, ctx)
    counts = " ".join(f"{k}={v}" for k, v in result.statuses.items())
    detail = (
        f"{shown_url}: {result.scheduled} events at "
        f"{ctx.config.burst.rate:g}/s (achieved {result.achieved_rate:.1f}/s); "
        f"p50 {_ms(result.p50)} p99 {_ms(result.p99)} max {_ms(result.max)} ms; "
        f"statuses {counts}"
    )
    if problems:
        detail = "; ".join(problems) + " | " + detail
    data = {
        "url": shown_url,
        "scheduled": result.scheduled,
        "achieved_rate": round(result.achieved_rate, 3),
        "statuses": dict(result.statuses),
        **{
            f"{name}_ms": None if value is None else round(value * 1000, 3)
            for name, value in (
                ("p50", result.p50),
                ("p95", result.p95),
                ("p99", result.p99),
                ("max", result.max),
            )
        },
    }
    return CheckResult(
        "webhook-burst",
        Outcome.FAIL if problems else Outcome.PASS,
        f"p95 {_ms(result.p95)} ms",
        threshold,
        detail,
        data=data,
    )


def check_token_refresh_spam(ctx: VerifyContext) -> CheckResult:
    cfg = ctx.config.spam
    threshold = f"<= {cfg.max_count} per {cfg.window_minutes:g} min"
    if not ctx.log_sources:
        return CheckResult(
            "token-refresh-spam",
            Outcome.INCONCLUSIVE,
            "-",
            threshold,
            "no log source: pass --logs FILE (or - for stdin)",
        )
    count = ctx.log_counts()["spam"]
    window = timedelta(minutes=cfg.window_minutes)
    worst = logscan.max_in_window(count.times, window) + count.undated
    detail = f"{count.total} matches since {ctx.since.isoformat()}"
    if count.undated:
        detail += f"; {count.undated} lines without a timestamp counted as in range"
    return CheckResult(
        "token-refresh-spam",
        Outcome.FAIL if worst > cfg.max_count else Outcome.PASS,
        f"{worst} in the worst window",
        threshold,
        detail,
        data={"total": count.total, "worst_window": worst, "undated": count.undated},
    )


def _checks() -> dict[str, Check]:
    from integration_health.services import verify_checks as db_checks

    return {
        "webhook-burst": check_webhook_burst,
        "inbox-count-timeout": db_checks.check_inbox_count,
        "token-refresh-spam": check_token_refresh_spam,
        "unipile-auto-disable": db_checks.check_unipile_auto_disable,
        "jobs-fresh": db_checks.check_jobs_fresh,
    }


CHECK_NAMES: tuple[str, ...] = (
    "webhook-burst",
    "inbox-count-timeout",
    "token-refresh-spam",
    "unipile-auto-disable",
    "jobs-fresh",
)


def select_checks(only: Sequence[str], skip: Sequence[str]) -> list[str]:
    """The checks to run, in checklist order; an unknown name is exit 2."""
    for name in [*only, *skip]:
        if name not in CHECK_NAMES:
            raise ConfigError(
                f"unknown check {name!r}; accepted: {', '.join(CHECK_NAMES)}"
            )
    chosen = [n for n in CHECK_NAMES if (not only or n in only) and n not in skip]
    if not chosen:
        raise ConfigError("no check left to run after --check/--skip")
    return chosen


def _run_one(name: str, check: Check, ctx: VerifyContext) -> CheckResult:
    started = time.perf_counter()
    try:
        result = check(ctx)
    except ConfigError:
        raise
    except Exception as exc:
        logger.warning(
            "verify check could not run",
            extra={"action": "verify.check.error", "ctx_check": name},
        )
        message = exc.message if isinstance(exc, IntegrationHealthError) else str(exc)
        result = CheckResult(
            name,
            Outcome.INCONCLUSIVE,
            "-",
            "-",
            f"could not run: {type(exc).__name__}: {redact(message)[:300]}",
        )
    return CheckResult(
        result.name,
        result.outcome,
        result.value,
        result.threshold,
        result.detail,
        seconds=time.perf_counter() - started,
        data=result.data,
    )


#: Checks that read the database: with one of them chosen, an unreachable
#: database is bad configuration (exit 2, one line) before any check runs.
DB_CHECKS = frozenset({"inbox-count-timeout", "unipile-auto-disable", "jobs-fresh"})


def run_checklist(names: Sequence[str], ctx: VerifyContext) -> list[CheckResult]:
    """Run the named checks in order; a check that crashes is inconclusive."""
    checks = _checks()
    logscan.check_sources(ctx.log_sources)
    if DB_CHECKS.intersection(names):
        ctx.engine()
    return [_run_one(name, checks[name], ctx) for name in names]


def exit_code(results: Sequence[CheckResult]) -> int:
    """0 all pass, 1 any fail, 3 any inconclusive and none failed."""
    outcomes = {r.outcome for r in results}
    if Outcome.FAIL in outcomes:
        return 1
    if Outcome.INCONCLUSIVE in outcomes:
        return 3
    return 0
