"""Set-based pause and resume of follow-up instances, shared by every job.

Each helper is one UPDATE statement, so that pausing a disconnected
workspace's 50,000 instances costs the same as pausing one. A pause records
who made it: only what the system paused is ever resumed by the system.

Known limitation: the id collections are bound as one ``IN (...)`` list;
callers pass them per batch (a few thousand at most), never a whole table.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from integration_health.models import (
    FollowUpInstance,
    InstanceStatus,
    PausedBy,
    UTCDateTime,
)

_T = FollowUpInstance.__table__  # type: ignore[attr-defined]


def _scope(
    *,
    workspace_ids: Collection[int] | None,
    lead_ids: Collection[int] | None,
    channels: Collection[str] | None = None,
    instance_ids: Collection[int] | None = None,
) -> list[Any] | None:
    """WHERE clauses for the given filters; None when one filter is empty."""
    clauses: list[Any] = []
    filters: list[tuple[Any, Collection[Any] | None]] = [
        (_T.c.workspace_id, workspace_ids),
        (_T.c.lead_id, lead_ids),
        (_T.c.current_channel, channels),
        (_T.c.id, instance_ids),
    ]
    for column, values in filters:
        if values is None:
            continue
        if not values:
            return None
        clauses.append(column.in_(list(set(values))))
    return clauses


def pause_instances(
    session: Session,
    *,
    reason: str,
    now: datetime,
    workspace_ids: Collection[int] | None = None,
    lead_ids: Collection[int] | None = None,
    channels: Collection[str] | None = None,
    instance_ids: Collection[int] | None = None,
) -> int:
    """Pause the active instances in scope on behalf of the system.

    Filters combine with AND; an empty collection matches nothing. At least
    one filter is required: pausing every instance is never what a job means.
    Returns the number of instances paused.
    """
    clauses = _scope(
        workspace_ids=workspace_ids,
        lead_ids=lead_ids,
        channels=channels,
        instance_ids=instance_ids,
    )
    if clauses is None:
        return 0
    if not clauses:
        raise ValueError("pause_instances needs at least one filter")
    stmt = (
        sa.update(_T)
        .where(_T.c.status == InstanceStatus.ACTIVE.value, *clauses)
        .values(
            status=InstanceStatus.PAUSED.value,
            paused_by=PausedBy.SYSTEM.value,
            paused_reason=reason,
            paused_at=now,
            updated_at=now,
        )
    )
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def resume_instances(
    session: Session,
    *,
    reason: str,
    now: datetime,
    workspace_ids: Collection[int] | None = None,
    lead_ids: Collection[int] | None = None,
) -> int:
    """Resume what the system paused for ``reason``; a person's pause stays.

    ``next_run_at`` becomes ``max(next_run_at, now)``, so that a long pause
    does not make every resumed step look overdue by the pause's length in
    the past. Returns the number of instances resumed.
    """
    clauses = _scope(workspace_ids=workspace_ids, lead_ids=lead_ids)
    if clauses is None:
        return 0
    now_param = sa.literal(now, UTCDateTime())
    next_run = sa.case(
        (_T.c.next_run_at.is_(None), now_param),
        (_T.c.next_run_at < now_param, now_param),
        else_=_T.c.next_run_at,
    )
    stmt = (
        sa.update(_T)
        .where(
            _T.c.status == InstanceStatus.PAUSED.value,
            _T.c.paused_reason == reason,
            _T.c.paused_by == PausedBy.SYSTEM.value,
            *clauses,
        )
        .values(
            status=InstanceStatus.ACTIVE.value,
            paused_by=None,
            paused_reason=None,
            paused_at=None,
            next_run_at=next_run,
            updated_at=now,
        )
    )
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
