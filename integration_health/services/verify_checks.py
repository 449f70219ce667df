"""The checklist's database checks: inbox query timeout, auto-disable, job freshness.

Each reads only; each turns "nothing recorded" into inconclusive, not pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from integration_health.db import is_postgres, session_scope
from integration_health.models import (
    LINKEDIN_CHANNELS,
    FollowUpInstance,
    HealthEvent,
    HealthStatus,
    InstanceStatus,
    IntegrationHealth,
    JobRun,
    JobRunStatus,
    Message,
    Provider,
    SendAttempt,
    Workspace,
)
from integration_health.redact import redact
from integration_health.services.verify import (
    LIVE_SKIPPED,
    CheckResult,
    Outcome,
    VerifyContext,
)

QUERY_CANCELED = "57014"
DISCONNECTED = HealthStatus.DISCONNECTED.value
UNIPILE = Provider.UNIPILE.value


@dataclass(frozen=True)
class InboxRun:
    seconds: float
    workspaces: int | None
    error: str | None = None
    cancelled: bool = False


def _inbox_statement(sql: str | None) -> Any:
    if sql:
        return sa.text(sql)
    return (
        select(Message.workspace_id, sa.func.count())
        .where(Message.direction == "inbound", col(Message.read_at).is_(None))
        .group_by(col(Message.workspace_id))
    )


def run_inbox_query(
    engine: Engine,
    *,
    sql: str | None,
    timeout_ms: int,
    clock: Callable[[], float] = time.perf_counter,
) -> InboxRun:
    """The inbox-count query under ``statement_timeout`` (PostgreSQL).

    Known limitation: SQLite has no statement timeout; there the query runs
    to completion and only its duration is compared with the budget.
    """
    started = clock()
    try:
        with engine.connect() as conn, conn.begin():
            if is_postgres(engine):
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            rows = conn.execute(_inbox_statement(sql)).fetchall()
    except DBAPIError as exc:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        first = (
            str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        )
        return InboxRun(
            clock() - started,
            None,
            error=f"sqlstate {sqlstate or '-'}: {redact(first)[:200]}",
            cancelled=sqlstate == QUERY_CANCELED,
        )
    return InboxRun(clock() - started, len(rows))


def check_inbox_count(ctx: VerifyContext) -> CheckResult:
    cfg = ctx.config.inbox
    budget = cfg.statement_timeout_ms
    threshold = f"< {budget} ms, no {QUERY_CANCELED} in logs"
    run = run_inbox_query(ctx.engine(), sql=cfg.sql, timeout_ms=budget)
    elapsed_ms = run.seconds * 1000
    value = f"{elapsed_ms:.0f} ms"
    problems = []
    if run.error:
        what = "statement timeout (57014)" if run.cancelled else "query failed"
        problems.append(f"{what}: {run.error}")
    elif elapsed_ms > budget:
        problems.append(f"took {elapsed_ms:.0f} ms, over the {budget} ms budget")
    notes = (
        [f"{run.workspaces} workspaces with unread inbound"] if not run.error else []
    )
    logged = 0
    if ctx.log_sources:
        count = ctx.log_counts()["inbox"]
        logged = count.total
        if logged:
            problems.append(
                f"{logged} statement timeouts logged since {ctx.since.isoformat()}"
            )
        if count.undated:
            notes.append(f"{count.undated} log lines without a timestamp in range")
    else:
        notes.append("no log source: logged timeouts not counted")
    source = "operator SQL" if cfg.sql else "built-in query"
    return CheckResult(
        "inbox-count-timeout",
        Outcome.FAIL if problems else Outcome.PASS,
        value,
        threshold,
        "; ".join([*problems, source, *notes]),
        data={
            "elapsed_ms": round(elapsed_ms, 3),
            "cancelled": run.cancelled,
            "logged_timeouts": logged,
        },
    )


@dataclass(frozen=True)
class _Local:
    workspace: str
    status: str | None


def _unipile_health(session: Session) -> dict[int, tuple[str, str, str | None]]:
    """workspace id -> (name, status, account id) for workspaces with a row."""
    rows = session.exec(
        select(
            IntegrationHealth.workspace_id,
            Workspace.name,
            IntegrationHealth.status,
            Workspace.unipile_account_id,
        )
        .join(Workspace, col(Workspace.id) == col(IntegrationHealth.workspace_id))
        .where(IntegrationHealth.provider == UNIPILE)
    ).all()
    return {ws: (name, status, account) for ws, name, status, account in rows}


def _leaks(session: Session, ids: list[int]) -> tuple[dict[int, int], dict[int, int]]:
    """Per DISCONNECTED workspace: active LinkedIn instances, LinkedIn sends after."""
    linkedin = sorted(LINKEDIN_CHANNELS)
    active = session.exec(
        select(FollowUpInstance.workspace_id, sa.func.count())
        .where(
            col(FollowUpInstance.workspace_id).in_(ids),
            FollowUpInstance.status == InstanceStatus.ACTIVE.value,
            col(FollowUpInstance.current_channel).in_(linkedin),
        )
        .group_by(col(FollowUpInstance.workspace_id))
    ).all()
    transition = (
        select(
            HealthEvent.workspace_id,
            sa.func.max(HealthEvent.created_at).label("at"),
        )
        .where(HealthEvent.provider == UNIPILE, HealthEvent.to_status == DISCONNECTED)
        .group_by(col(HealthEvent.workspace_id))
        .subquery()
    )
    health = sa.orm.aliased(IntegrationHealth)
    sends = session.exec(
        select(SendAttempt.workspace_id, sa.func.count())
        .join(
            health,
            sa.and_(
                col(health.workspace_id) == col(SendAttempt.workspace_id),
                col(health.provider) == UNIPILE,
            ),
        )
        .outerjoin(transition, transition.c.workspace_id == SendAttempt.workspace_id)
        .where(
            col(SendAttempt.workspace_id).in_(ids),
            col(SendAttempt.channel).in_(linkedin),
            SendAttempt.created_at
            > sa.func.coalesce(transition.c.at, health.changed_at),
        )
        .group_by(col(SendAttempt.workspace_id))
    ).all()
    return dict(active), dict(sends)


def _live_problems(
    ctx: VerifyContext, by_account: dict[str, _Local]
) -> tuple[list[str], str | None]:
    """Disagreements between Unipile and us, and a note when not checked."""
    if not ctx.live:
        return [], "live check skipped: --no-live"
    if ctx.live_accounts is None:
        return [], LIVE_SKIPPED
    try:
        reported = ctx.live_accounts()
    except Exception as exc:
        return [], f"live check failed: {type(exc).__name__}: {redact(exc)[:200]}"
    problems = []
    for account, live in sorted(reported.items()):
        local = by_account.get(account)
        if local is None:
            continue
        if live == HealthStatus.DISCONNECTED and local.status != DISCONNECTED:
            problems.append(
                f"{local.workspace}: Unipile says the account needs credentials, "
                f"here it is {local.status or 'unchecked'}"
            )
        if live == HealthStatus.OK and local.status == DISCONNECTED:
            problems.append(
                f"{local.workspace}: DISCONNECTED here but the account is OK: "
                "auto-disable is blocking legitimate traffic; turn AUTO_DISABLE off"
            )
    return problems, None


def check_unipile_auto_disable(ctx: VerifyContext) -> CheckResult:
    threshold = "0 active LinkedIn, 0 LinkedIn sends after disconnect; live agrees"
    with session_scope(ctx.engine()) as session:
        health = _unipile_health(session)
        ids = [ws for ws, (_, status, _) in health.items() if status == DISCONNECTED]
        active, sends = _leaks(session, ids) if ids else ({}, {})
        by_account = {
            account: _Local(name, status)
            for _, (name, status, account) in health.items()
            if account
        }
        for name, account in session.exec(
            select(Workspace.name, Workspace.unipile_account_id).where(
                col(Workspace.unipile_account_id).is_not(None)
            )
        ).all():
            by_account.setdefault(str(account), _Local(name, None))
    problems = [
        f"{health[ws][0]}: {n} active LinkedIn instances while DISCONNECTED"
        for ws, n in sorted(active.items())
    ] + [
        f"{health[ws][0]}: {n} LinkedIn sends after the disconnect"
        for ws, n in sorted(sends.items())
    ]
    live_problems, live_note = _live_problems(ctx, by_account)
    problems += live_problems
    notes = [live_note] if live_note else []
    if not ctx.auto_disable:
        notes.append("AUTO_DISABLE is off: nothing is paused on disconnect")
    outcome = Outcome.PASS
    if problems:
        outcome = Outcome.FAIL
    elif (
        not health
        or not ctx.auto_disable
        or (live_note or "").startswith("live check failed")
    ):
        outcome = Outcome.INCONCLUSIVE
        if not health:
            notes.append(
                "no Unipile health recorded: run integration-health unipile check"
            )
    value = (
        f"{len(ids)} DISCONNECTED, {sum(active.values())} active, "
        f"{sum(sends.values())} sends after"
    )
    detail = "; ".join([*problems, *notes]) or f"{len(health)} workspaces checked"
    return CheckResult(
        "unipile-auto-disable",
        outcome,
        value,
        threshold,
        detail,
        data={
            "disconnected": len(ids),
            "active_linkedin": sum(active.values()),
            "sends_after": sum(sends.values()),
            "problems": problems,
        },
    )


def _last_successes(session: Session) -> tuple[int, dict[str, datetime]]:
    """When each job last ran to completion.

    A run that finished with exit code 1 counts: the job itself worked and
    reported work that failed (a lead for a person, a workspace cut off),
    which ``status`` and the other checks show. A crash, a configuration
    error (exit 2) or a run that never finished does not count.
    """
    total = session.exec(select(sa.func.count()).select_from(JobRun)).one()
    rows = session.exec(
        select(JobRun.job, sa.func.max(JobRun.finished_at))
        .where(
            col(JobRun.status).in_(
                [JobRunStatus.SUCCEEDED.value, JobRunStatus.FAILED.value]
            ),
            col(JobRun.exit_code).in_([0, 1]),
        )
        .group_by(col(JobRun.job))
    ).all()
    return int(total), {job: at for job, at in rows if at is not None}


def check_jobs_fresh(ctx: VerifyContext) -> CheckResult:
    intervals = ctx.config.jobs.intervals_minutes
    threshold = ", ".join(f"{job} {m:g}m" for job, m in intervals.items())
    with session_scope(ctx.engine()) as session:
        total, last = _last_successes(session)
    if total == 0:
        return CheckResult(
            "jobs-fresh",
            Outcome.INCONCLUSIVE,
            "no runs",
            threshold,
            "no job run recorded at all: is cron installed?",
        )
    stale = []
    for job, minutes in intervals.items():
        at = last.get(job)
        if at is None:
            stale.append(f"{job} never completed")
            continue
        age = (ctx.now - at).total_seconds() / 60
        if age > minutes:
            stale.append(f"{job} last completed {age:.0f} min ago (> {minutes:g})")
    fresh = len(intervals) - len(stale)
    return CheckResult(
        "jobs-fresh",
        Outcome.FAIL if stale else Outcome.PASS,
        f"{fresh}/{len(intervals)} fresh",
        threshold,
        "; ".join(stale) or "every job completed within its interval",
        data={"stale": stale},
    )
