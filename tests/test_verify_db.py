"""The database checks of verify: inbox query timeout, auto-disable, job freshness."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from integration_health.db import session_scope
from integration_health.errors import DatabaseError
from integration_health.models import (
    FollowUpInstance,
    FollowUpSequence,
    HealthEvent,
    HealthStatus,
    IntegrationHealth,
    JobRun,
    Lead,
    Message,
    SendAttempt,
    Workspace,
    utcnow,
)
from integration_health.services.verify import (
    CHECK_NAMES,
    Outcome,
    VerifyContext,
    run_checklist,
)
from integration_health.services.verify_checks import (
    check_inbox_count,
    check_jobs_fresh,
    check_unipile_auto_disable,
)
from integration_health.services.verify_config import (
    DEFAULT_INTERVALS,
    InboxConfig,
    VerifyConfig,
)

NOW = utcnow()


def _context(engine: Engine, **kw: object) -> VerifyContext:
    kw.setdefault("config", VerifyConfig())
    return VerifyContext(
        since=NOW - timedelta(hours=1),
        now=NOW,
        engine_factory=lambda: engine,
        **kw,  # type: ignore[arg-type]
    )


def _workspace(engine: Engine, name: str, status: HealthStatus) -> int:
    """A workspace with its Unipile health row; DISCONNECTED 30 min ago."""
    changed = NOW - timedelta(minutes=30)
    with session_scope(engine) as session:
        ws = Workspace(external_id=name, name=name, unipile_account_id=f"acc-{name}")
        session.add(ws)
        session.flush()
        assert ws.id is not None
        session.add(
            IntegrationHealth(
                workspace_id=ws.id,
                provider="unipile",
                status=status,
                changed_at=changed,
            )
        )
        if status is HealthStatus.DISCONNECTED:
            session.add(
                HealthEvent(
                    workspace_id=ws.id,
                    provider="unipile",
                    from_status="OK",
                    to_status=status,
                    created_at=changed,
                )
            )
        return ws.id


def _instance(engine: Engine, ws: int, *, status: str, channel: str) -> int:
    with session_scope(engine) as session:
        lead = Lead(external_id=f"lead-{ws}-{status}-{channel}", workspace_id=ws)
        seq = FollowUpSequence(workspace_id=ws, name=f"seq-{status}-{channel}")
        session.add_all([lead, seq])
        session.flush()
        assert lead.id is not None and seq.id is not None
        inst = FollowUpInstance(
            lead_id=lead.id,
            sequence_id=seq.id,
            workspace_id=ws,
            status=status,
            current_channel=channel,
        )
        session.add(inst)
        session.flush()
        assert inst.id is not None
        return inst.id


def test_healthy_inbox_query_passes(engine: Engine) -> None:
    ws = _workspace(engine, "acme", HealthStatus.OK)
    with session_scope(engine) as session:
        session.add(
            Message(provider_message_id="m1", workspace_id=ws, direction="inbound")
        )
    result = check_inbox_count(_context(engine))
    assert result.outcome is Outcome.PASS
    assert "1 workspaces with unread inbound" in result.detail


def test_inbox_query_past_the_statement_timeout_fails_with_57014(
    pg_engine: Engine,
) -> None:
    config = VerifyConfig(
        inbox=InboxConfig(statement_timeout_ms=50, sql="SELECT pg_sleep(1)")
    )
    result = check_inbox_count(_context(pg_engine, config=config))
    assert result.outcome is Outcome.FAIL
    assert "statement timeout (57014)" in result.detail
    assert "sqlstate 57014" in result.detail
    assert result.data["cancelled"] is True


def test_logged_statement_timeouts_fail_a_fast_query(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    log = tmp_path / "app.log"
    stamp = (NOW - timedelta(minutes=5)).isoformat()
    log.write_text(f"{stamp} ERROR canceling statement due to statement timeout\n")
    result = check_inbox_count(_context(sqlite_engine, log_sources=[str(log)]))
    assert result.outcome is Outcome.FAIL
    assert "1 statement timeouts logged" in result.detail


def test_active_linkedin_instance_on_a_disconnected_workspace_fails(
    engine: Engine,
) -> None:
    ws = _workspace(engine, "acme", HealthStatus.DISCONNECTED)
    _instance(engine, ws, status="paused", channel="linkedin_message")
    _instance(engine, ws, status="active", channel="linkedin_invite")
    _instance(engine, ws, status="active", channel="sms")
    result = check_unipile_auto_disable(_context(engine, live=False))
    assert result.outcome is Outcome.FAIL
    assert "acme: 1 active LinkedIn instances while DISCONNECTED" in result.detail


def test_linkedin_send_after_the_disconnect_fails(engine: Engine) -> None:
    ws = _workspace(engine, "acme", HealthStatus.DISCONNECTED)
    inst = _instance(engine, ws, status="paused", channel="linkedin_message")
    with session_scope(engine) as session:
        for minutes in (40, 10):
            session.add(
                SendAttempt(
                    instance_id=inst,
                    workspace_id=ws,
                    step_position=0,
                    channel="linkedin_message",
                    status="sent",
                    created_at=NOW - timedelta(minutes=minutes),
                )
            )
    result = check_unipile_auto_disable(_context(engine, live=False))
    assert result.outcome is Outcome.FAIL
    assert result.data["sends_after"] == 1


def test_disconnected_workspace_with_everything_paused_passes(engine: Engine) -> None:
    ws = _workspace(engine, "acme", HealthStatus.DISCONNECTED)
    _workspace(engine, "other", HealthStatus.OK)
    _instance(engine, ws, status="paused", channel="linkedin_message")
    result = check_unipile_auto_disable(_context(engine, live=False))
    assert result.outcome is Outcome.PASS
    assert result.value == "1 DISCONNECTED, 0 active, 0 sends after"


def test_disconnected_here_while_unipile_says_ok_fails(engine: Engine) -> None:
    _workspace(engine, "acme", HealthStatus.DISCONNECTED)
    live = {"acc-acme": HealthStatus.OK}
    result = check_unipile_auto_disable(_context(engine, live_accounts=lambda: live))
    assert result.outcome is Outcome.FAIL
    assert "turn AUTO_DISABLE off" in result.detail


def test_account_needing_credentials_but_ok_here_fails(engine: Engine) -> None:
    _workspace(engine, "acme", HealthStatus.OK)
    live = {"acc-acme": HealthStatus.DISCONNECTED, "acc-unknown": None}
    result = check_unipile_auto_disable(_context(engine, live_accounts=lambda: live))
    assert result.outcome is Outcome.FAIL
    assert "acme: Unipile says the account needs credentials" in result.detail


def test_without_a_live_client_the_live_part_says_skipped(engine: Engine) -> None:
    _workspace(engine, "acme", HealthStatus.OK)
    result = check_unipile_auto_disable(_context(engine))
    assert result.outcome is Outcome.PASS
    assert "live check skipped: no Unipile settings" in result.detail


def test_no_unipile_health_at_all_is_inconclusive(engine: Engine) -> None:
    result = check_unipile_auto_disable(_context(engine, live=False))
    assert result.outcome is Outcome.INCONCLUSIVE


def _runs(engine: Engine, ages: dict[str, float], exit_code: int = 0) -> None:
    status = "succeeded" if exit_code == 0 else "failed"
    with session_scope(engine) as session:
        for job, minutes in ages.items():
            at = NOW - timedelta(minutes=minutes)
            session.add(
                JobRun(
                    job=job,
                    status=status,
                    exit_code=exit_code,
                    started_at=at,
                    finished_at=at,
                )
            )


def test_jobs_all_fresh_pass(engine: Engine) -> None:
    _runs(engine, {job: 5 for job in DEFAULT_INTERVALS})
    result = check_jobs_fresh(_context(engine))
    assert result.outcome is Outcome.PASS
    assert result.value == "5/5 fresh"


def test_stale_or_never_run_job_fails(engine: Engine) -> None:
    ages = {job: 5 for job in DEFAULT_INTERVALS if job != "notify-flush"}
    ages["ghl-repair"] = 90
    _runs(engine, ages)
    _runs(engine, {"notify-flush": 1}, exit_code=2)
    result = check_jobs_fresh(_context(engine))
    assert result.outcome is Outcome.FAIL
    assert "ghl-repair last completed 90 min ago (> 60)" in result.detail
    assert "notify-flush never completed" in result.detail


def test_run_that_reported_failed_work_still_counts_as_completed(
    engine: Engine,
) -> None:
    _runs(engine, {job: 5 for job in DEFAULT_INTERVALS}, exit_code=1)
    result = check_jobs_fresh(_context(engine))
    assert result.outcome is Outcome.PASS


def test_no_job_runs_at_all_is_inconclusive(engine: Engine) -> None:
    result = check_jobs_fresh(_context(engine))
    assert result.outcome is Outcome.INCONCLUSIVE


def _unreachable() -> Engine:
    raise DatabaseError("database unreachable: connection refused")


def test_unreachable_database_stops_verify_before_any_check() -> None:
    ran: list[str] = []

    def burst(**kw: object) -> object:
        ran.append("burst")
        raise AssertionError("the burst ran without a database")

    ctx = VerifyContext(
        config=VerifyConfig(),
        since=NOW - timedelta(hours=1),
        now=NOW,
        engine_factory=_unreachable,
        burst=burst,  # type: ignore[arg-type]
    )
    with pytest.raises(DatabaseError):
        run_checklist(list(CHECK_NAMES), ctx)
    assert ran == []


def test_checks_without_the_database_run_without_it() -> None:
    ctx = VerifyContext(
        config=VerifyConfig(),
        since=NOW - timedelta(hours=1),
        now=NOW,
        engine_factory=_unreachable,
    )
    results = run_checklist(["token-refresh-spam"], ctx)
    assert [r.name for r in results] == ["token-refresh-spam"]
