"""The state of every workspace's integrations, gathered in a few queries.

Six statements whatever the number of workspaces: the workspaces, their
health rows, and one GROUP BY each for quarantined leads, paused follow-ups,
the repair backlog and the last successful job runs. Nothing here selects a
workspace's API key or a lead's personal data.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from integration_health.db import session_scope
from integration_health.errors import ConfigError
from integration_health.models import (
    FollowUpInstance,
    HealthStatus,
    InstanceStatus,
    IntegrationHealth,
    JobRun,
    JobRunStatus,
    Lead,
    Provider,
    RepairJob,
    Workspace,
    utcnow,
)

UNKNOWN = "unknown"
_WS = Workspace.__table__  # type: ignore[attr-defined]
_HEALTH = IntegrationHealth.__table__  # type: ignore[attr-defined]
_LEAD = Lead.__table__  # type: ignore[attr-defined]
_INST = FollowUpInstance.__table__  # type: ignore[attr-defined]
_REPAIR = RepairJob.__table__  # type: ignore[attr-defined]
_RUN = JobRun.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ProviderStatus:
    provider: str
    status: str = UNKNOWN
    since: datetime | None = None
    last_error_category: str | None = None
    last_error_code: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True)
class WorkspaceStatus:
    external_id: str
    name: str
    providers: dict[str, ProviderStatus]
    quarantined_leads: int = 0
    paused_instances: dict[str, int] = field(default_factory=dict)
    repair_jobs: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusReport:
    generated_at: datetime
    workspaces: list[WorkspaceStatus]
    #: Job name to the finish time of its latest successful run.
    job_last_success: dict[str, datetime]

    def health_counts(self) -> dict[tuple[str, str], int]:
        """Workspaces per (provider, status), every known pair present."""
        statuses = [s.value for s in HealthStatus] + [UNKNOWN]
        counts = {(p.value, s): 0 for p in Provider for s in statuses}
        for ws in self.workspaces:
            for provider, state in ws.providers.items():
                counts[(provider, state.status)] = (
                    counts.get((provider, state.status), 0) + 1
                )
        return counts

    def totals(self, attribute: str) -> dict[str, int]:
        """Sum of a per-workspace count dict (paused_instances, repair_jobs)."""
        result: dict[str, int] = defaultdict(int)
        for ws in self.workspaces:
            for key, count in getattr(ws, attribute).items():
                result[key] += count
        return dict(result)

    @property
    def quarantined_leads(self) -> int:
        return sum(ws.quarantined_leads for ws in self.workspaces)


def gather_status(
    engine: Engine, *, workspace: str | None = None, now: datetime | None = None
) -> StatusReport:
    """Everything ``status`` shows; ``workspace`` is an external ID filter."""
    with session_scope(engine) as session:
        names = _workspaces(session, workspace)
        ids = list(names) if workspace else None
        health = _health(session, ids)
        quarantined = _count_by(
            session, _LEAD, [], ids, _LEAD.c.linkedin_unreachable_at.is_not(None)
        )
        paused = _count_by(
            session,
            _INST,
            [_INST.c.paused_reason],
            ids,
            _INST.c.status == InstanceStatus.PAUSED.value,
        )
        repairs = _count_by(session, _REPAIR, [_REPAIR.c.status], ids)
        jobs = _job_last_success(session)
    rows = [
        WorkspaceStatus(
            external_id=external_id,
            name=name,
            providers={
                p.value: health.get((ws_id, p.value), ProviderStatus(p.value))
                for p in Provider
            },
            quarantined_leads=quarantined.get(ws_id, {}).get("", 0),
            paused_instances=paused.get(ws_id, {}),
            repair_jobs=repairs.get(ws_id, {}),
        )
        for ws_id, (external_id, name) in names.items()
    ]
    return StatusReport(now or utcnow(), rows, jobs)


def _workspaces(
    session: Session, external_id: str | None
) -> dict[int, tuple[str, str]]:
    stmt = sa.select(_WS.c.id, _WS.c.external_id, _WS.c.name).order_by(
        _WS.c.external_id
    )
    if external_id is not None:
        stmt = stmt.where(_WS.c.external_id == external_id)
    found = {ws_id: (ext, name) for ws_id, ext, name in session.execute(stmt)}
    if external_id is not None and not found:
        raise ConfigError(
            f"no workspace with external id {external_id!r}",
            hint="import it first: integration-health import workspaces FILE",
        )
    return found


def _health(
    session: Session, ids: list[int] | None
) -> dict[tuple[int, str], ProviderStatus]:
    stmt = sa.select(
        _HEALTH.c.workspace_id,
        _HEALTH.c.provider,
        _HEALTH.c.status,
        _HEALTH.c.changed_at,
        _HEALTH.c.last_error_category,
        _HEALTH.c.last_error_code,
        _HEALTH.c.last_error_at,
    )
    if ids is not None:
        stmt = stmt.where(_HEALTH.c.workspace_id.in_(ids))
    return {(row[0], row[1]): ProviderStatus(*row[1:]) for row in session.execute(stmt)}


def _count_by(
    session: Session,
    table: sa.Table,
    keys: list[sa.ColumnElement[str | None]],
    ids: list[int] | None,
    *where: sa.ColumnElement[bool],
) -> dict[int, dict[str, int]]:
    """Counts per workspace and per ``keys`` (a missing key counts as "")."""
    group = [table.c.workspace_id, *keys]
    stmt = sa.select(*group, sa.func.count()).where(*where).group_by(*group)
    if ids is not None:
        stmt = stmt.where(table.c.workspace_id.in_(ids))
    result: dict[int, dict[str, int]] = defaultdict(dict)
    for row in session.execute(stmt):
        key = str(row[1] or "") if keys else ""
        result[row[0]][key] = result[row[0]].get(key, 0) + int(row[-1])
    return result


def _job_last_success(session: Session) -> dict[str, datetime]:
    finished = sa.func.max(_RUN.c.finished_at)
    stmt = (
        sa.select(_RUN.c.job, sa.type_coerce(finished, _RUN.c.finished_at.type))
        .where(_RUN.c.status == JobRunStatus.SUCCEEDED.value)
        .group_by(_RUN.c.job)
        .order_by(_RUN.c.job)
    )
    return {job: at for job, at in session.execute(stmt) if at is not None}


def status_dict(report: StatusReport) -> dict[str, object]:
    """The report as plain data for ``--format json``."""
    return {
        "generated_at": report.generated_at,
        "workspaces": [
            {
                "external_id": ws.external_id,
                "name": ws.name,
                "providers": {
                    name: {
                        "status": state.status,
                        "since": state.since,
                        "last_error": None
                        if state.last_error_at is None
                        else {
                            "category": state.last_error_category,
                            "code": state.last_error_code,
                            "at": state.last_error_at,
                        },
                    }
                    for name, state in ws.providers.items()
                },
                "quarantined_leads": ws.quarantined_leads,
                "paused_instances": ws.paused_instances,
                "repair_jobs": ws.repair_jobs,
            }
            for ws in report.workspaces
        ],
        "job_last_success": report.job_last_success,
    }


def prometheus_text(report: StatusReport) -> str:
    """Counts per status for node_exporter's textfile collector."""
    from integration_health.models import PausedReason, RepairStatus
    from integration_health.render import prometheus_lines

    paused = dict.fromkeys((r.value for r in PausedReason), 0)
    paused.update(report.totals("paused_instances"))
    repairs = dict.fromkeys((s.value for s in RepairStatus), 0)
    repairs.update(report.totals("repair_jobs"))
    families = [
        prometheus_lines(
            "integration_health_workspaces",
            "Workspaces by provider and health status.",
            (
                ({"provider": p, "status": s}, n)
                for (p, s), n in sorted(report.health_counts().items())
            ),
        ),
        prometheus_lines(
            "integration_health_quarantined_leads",
            "Leads whose LinkedIn profile is marked unreachable.",
            [({}, report.quarantined_leads)],
        ),
        prometheus_lines(
            "integration_health_paused_instances",
            "Paused follow-up instances by reason.",
            (({"reason": r}, n) for r, n in sorted(paused.items())),
        ),
        prometheus_lines(
            "integration_health_repair_jobs",
            "GHL repair jobs by state.",
            (({"state": s}, n) for s, n in sorted(repairs.items())),
        ),
        prometheus_lines(
            "integration_health_job_last_success_timestamp_seconds",
            "Unix time of the last successful run of each job.",
            (({"job": j}, at.timestamp()) for j, at in report.job_last_success.items()),
        ),
        prometheus_lines(
            "integration_health_status_generated_timestamp_seconds",
            "Unix time this status was gathered.",
            [({}, report.generated_at.timestamp())],
        ),
    ]
    return "\n".join(line for family in families for line in family) + "\n"
