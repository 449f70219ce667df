"""Rows the LinkedIn tests share: a workspace, leads and their follow-ups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from integration_health.models import (
    FollowUpInstance,
    FollowUpSequence,
    FollowUpStep,
    HealthEvent,
    IntegrationHealth,
    Lead,
    Workspace,
)

NOW = datetime(2026, 7, 10, 12, 0, tzinfo=UTC)
#: Long before NOW: no grace period applies.
OLD = (NOW - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def add_workspace(
    engine: Engine, external_id: str = "ws-1", account_id: str | None = "acc_1"
) -> int:
    with Session(engine) as session:
        ws = Workspace(
            external_id=external_id,
            name=f"Acme {external_id}",
            unipile_account_id=account_id,
        )
        session.add(ws)
        session.commit()
        assert ws.id is not None
        return ws.id


def add_lead(engine: Engine, workspace_id: int, external_id: str, slug: str) -> int:
    with Session(engine) as session:
        lead = Lead(
            external_id=external_id,
            workspace_id=workspace_id,
            linkedin_url=f"https://www.linkedin.com/in/{slug}/",
            linkedin_identifier=slug,
        )
        session.add(lead)
        session.commit()
        assert lead.id is not None
        return lead.id


def add_instance(
    engine: Engine,
    lead_id: int,
    *,
    channel: str = "linkedin_message",
    status: str = "active",
    paused_reason: str | None = None,
    paused_by: str | None = None,
) -> int:
    with Session(engine) as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None
        seq = FollowUpSequence(
            workspace_id=lead.workspace_id, name=f"seq-{lead_id}-{channel}-{status}"
        )
        session.add(seq)
        session.flush()
        assert seq.id is not None
        session.add(FollowUpStep(sequence_id=seq.id, position=0, channel=channel))
        inst = FollowUpInstance(
            lead_id=lead_id,
            sequence_id=seq.id,
            workspace_id=lead.workspace_id,
            current_channel=channel,
            next_run_at=NOW - timedelta(days=1),
            status=status,
            paused_reason=paused_reason,
            paused_by=paused_by,
            paused_at=NOW - timedelta(days=1) if status == "paused" else None,
        )
        session.add(inst)
        session.commit()
        assert inst.id is not None
        return inst.id


def instance(engine: Engine, instance_id: int) -> FollowUpInstance:
    with Session(engine) as session:
        row = session.get(FollowUpInstance, instance_id)
        assert row is not None
        return row


def lead_row(engine: Engine, lead_id: int) -> Lead:
    with Session(engine) as session:
        row = session.get(Lead, lead_id)
        assert row is not None
        return row


def events(engine: Engine, workspace_id: int) -> list[tuple[str | None, str]]:
    with Session(engine) as session:
        rows = session.exec(
            select(HealthEvent)
            .where(HealthEvent.workspace_id == workspace_id)
            .order_by(HealthEvent.id)  # type: ignore[arg-type]
        )
        return [(e.from_status, e.to_status) for e in rows]


def health_row(engine: Engine, workspace_id: int) -> IntegrationHealth | None:
    with Session(engine) as session:
        return session.exec(
            select(IntegrationHealth).where(
                IntegrationHealth.workspace_id == workspace_id,
                IntegrationHealth.provider == "unipile",
            )
        ).first()


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def account(
    account_id: str = "acc_1", *statuses: str, created_at: str = OLD
) -> dict[str, object]:
    sources = [
        {"id": f"{account_id}_{i}", "status": status}
        for i, status in enumerate(statuses or ("OK",))
    ]
    return {
        "id": account_id,
        "name": f"Account {account_id}",
        "type": "LINKEDIN",
        "created_at": created_at,
        "sources": sources,
        "disconnected": False,
    }
