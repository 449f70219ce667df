"""The ``unipile check`` job: every workspace's LinkedIn account, once a run.

The account list is read once (paged to the end); only accounts missing from
it, or the one named by ``--workspace``, are asked for singly, concurrently
within a bound. Every provider call is made before the first write, so a
run that fails on our own key (exit 2) or on the list call (exit 1) has
changed nothing: with the list unavailable we cannot tell which account is
at fault, and a guess would disconnect healthy workspaces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import select

from integration_health import health
from integration_health.clients.unipile import Account, account_health
from integration_health.config import Settings
from integration_health.db import session_scope
from integration_health.errors import (
    Category,
    ConfigError,
    ProviderConfigError,
    ProviderError,
)
from integration_health.health import Observation
from integration_health.models import HealthStatus, Provider, Workspace
from integration_health.services import linkedin_gate

logger = logging.getLogger(__name__)

PROVIDER = Provider.UNIPILE.value
JOB = "unipile-check"
T = TypeVar("T")


class AccountClient(Protocol):
    def list_accounts(self) -> list[Account]: ...
    def get_account(self, account_id: str) -> Account: ...
    def reconnect_link(self, account_id: str) -> str: ...


@dataclass(frozen=True)
class Planned:
    """One workspace's observation, computed before anything is written."""

    workspace_id: int
    external_id: str
    name: str
    account_id: str
    obs: Observation
    #: "OK", "DEGRADED", "DISCONNECTED" or "unchanged" (CONNECTING).
    observed: str
    code: str | None
    created_at: datetime | None


@dataclass
class CheckRow:
    workspace: str
    account_id: str
    observed: str
    code: str | None
    before: str | None
    after: str | None
    changed: bool
    paused: int = 0
    resumed: int = 0
    suppressed_by_grace: bool = False


@dataclass
class CheckReport:
    rows: list[CheckRow] = field(default_factory=list)
    skipped_no_account: int = 0
    leads_paused: int = 0
    dry_run: bool = False

    def counts(self) -> dict[str, int]:
        counts = {
            "checked": len(self.rows),
            "changed": sum(r.changed for r in self.rows),
            "disconnected": sum(r.after == "DISCONNECTED" for r in self.rows),
            "paused": sum(r.paused for r in self.rows) + self.leads_paused,
            "resumed": sum(r.resumed for r in self.rows),
            "skipped_no_account": self.skipped_no_account,
        }
        return counts


def run_check(
    engine: Engine,
    settings: Settings,
    client: AccountClient,
    *,
    workspace: str | None = None,
    dry_run: bool = False,
    concurrency: int | None = None,
    now: Callable[[], datetime],
) -> CheckReport:
    """Check Unipile health for every workspace (or one, by external ID)."""
    workers = concurrency or settings.unipile_check_concurrency
    targets, skipped = _load_workspaces(engine, workspace)
    if workspace is not None:
        plans = _check_singly(client, targets, workers)
    else:
        plans = _check_from_list(client, targets, workers)
    report = CheckReport(skipped_no_account=skipped, dry_run=dry_run)
    with session_scope(engine) as session:
        before = health.statuses(session, PROVIDER, [p.workspace_id for p in plans])
    if dry_run:
        report.rows = [_dry_row(p, before.get(p.workspace_id)) for p in plans]
        return report
    links = _reconnect_links(client, plans, before, workers)
    for plan in plans:
        report.rows.append(_apply(engine, settings, plan, before, links, now=now()))
    if settings.auto_disable:
        with session_scope(engine) as session:
            report.leads_paused = linkedin_gate.pause_unreachable_leads(
                session, now=now(), workspace_ids=[p.workspace_id for p in plans]
            )
    return report


def _load_workspaces(
    engine: Engine, external_id: str | None
) -> tuple[list[Workspace], int]:
    with session_scope(engine) as session:
        query = select(Workspace).order_by(Workspace.id)  # type: ignore[arg-type]
        if external_id is not None:
            query = query.where(Workspace.external_id == external_id)
        workspaces = list(session.exec(query))
    if external_id is not None and not workspaces:
        raise ConfigError(f"--workspace: no workspace with ID {external_id!r}")
    with_account = [w for w in workspaces if w.unipile_account_id]
    return with_account, len(workspaces) - len(with_account)


def _check_from_list(
    client: AccountClient, targets: list[Workspace], workers: int
) -> list[Planned]:
    # A failure here is the run's (see the module docstring): it propagates.
    listed = {account.id: account for account in client.list_accounts()}
    missing = [w for w in targets if w.unipile_account_id not in listed]
    singles = {p.workspace_id: p for p in _bounded(_probe(client), missing, workers)}
    plans = []
    for ws in targets:
        account = listed.get(ws.unipile_account_id or "")
        assert ws.id is not None
        plans.append(_plan(ws, account) if account else singles[ws.id])
    return plans


def _check_singly(
    client: AccountClient, targets: list[Workspace], workers: int
) -> list[Planned]:
    return _bounded(_probe(client), targets, workers)


def _probe(client: AccountClient) -> Callable[[Workspace], Planned]:
    def probe(ws: Workspace) -> Planned:
        try:
            account = client.get_account(ws.unipile_account_id or "")
        except ProviderConfigError:
            raise
        except ProviderError as err:
            return _plan_error(ws, err)
        return _plan(ws, account)

    return probe


def _bounded(
    func: Callable[[Workspace], T], items: list[Workspace], workers: int
) -> list[T]:
    """``func`` over ``items`` with at most ``workers`` at once, in order.

    The first exception (our own key is wrong, say) is raised after the
    calls already started have ended; nothing has been written by then.
    """
    if not items:
        return []
    if workers <= 1 or len(items) == 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, items))


def _plan(ws: Workspace, account: Account) -> Planned:
    verdict = account_health(account)
    if verdict.status is None:
        obs, observed = Observation.none(), "unchanged"
    elif verdict.status == HealthStatus.OK:
        obs, observed = Observation.ok(), HealthStatus.OK.value
    elif verdict.status == HealthStatus.DEGRADED:
        obs = Observation.degraded(verdict.code or "unknown")
        observed = HealthStatus.DEGRADED.value
    else:
        category = verdict.category or Category.DISCONNECTED_ACCOUNT
        obs = Observation.disconnected(category, verdict.code)
        observed = HealthStatus.DISCONNECTED.value
    return _planned(ws, obs, observed, verdict.code, account.created_at)


def _plan_error(ws: Workspace, err: ProviderError) -> Planned:
    if err.category == Category.NOT_FOUND:
        obs = Observation.disconnected(Category.NOT_FOUND, "account_not_found")
        return _planned(ws, obs, HealthStatus.DISCONNECTED.value, "account_not_found")
    obs = Observation.from_error(err)
    observed = (
        HealthStatus.DISCONNECTED.value
        if err.category in {Category.DISCONNECTED_ACCOUNT, Category.PERMISSION_DENIED}
        else "error"
    )
    return _planned(ws, obs, observed, err.code or err.category.value)


def _planned(
    ws: Workspace,
    obs: Observation,
    observed: str,
    code: str | None,
    created_at: datetime | None = None,
) -> Planned:
    assert ws.id is not None
    return Planned(
        workspace_id=ws.id,
        external_id=ws.external_id,
        name=ws.name,
        account_id=ws.unipile_account_id or "",
        obs=obs,
        observed=observed,
        code=code,
        created_at=created_at,
    )


def _reconnect_links(
    client: AccountClient,
    plans: Iterable[Planned],
    before: dict[int, str],
    workers: int,
) -> dict[int, str | None]:
    """Links for workspaces that may be newly disconnected (best effort)."""
    wanted = [
        p
        for p in plans
        if p.observed == HealthStatus.DISCONNECTED.value
        and before.get(p.workspace_id) != HealthStatus.DISCONNECTED.value
    ]

    def link(plan: Planned) -> str | None:
        try:
            return client.reconnect_link(plan.account_id)
        except ProviderError as err:
            logger.warning(
                "no reconnect link: %s",
                err.category.value,
                extra={"action": "unipile.reconnect_link.failed"},
            )
            return None

    if not wanted:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        urls = list(pool.map(link, wanted))
    return {p.workspace_id: url for p, url in zip(wanted, urls, strict=True)}


def _apply(
    engine: Engine,
    settings: Settings,
    plan: Planned,
    before: dict[int, str],
    links: dict[int, str | None],
    *,
    now: datetime,
) -> CheckRow:
    with session_scope(engine, immediate=True) as session:
        ws = session.get(Workspace, plan.workspace_id)
        assert ws is not None
        if plan.created_at is not None:
            health.mark_connected(session, plan.workspace_id, PROVIDER, plan.created_at)
        outcome = linkedin_gate.apply_unipile_observation(
            session,
            ws,
            plan.obs,
            now=now,
            settings=settings,
            reconnect_url=links.get(plan.workspace_id),
        )
    return CheckRow(
        workspace=plan.external_id,
        account_id=plan.account_id,
        observed=plan.observed,
        code=plan.code,
        before=before.get(plan.workspace_id),
        after=outcome.status,
        changed=outcome.transition is not None,
        paused=outcome.paused,
        resumed=outcome.resumed,
        suppressed_by_grace=outcome.suppressed_by_grace,
    )


def _dry_row(plan: Planned, before: str | None) -> CheckRow:
    """What a real run would most likely do (thresholds and grace aside)."""
    target = plan.observed if plan.observed in HealthStatus.__members__ else before
    return CheckRow(
        workspace=plan.external_id,
        account_id=plan.account_id,
        observed=plan.observed,
        code=plan.code,
        before=before,
        after=target,
        changed=target is not None and target != (before or HealthStatus.OK.value),
    )


def summary(report: CheckReport) -> dict[str, Any]:
    """The machine form of a report (``--format json``)."""
    return {
        "dry_run": report.dry_run,
        "counts": report.counts(),
        "workspaces": [vars(row) for row in report.rows],
    }
