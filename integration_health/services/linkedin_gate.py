"""What a Unipile outcome does to a workspace, its leads and their follow-ups.

The ``unipile check`` job, the follow-up engine and the operator's ``leads``
commands all end here, so that a 401, a 422 or a 429 has one meaning
wherever it was seen. ``AUTO_DISABLE`` off is the rollback: states are still
recorded, but nothing is paused and no lead is held back.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from integration_health import health
from integration_health.config import Settings
from integration_health.errors import Category, ProviderConfigError, ProviderError
from integration_health.health import Observation, Transition
from integration_health.models import (
    LINKEDIN_CHANNELS,
    FollowUpInstance,
    HealthStatus,
    InstanceStatus,
    IntegrationHealth,
    Lead,
    PausedReason,
    Provider,
    Workspace,
)
from integration_health.services import notify
from integration_health.services.instances import pause_instances, resume_instances

logger = logging.getLogger(__name__)

PROVIDER = Provider.UNIPILE.value
SendKind = Literal[
    "disconnected",
    "unreachable",
    "must_wait",
    "throttled",
    "transient",
    "done",
    "failed",
    "config",
]

#: How long a lead waits on a "must wait" answer, by Unipile code.
MUST_WAIT: dict[str, timedelta] = {
    "no_connection_with_recipient": timedelta(days=1),
    "already_invited_recently": timedelta(days=7),
}
DEFAULT_MUST_WAIT = timedelta(days=1)
#: How long the whole account backs off on a throttling answer, by code.
THROTTLE: dict[str, timedelta] = {
    "too_many_requests": timedelta(minutes=30),
    "cannot_resend_yet": timedelta(hours=1),
    "cannot_resend_within_24hrs": timedelta(hours=24),
    "limit_exceeded": timedelta(hours=24),
    "insufficient_credits": timedelta(hours=24),
}
DEFAULT_THROTTLE = timedelta(hours=1)
#: A 401 inside the grace period is asked again this much later.
SUPPRESSED_RETRY = timedelta(minutes=5)
UNREACHABLE_CODES: frozenset[str] = frozenset(
    {
        "invalid_recipient",
        "recipient_cannot_be_reached",
        "blocked_recipient",
        "user_unreachable",
        "recipient_rejected",
        "cannot_invite_attendee",
        "not_allowed_inmail",
    }
)
DONE_CODES: frozenset[str] = frozenset({"action_already_performed"})


@dataclass(frozen=True)
class GateOutcome:
    """What one observation changed: the transition and the instances moved."""

    transition: Transition | None
    #: Status after the record; None when nothing is known of the account.
    status: str | None
    paused: int
    resumed: int
    notified: bool
    suppressed_by_grace: bool = False


@dataclass(frozen=True)
class SendErrorOutcome:
    """How the caller goes on after a failed LinkedIn call for one lead.

    ``retry_at`` is when the step may be tried again (None: the caller's own
    backoff, or never for ``unreachable``, ``failed`` and ``config``);
    ``code`` is the provider code to record as the deferral reason.
    """

    kind: SendKind
    retry_at: datetime | None
    code: str | None = None


def apply_unipile_observation(
    session: Session,
    workspace: Workspace,
    obs: Observation,
    *,
    now: datetime,
    settings: Settings,
    reconnect_url: str | None = None,
) -> GateOutcome:
    """Record one observation and apply the gate to the workspace's follow-ups.

    The pause is applied on every DISCONNECTED observation, not only on the
    transition, so that turning ``AUTO_DISABLE`` back on takes effect at the
    next check. Resuming what the system paused is done whenever the account
    is OK, flag or not: it only undoes the toolkit's own pause.
    """
    assert workspace.id is not None
    result = health.record(
        session,
        workspace.id,
        PROVIDER,
        obs,
        now=now,
        degraded_after=settings.degraded_after_failures,
        grace_period=timedelta(minutes=settings.grace_period_minutes),
    )
    paused = resumed = 0
    if result.status == HealthStatus.DISCONNECTED.value and settings.auto_disable:
        paused = pause_instances(
            session,
            reason=PausedReason.UNIPILE_DISCONNECTED.value,
            now=now,
            workspace_ids=[workspace.id],
            channels=LINKEDIN_CHANNELS,
        )
    elif result.status == HealthStatus.OK.value:
        resumed = resume_instances(
            session,
            reason=PausedReason.UNIPILE_DISCONNECTED.value,
            now=now,
            workspace_ids=[workspace.id],
        )
    notified = False
    if result.transition is not None:
        notified = _notify_change(
            session,
            workspace,
            result.transition,
            now=now,
            affected=paused or resumed,
            reconnect_url=reconnect_url,
        )
    return GateOutcome(
        transition=result.transition,
        status=result.status,
        paused=paused,
        resumed=resumed,
        notified=notified,
        suppressed_by_grace=result.suppressed_by_grace,
    )


def _notify_change(
    session: Session,
    workspace: Workspace,
    transition: Transition,
    *,
    now: datetime,
    affected: int,
    reconnect_url: str | None,
) -> bool:
    if transition.to_status == HealthStatus.DISCONNECTED.value:
        remedy = (
            "reconnect the LinkedIn account with the link below"
            if reconnect_url
            else "reconnect the LinkedIn account in Unipile"
        )
    elif transition.to_status == HealthStatus.OK.value:
        remedy = "nothing to do: paused LinkedIn follow-ups resumed"
    else:
        remedy = "check the LinkedIn account in Unipile if this lasts"
    text = notify.health_change_text(
        workspace.name,
        PROVIDER,
        transition,
        affected=affected,
        remedy=remedy,
        reconnect_url=reconnect_url,
    )
    assert workspace.id is not None
    return notify.queue(
        session,
        dedupe_key=notify.episode_key(workspace.id, PROVIDER, transition.event_id),
        kind="health_change",
        text=text,
        workspace_id=workspace.id,
        now=now,
    )


def quarantine_lead(
    session: Session, lead: Lead, *, code: str, now: datetime, settings: Settings
) -> int:
    """Mark the lead unreachable on LinkedIn; pause its LinkedIn instances.

    The mark is recorded whatever the flag (so that turning ``AUTO_DISABLE``
    on later applies it); the pause only with the flag on. Returns the
    number of instances paused.
    """
    if lead.linkedin_unreachable_at is None:
        lead.linkedin_unreachable_at = now
    lead.linkedin_unreachable_reason = code[:300]
    lead.updated_at = now
    session.add(lead)
    session.flush()
    logger.info(
        "lead quarantined for LinkedIn",
        extra={"action": "unipile.lead.quarantined", "ctx_code": code},
    )
    if not settings.auto_disable:
        return 0
    assert lead.id is not None
    return pause_instances(
        session,
        reason=PausedReason.LINKEDIN_UNREACHABLE.value,
        now=now,
        lead_ids=[lead.id],
        channels=LINKEDIN_CHANNELS,
    )


def pause_unreachable_leads(
    session: Session, *, now: datetime, workspace_ids: Collection[int] | None = None
) -> int:
    """Pause active LinkedIn instances of leads already marked unreachable.

    This is how a mark recorded with ``AUTO_DISABLE`` off takes effect once
    the flag is on again. The caller checks the flag.
    """
    query = (
        select(FollowUpInstance.lead_id)
        .join(Lead, Lead.id == FollowUpInstance.lead_id)  # type: ignore[arg-type]
        .where(
            Lead.linkedin_unreachable_at.is_not(None),  # type: ignore[union-attr]
            FollowUpInstance.status == InstanceStatus.ACTIVE.value,
            col(FollowUpInstance.current_channel).in_(LINKEDIN_CHANNELS),
        )
        .distinct()
    )
    if workspace_ids is not None:
        query = query.where(col(FollowUpInstance.workspace_id).in_(workspace_ids))
    lead_ids = list(session.exec(query))
    if not lead_ids:
        return 0
    return pause_instances(
        session,
        reason=PausedReason.LINKEDIN_UNREACHABLE.value,
        now=now,
        lead_ids=lead_ids,
        channels=LINKEDIN_CHANNELS,
    )


def clear_quarantine(
    session: Session, lead_ids: Collection[int], *, now: datetime
) -> int:
    """Forget the unreachable mark and resume what the system paused for it.

    The stored provider ID and chat are dropped too: a person corrected the
    profile, so the next send looks it up again. Returns instances resumed.
    """
    ids = list(lead_ids)
    if not ids:
        return 0
    session.execute(
        sa.update(Lead)
        .where(Lead.id.in_(ids))  # type: ignore[union-attr]
        .values(
            linkedin_unreachable_at=None,
            linkedin_unreachable_reason=None,
            linkedin_provider_id=None,
            linkedin_chat_id=None,
            updated_at=now,
        )
    )
    return resume_instances(
        session,
        reason=PausedReason.LINKEDIN_UNREACHABLE.value,
        now=now,
        lead_ids=ids,
    )


def throttle_account(
    session: Session, workspace_id: int, *, until: datetime, code: str, now: datetime
) -> None:
    """Hold every call of the workspace's account until ``until``.

    The backoff only ever grows within an episode: a shorter advice does not
    shorten a longer wait already in force. The status is left as it is.
    """
    row = session.exec(
        select(IntegrationHealth).where(
            IntegrationHealth.workspace_id == workspace_id,
            IntegrationHealth.provider == PROVIDER,
        )
    ).first()
    if row is None:
        row = IntegrationHealth(workspace_id=workspace_id, provider=PROVIDER)
    if row.backoff_until is None or row.backoff_until < until:
        row.backoff_until = until
    row.last_error_code = code[:200]
    row.last_error_category = Category.ACCOUNT_THROTTLED.value
    row.last_error_at = now
    row.last_checked_at = now
    session.add(row)
    session.flush()


def backoff_until(
    session: Session, workspace_id: int, *, now: datetime
) -> datetime | None:
    """The account's backoff still in force, or None."""
    value = session.exec(
        select(IntegrationHealth.backoff_until).where(
            IntegrationHealth.workspace_id == workspace_id,
            IntegrationHealth.provider == PROVIDER,
        )
    ).first()
    return value if value is not None and value > now else None


def handle_send_error(
    session: Session,
    workspace: Workspace,
    lead: Lead,
    err: ProviderError,
    *,
    now: datetime,
    settings: Settings,
    during: Literal["lookup", "send"] = "send",
) -> SendErrorOutcome:
    """Turn one failed LinkedIn call for ``lead`` into health, quarantine or wait.

    ``during="lookup"`` says the call was a profile lookup, where a 404
    means the profile is gone; on a send a 404 means the stored chat is
    stale, so it is dropped and the step retried (a new chat next time).
    """
    code = err.code or ""
    if isinstance(err, ProviderConfigError) or err.category == Category.CONFIG_ERROR:
        return SendErrorOutcome("config", None, code)
    if err.category in {Category.DISCONNECTED_ACCOUNT, Category.PERMISSION_DENIED}:
        return _account_cut_off(session, workspace, err, now=now, settings=settings)
    if code in DONE_CODES:
        return SendErrorOutcome("done", None, code)
    if err.category == Category.NOT_FOUND and during == "send":
        lead.linkedin_chat_id = None
        session.add(lead)
        return SendErrorOutcome("transient", now, code)
    if (
        err.category in {Category.RECIPIENT_UNREACHABLE, Category.NOT_FOUND}
        or code in UNREACHABLE_CODES
    ):
        quarantine_lead(
            session, lead, code=code or err.category.value, now=now, settings=settings
        )
        return SendErrorOutcome("unreachable", None, code)
    if err.category == Category.RECIPIENT_NOT_READY:
        wait = MUST_WAIT.get(code, DEFAULT_MUST_WAIT)
        return SendErrorOutcome("must_wait", now + wait, code)
    if err.category in {Category.ACCOUNT_THROTTLED, Category.RATE_LIMITED}:
        return _throttled(session, workspace, err, now=now, settings=settings)
    if err.category == Category.VALIDATION_ERROR:
        return SendErrorOutcome("failed", None, code)
    apply_unipile_observation(
        session, workspace, Observation.from_error(err), now=now, settings=settings
    )
    return SendErrorOutcome("transient", None, code)


def _account_cut_off(
    session: Session,
    workspace: Workspace,
    err: ProviderError,
    *,
    now: datetime,
    settings: Settings,
) -> SendErrorOutcome:
    outcome = apply_unipile_observation(
        session, workspace, Observation.from_error(err), now=now, settings=settings
    )
    if outcome.status == HealthStatus.DISCONNECTED.value:
        return SendErrorOutcome("disconnected", None, err.code)
    # Inside the grace period: not believed yet, asked again soon.
    return SendErrorOutcome("transient", now + SUPPRESSED_RETRY, err.code)


def _throttled(
    session: Session,
    workspace: Workspace,
    err: ProviderError,
    *,
    now: datetime,
    settings: Settings,
) -> SendErrorOutcome:
    code = err.code or err.category.value
    wait = THROTTLE.get(code, DEFAULT_THROTTLE)
    if err.retry_after is not None:
        # Never shorter than our own floor: LinkedIn counts retries too.
        cap = settings.retry_after_cap_seconds
        wait = max(wait, timedelta(seconds=min(err.retry_after, cap)))
    until = now + wait
    assert workspace.id is not None
    throttle_account(session, workspace.id, until=until, code=code, now=now)
    return SendErrorOutcome("throttled", until, code)
