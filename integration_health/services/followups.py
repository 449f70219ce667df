"""``followups run``: send the due follow-up steps, at most once each.

A run recovers crashed sends (``sending`` past its lease becomes ``unknown``),
then claims due instances batch by batch, gates each batch with a few
set-based UPDATEs, and sends what is left through one worker per account.
Each batch gets its own lease owner, so a step a worker skipped (its
workspace was cut off mid-run) is held until the run ends, not claimed again.

Exit code (decided here, shown by the CLI): 1 when any instance moved to
``failed`` or any send ended ``unknown`` during the run (including crashed
sends recovered at its start), else 0; a configuration error stops the run
with exit 2 after releasing its claims.
"""

from __future__ import annotations

import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from integration_health.config import Settings
from integration_health.db import session_scope
from integration_health.errors import ConfigError
from integration_health.models import utcnow
from integration_health.services import followups_sql as fsql
from integration_health.services.followups_dispatch import Dispatcher
from integration_health.services.followups_plan import plan_due
from integration_health.services.followups_send import (
    LinkedInSender,
    RunContext,
    SmsSender,
)

JOB = "followups-run"


@dataclass(frozen=True)
class RunOptions:
    limit: int | None = None
    max_seconds: float | None = None
    dry_run: bool = False
    #: A workspace's external ID: only its steps are claimed.
    workspace: str | None = None


@dataclass
class RunSummary:
    """What one run did; ``counts`` keys are ``sent``, ``failed``,
    ``skipped``, ``unknown``, ``deferred:<reason>``, ``paused:<reason>``."""

    counts: dict[str, int] = field(default_factory=dict)
    claimed: int = 0
    recovered_unknown: int = 0
    repairs_queued: int = 0
    plan: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False

    def total(self, prefix: str) -> int:
        return sum(v for k, v in self.counts.items() if k.startswith(prefix))

    def by_reason(self, prefix: str) -> dict[str, int]:
        return {
            k.split(":", 1)[1]: v
            for k, v in sorted(self.counts.items())
            if k.startswith(prefix + ":")
        }

    @property
    def exit_code(self) -> int:
        bad = sum(self.counts.get(key, 0) for key in ("failed", "unknown", "crashed"))
        return 1 if bad or self.recovered_unknown else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "claimed": self.claimed,
            "sent": self.counts.get("sent", 0),
            "already_done": self.counts.get("already_done", 0),
            "deferred": self.by_reason("deferred"),
            "paused": self.by_reason("paused"),
            "failed": self.counts.get("failed", 0),
            "skipped": self.counts.get("skipped", 0),
            "crashed": self.counts.get("crashed", 0),
            "unknown": self.counts.get("unknown", 0) + self.recovered_unknown,
            "repairs_queued": self.repairs_queued,
            "plan": self.plan,
        }


@dataclass
class Senders:
    """The provider clients, made only when a step needs them."""

    linkedin: LinkedInSender | None = None
    sms: SmsSender | None = None
    settings: Settings | None = None

    def ensure(self, ctx: RunContext, items: list[fsql.StepItem]) -> None:
        settings = self.settings or ctx.settings
        if self.linkedin is None and any(i.is_linkedin for i in items):
            from integration_health.clients.unipile import UnipileClient

            self.linkedin = UnipileClient.from_settings(settings)
        if self.sms is None and any(not i.is_linkedin for i in items):
            from integration_health.clients.ghl import GhlClient

            self.sms = GhlClient.from_settings(settings)
        ctx.linkedin, ctx.sms = self.linkedin, self.sms


def _workspace_id(engine: Engine, external_id: str | None) -> int | None:
    if external_id is None:
        return None
    with session_scope(engine) as session:
        found = session.execute(
            sa.select(fsql.WS.c.id).where(fsql.WS.c.external_id == external_id)
        ).scalar_one_or_none()
    if found is None:
        raise ConfigError(f"--workspace: no workspace with external id {external_id!r}")
    return int(found)


def run_followups(
    engine: Engine,
    settings: Settings,
    options: RunOptions,
    *,
    senders: Senders | None = None,
    now: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.monotonic,
    progress: Callable[[int], None] | None = None,
    summary: RunSummary | None = None,
) -> RunSummary:
    """Run once; the caller holds the run lock (``services.runs``).

    ``summary``, when given, is filled in even when the run is interrupted,
    so that a stopped run still records what it did.
    """
    workspace_id = _workspace_id(engine, options.workspace)
    if options.dry_run:
        rows = plan_due(
            engine,
            settings,
            now=now(),
            workspace_id=workspace_id,
            limit=options.limit or settings.followup_batch_size,
        )
        return RunSummary(plan=rows, dry_run=True)
    senders = senders or Senders()
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    ctx = RunContext(
        engine=engine,
        settings=settings,
        owner=owner,
        linkedin=None,
        sms=None,
        now=now,
        sleep=sleep,
        rand=rand,
        clock=clock,
    )
    summary = summary if summary is not None else RunSummary()
    with session_scope(engine, immediate=True) as session:
        summary.recovered_unknown = fsql.recover_unknown(session, now=now())
    if settings.unipile_health_gate:
        with session_scope(engine, immediate=True) as session:
            pregated = fsql.pregate_due(session, now=now(), workspace_id=workspace_id)
        for reason, n in pregated.paused.items():
            ctx.count(f"paused:{reason}", n)
    try:
        _batches(ctx, options, summary, senders, workspace_id, progress)
    finally:
        summary.counts = dict(ctx.counts)
        with session_scope(engine) as session:
            fsql.release_claims(session, owner=owner, prefix=True)
    if ctx.config_error is not None:
        raise ctx.config_error
    return summary


def _batches(
    ctx: RunContext,
    options: RunOptions,
    summary: RunSummary,
    senders: Senders,
    workspace_id: int | None,
    progress: Callable[[int], None] | None,
) -> None:
    settings = ctx.settings
    started = ctx.clock()
    owner = ctx.owner
    reported = 0
    with ThreadPoolExecutor(max_workers=settings.send_concurrency) as pool:
        dispatch = Dispatcher(
            ctx, pool, settings.send_concurrency, settings.followup_batch_size
        )
        try:
            for number in range(1, 1 << 62):
                if options.max_seconds is not None and (
                    ctx.clock() - started >= options.max_seconds
                ):
                    return
                size = settings.followup_batch_size
                if options.limit is not None:
                    size = min(size, options.limit - summary.claimed)
                if size <= 0 or ctx.abort.is_set():
                    return
                ctx.owner = f"{owner}:b{number}"
                items = _claim(ctx, summary, size, workspace_id)
                if items is None:
                    return
                senders.ensure(ctx, items)
                dispatch.add(ctx.owner, items)
                dispatch.wait_for_room()
                if progress is not None:
                    progress(dispatch.done - reported)
                    reported = dispatch.done
        except BaseException:
            ctx.abort.set()
            raise
        finally:
            _drain(ctx, dispatch)
            if progress is not None and dispatch.done > reported:
                progress(dispatch.done - reported)


def _drain(ctx: RunContext, dispatch: Dispatcher) -> None:
    """Wait for the workers; a Ctrl-C or stop signal makes them stop early.

    On an interrupt (here or in the claiming loop) every worker finishes the
    send in hand and takes no new step; the run's remaining claims are given
    back by ``run_followups``.
    """
    try:
        dispatch.drain()
    except BaseException:
        ctx.abort.set()
        dispatch.drain()
        raise


def _claim(
    ctx: RunContext, summary: RunSummary, size: int, workspace_id: int | None
) -> list[fsql.StepItem] | None:
    """Claim and gate one batch; None when nothing is due any more."""
    now = ctx.now()
    with session_scope(ctx.engine, immediate=True) as session:
        claimed = fsql.claim_batch(
            session,
            owner=ctx.owner,
            now=now,
            lease_seconds=ctx.settings.lease_seconds,
            size=size,
            workspace_id=workspace_id,
        )
        if claimed == 0:
            return None
        gate = fsql.gate_batch(
            session,
            owner=ctx.owner,
            now=now,
            health_gate=ctx.settings.unipile_health_gate,
        )
        items = fsql.load_claimed(session, owner=ctx.owner)
    summary.claimed += claimed
    summary.repairs_queued += gate.repairs_queued
    for reason, n in gate.paused.items():
        ctx.count(f"paused:{reason}", n)
    for reason, n in gate.deferred.items():
        ctx.count(f"deferred:{reason}", n)
    return items
