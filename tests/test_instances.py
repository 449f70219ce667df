"""Set-based pause and resume: scope, who paused, and next_run_at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from integration_health.models import (
    FollowUpInstance,
    FollowUpSequence,
    Lead,
    Workspace,
)
from integration_health.services.instances import pause_instances, resume_instances

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _seed(engine: Engine, leads: int = 3) -> dict[str, list[int]]:
    """Two workspaces with ``leads`` leads each, one active instance per lead."""
    ids: dict[str, list[int]] = {"workspaces": [], "leads": [], "instances": []}
    with Session(engine) as session:
        for w in range(2):
            ws = Workspace(external_id=f"ws{w}", name=f"W{w}")
            session.add(ws)
            session.flush()
            assert ws.id is not None
            seq = FollowUpSequence(workspace_id=ws.id, name="s")
            session.add(seq)
            session.flush()
            ids["workspaces"].append(ws.id)
            for n in range(leads):
                lead = Lead(external_id=f"l{w}-{n}", workspace_id=ws.id)
                session.add(lead)
                session.flush()
                assert lead.id is not None and seq.id is not None
                channel = "sms" if n == 0 else "linkedin_message"
                inst = FollowUpInstance(
                    lead_id=lead.id,
                    sequence_id=seq.id,
                    workspace_id=ws.id,
                    current_channel=channel,
                    next_run_at=NOW - timedelta(days=1),
                )
                session.add(inst)
                session.flush()
                assert inst.id is not None
                ids["leads"].append(lead.id)
                ids["instances"].append(inst.id)
        session.commit()
    return ids


def _instances(engine: Engine) -> dict[int, FollowUpInstance]:
    with Session(engine) as session:
        rows = session.exec(select(FollowUpInstance)).all()
        return {row.id: row for row in rows if row.id is not None}


def test_pause_by_workspace_and_channel_pauses_only_that_scope(engine: Engine) -> None:
    ids = _seed(engine)
    with Session(engine) as session:
        count = pause_instances(
            session,
            reason="unipile_disconnected",
            now=NOW,
            workspace_ids=[ids["workspaces"][0]],
            channels=["linkedin_message", "linkedin_invite"],
        )
        session.commit()
    assert count == 2
    rows = _instances(engine)
    paused = {i for i, row in rows.items() if row.status == "paused"}
    assert paused == set(ids["instances"][1:3])
    for i in paused:
        assert rows[i].paused_by == "system"
        assert rows[i].paused_reason == "unipile_disconnected"
        assert rows[i].paused_at == NOW


def test_pause_leaves_completed_and_already_paused_instances(engine: Engine) -> None:
    ids = _seed(engine, leads=2)
    first, second = ids["instances"][:2]
    with Session(engine) as session:
        session.get_one(FollowUpInstance, first).status = "completed"
        person = session.get_one(FollowUpInstance, second)
        person.status, person.paused_by, person.paused_reason = (
            "paused",
            "person",
            "operator",
        )
        session.commit()
        count = pause_instances(
            session, reason="ghl_disconnected", now=NOW, instance_ids=[first, second]
        )
        session.commit()
    assert count == 0
    rows = _instances(engine)
    assert rows[first].status == "completed"
    assert rows[second].paused_reason == "operator"


def test_pause_with_empty_filter_matches_nothing(engine: Engine) -> None:
    _seed(engine, leads=1)
    with Session(engine) as session:
        assert pause_instances(session, reason="x", now=NOW, lead_ids=[]) == 0


def test_pause_without_any_filter_is_refused(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as session, pytest.raises(ValueError):
        pause_instances(session, reason="x", now=NOW)


def test_resume_reactivates_only_system_pauses_of_that_reason(engine: Engine) -> None:
    ids = _seed(engine, leads=3)
    a, b, c = ids["instances"][:3]
    with Session(engine) as session:
        pause_instances(
            session, reason="linkedin_unreachable", now=NOW, instance_ids=[a, b]
        )
        pause_instances(session, reason="ghl_disconnected", now=NOW, instance_ids=[c])
        person = session.get_one(FollowUpInstance, b)
        person.paused_by = "person"
        session.commit()
        count = resume_instances(
            session,
            reason="linkedin_unreachable",
            now=NOW,
            workspace_ids=[ids["workspaces"][0]],
        )
        session.commit()
    assert count == 1
    rows = _instances(engine)
    assert rows[a].status == "active"
    assert (rows[a].paused_by, rows[a].paused_reason, rows[a].paused_at) == (
        None,
        None,
        None,
    )
    assert rows[b].status == "paused" and rows[b].paused_by == "person"
    assert rows[c].status == "paused" and rows[c].paused_reason == "ghl_disconnected"


def test_resume_never_schedules_in_the_past(engine: Engine) -> None:
    ids = _seed(engine, leads=2)
    past, future = ids["instances"][:2]
    later = NOW + timedelta(hours=5)
    with Session(engine) as session:
        session.get_one(FollowUpInstance, future).next_run_at = later
        session.commit()
        pause_instances(session, reason="r", now=NOW, instance_ids=[past, future])
        resume_at = NOW + timedelta(hours=1)
        assert resume_instances(session, reason="r", now=resume_at) == 2
        session.commit()
    rows = _instances(engine)
    assert rows[past].next_run_at == resume_at
    assert rows[future].next_run_at == later


def test_resume_by_lead_ids(engine: Engine) -> None:
    ids = _seed(engine, leads=2)
    with Session(engine) as session:
        pause_instances(session, reason="r", now=NOW, workspace_ids=ids["workspaces"])
        count = resume_instances(
            session, reason="r", now=NOW, lead_ids=[ids["leads"][3]]
        )
        session.commit()
    assert count == 1
    assert _instances(engine)[ids["instances"][3]].status == "active"
