"""Seed workspaces, leads and due follow-up instances in bulk for engine tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, col

from integration_health.models import (
    FollowUpInstance,
    FollowUpSequence,
    FollowUpStep,
    Lead,
    Workspace,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

TABLES = SQLModel.metadata.tables


def seed(
    engine: Engine,
    *,
    workspaces: int = 1,
    per_workspace: int = 1,
    channels: tuple[str, ...] = ("linkedin_message",),
    template: str = "Hi {first_name} {last_name}",
    unipile: str | None = None,
    ghl: str | None = None,
    lead_values: dict[str, Any] | None = None,
    due: datetime = NOW - timedelta(minutes=1),
    prefix: str = "ws",
) -> list[int]:
    """Return the workspace IDs; every instance is at step 0 and due."""
    ws_ids = []
    with engine.begin() as conn:
        for w in range(workspaces):
            ws_id = conn.execute(
                sa.insert(Workspace.__table__)
                .values(  # type: ignore[attr-defined]
                    external_id=f"{prefix}{w}",
                    name=f"Workspace {w}",
                    ghl_location_id=f"loc{w}",
                    ghl_api_key=f"tok{w}",
                    unipile_account_id=f"acc{w}"
                    if prefix == "ws"
                    else f"{prefix}acc{w}",
                    country="US",
                    created_at=NOW,
                    updated_at=NOW,
                )
                .returning(sa.column("id"))
            ).scalar_one()
            ws_ids.append(ws_id)
            for provider, status in (("unipile", unipile), ("ghl", ghl)):
                if status:
                    conn.execute(
                        sa.insert(TABLES["integration_health"]).values(
                            workspace_id=ws_id,
                            provider=provider,
                            status=status,
                            consecutive_failures=0,
                            repeat_count=0,
                        )
                    )
            seq_id = conn.execute(
                sa.insert(FollowUpSequence.__table__)
                .values(  # type: ignore[attr-defined]
                    workspace_id=ws_id, name=f"seq-{prefix}", created_at=NOW
                )
                .returning(sa.column("id"))
            ).scalar_one()
            conn.execute(
                sa.insert(FollowUpStep.__table__),
                [  # type: ignore[attr-defined]
                    {
                        "sequence_id": seq_id,
                        "position": i,
                        "channel": ch,
                        "delay_hours": 24.0 * i,
                        "template": template,
                    }
                    for i, ch in enumerate(channels)
                ],
            )
            leads = [
                {
                    "external_id": f"{prefix}{w}-l{i}",
                    "workspace_id": ws_id,
                    "first_name": "Ann",
                    "last_name": f"L{i}",
                    "linkedin_identifier": f"ann-{w}-{i}",
                    "ghl_contact_id": f"c{w}-{i}",
                    "created_at": NOW,
                    "updated_at": NOW,
                    **(lead_values or {}),
                }
                for i in range(per_workspace)
            ]
            conn.execute(sa.insert(Lead.__table__), leads)  # type: ignore[attr-defined]
            lead_ids = (
                conn.execute(
                    sa.select(col(Lead.id)).where(col(Lead.workspace_id) == ws_id)
                )
                .scalars()
                .all()
            )
            conn.execute(
                sa.insert(FollowUpInstance.__table__),
                [  # type: ignore[attr-defined]
                    {
                        "lead_id": lid,
                        "sequence_id": seq_id,
                        "workspace_id": ws_id,
                        "current_step": 0,
                        "current_channel": channels[0],
                        "next_run_at": due,
                        "status": "active",
                        "step_attempts": 0,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for lid in lead_ids
                ],
            )
    return ws_ids


def instances(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(TABLES["followup_instance"]).order_by(sa.column("id"))
            ).all()
        )


def sandbox_scenario(accounts: int) -> dict[str, Any]:
    """A sandbox knowing the accounts ``acc0``... that ``seed`` gives workspaces."""
    return {
        "unipile": {
            "api_key": "sandbox-key",
            "accounts": [
                {
                    "id": f"acc{i}",
                    "name": f"Account {i}",
                    "type": "LINKEDIN",
                    "created_at": "2026-01-05T09:00:00.000Z",
                    "sources": [{"id": f"acc{i}_MESSAGING", "status": "OK"}],
                }
                for i in range(accounts)
            ],
        },
        "slack": {},
    }


def known_profiles(engine: Engine) -> None:
    """Give every lead a provider ID, so a send is one call (no profile lookup)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE lead SET linkedin_provider_id = "
                "'ACoAA' || CAST(id AS VARCHAR(20))"
            )
        )


def attendees_requested(sb: Any) -> list[str]:
    """The attendee of every chat the sandbox was asked to start (even unanswered)."""
    found: list[str] = []
    for req in sb.requests("/api/v1/chats", "POST"):
        form = req.form or {}
        found.extend(form.get("attendees_ids", []) or form.get("attendees_ids[]", []))
    return found
