"""Operator views of the repair queue: list jobs, put them back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from integration_health.db import session_scope
from integration_health.errors import ConfigError
from integration_health.models import Lead, RepairJob, RepairStatus, Workspace, utcnow
from integration_health.services import repair_queue


@dataclass(frozen=True)
class JobRow:
    id: int
    workspace: str
    lead: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_category: str | None
    last_code: str | None
    last_status: int | None
    last_detail: str | None
    updated_at: datetime


@dataclass(frozen=True)
class LeadNotRun:
    """A lead the operator named whose job this run did not attempt, and why."""

    lead: str
    job_id: int | None
    state: str | None
    reason: str


def leads_not_run(
    engine: Engine, lead_ids: list[int], attempted: set[str]
) -> list[LeadNotRun]:
    """Why each named lead outside ``attempted`` (external IDs) did not run.

    Read after the run, so that the reason is the job's state as it is now.
    """
    with session_scope(engine) as session:
        rows = session.exec(
            select(Lead, RepairJob)
            .join(RepairJob, col(RepairJob.lead_id) == Lead.id, isouter=True)
            .where(col(Lead.id).in_(lead_ids))
            .order_by(col(Lead.external_id))
        ).all()
    return [
        LeadNotRun(
            lead.external_id,
            job.id if job else None,
            job.status if job else None,
            _why_not_run(lead, job),
        )
        for lead, job in rows
        if lead.external_id not in attempted
    ]


def _why_not_run(lead: Lead, job: RepairJob | None) -> str:
    done = job is None or job.status == RepairStatus.DONE.value
    if lead.ghl_contact_id and done:
        return f"nothing to do: it has a GHL contact ID ({lead.ghl_contact_id})"
    if job is None:
        return "not run: it has no repair job"
    if job.status == RepairStatus.RUNNING.value:
        return f"not run: its repair job {job.id} is running in another run"
    return f"not run: its repair job {job.id} is {job.status}"


def parse_state(value: str | None) -> str | None:
    """Validate a ``--state`` option against the job states."""
    if value is None:
        return None
    allowed = [s.value for s in RepairStatus]
    if value not in allowed:
        raise ConfigError(
            f"--state: unknown state {value!r}; accepted: {', '.join(allowed)}"
        )
    return value


def workspace_ids_for(engine: Engine, external_ids: list[str]) -> list[int]:
    """Map workspace external IDs to row IDs; an unknown one is a usage error."""
    return _ids_for(engine, Workspace, external_ids, "--workspace", "workspace")


def lead_ids_for(engine: Engine, external_ids: list[str]) -> list[int]:
    """Map lead external IDs to row IDs; an unknown one is a usage error."""
    return _ids_for(engine, Lead, external_ids, "--lead", "lead")


def _ids_for(
    engine: Engine,
    model: type[Workspace] | type[Lead],
    external_ids: list[str],
    option: str,
    noun: str,
) -> list[int]:
    with session_scope(engine) as session:
        rows = session.exec(
            select(model.external_id, model.id).where(
                col(model.external_id).in_(external_ids)
            )
        ).all()
    found = {ext: int(i or 0) for ext, i in rows}
    missing = [ext for ext in external_ids if ext not in found]
    if missing:
        raise ConfigError(f"{option}: no {noun} with external ID {missing[0]!r}")
    return [found[ext] for ext in external_ids]


def list_jobs(
    engine: Engine,
    *,
    state: str | None = None,
    workspace_ids: list[int] | None = None,
    limit: int = 200,
) -> list[JobRow]:
    """The queue, most recently changed first."""
    with session_scope(engine) as session:
        query = (
            select(RepairJob, Workspace.external_id, Lead.external_id)
            .join(Workspace, col(Workspace.id) == RepairJob.workspace_id)
            .join(Lead, col(Lead.id) == RepairJob.lead_id)
            .order_by(col(RepairJob.updated_at).desc(), col(RepairJob.id).desc())
            .limit(limit)
        )
        if state is not None:
            query = query.where(col(RepairJob.status) == state)
        if workspace_ids is not None:
            query = query.where(col(RepairJob.workspace_id).in_(workspace_ids))
        return [
            JobRow(
                id=job.id or 0,
                workspace=ws,
                lead=lead,
                status=job.status,
                attempts=job.attempts,
                next_attempt_at=job.next_attempt_at,
                last_category=job.last_category,
                last_code=job.last_code,
                last_status=job.last_status,
                last_detail=job.last_detail,
                updated_at=job.updated_at,
            )
            for job, ws, lead in session.exec(query).all()
        ]


def retry_jobs(
    engine: Engine,
    *,
    job_ids: list[int] | None = None,
    state: str | None = None,
    workspace_ids: list[int] | None = None,
) -> int:
    """Put jobs back in the queue, due now with a fresh attempt budget."""
    if job_ids is None and state is None:
        raise ConfigError("ghl jobs retry: give job IDs, or --state (and --workspace)")
    with session_scope(engine, immediate=True) as session:
        if job_ids:
            known = session.exec(
                select(RepairJob.id).where(col(RepairJob.id).in_(job_ids))
            ).all()
            missing = sorted(set(job_ids) - {int(i or 0) for i in known})
            if missing:
                raise ConfigError(f"ghl jobs retry: no repair job with ID {missing[0]}")
        return repair_queue.reopen(
            session,
            now=utcnow(),
            job_ids=job_ids,
            status=state,
            workspace_ids=workspace_ids,
        )
