"""The health state machine (design section 4): a status per (workspace,
provider), written only when it changes, with one HealthEvent per change.

Decisions the design leaves open:

* A row's first record of OK writes no event (None to OK is noise); a first
  record of DEGRADED or DISCONNECTED writes one from ``None``. A row is "first
  seen" while it has never been checked (``last_checked_at`` is None), so a
  row made by :func:`mark_connected` still counts as unseen.
* Transient failures below the threshold on a new row leave it OK: health is
  assumed good until the threshold says otherwise.
* ``repeat_count`` counts the checks that changed nothing while the status was
  not OK; a transition carries the count of the episode it closes.
* DISCONNECTED is left only by a success; transient or degraded findings
  while disconnected are counted as repeats.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from integration_health.errors import DISCONNECTING, TRANSIENT, Category, ProviderError
from integration_health.models import (
    HealthEvent,
    HealthStatus,
    IntegrationHealth,
    Provider,
    Workspace,
)
from integration_health.redact import redact
from integration_health.sqlutil import insert_ignoring_conflict

logger = logging.getLogger(__name__)

_DETAIL_MAX = 1000


@dataclass(frozen=True)
class Observation:
    """What one call or check found, reduced to what health needs.

    ``target`` None changes nothing (a Unipile account still CONNECTING, or
    a lead-level error that says nothing about the integration).
    ``transient`` marks a failure that counts towards DEGRADED instead of
    setting it at once.
    """

    target: HealthStatus | None
    category: Category | None = None
    code: str | None = None
    http_status: int | None = None
    detail: str = ""
    transient: bool = False

    @classmethod
    def ok(cls) -> Observation:
        return cls(target=HealthStatus.OK)

    @classmethod
    def none(cls) -> Observation:
        return cls(target=None)

    @classmethod
    def from_error(cls, err: ProviderError) -> Observation:
        """Disconnecting categories disconnect; transient ones count; the rest
        (validation, recipient-level, throttling) leave health alone."""
        target: HealthStatus | None = None
        if err.category in DISCONNECTING:
            target = HealthStatus.DISCONNECTED
        elif err.category in TRANSIENT:
            target = HealthStatus.DEGRADED
        return cls(
            target=target,
            category=err.category,
            code=err.code,
            http_status=err.status,
            detail=err.detail,
            transient=err.category in TRANSIENT,
        )

    @classmethod
    def degraded(cls, code: str, *, detail: str = "") -> Observation:
        """The provider itself says the account is unwell (Unipile STOPPED)."""
        return cls(target=HealthStatus.DEGRADED, code=code, detail=detail)

    @classmethod
    def disconnected(
        cls, category: Category, code: str | None, *, detail: str = ""
    ) -> Observation:
        return cls(
            target=HealthStatus.DISCONNECTED,
            category=category,
            code=code,
            detail=detail,
        )


@dataclass(frozen=True)
class Transition:
    """One status change, as written to HealthEvent."""

    workspace_id: int
    provider: str
    from_status: str | None
    to_status: str
    event_id: int
    category: str | None
    code: str | None
    #: True when DISCONNECTED was left for OK.
    reconnected: bool
    #: Checks that found the previous (failing) status again before this change.
    repeat_count: int

    @property
    def opened(self) -> bool:
        """An episode opens on any change to a failing status."""
        return self.to_status != HealthStatus.OK.value


@dataclass(frozen=True)
class RecordResult:
    transition: Transition | None
    #: Status after the record; None when no row exists and nothing was known.
    status: str | None
    #: A disconnecting failure was not believed (fresh connection).
    suppressed_by_grace: bool = False


def _locked_row(
    session: Session, workspace_id: int, provider: str, *, create: bool
) -> IntegrationHealth | None:
    """The row, locked for update; created (OK, unchecked) when asked."""
    query = (
        select(IntegrationHealth)
        .where(IntegrationHealth.workspace_id == workspace_id)
        .where(IntegrationHealth.provider == provider)
        .with_for_update()
    )
    row = session.exec(query).first()
    if row is not None or not create:
        return row
    values = {
        "workspace_id": workspace_id,
        "provider": provider,
        "status": HealthStatus.OK.value,
        "consecutive_failures": 0,
        "repeat_count": 0,
    }
    insert_ignoring_conflict(
        session, IntegrationHealth, values, ["workspace_id", "provider"]
    )
    session.flush()
    return session.exec(query.execution_options(populate_existing=True)).one()


def _in_grace(row: IntegrationHealth, now: datetime, grace: timedelta) -> bool:
    return row.connected_at is not None and now - row.connected_at < grace


def _next_status(
    row: IntegrationHealth,
    obs: Observation,
    *,
    now: datetime,
    degraded_after: int,
    grace_period: timedelta,
) -> tuple[str, bool]:
    """(status after, suppressed by grace) for a failing or OK observation."""
    current = row.status
    target = obs.target
    if target == HealthStatus.OK:
        return HealthStatus.OK.value, False
    if target == HealthStatus.DISCONNECTED:
        if current != HealthStatus.DISCONNECTED and _in_grace(row, now, grace_period):
            return current, True
        return HealthStatus.DISCONNECTED.value, False
    if current == HealthStatus.DISCONNECTED:
        return current, False
    if not obs.transient:
        return HealthStatus.DEGRADED.value, False
    failures = row.consecutive_failures  # already counted this one
    if current == HealthStatus.OK and failures >= degraded_after:
        return HealthStatus.DEGRADED.value, False
    return current, False


def _touch_failure(row: IntegrationHealth, obs: Observation, now: datetime) -> None:
    row.consecutive_failures += 1
    _note_error(row, obs, now)


def _note_error(row: IntegrationHealth, obs: Observation, now: datetime) -> None:
    """The last failure, kept even when it changes no status (a 422)."""
    row.last_error_code = redact(obs.code)[:200] if obs.code else None
    row.last_error_category = obs.category.value if obs.category else None
    row.last_error_status = obs.http_status
    row.last_error_at = now
    row.last_error_detail = redact(obs.detail)[:_DETAIL_MAX] or None


def _touch_success(row: IntegrationHealth, now: datetime) -> None:
    row.consecutive_failures = 0
    row.last_ok_at = now
    row.backoff_until = None


def _set_backoff(
    row: IntegrationHealth, now: datetime, degraded_after: int, base: float, cap: float
) -> None:
    exponent = max(0, row.consecutive_failures - degraded_after)
    row.backoff_until = now + timedelta(seconds=min(cap, base * 2.0**exponent))


def _write_event(
    session: Session,
    row: IntegrationHealth,
    obs: Observation,
    *,
    from_status: str | None,
    now: datetime,
) -> Transition:
    reconnected = (
        from_status == HealthStatus.DISCONNECTED and row.status == HealthStatus.OK
    )
    category = obs.category.value if obs.category else None
    code = redact(obs.code)[:200] if obs.code else None
    event = HealthEvent(
        workspace_id=row.workspace_id,
        provider=row.provider,
        from_status=from_status,
        to_status=row.status,
        category=category,
        code=code,
        detail=redact(obs.detail)[:_DETAIL_MAX] or None,
        created_at=now,
    )
    session.add(event)
    session.flush()
    assert event.id is not None
    transition = Transition(
        workspace_id=row.workspace_id,
        provider=row.provider,
        from_status=from_status,
        to_status=row.status,
        event_id=event.id,
        category=category,
        code=code,
        reconnected=reconnected,
        repeat_count=row.repeat_count,
    )
    row.repeat_count = 0
    row.changed_at = now
    if reconnected:
        row.connected_at = now
    _log_transition(transition, _workspace_name(session, row.workspace_id))
    return transition


def _workspace_name(session: Session, workspace_id: int) -> str:
    """The workspace's external ID, which operators know (its row ID else)."""
    workspace = session.get(Workspace, workspace_id)
    return workspace.external_id if workspace is not None else str(workspace_id)


def _log_transition(t: Transition, workspace: str) -> None:
    level = logging.INFO if t.to_status == HealthStatus.OK else logging.WARNING
    logger.log(
        level,
        "%s health of workspace %s: %s -> %s (%s %s)",
        t.provider,
        workspace,
        t.from_status or "new",
        t.to_status,
        t.category or "-",
        t.code or "-",
        extra={
            "action": "health.reconnected" if t.reconnected else "health.changed",
            "ctx_workspace": workspace,
            "ctx_provider": t.provider,
            "ctx_to_status": t.to_status,
        },
    )


def record(
    session: Session,
    workspace_id: int,
    provider: Provider | str,
    obs: Observation,
    *,
    now: datetime,
    degraded_after: int = 3,
    grace_period: timedelta = timedelta(minutes=15),
    backoff_base: float = 60,
    backoff_cap: float = 3600,
) -> RecordResult:
    """Apply one observation; write the status and an event only on change.

    The row is locked (``FOR UPDATE`` on PostgreSQL); on SQLite call this in
    ``session_scope(engine, immediate=True)`` when runs may overlap.
    """
    provider = Provider(provider).value
    row = _locked_row(session, workspace_id, provider, create=obs.target is not None)
    if obs.target is None:
        return _record_no_target(session, row, obs, now, workspace_id, provider)
    assert row is not None
    first = row.last_checked_at is None
    row.last_checked_at = now
    if obs.target == HealthStatus.OK:
        _touch_success(row, now)
    else:
        _touch_failure(row, obs, now)
    before = row.status
    after, suppressed = _next_status(
        row, obs, now=now, degraded_after=degraded_after, grace_period=grace_period
    )
    row.status = after
    if after == HealthStatus.DEGRADED:
        _set_backoff(row, now, degraded_after, backoff_base, backoff_cap)
    transition = None
    if first and after != HealthStatus.OK:
        transition = _write_event(session, row, obs, from_status=None, now=now)
    elif after != before:
        transition = _write_event(session, row, obs, from_status=before, now=now)
    elif after != HealthStatus.OK:
        row.repeat_count += 1
    session.add(row)
    return RecordResult(transition, row.status, suppressed_by_grace=suppressed)


def _record_no_target(
    session: Session,
    row: IntegrationHealth | None,
    obs: Observation,
    now: datetime,
    workspace_id: int,
    provider: str,
) -> RecordResult:
    """An observation that changes no status: a check, or a lead-level failure.

    A failure still leaves its trace in ``last_error_*`` (on a new, unchecked
    row if need be), so a job whose every call was rejected is visible.
    """
    if row is None:
        if obs.category is None:
            return RecordResult(transition=None, status=None)
        row = _locked_row(session, workspace_id, provider, create=True)
        assert row is not None
    else:
        row.last_checked_at = now
    if obs.category is not None:
        _note_error(row, obs, now)
    session.add(row)
    return RecordResult(transition=None, status=row.status)


def mark_connected(
    session: Session, workspace_id: int, provider: Provider | str, at: datetime
) -> None:
    """Remember when an account was (re)connected, for the grace period.

    Only moves ``connected_at`` forward; creates an unchecked row when none
    exists, so the grace period holds from the very first check.
    """
    provider = Provider(provider).value
    row = _locked_row(session, workspace_id, provider, create=True)
    assert row is not None
    if row.connected_at is None or row.connected_at < at:
        row.connected_at = at
        session.add(row)


def get_health(
    session: Session, workspace_id: int, provider: Provider | str
) -> IntegrationHealth | None:
    return session.exec(
        select(IntegrationHealth)
        .where(IntegrationHealth.workspace_id == workspace_id)
        .where(IntegrationHealth.provider == Provider(provider).value)
    ).first()


def statuses(
    session: Session, provider: Provider | str, workspace_ids: Iterable[int]
) -> dict[int, str]:
    """Status per workspace in one query; workspaces never seen are absent."""
    ids = list(workspace_ids)
    if not ids:
        return {}
    rows = session.exec(
        select(IntegrationHealth.workspace_id, IntegrationHealth.status)
        .where(IntegrationHealth.provider == Provider(provider).value)
        .where(col(IntegrationHealth.workspace_id).in_(ids))
    ).all()
    return {workspace_id: status for workspace_id, status in rows}
