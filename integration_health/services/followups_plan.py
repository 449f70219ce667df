"""``followups run --dry-run``: what would be sent and why, changing nothing.

The same gating rules as a real run, read in one SELECT instead of applied
by UPDATEs. Known limitation: daily caps and in-run throttling are not
predicted (they depend on the sends before), so a planned send may still be
deferred by the real run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from integration_health.config import Settings
from integration_health.db import session_scope
from integration_health.models import LINKEDIN_CHANNELS, HealthStatus, Provider
from integration_health.services.followups_sql import (
    DEFER_BACKOFF,
    DEFER_MISSING_CONTACT,
    FI,
    IH,
    LEAD,
    WS,
    _due,
)


def plan_due(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime,
    workspace_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """One row per due step: ``action`` (send, pause, defer) and ``reason``."""
    uni = IH.alias("uni")
    ghl = IH.alias("ghl")
    query = (
        sa.select(
            FI.c.id,
            FI.c.current_step,
            FI.c.current_channel,
            WS.c.external_id.label("workspace"),
            LEAD.c.external_id.label("lead"),
            LEAD.c.linkedin_unreachable_at,
            LEAD.c.ghl_contact_id,
            uni.c.status.label("unipile_status"),
            uni.c.backoff_until.label("unipile_backoff"),
            ghl.c.status.label("ghl_status"),
            ghl.c.backoff_until.label("ghl_backoff"),
        )
        .join(LEAD, LEAD.c.id == FI.c.lead_id)
        .join(WS, WS.c.id == FI.c.workspace_id)
        .outerjoin(
            uni,
            sa.and_(
                uni.c.workspace_id == FI.c.workspace_id,
                uni.c.provider == Provider.UNIPILE.value,
            ),
        )
        .outerjoin(
            ghl,
            sa.and_(
                ghl.c.workspace_id == FI.c.workspace_id,
                ghl.c.provider == Provider.GHL.value,
            ),
        )
        .where(*_due(now, workspace_id))
        .order_by(FI.c.next_run_at, FI.c.id)
        .limit(limit)
    )
    with session_scope(engine) as session:
        rows = session.execute(query).all()
    return [_decide(row, now, settings.unipile_health_gate) for row in rows]


def _decide(row: Any, now: datetime, gate: bool) -> dict[str, Any]:
    action, reason = _rule(row, now, gate)
    return {
        "instance_id": row.id,
        "workspace": row.workspace,
        "lead": row.lead,
        "step": row.current_step,
        "channel": row.current_channel,
        "action": action,
        "reason": reason,
    }


def _rule(row: Any, now: datetime, gate: bool) -> tuple[str, str]:
    linkedin = row.current_channel in LINKEDIN_CHANNELS
    disconnected = HealthStatus.DISCONNECTED.value
    if gate and linkedin:
        if row.unipile_status == disconnected:
            return "pause", "unipile_disconnected"
        if row.linkedin_unreachable_at is not None:
            return "pause", "linkedin_unreachable"
        if row.unipile_backoff is not None and row.unipile_backoff > now:
            return "defer", DEFER_BACKOFF
    if gate and not linkedin:
        if row.ghl_status == disconnected:
            return "pause", "ghl_disconnected"
        if row.ghl_backoff is not None and row.ghl_backoff > now:
            return "defer", DEFER_BACKOFF
    if not linkedin and row.ghl_contact_id is None:
        return "defer", DEFER_MISSING_CONTACT
    return "send", "due"
