"""The ``ghl repair`` job: give every lead a GHL contact ID, boundedly.

One worker per workspace (GHL rate limits are per location), a bounded
number at once. A workspace whose token fails is marked DISCONNECTED once,
its remaining jobs go back untouched, and while it stays DISCONNECTED each
run spends exactly one request on it (a probe) and no job burns an attempt.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from integration_health import health, logwindow
from integration_health.config import Settings
from integration_health.db import session_scope
from integration_health.errors import (
    DISCONNECTING,
    Category,
    ProviderConfigError,
)
from integration_health.models import (
    HealthStatus,
    Lead,
    Provider,
    RepairJob,
    RepairStatus,
    Workspace,
    utcnow,
)
from integration_health.services import notify, repair_jobs, repair_queue
from integration_health.services.backoff import full_jitter
from integration_health.services.ghl_contact import (
    ContactApi,
    ContactResult,
    LeadContact,
    Outcome,
    ensure_contact_id,
)
from integration_health.services.repair_budget import RunBudget

logger = logging.getLogger(__name__)
_GHL = Provider.GHL.value


@dataclass
class JobReport:
    """What happened to one job in this run (shown by ``--lead``)."""

    job_id: int
    lead_external_id: str
    workspace_external_id: str
    state: str
    category: str | None
    code: str | None
    http_status: int | None
    detail: str
    contact_id: str | None
    attempts: int
    next_attempt_at: datetime | None


@dataclass
class RepairReport:
    created_jobs: int = 0
    released_expired: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    disconnected_workspaces: list[str] = field(default_factory=list)
    jobs: list[JobReport] = field(default_factory=list)
    #: Leads named with ``--lead`` that this run did not attempt, and why.
    not_run: list[repair_jobs.LeadNotRun] = field(default_factory=list)
    newly_disconnected: int = 0
    config_error: ProviderConfigError | None = None

    @property
    def failed(self) -> bool:
        """Work a person must look at appeared in this run (exit code 1).

        Retries scheduled and workspaces already known to be disconnected
        are expected states, not failures of this run.
        """
        return bool(
            self.outcomes["dead"]
            or self.outcomes["needs_operator"]
            or self.newly_disconnected
        )


@dataclass
class _Run:
    """Everything a workspace worker needs, shared read-only across threads."""

    engine: Engine
    settings: Settings
    api: ContactApi
    owner: str
    now: Callable[[], datetime]
    rand: Callable[[], float]
    report: RepairReport
    keep_details: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop_all: threading.Event = field(default_factory=threading.Event)
    #: Workspaces whose success this run has already recorded in health.
    ok_recorded: set[int] = field(default_factory=set)

    def first_success(self, workspace_id: int) -> bool:
        with self.lock:
            first = workspace_id not in self.ok_recorded
            self.ok_recorded.add(workspace_id)
            return first


@dataclass(frozen=True)
class _Workspace:
    id: int
    external_id: str
    name: str
    token: str | None
    location_id: str | None
    status: str | None


def _workspaces(session: Session, ids: list[int]) -> list[_Workspace]:
    """The workspaces to work on, oldest first, so that runs repeat their order."""
    rows = session.exec(
        select(Workspace).where(col(Workspace.id).in_(ids)).order_by(col(Workspace.id))
    ).all()
    status = health.statuses(session, _GHL, ids)
    return [
        _Workspace(
            w.id or 0,
            w.external_id,
            w.name,
            w.ghl_api_key,
            w.ghl_location_id,
            status.get(w.id or 0),
        )
        for w in rows
    ]


def run_repair(
    engine: Engine,
    settings: Settings,
    api: ContactApi,
    *,
    owner: str,
    workspace_ids: list[int] | None = None,
    lead_ids: list[int] | None = None,
    limit: int | None = None,
    now: Callable[[], datetime] = utcnow,
    rand: Callable[[], float] = random.random,
) -> RepairReport:
    """Process due repair jobs (creating jobs for leads missing an ID first).

    With ``lead_ids`` (the operator's ad hoc path) those leads run now,
    whatever their schedule, their workspace's health, or their job being
    left to an operator or dead: a person asked for them.
    """
    report = RepairReport()
    run = _Run(engine, settings, api, owner, now, rand, report, bool(lead_ids))
    with session_scope(engine, immediate=True) as session:
        report.released_expired = repair_queue.release_expired(session, now=now())
        report.created_jobs = repair_queue.create_missing_jobs(
            session, now=now(), workspace_ids=workspace_ids, lead_ids=lead_ids
        )
    plan = _plan(run, workspace_ids, lead_ids)
    budget = RunBudget(limit, {ws.id: demand for ws, _, demand in plan})
    with ThreadPoolExecutor(max_workers=settings.repair_concurrency) as pool:
        futures = [
            pool.submit(_work, run, ws, probe, budget, lead_ids)
            for ws, probe, _ in plan
        ]
        for future in futures:
            future.result()
    if lead_ids:
        attempted = {job.lead_external_id for job in report.jobs}
        report.not_run = repair_jobs.leads_not_run(engine, lead_ids, attempted)
    logwindow.close_expired(
        engine, logger=logger, now=now(), window_seconds=settings.log_window_seconds
    )
    return report


def _plan(
    run: _Run, workspace_ids: list[int] | None, lead_ids: list[int] | None
) -> list[tuple[_Workspace, bool, int]]:
    """(workspace, probe only?, jobs it could run) for every workspace with work."""
    with session_scope(run.engine) as session:
        if lead_ids is not None:
            due = repair_queue.lead_jobs_by_workspace(session, lead_ids)
        else:
            due = repair_queue.due_workspaces(
                session, now=run.now(), workspace_ids=workspace_ids
            )
            for ws_id in _disconnected_with_jobs(session, workspace_ids, list(due)):
                due[ws_id] = 1
        spaces = _workspaces(session, list(due)) if due else []
    plan = []
    for ws in spaces:
        probe = ws.status == HealthStatus.DISCONNECTED.value and lead_ids is None
        if probe:
            run.report.disconnected_workspaces.append(ws.external_id)
        plan.append((ws, probe, 1 if probe else due[ws.id]))
    return plan


def _disconnected_with_jobs(
    session: Session, workspace_ids: list[int] | None, already: list[int]
) -> list[int]:
    """Disconnected workspaces with pending jobs not yet due: they get a probe."""
    stmt = (
        select(RepairJob.workspace_id)
        .where(col(RepairJob.status) == RepairStatus.PENDING.value)
        .distinct()
    )
    if workspace_ids is not None:
        stmt = stmt.where(col(RepairJob.workspace_id).in_(workspace_ids))
    candidates = [int(r) for r in session.exec(stmt).all() if int(r) not in already]
    if not candidates:
        return []
    status = health.statuses(session, _GHL, candidates)
    return [
        ws for ws in candidates if status.get(ws) == HealthStatus.DISCONNECTED.value
    ]


def _work(
    run: _Run,
    ws: _Workspace,
    probe: bool,
    budget: RunBudget,
    lead_ids: list[int] | None,
) -> None:
    """Claim and process one workspace's jobs, batch by batch, while the budget
    grants jobs and the queue has them.

    Whatever of the budget this workspace does not attempt (fewer jobs due,
    or a stop) goes back, so that the other workspaces can use it.
    """
    batch = 1 if probe else run.settings.followup_batch_size
    try:
        while not run.stop_all.is_set():
            size = budget.take(ws.id, batch)
            if size == 0:
                return
            ids = repair_queue.claim(
                run.engine,
                workspace_id=ws.id,
                owner=run.owner,
                now=run.now(),
                lease_seconds=run.settings.lease_seconds,
                limit=size,
                any_schedule=probe or lead_ids is not None,
                lead_ids=lead_ids,
            )
            budget.give_back(ws.id, size - len(ids))
            if not ids:
                return
            stopped, unattempted = _process_batch(run, ws, ids)
            budget.give_back(ws.id, unattempted)
            if stopped or probe or lead_ids is not None:
                return
    finally:
        budget.finish(ws.id)


def _process_batch(run: _Run, ws: _Workspace, ids: list[int]) -> tuple[bool, int]:
    """Process claimed jobs in order: (must the workspace stop?, jobs not tried)."""
    leads = _load_leads(run, ids)
    skipped = 0
    for index, job_id in enumerate(ids):
        if run.stop_all.is_set():
            _release(run, ids[index:])
            return True, skipped + len(ids) - index
        if job_id not in leads:
            skipped += 1
            continue
        if _process_job(run, ws, job_id, *leads[job_id]):
            _release(run, ids[index + 1 :])
            return True, skipped + len(ids) - index - 1
    return False, skipped


def _load_leads(run: _Run, ids: list[int]) -> dict[int, tuple[str, LeadContact]]:
    """Job ID -> (lead external ID, contact fields), one query per batch."""
    with session_scope(run.engine) as session:
        rows = session.exec(
            select(RepairJob.id, Lead)
            .join(Lead, col(Lead.id) == RepairJob.lead_id)
            .where(col(RepairJob.id).in_(ids))
        ).all()
    return {
        int(job_id or 0): (
            lead.external_id,
            LeadContact(
                lead.ghl_contact_id,
                lead.email,
                lead.phone,
                lead.first_name,
                lead.last_name,
            ),
        )
        for job_id, lead in rows
    }


def _release(run: _Run, ids: list[int]) -> None:
    if ids:
        with session_scope(run.engine) as session:
            repair_queue.release(session, ids, owner=run.owner, now=run.now())


def _process_job(
    run: _Run, ws: _Workspace, job_id: int, lead_external_id: str, contact: LeadContact
) -> bool:
    result = ensure_contact_id(run.api, ws.token, ws.location_id, contact)
    if isinstance(result.error, ProviderConfigError):
        run.report.config_error = result.error
        run.stop_all.set()
        _release(run, [job_id])
        return True
    return _apply(run, ws, job_id, lead_external_id, result)


def _apply(
    run: _Run, ws: _Workspace, job_id: int, lead_external_id: str, result: ContactResult
) -> bool:
    """Write the job's new state and the workspace's health; True means stop."""
    now = run.now()
    with session_scope(run.engine, immediate=True) as session:
        job = session.get(RepairJob, job_id)
        if job is None or job.lease_owner != run.owner:
            return False
        stop, state = _transition(run, session, ws, job, result, now)
        job.lease_owner = None
        job.lease_expires_at = None
        job.updated_at = now
        session.add(job)
        detail = _job_report(ws, job, lead_external_id, result, state)
    _count(run, state, result, detail)
    if result.category is not None:
        _log_failure(run, ws, result, now)
    return stop


def _transition(
    run: _Run,
    session: Session,
    ws: _Workspace,
    job: RepairJob,
    result: ContactResult,
    now: datetime,
) -> tuple[bool, str]:
    if result.outcome is Outcome.DONE:
        _succeed(run, session, ws, job, result, now)
        return False, RepairStatus.DONE.value
    job.last_category = result.category.value if result.category else None
    job.last_code = result.code
    job.last_status = result.http_status
    job.last_detail = result.detail
    if result.outcome is Outcome.NEEDS_OPERATOR:
        job.attempts += 1
        job.status = RepairStatus.NEEDS_OPERATOR.value
        return False, job.status
    category = result.category or Category.UNKNOWN
    if category in DISCONNECTING:
        _disconnect(run, session, ws, result, now)
        job.status = RepairStatus.PENDING.value
        return True, "waiting_disconnected"
    if category is Category.RATE_LIMITED:
        _record_health(run, session, ws, result, now)
        wait = result.error.retry_after if result.error else None
        wait = min(
            wait or run.settings.ghl_rate_interval_seconds,
            run.settings.retry_after_cap_seconds,
        )
        job.status = RepairStatus.PENDING.value
        job.next_attempt_at = now + timedelta(seconds=wait)
        return True, "rate_limited"
    if category in {Category.VALIDATION_ERROR, Category.NOT_FOUND}:
        job.attempts += 1
        job.status = RepairStatus.NEEDS_OPERATOR.value
        return False, job.status
    return False, _retry_later(run, session, ws, job, result, now)


def _succeed(
    run: _Run,
    session: Session,
    ws: _Workspace,
    job: RepairJob,
    result: ContactResult,
    now: datetime,
) -> None:
    lead = session.get(Lead, job.lead_id)
    if lead is not None and not lead.ghl_contact_id:
        lead.ghl_contact_id = result.contact_id
        lead.ghl_needs_repair_at = None
        lead.ghl_needs_repair_reason = None
        lead.updated_at = now
        session.add(lead)
    job.attempts += 1
    job.status = RepairStatus.DONE.value
    job.last_category = job.last_code = job.last_detail = None
    job.last_status = None
    if not run.first_success(ws.id):
        return
    outcome = _observe(run, session, ws, health.Observation.ok(), now)
    if outcome.transition is not None and outcome.transition.reconnected:
        _notify(session, ws, outcome.transition, now, remedy="none needed")


def _retry_later(
    run: _Run,
    session: Session,
    ws: _Workspace,
    job: RepairJob,
    result: ContactResult,
    now: datetime,
) -> str:
    _record_health(run, session, ws, result, now)
    job.attempts += 1
    if job.attempts >= run.settings.repair_max_attempts:
        job.status = RepairStatus.DEAD.value
        job.next_attempt_at = None
        _notify_dead(session, ws, job, now)
        return job.status
    floor = (result.error.retry_after or 0.0) if result.error else 0.0
    delay = full_jitter(
        job.attempts,
        base=run.settings.repair_backoff_base_seconds,
        cap=run.settings.repair_backoff_cap_seconds,
        floor=min(floor, run.settings.retry_after_cap_seconds),
        rand=run.rand,
    )
    job.status = RepairStatus.PENDING.value
    job.next_attempt_at = now + timedelta(seconds=delay)
    return "retry_scheduled"


def _record_health(
    run: _Run, session: Session, ws: _Workspace, result: ContactResult, now: datetime
) -> health.RecordResult | None:
    if result.error is None:
        return None
    return _observe(run, session, ws, health.Observation.from_error(result.error), now)


def _observe(
    run: _Run,
    session: Session,
    ws: _Workspace,
    obs: health.Observation,
    now: datetime,
    *,
    grace: bool = True,
) -> health.RecordResult:
    """Record what GHL said about the workspace, with the run's thresholds."""
    minutes = run.settings.grace_period_minutes if grace else 0.0
    return health.record(
        session,
        ws.id,
        _GHL,
        obs,
        now=now,
        degraded_after=run.settings.degraded_after_failures,
        grace_period=timedelta(minutes=minutes),
    )


def _disconnect(
    run: _Run, session: Session, ws: _Workspace, result: ContactResult, now: datetime
) -> None:
    outcome: health.RecordResult | None
    if result.error is None:
        obs = health.Observation.disconnected(
            result.category or Category.MISSING_CREDENTIALS, result.code
        )
        outcome = _observe(run, session, ws, obs, now, grace=False)
    else:
        outcome = _record_health(run, session, ws, result, now)
    if outcome is not None and outcome.transition is not None:
        with run.lock:
            run.report.newly_disconnected += 1
        remedy = (
            "rotate the workspace's GHL token (or grant it this location), "
            "re-import the workspace, then run: integration-health ghl repair"
        )
        _notify(session, ws, outcome.transition, now, remedy=remedy)


def _notify(
    session: Session,
    ws: _Workspace,
    transition: health.Transition,
    now: datetime,
    *,
    remedy: str,
) -> None:
    text = notify.health_change_text(
        ws.name, _GHL, transition, affected=0, remedy=remedy
    )
    notify.queue(
        session,
        dedupe_key=notify.episode_key(ws.id, _GHL, transition.event_id),
        kind="health_change",
        text=text,
        workspace_id=ws.id,
        now=now,
    )


def _notify_dead(
    session: Session, ws: _Workspace, job: RepairJob, now: datetime
) -> None:
    day = now.strftime("%Y-%m-%d")
    text = (
        f"GHL contact repair gave up on a lead of workspace {ws.name} after "
        f"{job.attempts} attempts (last: {job.last_category} {job.last_code or ''})."
        f" Look at: integration-health ghl jobs --state dead --workspace "
        f"{ws.external_id}; retry with: integration-health ghl jobs retry "
        f"--state dead --workspace {ws.external_id}"
    )
    notify.queue(
        session,
        dedupe_key=f"repair-dead:{ws.id}:{day}",
        kind="repair_dead",
        text=text,
        workspace_id=ws.id,
        now=now,
    )


def _job_report(
    ws: _Workspace,
    job: RepairJob,
    lead_external_id: str,
    result: ContactResult,
    state: str,
) -> JobReport:
    return JobReport(
        job_id=job.id or 0,
        lead_external_id=lead_external_id,
        workspace_external_id=ws.external_id,
        state=state,
        category=result.category.value if result.category else None,
        code=result.code,
        http_status=result.http_status,
        detail=result.detail,
        contact_id=result.contact_id,
        attempts=job.attempts,
        next_attempt_at=job.next_attempt_at,
    )


def _count(run: _Run, state: str, result: ContactResult, detail: JobReport) -> None:
    with run.lock:
        run.report.outcomes[state] += 1
        run.report.categories[result.category.value if result.category else "ok"] += 1
        if run.keep_details:
            run.report.jobs.append(detail)


def _log_failure(
    run: _Run, ws: _Workspace, result: ContactResult, now: datetime
) -> None:
    category = result.category.value if result.category else "unknown"
    key = logwindow.error_key(ws.id, _GHL, category, result.code or "")
    trace = result.error.trace_id if result.error else None
    logwindow.note(
        run.engine,
        key,
        logger=logger,
        message=(
            f"GHL contact repair failed in workspace {ws.external_id}: {category}"
            f" {result.code or ''} (HTTP {result.http_status or '-'})"
            + (f" trace {trace}" if trace else "")
        ),
        now=now,
        window_seconds=run.settings.log_window_seconds,
        context={
            "workspace": ws.external_id,
            "category": category,
            "code": result.code or "",
            "status": str(result.http_status or ""),
            "trace_id": trace or "",
        },
    )
