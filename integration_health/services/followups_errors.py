"""What a failed follow-up send does, by category (design section 5).

LinkedIn failures go through the shared gate (``linkedin_gate``), so a 401 or
a 422 means the same here as in ``unipile check``; GHL failures are recorded
on the ``ghl`` health row here. Either way the outcome is one of a few kinds,
and this module turns the kind into the instance's next state.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from integration_health.clients.transport import NOT_SENT_CODES
from integration_health.db import session_scope
from integration_health.errors import (
    DISCONNECTING,
    TRANSIENT,
    Category,
    ProviderConfigError,
    ProviderError,
)
from integration_health.models import (
    Channel,
    HealthStatus,
    InstanceStatus,
    Lead,
    PausedReason,
    Provider,
    SendStatus,
    Workspace,
)
from integration_health.services import followups_db as fdb
from integration_health.services.followups_sql import StepItem

if TYPE_CHECKING:
    from integration_health.services.followups_send import RunContext

#: Codes that say the provider's address could not be reached at all.
UNREACHABLE_CODES = frozenset({"connect_error", "connect_timeout"})

#: How long a GHL location backs off after a rate limit without advice.
GHL_THROTTLE = timedelta(seconds=60)
DEFAULT_THROTTLE = timedelta(hours=1)


def handle_failure(
    ctx: RunContext,
    item: StepItem,
    attempt_id: int,
    exc: ProviderError,
    *,
    during: str,
    scope: Callable[[], AbstractContextManager[Session]] | None = None,
) -> None:
    """Close the attempt and move the instance by the failure's kind.

    Raises ``exc`` again when it is a configuration error of the run.
    Known limitation: a timeout or a dropped connection during the send
    itself is ambiguous (the provider may have sent it), so it becomes
    ``unknown`` and the instance waits for an operator instead of being
    retried; that is the price of at most once. A failure to connect at all
    is not ambiguous: nothing left this machine, so it is retried.
    """
    now = ctx.now()
    config = (
        isinstance(exc, ProviderConfigError) or exc.category == Category.CONFIG_ERROR
    )
    ambiguous = (
        during == "send"
        and exc.category == Category.NETWORK_TIMEOUT
        and exc.code not in NOT_SENT_CODES
    )
    with (scope or (lambda: session_scope(ctx.engine)))() as session:
        if ambiguous:
            fdb.close_attempt(
                session, attempt_id, status=SendStatus.UNKNOWN, now=now, error=exc
            )
            fdb.pause_unknown(session, item, now=now)
            ctx.count("unknown")
            return
        fdb.close_attempt(
            session, attempt_id, status=SendStatus.FAILED, now=now, error=exc
        )
        if exc.code in UNREACHABLE_CODES:
            # The provider's address refused or never answered the connection:
            # every account behind it would wait the same, so the run stops
            # sending to it, and its other steps stay due for the next run.
            with ctx.lock:
                ctx.unreachable.add("unipile" if item.is_linkedin else "ghl")
        if not config:
            kind, retry_at = _classify(ctx, session, item, exc, now=now, during=during)
            _apply(ctx, session, item, exc, kind, retry_at, now=now)
    if config:  # raised once the attempt is closed: the run stops, nothing sent
        raise exc


def _classify(
    ctx: RunContext,
    session: Session,
    item: StepItem,
    exc: ProviderError,
    *,
    now: datetime,
    during: str,
) -> tuple[str, datetime | None]:
    if item.is_linkedin:
        from integration_health.services import linkedin_gate

        workspace = session.get(Workspace, item.workspace_id)
        lead = session.get(Lead, item.lead_id)
        assert workspace is not None and lead is not None
        outcome = linkedin_gate.handle_send_error(
            session,
            workspace,
            lead,
            exc,
            now=now,
            settings=ctx.settings,
            during="lookup" if during == "lookup" else "send",
        )
        return outcome.kind, outcome.retry_at
    return _ghl_kind(ctx, session, item, exc, now=now)


def _ghl_kind(
    ctx: RunContext,
    session: Session,
    item: StepItem,
    exc: ProviderError,
    *,
    now: datetime,
) -> tuple[str, datetime | None]:
    """The GHL equivalent of the LinkedIn gate, for an SMS send."""
    category = exc.category
    if category in DISCONNECTING or category in TRANSIENT:
        status = _record_ghl(ctx, session, item, exc, now=now)
        if category in DISCONNECTING:
            if status == HealthStatus.DISCONNECTED.value and ctx.settings.auto_disable:
                from integration_health.services.instances import pause_instances

                pause_instances(
                    session,
                    reason=PausedReason.GHL_DISCONNECTED.value,
                    now=now,
                    workspace_ids=[item.workspace_id],
                    channels=[Channel.SMS.value],
                )
            return "disconnected", None
    if category in {Category.RATE_LIMITED, Category.ACCOUNT_THROTTLED}:
        wait = timedelta(seconds=exc.retry_after) if exc.retry_after else GHL_THROTTLE
        return "throttled", now + wait
    if category in TRANSIENT:
        return "transient", None
    return "failed", None


def _record_ghl(
    ctx: RunContext,
    session: Session,
    item: StepItem,
    obs_or_exc: Any,
    *,
    now: datetime,
) -> str:
    from integration_health import health

    obs = (
        health.Observation.from_error(obs_or_exc)
        if isinstance(obs_or_exc, ProviderError)
        else obs_or_exc
    )
    result = health.record(
        session,
        item.workspace_id,
        Provider.GHL.value,
        obs,
        now=now,
        degraded_after=ctx.settings.degraded_after_failures,
        grace_period=timedelta(minutes=ctx.settings.grace_period_minutes),
    )
    return str(result.status)


def record_ok(ctx: RunContext, session: Session, item: StepItem, now: datetime) -> None:
    """A success is a health observation too: it heals and resumes."""
    from integration_health import health

    if item.is_linkedin:
        from integration_health.services import linkedin_gate

        workspace = session.get(Workspace, item.workspace_id)
        assert workspace is not None
        linkedin_gate.apply_unipile_observation(
            session, workspace, health.Observation.ok(), now=now, settings=ctx.settings
        )
        return
    _record_ghl(ctx, session, item, health.Observation.ok(), now=now)


def _backoff(
    ctx: RunContext, item: StepItem, exc: ProviderError, now: datetime
) -> datetime:
    s = ctx.settings
    from integration_health.services.followups_send import full_jitter

    wait = full_jitter(
        item.step_attempts,
        base=s.repair_backoff_base_seconds,
        cap=s.repair_backoff_cap_seconds,
        rand=ctx.rand(),
    )
    if exc.retry_after:
        wait = max(wait, min(exc.retry_after, s.retry_after_cap_seconds))
    return now + timedelta(seconds=wait)


def _apply(
    ctx: RunContext,
    session: Session,
    item: StepItem,
    exc: ProviderError,
    kind: str,
    retry_at: datetime | None,
    *,
    now: datetime,
) -> None:
    provider = "unipile" if item.is_linkedin else "ghl"
    account = item.account_id or ""
    code = exc.code or exc.category.value
    if kind == "done":
        fdb.advance(session, item, now=now)
        ctx.count("already_done")
    elif kind in {"disconnected", "unreachable"}:
        if kind == "disconnected":
            with ctx.lock:
                ctx.stopped.add((provider, item.workspace_id))
        _paused_or_deferred(ctx, session, item, exc, now=now)
    elif kind == "must_wait":
        until = retry_at or now + timedelta(days=1)
        fdb.defer(session, item, until=until, reason=code, now=now)
        ctx.count("deferred:must_wait")
    elif kind == "throttled":
        until = retry_at or now + DEFAULT_THROTTLE
        with ctx.lock:
            ctx.throttled[account] = until
        fdb.defer(session, item, until=until, reason="account_throttled", now=now)
        ctx.count("deferred:account_throttled")
    elif kind == "transient":
        until = (
            retry_at if retry_at and retry_at > now else _backoff(ctx, item, exc, now)
        )
        failed = fdb.retry_or_fail(
            session,
            item,
            error=exc,
            until=until,
            max_attempts=ctx.settings.followup_max_step_attempts,
            now=now,
        )
        ctx.count("failed" if failed else "deferred:retry")
    else:
        fdb.fail(session, item, category=exc.category.value, code=exc.code, now=now)
        ctx.count("failed")


def _paused_or_deferred(
    ctx: RunContext,
    session: Session,
    item: StepItem,
    exc: ProviderError,
    *,
    now: datetime,
) -> None:
    """The gate paused the instance (flags on), or it waits and is tried again."""
    status, reason = fdb.instance_status(session, item.instance_id)
    if status == InstanceStatus.PAUSED.value:
        fdb.release(session, item)
        ctx.count(f"paused:{reason}")
        return
    fdb.defer(
        session,
        item,
        until=_backoff(ctx, item, exc, now),
        reason=exc.category.value,
        now=now,
    )
    ctx.count(f"deferred:{exc.category.value}")
