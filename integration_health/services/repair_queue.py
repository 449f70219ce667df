"""The repair queue's SQL: create, claim, release and reschedule jobs.

Set-based throughout: creating the jobs for 100,000 leads is one INSERT ...
SELECT, and claiming is ``SELECT ... FOR UPDATE SKIP LOCKED`` plus one UPDATE
on PostgreSQL (a ``BEGIN IMMEDIATE`` transaction gives SQLite the same
semantics), so that concurrent runs split the work and a crashed run's claims
come back when their lease expires.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from integration_health.db import is_postgres, rowcount, session_scope
from integration_health.models import (
    Lead,
    RepairJob,
    RepairKind,
    RepairStatus,
    UTCDateTime,
)
from integration_health.sqlutil import dialect_insert

_KIND = RepairKind.GHL_CONTACT.value
_PENDING = RepairStatus.PENDING.value
_RUNNING = RepairStatus.RUNNING.value
#: What an operator naming a lead may run: also jobs no schedule will retry.
_OPERATOR_RUNNABLE = (
    _PENDING,
    RepairStatus.NEEDS_OPERATOR.value,
    RepairStatus.DEAD.value,
)


def _insert_for(session: Session) -> sa.Insert:
    return dialect_insert(session, RepairJob)


def create_missing_jobs(
    session: Session,
    *,
    now: datetime,
    workspace_ids: Collection[int] | None = None,
    lead_ids: Collection[int] | sa.Select[tuple[int]] | None = None,
    reachable_only: bool = False,
) -> int:
    """Queue a job for every lead without a contact ID that has none yet.

    ``lead_ids`` narrows to given leads: values, or a SELECT of lead IDs (the
    follow-up gate passes its claimed SMS steps this way, in one statement).
    ``reachable_only`` leaves out leads with neither e-mail nor phone.
    """
    stamp = sa.literal(now, type_=UTCDateTime())
    source = sa.select(
        col(Lead.id),
        col(Lead.workspace_id),
        sa.literal(_KIND),
        sa.literal(_PENDING),
        sa.literal(0),
        stamp,
        stamp,
        stamp,
    ).where(col(Lead.ghl_contact_id).is_(None))
    if workspace_ids is not None:
        source = source.where(col(Lead.workspace_id).in_(workspace_ids))
    if lead_ids is not None:
        source = source.where(col(Lead.id).in_(lead_ids))
    if reachable_only:
        source = source.where(
            sa.or_(col(Lead.email).is_not(None), col(Lead.phone).is_not(None))
        )
    source = source.where(
        ~sa.exists().where(
            col(RepairJob.lead_id) == col(Lead.id), col(RepairJob.kind) == _KIND
        )
    )
    columns = [
        "lead_id",
        "workspace_id",
        "kind",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "updated_at",
    ]
    stmt = _insert_for(session).from_select(columns, source)
    stmt = stmt.on_conflict_do_nothing()  # type: ignore[attr-defined]
    # RETURNING rather than rowcount, which drivers may report as -1 here.
    return len(session.execute(stmt.returning(col(RepairJob.id))).all())


def release_expired(session: Session, *, now: datetime) -> int:
    """Give back the claims of runs that died: their lease has run out."""
    stmt = (
        sa.update(RepairJob)
        .where(
            col(RepairJob.status) == _RUNNING,
            col(RepairJob.lease_expires_at) < now,
        )
        .values(
            status=_PENDING, lease_owner=None, lease_expires_at=None, updated_at=now
        )
    )
    return rowcount(session.execute(stmt))


def due_workspaces(
    session: Session,
    *,
    now: datetime,
    workspace_ids: Collection[int] | None = None,
) -> dict[int, int]:
    """Workspace ID -> number of due pending jobs, in one GROUP BY."""
    stmt = (
        select(RepairJob.workspace_id, sa.func.count())
        .where(col(RepairJob.status) == _PENDING, _due(now))
        .group_by(col(RepairJob.workspace_id))
    )
    if workspace_ids is not None:
        stmt = stmt.where(col(RepairJob.workspace_id).in_(workspace_ids))
    return {int(ws): int(n) for ws, n in session.execute(stmt).all()}


def lead_jobs_by_workspace(
    session: Session, lead_ids: Collection[int]
) -> dict[int, int]:
    """Workspace ID -> jobs of the given leads an operator may run now."""
    stmt = (
        select(RepairJob.workspace_id, sa.func.count())
        .where(
            col(RepairJob.lead_id).in_(lead_ids),
            col(RepairJob.status).in_(_OPERATOR_RUNNABLE),
        )
        .group_by(col(RepairJob.workspace_id))
    )
    return {int(ws): int(n) for ws, n in session.execute(stmt).all()}


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        col(RepairJob.next_attempt_at).is_(None),
        col(RepairJob.next_attempt_at) <= now,
    )


def claim(
    engine: Engine,
    *,
    workspace_id: int,
    owner: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
    any_schedule: bool = False,
    lead_ids: Collection[int] | None = None,
) -> list[int]:
    """Claim up to ``limit`` pending jobs of one workspace; return their IDs.

    ``any_schedule`` claims jobs whose next attempt is still in the future
    (the operator's ``--lead`` path and a disconnected workspace's probe).
    With ``lead_ids`` (the operator naming leads) ``needs_operator`` and
    ``dead`` jobs are claimed too: a person asked for them, no schedule did.
    """
    statuses = _OPERATOR_RUNNABLE if lead_ids is not None else (_PENDING,)
    with session_scope(engine, immediate=True) as session:
        query = select(RepairJob.id).where(
            col(RepairJob.workspace_id) == workspace_id,
            col(RepairJob.status).in_(statuses),
        )
        if not any_schedule:
            query = query.where(_due(now))
        if lead_ids is not None:
            query = query.where(col(RepairJob.lead_id).in_(lead_ids))
        query = query.order_by(col(RepairJob.next_attempt_at), col(RepairJob.id))
        query = query.limit(limit)
        if is_postgres(engine):
            query = query.with_for_update(skip_locked=True)
        ids = [int(row) for row in session.execute(query).scalars().all()]
        if ids:
            session.execute(
                sa.update(RepairJob)
                .where(col(RepairJob.id).in_(ids))
                .values(
                    status=_RUNNING,
                    lease_owner=owner,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    updated_at=now,
                )
            )
        return ids


def release(
    session: Session, job_ids: Sequence[int], *, owner: str, now: datetime
) -> int:
    """Put claimed jobs back untouched (no attempt burned)."""
    if not job_ids:
        return 0
    stmt = (
        sa.update(RepairJob)
        .where(
            col(RepairJob.id).in_(list(job_ids)),
            col(RepairJob.status) == _RUNNING,
            col(RepairJob.lease_owner) == owner,
        )
        .values(
            status=_PENDING, lease_owner=None, lease_expires_at=None, updated_at=now
        )
    )
    return rowcount(session.execute(stmt))


def reopen(
    session: Session,
    *,
    now: datetime,
    job_ids: Collection[int] | None = None,
    status: str | None = None,
    workspace_ids: Collection[int] | None = None,
) -> int:
    """Put jobs back in the queue for an operator: pending, due now, attempts 0."""
    stmt = sa.update(RepairJob).where(col(RepairJob.status) != _RUNNING)
    if job_ids is not None:
        stmt = stmt.where(col(RepairJob.id).in_(job_ids))
    if status is not None:
        stmt = stmt.where(col(RepairJob.status) == status)
    if workspace_ids is not None:
        stmt = stmt.where(col(RepairJob.workspace_id).in_(workspace_ids))
    stmt = stmt.where(col(RepairJob.status) != RepairStatus.DONE.value)
    stmt = stmt.values(
        status=_PENDING,
        attempts=0,
        next_attempt_at=now,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=now,
    )
    return rowcount(session.execute(stmt))
