"""What ``ghl repair --dry-run`` shows: the work a real run would do."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from integration_health import health
from integration_health.db import session_scope
from integration_health.models import (
    HealthStatus,
    Lead,
    Provider,
    RepairJob,
    RepairStatus,
    Workspace,
    utcnow,
)
from integration_health.services.repair_queue import due_workspaces


def repair_dry_run(
    engine: Engine, *, workspace_ids: list[int] | None = None
) -> list[dict[str, Any]]:
    """One row per workspace: health, leads missing an ID, jobs due, would run."""
    now = utcnow()
    with session_scope(engine) as session:
        spaces = session.exec(
            select(Workspace.id, Workspace.external_id)
            if workspace_ids is None
            else select(Workspace.id, Workspace.external_id).where(
                col(Workspace.id).in_(workspace_ids)
            )
        ).all()
        ids = [int(i or 0) for i, _ in spaces]
        missing: dict[int, int] = dict(
            session.execute(
                select(Lead.workspace_id, sa.func.count())
                .where(
                    col(Lead.ghl_contact_id).is_(None),
                    col(Lead.workspace_id).in_(ids),
                    ~sa.exists().where(col(RepairJob.lead_id) == col(Lead.id)),
                )
                .group_by(col(Lead.workspace_id))
            ).all()
        )
        pending: dict[int, int] = dict(
            session.execute(
                select(RepairJob.workspace_id, sa.func.count())
                .where(
                    col(RepairJob.status) == RepairStatus.PENDING.value,
                    col(RepairJob.workspace_id).in_(ids),
                )
                .group_by(col(RepairJob.workspace_id))
            ).all()
        )
        due = due_workspaces(session, now=now, workspace_ids=ids)
        status = health.statuses(session, Provider.GHL.value, ids)
    rows = []
    for ws_id, external_id in spaces:
        ws = int(ws_id or 0)
        state = status.get(ws, "unknown")
        n_missing = int(missing.get(ws, 0))
        n_due = int(due.get(ws, 0)) + n_missing
        if state == HealthStatus.DISCONNECTED.value:
            would = 1 if (n_due or pending.get(ws)) else 0
        else:
            would = n_due
        rows.append(
            {
                "workspace": external_id,
                "health": state,
                "missing": n_missing,
                "due": n_due,
                "would_run": would,
            }
        )
    return rows
