"""``status``: what it gathers, how it renders, and what it never shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from integration_health.db import make_engine
from integration_health.errors import ConfigError
from integration_health.migrate import upgrade
from integration_health.models import (
    FollowUpInstance,
    FollowUpSequence,
    IntegrationHealth,
    JobRun,
    Lead,
    RepairJob,
    Workspace,
)
from integration_health.render import prometheus_lines, to_json, write_atomic
from integration_health.services.status import gather_status, prometheus_text
from tests.conftest import run_cli

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "pit-secret-token-0123456789"
EMAIL = "jane.doe@example.com"
PHONE = "+442079460958"


def _seed(engine: Engine) -> None:
    """ws-a: Unipile DISCONNECTED, a quarantined lead, paused work, repairs;
    ws-b: no health rows at all."""
    with Session(engine) as s:
        a = Workspace(external_id="ws-a", name="Acme", ghl_api_key=SECRET)
        b = Workspace(external_id="ws-b", name="Beta")
        s.add_all([a, b])
        s.flush()
        assert a.id is not None
        s.add(
            IntegrationHealth(
                workspace_id=a.id,
                provider="unipile",
                status="DISCONNECTED",
                changed_at=NOW - timedelta(hours=3),
                last_error_category="disconnected_account",
                last_error_code="errors/disconnected_account",
                last_error_at=NOW - timedelta(hours=1),
            )
        )
        s.add(IntegrationHealth(workspace_id=a.id, provider="ghl", status="OK"))
        leads = [
            Lead(external_id=f"l{n}", workspace_id=a.id, email=EMAIL, phone=PHONE)
            for n in range(4)
        ]
        leads[0].linkedin_unreachable_at = NOW
        s.add_all(leads)
        seq = FollowUpSequence(workspace_id=a.id, name="s")
        s.add(seq)
        s.flush()
        for lead, (status, reason) in zip(
            leads,
            [
                ("paused", "unipile_disconnected"),
                ("paused", "unipile_disconnected"),
                ("paused", "operator"),
                ("active", None),
            ],
            strict=True,
        ):
            s.add(
                FollowUpInstance(
                    lead_id=lead.id,  # type: ignore[arg-type]
                    sequence_id=seq.id,  # type: ignore[arg-type]
                    workspace_id=a.id,
                    status=status,
                    paused_reason=reason,
                )
            )
            s.add(
                RepairJob(
                    lead_id=lead.id,  # type: ignore[arg-type]
                    workspace_id=a.id,
                    status="pending" if lead is not leads[3] else "dead",
                )
            )
        for job, status, finished in [
            ("ghl repair", "succeeded", NOW - timedelta(hours=2)),
            ("ghl repair", "succeeded", NOW - timedelta(minutes=5)),
            ("ghl repair", "failed", NOW),
            ("unipile check", "failed", NOW),
        ]:
            s.add(JobRun(job=job, status=status, started_at=NOW, finished_at=finished))
        s.commit()


def test_gather_reports_every_workspace_and_provider(engine: Engine) -> None:
    _seed(engine)
    report = gather_status(engine, now=NOW)
    a, b = report.workspaces
    assert (a.external_id, b.external_id) == ("ws-a", "ws-b")
    unipile = a.providers["unipile"]
    assert (unipile.status, unipile.since, unipile.last_error_code) == (
        "DISCONNECTED",
        NOW - timedelta(hours=3),
        "errors/disconnected_account",
    )
    assert a.providers["ghl"].status == "OK"
    assert {p: s.status for p, s in b.providers.items()} == {
        "unipile": "unknown",
        "ghl": "unknown",
    }
    assert a.quarantined_leads == 1 and b.quarantined_leads == 0
    assert a.paused_instances == {"unipile_disconnected": 2, "operator": 1}
    assert a.repair_jobs == {"pending": 3, "dead": 1}
    assert report.job_last_success == {"ghl repair": NOW - timedelta(minutes=5)}


def _statements(engine: Engine) -> int:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    gather_status(engine)
    event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_query_count_does_not_grow_with_workspaces(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    few = _statements(sqlite_engine)
    with Session(sqlite_engine) as s:
        s.add_all(Workspace(external_id=f"x{n}", name="x") for n in range(20))
        s.commit()
    assert _statements(sqlite_engine) == few


def test_workspace_filter_keeps_only_that_workspace(engine: Engine) -> None:
    _seed(engine)
    report = gather_status(engine, workspace="ws-b")
    assert [ws.external_id for ws in report.workspaces] == ["ws-b"]
    assert report.quarantined_leads == 0
    with pytest.raises(ConfigError, match="no workspace with external id 'nope'"):
        gather_status(engine, workspace="nope")


def test_prometheus_text_counts_per_status(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    lines = prometheus_text(gather_status(sqlite_engine, now=NOW)).splitlines()
    expected = [
        'integration_health_workspaces{provider="unipile",status="DISCONNECTED"} 1',
        'integration_health_workspaces{provider="unipile",status="unknown"} 1',
        'integration_health_workspaces{provider="ghl",status="OK"} 1',
        'integration_health_workspaces{provider="ghl",status="DEGRADED"} 0',
        "integration_health_quarantined_leads 1",
        'integration_health_paused_instances{reason="unipile_disconnected"} 2',
        'integration_health_repair_jobs{state="pending"} 3',
        'integration_health_job_last_success_timestamp_seconds{job="ghl repair"} '
        f"{int((NOW - timedelta(minutes=5)).timestamp())}",
        "# TYPE integration_health_repair_jobs gauge",
    ]
    for line in expected:
        assert line in lines
    assert all(line.startswith("#") or " " in line for line in lines)


def test_prometheus_lines_escape_label_values() -> None:
    lines = prometheus_lines("m", "Help.", [({"a": 'x"y\\z'}, 1.5)])
    assert lines == ["# HELP m Help.", "# TYPE m gauge", 'm{a="x\\"y\\\\z"} 1.5']


def test_to_json_writes_datetimes_as_iso() -> None:
    assert json.loads(to_json({"at": NOW})) == {"at": "2026-03-01T12:00:00+00:00"}


def test_write_atomic_replaces_the_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "ih.prom"
    target.write_text("old")
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ih.prom"]


# -- the CLI, end to end -------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    upgrade(engine)
    _seed(engine)
    engine.dispose()
    return url


def _status(url: str, *args: str) -> Any:
    return run_cli("--database-url", url, "status", *args)


def _no_secrets(text: str) -> None:
    for value in (SECRET, EMAIL, PHONE):
        assert value not in text


def test_cli_table_shows_unknown_for_a_workspace_never_checked(cli_db: str) -> None:
    result = _status(cli_db)
    assert result.returncode == 0, result.stderr
    ws_b = next(line for line in result.stdout.splitlines() if "ws-b" in line)
    assert "unknown" in ws_b
    assert "DISCONNECTED" in result.stdout
    assert "disconnected_account" in result.stdout
    _no_secrets(result.stdout + result.stderr)


def test_cli_json_holds_every_workspace(cli_db: str) -> None:
    result = _status(cli_db, "--format", "json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert [ws["external_id"] for ws in data["workspaces"]] == ["ws-a", "ws-b"]
    assert data["workspaces"][0]["providers"]["unipile"]["last_error"] == {
        "category": "disconnected_account",
        "code": "errors/disconnected_account",
        "at": "2026-03-01T11:00:00+00:00",
    }
    _no_secrets(result.stdout)


def test_cli_prometheus_output_file_is_written(cli_db: str, tmp_path: Path) -> None:
    out = tmp_path / "metrics" / "ih.prom"
    out.parent.mkdir()
    result = _status(cli_db, "--format", "prometheus", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    text = out.read_text()
    assert "integration_health_quarantined_leads 1\n" in text
    assert [p.name for p in out.parent.iterdir()] == ["ih.prom"]
    _no_secrets(text)


def test_cli_output_with_table_format_exits_2(cli_db: str, tmp_path: Path) -> None:
    result = _status(cli_db, "--output", str(tmp_path / "x"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: --output needs --format json")


def test_cli_unknown_workspace_exits_2(cli_db: str) -> None:
    result = _status(cli_db, "--workspace", "nope")
    assert result.returncode == 2
    assert "no workspace with external id 'nope'" in result.stderr
