"""The ``ghl`` commands end to end: a subprocess, the sandbox, a migrated file."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from integration_health.db import make_engine
from integration_health.migrate import upgrade
from integration_health.models import Lead, RepairJob
from integration_health.sandbox import Sandbox
from tests.conftest import run_cli
from tests.ghl_seed import add_lead, add_workspace, scenario


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ghl.db'}"
    engine = make_engine(url)
    upgrade(engine)
    ws = add_workspace(engine)
    add_lead(engine, ws, "lead-ok", email="ok@example.com")
    add_lead(engine, ws, "lead-empty")
    engine.dispose()
    return url


def _ghl(url: str, sb: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "--no-quiet",
        "--database-url",
        url,
        "ghl",
        *args,
        env={"GHL_BASE_URL": sb.ghl_base_url, "HTTP_READ_TIMEOUT": "2"},
    )


def _jobs(url: str) -> dict[str, str]:
    engine = make_engine(url)
    with Session(engine) as session:
        rows = session.exec(select(RepairJob.id, RepairJob.status)).all()
    engine.dispose()
    return {str(i): s for i, s in rows}


def test_repair_prints_a_summary_and_exits_1_when_a_lead_needs_a_person(
    db: str, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())

    result = _ghl(db, sb, "repair")

    assert result.returncode == 1
    err = result.stderr
    assert "ghl repair: 2 jobs created; done 1, needs_operator 1" in err
    assert "Traceback" not in err


def test_repair_summary_says_one_job_in_the_singular(
    db: str, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())

    result = _ghl(db, sb, "repair", "--lead", "lead-ok")

    assert result.returncode == 0
    assert "ghl repair: 1 job created; done 1; by category: ok 1\n" in result.stderr


def test_sync_sms_summary_says_one_lead_in_the_singular(
    db: str, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())
    _ghl(db, sb, "repair", "--lead", "lead-ok")

    result = _ghl(db, sb, "sync-sms")

    assert result.returncode == 0
    assert "ghl sync-sms: 1 lead synced, 0 new messages; skipped" in result.stderr


def test_repair_dry_run_sends_nothing_and_changes_nothing(
    db: str, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())

    result = _ghl(db, sb, "repair", "--dry-run", "--format", "json")

    assert result.returncode == 0
    rows = json.loads(result.stdout)
    assert rows == [
        {
            "workspace": "ws-alpha",
            "health": "unknown",
            "missing": 2,
            "due": 2,
            "would_run": 2,
        }
    ]
    assert sb.requests("/contacts") == []
    assert _jobs(db) == {}


def test_repair_lead_option_explains_what_happened(
    db: str, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())

    result = _ghl(db, sb, "repair", "--lead", "lead-empty")

    assert result.returncode == 1
    assert (
        "lead lead-empty: needs_operator (validation_error no_email_or_phone)"
        in result.stderr
    )
    assert sb.requests("/contacts") == []


def test_repair_lead_reruns_a_job_left_to_an_operator(
    db: str, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())
    _ghl(db, sb, "repair")

    result = _ghl(db, sb, "repair", "--lead", "lead-empty")

    assert result.returncode == 1
    assert (
        "lead lead-empty: needs_operator (validation_error no_email_or_phone)"
        in result.stderr
    )


def test_repair_lead_json_says_why_a_lead_did_not_run(
    db: str, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())
    _ghl(db, sb, "repair")
    contact = _contact_of(db, "lead-ok")

    result = _ghl(db, sb, "repair", "--lead", "lead-ok", "--format", "json")

    assert result.returncode == 0
    payload = json.loads(result.stdout)
    assert payload["jobs"] == []
    assert payload["not_run"] == [
        {
            "lead": "lead-ok",
            "job_id": 1,
            "state": "done",
            "reason": f"nothing to do: it has a GHL contact ID ({contact})",
        }
    ]


def _contact_of(url: str, lead: str) -> str | None:
    engine = make_engine(url)
    with Session(engine) as session:
        row = session.exec(
            select(Lead.ghl_contact_id).where(Lead.external_id == lead)
        ).one()
    engine.dispose()
    return row


def test_unknown_lead_is_one_line_and_exit_2(
    db: str, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())

    result = _ghl(db, sb, "repair", "--lead", "nobody")

    assert result.returncode == 2
    assert result.stderr == "error: --lead: no lead with external ID 'nobody'\n"


def test_jobs_lists_by_state_and_retry_puts_them_back(
    db: str, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())
    _ghl(db, sb, "repair")

    listed = _ghl(db, sb, "jobs", "--state", "needs_operator", "--format", "json")
    retried = _ghl(db, sb, "jobs", "retry", "--state", "needs_operator")

    rows = json.loads(listed.stdout)
    assert [(r["lead"], r["status"]) for r in rows] == [
        ("lead-empty", "needs_operator")
    ]
    assert retried.stderr == "1 repair job put back in the queue\n"
    assert sorted(_jobs(db).values()) == ["done", "pending"]


def test_jobs_json_writes_times_as_iso_8601(
    db: str, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())
    _ghl(db, sb, "repair")

    listed = _ghl(db, sb, "jobs", "--format", "json")

    rows = json.loads(listed.stdout)
    times = [r["updated_at"] for r in rows]
    assert times
    assert all(datetime.fromisoformat(t).tzinfo is not None for t in times)
    assert all("T" in t and " " not in t for t in times)


def test_jobs_rejects_an_unknown_state(
    db: str, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())

    result = _ghl(db, sb, "jobs", "--state", "lost")

    assert result.returncode == 2
    assert "--state: unknown state 'lost'" in result.stderr


def test_sync_sms_counts_the_skips(
    db: str, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())

    result = _ghl(db, sb, "sync-sms", "--format", "json")

    assert result.returncode == 0
    counts = json.loads(result.stdout)
    assert (counts["skipped_no_contact"], counts["skipped_email_only"]) == (2, 1)
    assert counts["repair_queued"] == 1
    pending = [s for s in _jobs(db).values() if s == "pending"]
    assert pending == ["pending"]


def test_cron_run_prints_nothing_on_success(
    db: str, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())

    result = run_cli(
        "--database-url", db, "ghl", "sync-sms", env={"GHL_BASE_URL": sb.ghl_base_url}
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
