"""The set-based SQL of ``followups run``: recovery, claiming, gating, release.

Every function here runs a constant number of statements whatever the size of
the batch: a claimed batch is named by ``lease_owner = <run id>`` rather than
by an IN list, so gating 1,000 instances costs the same as gating ten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from integration_health.models import (
    LINKEDIN_CHANNELS,
    Channel,
    FollowUpInstance,
    FollowUpStep,
    HealthStatus,
    InstanceStatus,
    IntegrationHealth,
    Lead,
    PausedBy,
    PausedReason,
    Provider,
    SendAttempt,
    SendStatus,
    Workspace,
)
from integration_health.services.repair_queue import create_missing_jobs

FI = FollowUpInstance.__table__  # type: ignore[attr-defined]
SA = SendAttempt.__table__  # type: ignore[attr-defined]
LEAD = Lead.__table__  # type: ignore[attr-defined]
WS = Workspace.__table__  # type: ignore[attr-defined]
IH = IntegrationHealth.__table__  # type: ignore[attr-defined]
STEP = FollowUpStep.__table__  # type: ignore[attr-defined]

#: How long an SMS step waits for its lead's GHL contact to be repaired.
MISSING_CONTACT_DEFER = timedelta(hours=1)
DEFER_MISSING_CONTACT = "ghl_contact_missing"
DEFER_BACKOFF = "account_backoff"
_LINKEDIN = sorted(LINKEDIN_CHANNELS)


def _released() -> dict[str, Any]:
    return {"lease_owner": None, "lease_expires_at": None}


def _paused(reason: PausedReason, now: datetime) -> dict[str, Any]:
    return {
        "status": InstanceStatus.PAUSED.value,
        "paused_reason": reason.value,
        "paused_by": PausedBy.SYSTEM.value,
        "paused_at": now,
        "updated_at": now,
        **_released(),
    }


def recover_unknown(session: Session, *, now: datetime) -> int:
    """Turn expired ``sending`` attempts into ``unknown``; pause their instances.

    They are never resent: whether the provider got the message is unknown,
    so an operator decides (``paused_by`` is system, but no automatic resume
    clears ``send_unknown``).
    """
    expired = sa.and_(
        SA.c.status == SendStatus.SENDING.value, SA.c.lease_expires_at < now
    )
    stranded = sa.select(SA.c.instance_id).where(expired)
    session.execute(
        sa.update(FI)
        .where(FI.c.id.in_(stranded))
        .values(**_paused(PausedReason.SEND_UNKNOWN, now))
    )
    result = session.execute(
        sa.update(SA)
        .where(expired)
        .values(status=SendStatus.UNKNOWN.value, updated_at=now, **_released())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _due(now: datetime, workspace_id: int | None) -> list[Any]:
    in_flight = sa.exists().where(
        SA.c.instance_id == FI.c.id, SA.c.status == SendStatus.SENDING.value
    )
    conditions = [
        FI.c.status == InstanceStatus.ACTIVE.value,
        FI.c.next_run_at <= now,
        sa.or_(FI.c.lease_expires_at.is_(None), FI.c.lease_expires_at < now),
        ~in_flight,
    ]
    if workspace_id is not None:
        conditions.append(FI.c.workspace_id == workspace_id)
    return conditions


def claim_batch(
    session: Session,
    *,
    owner: str,
    now: datetime,
    lease_seconds: float,
    size: int,
    workspace_id: int | None = None,
) -> int:
    """Lease up to ``size`` due instances to ``owner``; return how many.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets concurrent runs split the
    work. SQLite: the caller holds the write lock (``BEGIN IMMEDIATE``), so
    the select-and-update is serial, which gives the same result.
    """
    picked = (
        sa.select(FI.c.id)
        .where(*_due(now, workspace_id))
        .order_by(FI.c.next_run_at, FI.c.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    result = session.execute(
        sa.update(FI)
        .where(FI.c.id.in_(picked))
        .values(
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _mine(owner: str) -> list[Any]:
    return [FI.c.lease_owner == owner, FI.c.status == InstanceStatus.ACTIVE.value]


def _health_ws(provider: Provider, status: HealthStatus) -> Any:
    return sa.select(IH.c.workspace_id).where(
        IH.c.provider == provider.value, IH.c.status == status.value
    )


def _update(session: Session, where: Sequence[Any], values: dict[str, Any]) -> int:
    result = session.execute(sa.update(FI).where(*where).values(**values))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass
class GateCounts:
    """What the gating statements did to one claimed batch."""

    paused: dict[str, int]
    deferred: dict[str, int]
    repairs_queued: int = 0


def _pause_rules() -> list[tuple[PausedReason, list[Any]]]:
    """What pauses a step under ``UNIPILE_HEALTH_GATE``, as SQL conditions."""
    linkedin = FI.c.current_channel.in_(_LINKEDIN)
    unreachable = sa.select(LEAD.c.id).where(
        LEAD.c.linkedin_unreachable_at.is_not(None)
    )
    return [
        (
            PausedReason.UNIPILE_DISCONNECTED,
            [
                linkedin,
                FI.c.workspace_id.in_(
                    _health_ws(Provider.UNIPILE, HealthStatus.DISCONNECTED)
                ),
            ],
        ),
        (PausedReason.LINKEDIN_UNREACHABLE, [linkedin, FI.c.lead_id.in_(unreachable)]),
        (
            PausedReason.GHL_DISCONNECTED,
            [
                FI.c.current_channel == Channel.SMS.value,
                FI.c.workspace_id.in_(
                    _health_ws(Provider.GHL, HealthStatus.DISCONNECTED)
                ),
            ],
        ),
    ]


def _skip_locked(where: Sequence[Any]) -> Any:
    """Only rows no other run holds: PostgreSQL skips them, never waits."""
    return FI.c.id.in_(
        sa.select(FI.c.id).where(*where).with_for_update(skip_locked=True)
    )


def pregate_due(
    session: Session, *, now: datetime, workspace_id: int | None
) -> GateCounts:
    """Pause every due step that cannot succeed, before any claim.

    One UPDATE per rule over all due steps, so a run that finds thousands of
    steps of a disconnected account neither claims nor loads them. Steps of a
    run's ``--limit`` are counted after this (pausing is not sending).
    """
    counts = GateCounts(paused={}, deferred={})
    for reason, where in _pause_rules():
        picked = _skip_locked([*_due(now, workspace_id), *where])
        done = _update(session, [picked], _paused(reason, now))
        if done:
            counts.paused[reason.value] = done
    return counts


def gate_batch(
    session: Session, *, owner: str, now: datetime, health_gate: bool
) -> GateCounts:
    """Pause or defer, in a few UPDATEs, the claimed steps that cannot succeed.

    Most gated steps were paused by :func:`pregate_due` already; this catches
    what changed since (an account cut off while the run goes on).
    """
    counts = GateCounts(paused={}, deferred={})
    if health_gate:
        for reason, where in _pause_rules():
            done = _update(session, [*_mine(owner), *where], _paused(reason, now))
            if done:
                counts.paused[reason.value] = done
        backed_off = _defer_backoff(session, owner=owner, now=now)
        if backed_off:
            counts.deferred[DEFER_BACKOFF] = backed_off
    counts.repairs_queued = _queue_contact_repairs(session, owner=owner, now=now)
    missing = _defer_missing_contact(session, owner=owner, now=now)
    if missing:
        counts.deferred[DEFER_MISSING_CONTACT] = missing
    return counts


def _defer_backoff(session: Session, *, owner: str, now: datetime) -> int:
    """Defer steps of accounts in backoff to the end of that backoff."""
    total = 0
    for provider, channel in (
        (Provider.UNIPILE, FI.c.current_channel.in_(_LINKEDIN)),
        (Provider.GHL, FI.c.current_channel == Channel.SMS.value),
    ):
        until = (
            sa.select(IH.c.backoff_until)
            .where(IH.c.workspace_id == FI.c.workspace_id)
            .where(IH.c.provider == provider.value)
            .scalar_subquery()
        )
        in_backoff = sa.select(IH.c.workspace_id).where(
            IH.c.provider == provider.value, IH.c.backoff_until > now
        )
        total += _update(
            session,
            [*_mine(owner), channel, FI.c.workspace_id.in_(in_backoff)],
            {
                "next_run_at": until,
                "deferred_reason": DEFER_BACKOFF,
                "updated_at": now,
                **_released(),
            },
        )
    return total


def _no_contact(owner: str) -> list[Any]:
    missing = sa.select(LEAD.c.id).where(LEAD.c.ghl_contact_id.is_(None))
    return [
        *_mine(owner),
        FI.c.current_channel == Channel.SMS.value,
        FI.c.lead_id.in_(missing),
    ]


def _queue_contact_repairs(session: Session, *, owner: str, now: datetime) -> int:
    """One ``ghl_contact`` repair job per lead, inserted only when absent."""
    leads = sa.select(FI.c.lead_id).where(*_no_contact(owner))
    return create_missing_jobs(session, now=now, lead_ids=leads)


def _defer_missing_contact(session: Session, *, owner: str, now: datetime) -> int:
    return _update(
        session,
        _no_contact(owner),
        {
            "next_run_at": now + MISSING_CONTACT_DEFER,
            "deferred_reason": DEFER_MISSING_CONTACT,
            "updated_at": now,
            **_released(),
        },
    )


def release_claims(session: Session, *, owner: str, prefix: bool = False) -> int:
    """Give back every lease of this run (the steps stay due as they were).

    ``prefix`` releases every batch of the run (owners ``<owner>:b<n>``).
    """
    match = (
        FI.c.lease_owner.startswith(owner + ":", autoescape=True)
        if prefix
        else FI.c.lease_owner == owner
    )
    result = session.execute(sa.update(FI).where(match).values(**_released()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class NextStep:
    channel: str
    delay_hours: float


@dataclass(frozen=True)
class StepItem:
    """One claimed step ready to send, with all it needs (no lazy loads)."""

    instance_id: int
    lead_id: int
    workspace_id: int
    workspace_external_id: str
    lead_external_id: str
    position: int
    channel: str
    template: str | None
    step_attempts: int
    first_name: str | None
    last_name: str | None
    linkedin_identifier: str | None
    linkedin_provider_id: str | None
    linkedin_chat_id: str | None
    ghl_contact_id: str | None
    unipile_account_id: str | None
    ghl_location_id: str | None
    ghl_api_key: str | None
    next_step: NextStep | None

    @property
    def is_linkedin(self) -> bool:
        return self.channel in LINKEDIN_CHANNELS

    @property
    def account_id(self) -> str | None:
        """The sending account: Unipile account or GHL location."""
        return self.unipile_account_id if self.is_linkedin else self.ghl_location_id


def load_claimed(session: Session, *, owner: str) -> list[StepItem]:
    """The still-active claimed steps of this run, in two queries."""
    rows = session.execute(
        sa.select(
            FI.c.id,
            FI.c.lead_id,
            FI.c.workspace_id,
            FI.c.sequence_id,
            FI.c.current_step,
            FI.c.current_channel,
            FI.c.step_attempts,
            WS.c.external_id.label("ws_external_id"),
            WS.c.unipile_account_id,
            WS.c.ghl_location_id,
            WS.c.ghl_api_key,
            LEAD.c.external_id.label("lead_external_id"),
            LEAD.c.first_name,
            LEAD.c.last_name,
            LEAD.c.linkedin_identifier,
            LEAD.c.linkedin_provider_id,
            LEAD.c.linkedin_chat_id,
            LEAD.c.ghl_contact_id,
            STEP.c.template,
        )
        .join(LEAD, LEAD.c.id == FI.c.lead_id)
        .join(WS, WS.c.id == FI.c.workspace_id)
        .outerjoin(
            STEP,
            sa.and_(
                STEP.c.sequence_id == FI.c.sequence_id,
                STEP.c.position == FI.c.current_step,
            ),
        )
        .where(*_mine(owner))
        .order_by(FI.c.next_run_at, FI.c.id)
    ).all()
    steps = _steps_of(session, owner=owner)
    return [
        _item(row, steps.get((row.sequence_id, row.current_step + 1))) for row in rows
    ]


def _steps_of(session: Session, *, owner: str) -> dict[tuple[int, int], NextStep]:
    sequences = sa.select(FI.c.sequence_id).where(FI.c.lease_owner == owner)
    rows = session.execute(
        sa.select(
            STEP.c.sequence_id, STEP.c.position, STEP.c.channel, STEP.c.delay_hours
        ).where(STEP.c.sequence_id.in_(sequences))
    ).all()
    return {
        (r.sequence_id, r.position): NextStep(r.channel, float(r.delay_hours))
        for r in rows
    }


def _item(row: Any, next_step: NextStep | None) -> StepItem:
    return StepItem(
        instance_id=row.id,
        lead_id=row.lead_id,
        workspace_id=row.workspace_id,
        workspace_external_id=row.ws_external_id,
        lead_external_id=row.lead_external_id,
        position=row.current_step,
        channel=row.current_channel or "",
        template=row.template,
        step_attempts=row.step_attempts,
        first_name=row.first_name,
        last_name=row.last_name,
        linkedin_identifier=row.linkedin_identifier,
        linkedin_provider_id=row.linkedin_provider_id,
        linkedin_chat_id=row.linkedin_chat_id,
        ghl_contact_id=row.ghl_contact_id,
        unipile_account_id=row.unipile_account_id,
        ghl_location_id=row.ghl_location_id,
        ghl_api_key=row.ghl_api_key,
        next_step=next_step,
    )
