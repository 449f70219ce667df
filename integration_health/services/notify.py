"""The Slack outbox (design section 6): jobs queue notices, ``notify flush``
sends them apart from the job, spaced, coalesced, retried, each once.

Delivery: a due notice is claimed with a lease (``next_attempt_at`` moved
ahead, committed) before it is posted, and marked sent in its own commit
right after the post. Two flushes at once therefore never post the same
notice. Known limitation: a crash between the post and that commit sends the
notice again once the lease expires (a Slack webhook cannot be asked whether
it already has a message).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from integration_health.clients.slack import is_permanent
from integration_health.db import is_postgres, session_scope
from integration_health.errors import TRANSIENT, ProviderError
from integration_health.health import Transition
from integration_health.models import HealthStatus, Notification, NotificationStatus
from integration_health.redact import redact
from integration_health.sqlutil import insert_ignoring_conflict

logger = logging.getLogger(__name__)

TEXT_MAX = 4000
#: A coalesced post stays well under Slack's limits and readable.
COALESCE_MAX = 3500
LEASE = timedelta(minutes=5)
RETRY_BASE_SECONDS = 30.0
RETRY_CAP_SECONDS = 3600.0
_PENDING = NotificationStatus.PENDING.value


def queue(
    session: Session,
    *,
    dedupe_key: str,
    kind: str,
    text: str,
    workspace_id: int | None,
    now: datetime,
) -> bool:
    """Queue a notice once per ``dedupe_key``; False when it was already queued."""
    values = {
        "dedupe_key": dedupe_key[:500],
        "kind": kind[:50],
        "text": redact(text)[:TEXT_MAX],
        "workspace_id": workspace_id,
        "status": _PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    return insert_ignoring_conflict(session, Notification, values, ["dedupe_key"])


def episode_key(workspace_id: int, provider: str, event_id: int) -> str:
    """One notice per health change: the HealthEvent that opened or closed it."""
    return f"health:{workspace_id}:{provider}:{event_id}"


_PROVIDER_NAMES = {"unipile": "Unipile (LinkedIn)", "ghl": "GHL"}


def health_change_text(
    workspace_name: str,
    provider: str,
    transition: Transition,
    *,
    affected: int,
    remedy: str,
    reconnect_url: str | None = None,
) -> str:
    """A notice for one health change; it names no lead and holds no secret."""
    name = _PROVIDER_NAMES.get(provider, provider)
    was = transition.from_status or "new"
    if transition.to_status == HealthStatus.OK:
        head = f"Episode closed: {name} is OK again for {workspace_name} (was {was})"
        verb = "resumed"
    else:
        head = (
            f"Episode opened: {name} is {transition.to_status} for "
            f"{workspace_name} (was {was})"
        )
        verb = "paused"
    reason = " / ".join(p for p in (transition.category, transition.code) if p)
    lines = [head + (f": {reason}" if reason else "") + "."]
    lines.append(f"Follow-ups {verb}: {affected}.")
    if transition.repeat_count:
        lines.append(f"Repeats since the last change: {transition.repeat_count}.")
    if remedy:
        lines.append(f"What to do: {remedy}")
    if reconnect_url:
        lines.append(f"Reconnect: {reconnect_url}")
    return redact("\n".join(lines))[:TEXT_MAX]


@dataclass(frozen=True)
class FlushReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    pending: int = 0


@dataclass(frozen=True)
class _Claimed:
    id: int
    workspace_id: int | None
    kind: str
    text: str
    attempts: int


def _claim(engine: Engine, now: datetime, limit: int | None) -> list[_Claimed]:
    """Due pending notices, oldest first, leased to this flush."""
    with session_scope(engine, immediate=True) as session:
        query = (
            select(Notification)
            .where(Notification.status == _PENDING)
            .where(col(Notification.next_attempt_at) <= now)
            .order_by(col(Notification.created_at), col(Notification.id))
            .limit(limit)
        )
        if is_postgres(engine):
            query = query.with_for_update(skip_locked=True)
        rows = session.exec(query).all()
        for row in rows:
            row.next_attempt_at = now + LEASE
            session.add(row)
        return [
            _Claimed(r.id or 0, r.workspace_id, r.kind, r.text, r.attempts)
            for r in rows
        ]


def _batches(claimed: Sequence[_Claimed]) -> list[list[_Claimed]]:
    """Group by (workspace, kind) in order of first appearance, size-capped."""
    groups: dict[tuple[int | None, str], list[list[_Claimed]]] = {}
    for item in claimed:
        chunks = groups.setdefault((item.workspace_id, item.kind), [[]])
        size = sum(len(c.text) + 2 for c in chunks[-1])
        if chunks[-1] and size + len(item.text) > COALESCE_MAX:
            chunks.append([])
        chunks[-1].append(item)
    return [chunk for chunks in groups.values() for chunk in chunks]


def _update(engine: Engine, ids: Sequence[int], **values: object) -> None:
    with session_scope(engine) as session:
        for row in session.exec(
            select(Notification).where(col(Notification.id).in_(ids))
        ).all():
            for name, value in values.items():
                setattr(row, name, value)
            session.add(row)


def _retry_delay(err: ProviderError, attempts: int) -> float:
    if err.retry_after is not None:
        return min(max(err.retry_after, 0.0), RETRY_CAP_SECONDS)
    return min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2.0 ** (attempts - 1))


def _retryable(err: ProviderError) -> bool:
    """Transient by category, and not a failure for good by Slack's status."""
    return err.category in TRANSIENT and not is_permanent(err)


def _fail(
    engine: Engine,
    batch: Sequence[_Claimed],
    err: ProviderError,
    now: datetime,
    max_attempts: int,
) -> tuple[int, int]:
    """Record one failed post; (retried, failed) counts."""
    attempts = max(item.attempts for item in batch) + 1
    reason = redact(str(err))[:500]
    ids = [item.id for item in batch]
    if _retryable(err) and attempts < max_attempts:
        retry_at = now + timedelta(seconds=_retry_delay(err, attempts))
        _update(
            engine, ids, attempts=attempts, next_attempt_at=retry_at, last_error=reason
        )
        return len(ids), 0
    _update(
        engine,
        ids,
        attempts=attempts,
        status=NotificationStatus.FAILED.value,
        next_attempt_at=None,
        last_error=reason,
    )
    logger.warning(
        "Slack notice failed for good: %s",
        reason,
        extra={"action": "notify.failed", "ctx_count": str(len(ids))},
    )
    return 0, len(ids)


def _wait_turn(
    last_post: datetime | None,
    min_interval: float,
    now_fn: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> None:
    if last_post is None:
        return
    remaining = min_interval - (now_fn() - last_post).total_seconds()
    if remaining > 0:
        sleep(remaining)


def pending_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        query = select(func.count()).where(Notification.status == _PENDING)
        return int(session.exec(query).one())


def flush(
    engine: Engine,
    *,
    post: Callable[[str], None],
    now_fn: Callable[[], datetime],
    sleep: Callable[[float], None],
    min_interval: float = 1.0,
    max_attempts: int = 10,
    limit: int | None = None,
) -> FlushReport:
    """Send due notices, oldest first, one post per workspace and kind.

    A transient failure leaves the notice pending with a backoff (Slack's
    ``Retry-After`` first); a 429 also ends this flush. A permanent failure,
    or the last allowed attempt, marks it failed with the redacted reason.
    """
    batches = _batches(_claim(engine, now_fn(), limit))
    sent = retried = failed = 0
    last_post: datetime | None = None
    for index, batch in enumerate(batches):
        _wait_turn(last_post, min_interval, now_fn, sleep)
        try:
            post("\n\n".join(item.text for item in batch))
        except ProviderError as err:
            last_post = now_fn()
            more_retried, more_failed = _fail(
                engine, batch, err, last_post, max_attempts
            )
            retried, failed = retried + more_retried, failed + more_failed
            if err.status == 429:
                _release(engine, batches[index + 1 :], err, last_post)
                break
            continue
        last_post = now_fn()
        _update(
            engine,
            [item.id for item in batch],
            status=NotificationStatus.SENT.value,
            sent_at=last_post,
            attempts=max(item.attempts for item in batch) + 1,
            next_attempt_at=None,
        )
        sent += len(batch)
    return FlushReport(sent, retried, failed, pending_count(engine))


def _release(
    engine: Engine,
    batches: Sequence[Sequence[_Claimed]],
    err: ProviderError,
    now: datetime,
) -> None:
    """Hand back the claims of notices this flush will not try (Slack said 429)."""
    ids = [item.id for batch in batches for item in batch]
    if ids:
        retry_at = now + timedelta(seconds=_retry_delay(err, 1))
        _update(engine, ids, next_attempt_at=retry_at)
