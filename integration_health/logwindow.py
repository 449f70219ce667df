""" "Log once per window" that holds across processes (design section 6).

Every cron run is a new process, so the window lives in the ``log_window``
table: the first occurrence of a key in a window is logged, the rest are
counted under a row lock, and a closed window ends in one summary line (from
the next occurrence, or from :func:`close_expired` at the end of a job run).
Lines are emitted after the commit, so two processes never both log a first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from integration_health.db import is_postgres, session_scope
from integration_health.models import LogWindow, utcnow
from integration_health.redact import redact
from integration_health.sqlutil import insert_ignoring_conflict

_CODE_MAX = 200


def error_key(
    workspace_id: int | None, provider: str, category: str, code: str | None
) -> str:
    """The identity of a repeating error: (workspace, provider, category, code)."""
    workspace = "-" if workspace_id is None else str(workspace_id)
    safe_code = redact(code)[:_CODE_MAX] if code else "-"
    return f"{provider}:{category}:ws={workspace}:{safe_code}"


@dataclass(frozen=True)
class _Summary:
    key: str
    repeats: int
    first_seen: datetime
    last_seen: datetime

    def line(self) -> str:
        return (
            f"{self.key}: {self.repeats} more occurrences between "
            f"{_iso(self.first_seen)} and {_iso(self.last_seen)}"
        )


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _locked(session: Session, key: str, now: datetime) -> LogWindow:
    """The key's row under a row lock, created when missing.

    Select first so that PostgreSQL spends no sequence value per occurrence.
    """
    query = select(LogWindow).where(LogWindow.key == key).with_for_update()
    row = session.exec(query).first()
    if row is not None:
        return row
    values = {"key": key, "window_start": now, "count": 0, "logged": False}
    insert_ignoring_conflict(session, LogWindow, values, ["key"])
    return session.exec(query.execution_options(populate_existing=True)).one()


def _closed(row: LogWindow, now: datetime, window: timedelta) -> bool:
    return row.count > 0 and now >= row.window_start + window


def _summary_of(row: LogWindow) -> _Summary | None:
    if row.count < 2 or row.first_seen is None or row.last_seen is None:
        return None
    return _Summary(row.key, row.count - 1, row.first_seen, row.last_seen)


def _start(row: LogWindow, now: datetime) -> None:
    row.window_start = now
    row.count = 1
    row.first_seen = now
    row.last_seen = now
    row.logged = True


def _emit_summary(
    logger: logging.Logger, summary: _Summary, level: int = logging.WARNING
) -> None:
    logger.log(
        level,
        summary.line(),
        extra={
            "action": "log_window.summary",
            "ctx_error_key": summary.key,
            "ctx_count": str(summary.repeats),
        },
    )


def note(
    engine: Engine,
    key: str,
    *,
    logger: logging.Logger,
    message: str,
    level: int = logging.WARNING,
    now: datetime | None = None,
    window_seconds: float,
    context: dict[str, str] | None = None,
    action: str = "log_window.first",
) -> bool:
    """Count one occurrence of ``key``; True when this one was logged."""
    now = now or utcnow()
    window = timedelta(seconds=window_seconds)
    summary = None
    with session_scope(engine, immediate=True) as session:
        row = _locked(session, key, now)
        if row.count == 0 or _closed(row, now, window):
            summary = _summary_of(row)
            _start(row, now)
            first = True
        else:
            row.count += 1
            row.last_seen = now
            first = False
        session.add(row)
    if summary is not None:
        _emit_summary(logger, summary, level)
    if first:
        extra: dict[str, str] = {"action": action, "ctx_error_key": key}
        for name, value in (context or {}).items():
            extra[f"ctx_{name}"] = redact(value)
        logger.log(level, message, extra=extra)
    return first


def close_expired(
    engine: Engine,
    *,
    logger: logging.Logger,
    now: datetime | None = None,
    window_seconds: float,
) -> int:
    """Summarise and reset every closed window; the number of summary lines.

    Called at the end of each job run, so that a repeating error is never
    silent forever even when it stops occurring.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=window_seconds)
    summaries: list[_Summary] = []
    with session_scope(engine, immediate=True) as session:
        query = (
            select(LogWindow)
            .where(LogWindow.count > 0)
            .where(col(LogWindow.window_start) <= cutoff)
            .order_by(col(LogWindow.window_start))
        )
        if is_postgres(engine):
            query = query.with_for_update(skip_locked=True)
        for row in session.exec(query).all():
            summary = _summary_of(row)
            if summary is not None:
                summaries.append(summary)
            row.count = 0
            row.logged = False
            row.first_seen = None
            row.last_seen = None
            session.add(row)
    for summary in summaries:
        _emit_summary(logger, summary)
    return len(summaries)
