"""Operator paths for one lead on LinkedIn: look up, send by hand, un-quarantine.

They follow the follow-up engine's control flow exactly (the same gate, the
same meaning of every Unipile answer, through ``linkedin_gate``), so that an
operator's try teaches the toolkit what a cron run would have. Provider
calls are made outside any database transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from integration_health import health
from integration_health.config import Settings
from integration_health.db import session_scope
from integration_health.errors import ConfigError, ProviderError
from integration_health.health import Observation
from integration_health.linkedin import linkedin_slug
from integration_health.models import HealthStatus, Lead, Workspace
from integration_health.services import linkedin_gate

Now = Callable[[], datetime]


class LinkedInClient(Protocol):
    """The part of ``clients.unipile.UnipileClient`` these paths use."""

    def get_profile(self, identifier: str, account_id: str) -> Any: ...
    def start_chat(
        self, account_id: str, attendee_ids: list[str], text: str
    ) -> Any: ...
    def send_message(self, chat_id: str, text: str) -> Any: ...


@dataclass(frozen=True)
class LeadOutcome:
    """One lead's answer: ``outcome`` is reachable, must_wait, unreachable,
    disconnected, throttled, transient, sent, done, failed or refused."""

    lead: str
    outcome: str
    code: str | None = None
    detail: str | None = None
    retry_at: datetime | None = None
    chat_id: str | None = None
    message_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in {"reachable", "sent", "done"}


@dataclass(frozen=True)
class ClearResult:
    cleared: int
    resumed: int


def clear_unreachable(
    engine: Engine,
    *,
    lead_external_ids: Sequence[str] = (),
    workspace_external_id: str | None = None,
    all_leads: bool = False,
    now: Now,
) -> ClearResult:
    """Clear the unreachable mark of the named leads (or of a whole workspace)."""
    with session_scope(engine) as session:
        ids = _ids_to_clear(
            session, lead_external_ids, workspace_external_id, all_leads
        )
        resumed = linkedin_gate.clear_quarantine(session, ids, now=now())
    return ClearResult(cleared=len(ids), resumed=resumed)


def _ids_to_clear(
    session: Session,
    external_ids: Sequence[str],
    workspace_external_id: str | None,
    all_leads: bool,
) -> list[int]:
    query = select(Lead.id).where(
        Lead.linkedin_unreachable_at.is_not(None)  # type: ignore[union-attr]
    )
    if all_leads:
        if workspace_external_id is None:
            raise ConfigError("--all needs --workspace ID")
        ws = _workspace(session, workspace_external_id)
        query = query.where(Lead.workspace_id == ws.id)
    else:
        if not external_ids:
            raise ConfigError("give LEAD_ID... or --workspace ID --all")
        found = set(
            session.exec(
                select(Lead.external_id).where(
                    Lead.external_id.in_(external_ids)  # type: ignore[attr-defined]
                )
            )
        )
        unknown = [e for e in external_ids if e not in found]
        if unknown:
            raise ConfigError(f"no lead with ID {', '.join(unknown[:5])}")
        query = query.where(col(Lead.external_id).in_(external_ids))
    return [i for i in session.exec(query) if i is not None]


def _workspace(session: Session, external_id: str) -> Workspace:
    ws = session.exec(
        select(Workspace).where(Workspace.external_id == external_id)
    ).first()
    if ws is None:
        raise ConfigError(f"--workspace: no workspace with ID {external_id!r}")
    return ws


@dataclass(frozen=True)
class _Context:
    lead: Lead
    workspace: Workspace
    status: str | None
    backoff_until: datetime | None


def _load(engine: Engine, lead_external_id: str, *, now: datetime) -> _Context:
    with session_scope(engine) as session:
        lead = session.exec(
            select(Lead).where(Lead.external_id == lead_external_id)
        ).first()
        if lead is None:
            raise ConfigError(f"no lead with ID {lead_external_id!r}")
        ws = session.get(Workspace, lead.workspace_id)
        assert ws is not None and ws.id is not None
        status = health.statuses(session, linkedin_gate.PROVIDER, [ws.id]).get(ws.id)
        backoff = linkedin_gate.backoff_until(session, ws.id, now=now)
    return _Context(lead, ws, status, backoff)


def _refusal(ctx: _Context, settings: Settings) -> str | None:
    if not ctx.workspace.unipile_account_id:
        return "the workspace has no Unipile account"
    if not (ctx.lead.linkedin_identifier or linkedin_slug(ctx.lead.linkedin_url)):
        return "the lead has no LinkedIn profile URL"
    return None


def check_linkedin(
    engine: Engine,
    settings: Settings,
    client: LinkedInClient,
    lead_external_id: str,
    *,
    now: Now,
) -> LeadOutcome:
    """Look the lead's profile up through its workspace's account."""
    ctx = _load(engine, lead_external_id, now=now())
    refusal = _refusal(ctx, settings)
    if refusal:
        return LeadOutcome(lead_external_id, "refused", detail=refusal)
    try:
        profile = _lookup(client, ctx)
    except ProviderError as err:
        return _failed(engine, settings, ctx, err, now=now(), during="lookup")
    _succeeded(engine, settings, ctx, now=now(), provider_id=profile.provider_id)
    if getattr(profile, "is_relationship", None) is False:
        return LeadOutcome(
            lead_external_id,
            "must_wait",
            code="no_connection_with_recipient",
            detail="not connected yet: a message needs an accepted invitation",
        )
    return LeadOutcome(lead_external_id, "reachable")


def send_linkedin(
    engine: Engine,
    settings: Settings,
    client: LinkedInClient,
    lead_external_id: str,
    text: str,
    *,
    now: Now,
) -> LeadOutcome:
    """Send one message by hand, refusing what the gate would hold back."""
    ctx = _load(engine, lead_external_id, now=now())
    refusal = _refusal(ctx, settings) or _gate_refusal(ctx, settings)
    if refusal:
        return LeadOutcome(lead_external_id, "refused", detail=refusal)
    lead, account_id = ctx.lead, ctx.workspace.unipile_account_id or ""
    during = "lookup"
    try:
        provider_id = lead.linkedin_provider_id or _lookup(client, ctx).provider_id
        during = "send"
        if lead.linkedin_chat_id:
            sent = client.send_message(lead.linkedin_chat_id, text)
            chat_id = lead.linkedin_chat_id
        else:
            sent = client.start_chat(account_id, [provider_id], text)
            chat_id = sent.chat_id
    except ProviderError as err:
        return _failed(engine, settings, ctx, err, now=now(), during=during)
    _succeeded(
        engine, settings, ctx, now=now(), provider_id=provider_id, chat_id=chat_id
    )
    return LeadOutcome(
        lead_external_id, "sent", chat_id=chat_id, message_id=sent.message_id
    )


def _gate_refusal(ctx: _Context, settings: Settings) -> str | None:
    if settings.unipile_health_gate and ctx.status == HealthStatus.DISCONNECTED.value:
        return "the workspace's LinkedIn account is DISCONNECTED: reconnect it first"
    if settings.auto_disable and ctx.lead.linkedin_unreachable_at is not None:
        reason = ctx.lead.linkedin_unreachable_reason or "unreachable"
        return (
            f"the lead is quarantined ({reason}): fix the profile, then run "
            "leads clear-unreachable"
        )
    if ctx.backoff_until is not None:
        return f"the account is backing off until {ctx.backoff_until.isoformat()}"
    return None


def _lookup(client: LinkedInClient, ctx: _Context) -> Any:
    identifier = ctx.lead.linkedin_identifier or linkedin_slug(ctx.lead.linkedin_url)
    return client.get_profile(identifier or "", ctx.workspace.unipile_account_id or "")


def _succeeded(
    engine: Engine,
    settings: Settings,
    ctx: _Context,
    *,
    now: datetime,
    provider_id: str | None,
    chat_id: str | None = None,
) -> None:
    with session_scope(engine) as session:
        lead = session.get(Lead, ctx.lead.id)
        ws = session.get(Workspace, ctx.workspace.id)
        assert lead is not None and ws is not None
        lead.linkedin_provider_id = provider_id or lead.linkedin_provider_id
        lead.linkedin_chat_id = chat_id or lead.linkedin_chat_id
        lead.updated_at = now
        session.add(lead)
        linkedin_gate.apply_unipile_observation(
            session, ws, Observation.ok(), now=now, settings=settings
        )


def _failed(
    engine: Engine,
    settings: Settings,
    ctx: _Context,
    err: ProviderError,
    *,
    now: datetime,
    during: str,
) -> LeadOutcome:
    with session_scope(engine) as session:
        lead = session.get(Lead, ctx.lead.id)
        ws = session.get(Workspace, ctx.workspace.id)
        assert lead is not None and ws is not None
        result = linkedin_gate.handle_send_error(
            session,
            ws,
            lead,
            err,
            now=now,
            settings=settings,
            during="lookup" if during == "lookup" else "send",
        )
    if result.kind == "config":
        raise err
    return LeadOutcome(
        ctx.lead.external_id,
        result.kind,
        code=result.code,
        detail=str(err),
        retry_at=result.retry_at,
    )
