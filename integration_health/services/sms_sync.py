"""The ``ghl sync-sms`` job: store each lead's SMS history once.

Leads without a GHL contact ID are not an error here: an e-mail-only lead
has no SMS to sync and is a counted, silent skip; one that could be repaired
gets a repair job; one with SMS history and no way to repair it is flagged
for operators, once. Only real failures are logged, once per error window.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from integration_health import health, logwindow
from integration_health.config import Settings
from integration_health.db import rowcount, session_scope
from integration_health.errors import (
    DISCONNECTING,
    Category,
    ProviderConfigError,
    ProviderError,
)
from integration_health.models import (
    HealthStatus,
    Lead,
    Message,
    Provider,
    Workspace,
    utcnow,
)
from integration_health.services import notify, repair_queue
from integration_health.sqlutil import dialect_insert

logger = logging.getLogger(__name__)
_GHL = Provider.GHL.value
#: Stop paging a conversation after this many messages already stored in a
#: row: GHL pages newest first, so the rest is known too.
KNOWN_RUN_TO_STOP = 50


class SmsApi(Protocol):
    """The part of :class:`~integration_health.clients.ghl.GhlClient` used here."""

    def search_conversations(
        self, token: str, location_id: str, contact_id: str
    ) -> list[Any]: ...

    def iter_messages(
        self, token: str, conversation_id: str, *, limit: int = 100
    ) -> Iterator[Any]: ...


@dataclass
class SyncReport:
    leads_synced: int = 0
    messages_stored: int = 0
    skipped_no_contact: int = 0
    skipped_email_only: int = 0
    repair_queued: int = 0
    needs_repair: int = 0
    failed: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    disconnected_workspaces: list[str] = field(default_factory=list)
    config_error: ProviderConfigError | None = None


@dataclass
class _Sync:
    engine: Engine
    settings: Settings
    api: SmsApi
    now: Callable[[], datetime]
    report: SyncReport
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop_all: threading.Event = field(default_factory=threading.Event)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self.report, name, getattr(self.report, name) + value)


def run_sms_sync(
    engine: Engine,
    settings: Settings,
    api: SmsApi,
    *,
    workspace_ids: list[int] | None = None,
    limit: int | None = None,
    now: Callable[[], datetime] = utcnow,
) -> SyncReport:
    """Sync SMS for leads with a contact ID; triage the leads without one."""
    sync = _Sync(engine, settings, api, now, SyncReport())
    _triage_missing_contacts(sync, workspace_ids)
    plan = _plan(sync, workspace_ids, limit)
    with ThreadPoolExecutor(max_workers=settings.repair_concurrency) as pool:
        for future in [pool.submit(_sync_workspace, sync, *item) for item in plan]:
            future.result()
    logwindow.close_expired(
        engine, logger=logger, now=now(), window_seconds=settings.log_window_seconds
    )
    return sync.report


def _triage_missing_contacts(sync: _Sync, workspace_ids: list[int] | None) -> None:
    """Set-based handling of every lead without a GHL contact ID."""
    now = sync.now()
    no_contact = col(Lead.ghl_contact_id).is_(None)
    scope = [no_contact]
    if workspace_ids is not None:
        scope.append(col(Lead.workspace_id).in_(workspace_ids))
    has_history = sa.exists().where(col(Message.lead_id) == col(Lead.id))
    with session_scope(sync.engine, immediate=True) as session:
        total, email_only = session.execute(
            select(
                sa.func.count(),
                sa.func.count().filter(
                    col(Lead.phone).is_(None), col(Lead.email).is_not(None)
                ),
            ).where(*scope)
        ).one()
        queued = repair_queue.create_missing_jobs(
            session, now=now, workspace_ids=workspace_ids, reachable_only=True
        )
        flagged = rowcount(
            session.execute(
                sa.update(Lead)
                .where(
                    *scope,
                    col(Lead.email).is_(None),
                    col(Lead.phone).is_(None),
                    col(Lead.ghl_needs_repair_at).is_(None),
                    has_history,
                )
                .values(
                    ghl_needs_repair_at=now,
                    ghl_needs_repair_reason="SMS history but no e-mail or phone",
                    updated_at=now,
                )
            )
        )
    sync.add(
        skipped_no_contact=int(total),
        skipped_email_only=int(email_only),
        repair_queued=queued,
        needs_repair=flagged,
    )
    logger.debug(
        "SMS sync skips %d leads without a GHL contact (%d e-mail only)",
        total,
        email_only,
        extra={"action": "ghl.sms_sync.skip"},
    )
    if flagged:
        logger.warning(
            "%d leads have SMS history but no e-mail or phone to repair their "
            "GHL contact; see: integration-health status",
            flagged,
            extra={"action": "ghl.sms_sync.needs_repair"},
        )


@dataclass(frozen=True)
class _Target:
    workspace_id: int
    workspace_external_id: str
    workspace_name: str
    token: str
    location_id: str


def _plan(
    sync: _Sync, workspace_ids: list[int] | None, limit: int | None
) -> list[tuple[_Target, list[tuple[int, str]]]]:
    """(workspace, [(lead id, contact id)]) for workspaces that can be synced."""
    with session_scope(sync.engine) as session:
        query = select(Workspace).where(
            col(Workspace.ghl_api_key).is_not(None),
            col(Workspace.ghl_location_id).is_not(None),
        )
        if workspace_ids is not None:
            query = query.where(col(Workspace.id).in_(workspace_ids))
        spaces = session.exec(query).all()
        ids = [w.id or 0 for w in spaces]
        status = health.statuses(session, _GHL, ids)
        targets = {}
        for w in spaces:
            if status.get(w.id or 0) == HealthStatus.DISCONNECTED.value:
                sync.report.disconnected_workspaces.append(w.external_id)
                continue
            targets[w.id or 0] = _Target(
                w.id or 0,
                w.external_id,
                w.name,
                w.ghl_api_key or "",
                w.ghl_location_id or "",
            )
        leads = _leads_to_sync(session, list(targets), limit)
    grouped: dict[int, list[tuple[int, str]]] = {}
    for lead_id, ws_id, contact_id in leads:
        grouped.setdefault(ws_id, []).append((lead_id, contact_id))
    return [(targets[ws], items) for ws, items in grouped.items()]


def _leads_to_sync(
    session: Session, workspace_ids: list[int], limit: int | None
) -> list[tuple[int, int, str]]:
    if not workspace_ids:
        return []
    query = (
        select(Lead.id, Lead.workspace_id, Lead.ghl_contact_id)
        .where(
            col(Lead.workspace_id).in_(workspace_ids),
            col(Lead.ghl_contact_id).is_not(None),
        )
        .order_by(col(Lead.sms_synced_at).is_not(None), col(Lead.sms_synced_at))
    )
    if limit is not None:
        query = query.limit(limit)
    rows = session.exec(query).all()
    return [(int(a or 0), int(b), str(c)) for a, b, c in rows]


def _sync_workspace(sync: _Sync, target: _Target, leads: list[tuple[int, str]]) -> None:
    ok_recorded = False
    for lead_id, contact_id in leads:
        if sync.stop_all.is_set():
            return
        try:
            stored = _sync_lead(sync, target, lead_id, contact_id)
        except ProviderConfigError as err:
            sync.report.config_error = err
            sync.stop_all.set()
            return
        except ProviderError as err:
            if _failed(sync, target, err):
                return
            continue
        sync.add(leads_synced=1, messages_stored=stored)
        if not ok_recorded:
            _record(sync, target, health.Observation.ok())
            ok_recorded = True


def _sync_lead(sync: _Sync, target: _Target, lead_id: int, contact_id: str) -> int:
    conversations = sync.api.search_conversations(
        target.token, target.location_id, contact_id
    )
    stored = 0
    for conversation in conversations:
        stored += _sync_conversation(sync, target, lead_id, str(conversation.id))
    with session_scope(sync.engine) as session:
        session.execute(
            sa.update(Lead)
            .where(col(Lead.id) == lead_id)
            .values(sms_synced_at=sync.now())
        )
    return stored


def _sync_conversation(
    sync: _Sync, target: _Target, lead_id: int, conversation_id: str
) -> int:
    batch: list[dict[str, Any]] = []
    known_run = stored = 0
    for message in sync.api.iter_messages(target.token, conversation_id):
        if message.message_type != "TYPE_SMS":
            continue
        batch.append(_row(target, lead_id, conversation_id, message))
        if len(batch) >= 100:
            new = _store(sync.engine, batch)
            stored += new
            known_run = 0 if new else known_run + len(batch)
            batch = []
            if known_run >= KNOWN_RUN_TO_STOP:
                return stored
    return stored + (_store(sync.engine, batch) if batch else 0)


def _row(
    target: _Target, lead_id: int, conversation_id: str, message: Any
) -> dict[str, Any]:
    return {
        "provider_message_id": str(message.id),
        "workspace_id": target.workspace_id,
        "lead_id": lead_id,
        "conversation_id": conversation_id,
        "direction": message.direction,
        "message_type": message.message_type,
        "body": message.body,
        "status": message.status,
        "sent_at": message.date_added,
        "created_at": utcnow(),
    }


def _store(engine: Engine, rows: list[dict[str, Any]]) -> int:
    """Insert the messages not stored yet; return how many were new."""
    with session_scope(engine) as session:
        stmt = dialect_insert(session, Message).values(rows)
        stmt = stmt.on_conflict_do_nothing(index_elements=["provider_message_id"])
        # RETURNING, not rowcount: psycopg reports -1 for this statement.
        return len(session.execute(stmt.returning(col(Message.id))).all())


def _failed(sync: _Sync, target: _Target, err: ProviderError) -> bool:
    """Record a failure; True when this workspace must stop for the run."""
    sync.add(failed=1)
    with sync.lock:
        sync.report.categories[err.category.value] += 1
    _log(sync, target, err)
    outcome = _record(sync, target, health.Observation.from_error(err))
    if err.category in DISCONNECTING:
        if outcome is not None and outcome.transition is not None:
            _queue_notice(sync, target, outcome.transition)
        return True
    return err.category is Category.RATE_LIMITED


def _record(
    sync: _Sync, target: _Target, obs: health.Observation
) -> health.RecordResult:
    with session_scope(sync.engine, immediate=True) as session:
        return health.record(
            session,
            target.workspace_id,
            _GHL,
            obs,
            now=sync.now(),
            degraded_after=sync.settings.degraded_after_failures,
            grace_period=timedelta(minutes=sync.settings.grace_period_minutes),
        )


def _queue_notice(sync: _Sync, target: _Target, transition: health.Transition) -> None:
    text = notify.health_change_text(
        target.workspace_name,
        _GHL,
        transition,
        affected=0,
        remedy="rotate the workspace's GHL token, re-import the workspace",
    )
    with session_scope(sync.engine) as session:
        notify.queue(
            session,
            dedupe_key=notify.episode_key(
                target.workspace_id, _GHL, transition.event_id
            ),
            kind="health_change",
            text=text,
            workspace_id=target.workspace_id,
            now=sync.now(),
        )


def _log(sync: _Sync, target: _Target, err: ProviderError) -> None:
    logwindow.note(
        sync.engine,
        logwindow.error_key(
            target.workspace_id, _GHL, err.category.value, err.code or ""
        ),
        logger=logger,
        message=(
            f"GHL SMS sync failed in workspace {target.workspace_external_id}: "
            f"{err.category.value} {err.code or ''} (HTTP {err.status or '-'})"
        ),
        now=sync.now(),
        window_seconds=sync.settings.log_window_seconds,
        context={
            "workspace": target.workspace_external_id,
            "category": err.category.value,
        },
    )
