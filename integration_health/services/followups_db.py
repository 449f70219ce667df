"""The less frequent writes of ``followups run``, through a session: closing
an attempt that failed, and the instance's next state (defer, retry, fail,
advance, park as unknown); plus the values and counts the hot path shares.

The hot path (the ``sending`` row and a sent outcome) lives in
``followups_worker``, as one statement each on a held connection.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from integration_health.models import (
    Channel,
    InstanceStatus,
    SendStatus,
)
from integration_health.services.followups_sql import FI, SA, StepItem
from integration_health.services.import_followups import MAX_DELAY_HOURS

#: Statuses that count against a daily cap (an unknown send may have gone).
CAP_STATUSES = (
    SendStatus.SENT.value,
    SendStatus.SENDING.value,
    SendStatus.UNKNOWN.value,
)


def utc_day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def next_utc_day(now: datetime) -> datetime:
    return utc_day_start(now) + timedelta(days=1)


def _rowcount(result: Any) -> int:
    return int(result.rowcount or 0)


def sends_today(session: Session, account_id: str, channel: str, now: datetime) -> int:
    return int(
        session.execute(
            sa.select(sa.func.count())
            .select_from(SA)
            .where(
                SA.c.account_id == account_id,
                SA.c.channel == channel,
                SA.c.created_at >= utc_day_start(now),
                SA.c.status.in_(CAP_STATUSES),
            )
        ).scalar_one()
    )


def close_attempt(
    session: Session,
    attempt_id: int,
    *,
    status: SendStatus,
    now: datetime,
    message_id: str | None = None,
    error: Any = None,
) -> None:
    values: dict[str, Any] = {
        "status": status.value,
        "provider_message_id": message_id,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if error is not None:
        values["error_category"] = error.category.value
        values["error_code"] = (error.code or "")[:200] or None
        values["error_detail"] = (error.detail or "")[:1000] or None
    session.execute(sa.update(SA).where(SA.c.id == attempt_id).values(**values))


def _lead_values(
    item: StepItem, *, provider_id: str | None, chat_id: str | None
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if provider_id and provider_id != item.linkedin_provider_id:
        values["linkedin_provider_id"] = provider_id
    if chat_id and chat_id != item.linkedin_chat_id:
        values["linkedin_chat_id"] = chat_id
    return values


def _instance(session: Session, item: StepItem, values: dict[str, Any]) -> None:
    session.execute(
        sa.update(FI)
        .where(FI.c.id == item.instance_id)
        .values(lease_owner=None, lease_expires_at=None, **values)
    )


def release(session: Session, item: StepItem) -> None:
    """Give the lease back and change nothing else (a pause already happened)."""
    _instance(session, item, {})


def advance(session: Session, item: StepItem, *, now: datetime) -> None:
    """The step is done: move to the next step, or complete the instance."""
    _instance(session, item, advance_values(item, now=now))


def advance_values(item: StepItem, *, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {
        "step_attempts": 0,
        "deferred_reason": None,
        "last_error_category": None,
        "last_error_code": None,
        "updated_at": now,
        "current_step": item.position + 1,
    }
    nxt = item.next_step
    if nxt is None:
        return values | {
            "current_channel": None,
            "next_run_at": None,
            "status": InstanceStatus.COMPLETED.value,
            "completed_at": now,
        }
    # Import bounds a delay to ten years; a step stored before that bound
    # existed is held to it here rather than overflowing the calendar.
    hours = nxt.delay_hours if math.isfinite(nxt.delay_hours) else MAX_DELAY_HOURS
    hours = min(max(hours, 0.0), MAX_DELAY_HOURS)
    return values | {
        "current_channel": nxt.channel,
        "next_run_at": now + timedelta(hours=hours),
    }


def defer(
    session: Session, item: StepItem, *, until: datetime, reason: str, now: datetime
) -> None:
    """Try the same step again at ``until``; a deferral is not a failure."""
    _instance(
        session,
        item,
        {"next_run_at": until, "deferred_reason": reason[:200], "updated_at": now},
    )


def retry_or_fail(
    session: Session,
    item: StepItem,
    *,
    error: Any,
    until: datetime,
    max_attempts: int,
    now: datetime,
) -> bool:
    """Count one transient failure; return True when the instance failed."""
    attempts = item.step_attempts + 1
    values: dict[str, Any] = {
        "step_attempts": attempts,
        "last_error_category": error.category.value,
        "last_error_code": (error.code or "")[:200] or None,
        "updated_at": now,
    }
    failed = attempts >= max_attempts
    if failed:
        values["status"] = InstanceStatus.FAILED.value
    else:
        values["next_run_at"] = until
        values["deferred_reason"] = f"retry:{error.category.value}"
    _instance(session, item, values)
    return failed


def fail(
    session: Session, item: StepItem, *, category: str, code: str | None, now: datetime
) -> None:
    _instance(
        session,
        item,
        {
            "status": InstanceStatus.FAILED.value,
            "last_error_category": category,
            "last_error_code": code,
            "updated_at": now,
        },
    )


def instance_status(session: Session, instance_id: int) -> tuple[str, str | None]:
    row = session.execute(
        sa.select(FI.c.status, FI.c.paused_reason).where(FI.c.id == instance_id)
    ).one()
    return str(row.status), row.paused_reason


def daily_cap(settings: Any, channel: str) -> int | None:
    if channel == Channel.LINKEDIN_INVITE.value:
        return int(settings.linkedin_daily_invites)
    if channel == Channel.LINKEDIN_MESSAGE.value:
        return int(settings.linkedin_daily_messages)
    return None


def pause_unknown(session: Session, item: StepItem, *, now: datetime) -> None:
    """A send whose outcome we cannot know: park it for an operator."""
    from integration_health.models import PausedBy, PausedReason

    _instance(
        session,
        item,
        {
            "status": InstanceStatus.PAUSED.value,
            "paused_reason": PausedReason.SEND_UNKNOWN.value,
            "paused_by": PausedBy.SYSTEM.value,
            "paused_at": now,
            "updated_at": now,
        },
    )
