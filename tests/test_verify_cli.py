"""``integration-health verify`` end to end: exit codes, JSON, JUnit, report."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from integration_health.db import session_scope
from integration_health.models import JobRun, utcnow
from integration_health.services.verify_config import DEFAULT_INTERVALS
from tests.conftest import run_cli
from tests.verify_endpoint import serve


def _fresh_jobs(engine: Engine, minutes: float = 2) -> None:
    at = utcnow() - timedelta(minutes=minutes)
    with session_scope(engine) as session:
        for job in DEFAULT_INTERVALS:
            session.add(
                JobRun(
                    job=job,
                    status="succeeded",
                    exit_code=0,
                    started_at=at,
                    finished_at=at,
                )
            )


def _verify(url: str, *args: str, env: dict[str, str] | None = None):
    return run_cli("--database-url", url, "verify", *args, env=env)


def test_all_checks_passing_exits_0(sqlite_engine: Engine, sqlite_url: str) -> None:
    _fresh_jobs(sqlite_engine)
    result = _verify(sqlite_url, "--check", "jobs-fresh", "--format", "json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert [c["outcome"] for c in payload["checks"]] == ["pass"]


def test_a_failing_check_exits_1(sqlite_engine: Engine, sqlite_url: str) -> None:
    _fresh_jobs(sqlite_engine, minutes=120)
    result = _verify(sqlite_url, "--check", "jobs-fresh")
    assert result.returncode == 1
    assert "fail" in result.stdout


def test_inconclusive_without_failure_exits_3(sqlite_url: str) -> None:
    result = _verify(sqlite_url, "--check", "token-refresh-spam", "--format", "json")
    assert result.returncode == 3
    assert json.loads(result.stdout)["checks"][0]["outcome"] == "inconclusive"


def test_unknown_check_name_exits_2_in_one_line(sqlite_url: str) -> None:
    result = _verify(sqlite_url, "--check", "no-such-check")
    assert result.returncode == 2
    assert result.stderr.startswith("error: unknown check 'no-such-check'")
    assert "Traceback" not in result.stderr


def test_unknown_config_key_exits_2(sqlite_url: str, tmp_path: Path) -> None:
    config = tmp_path / "verify.toml"
    config.write_text('[webhook-burst]\ncount = 10\nspeed = "fast"\n')
    result = _verify(sqlite_url, "--config", str(config))
    assert result.returncode == 2
    assert "unknown key 'speed'" in result.stderr


def test_bad_config_value_exits_2(sqlite_url: str, tmp_path: Path) -> None:
    config = tmp_path / "verify.toml"
    config.write_text("[token-refresh-spam]\nmax_count = -1\n")
    result = _verify(sqlite_url, "--config", str(config))
    assert result.returncode == 2
    assert "token-refresh-spam.max_count: accepted" in result.stderr


def test_junit_has_one_testcase_per_check_and_the_report_is_written(
    sqlite_engine: Engine, sqlite_url: str, tmp_path: Path
) -> None:
    _fresh_jobs(sqlite_engine, minutes=120)
    junit, report = tmp_path / "verify.xml", tmp_path / "deploy.md"
    logs = tmp_path / "app.log"
    logs.write_text("nothing to see\n")
    config = tmp_path / "verify.toml"
    config.write_text("[webhook-burst]\ncount = 10\nrate = 50.0\n")
    with serve() as endpoint:
        result = _verify(
            sqlite_url,
            "--no-live",
            "--config",
            str(config),
            "--logs",
            str(logs),
            "--junit",
            str(junit),
            "--report",
            str(report),
            "--deploy-id",
            "release-42",
            env={"VERIFY_WEBHOOK_URL": f"{endpoint.url}?token=s3cr3t-token"},
        )
    assert result.returncode == 1, result.stderr
    cases = ET.parse(junit).getroot().findall("testcase")
    assert [c.get("name") for c in cases] == [
        "webhook-burst",
        "inbox-count-timeout",
        "token-refresh-spam",
        "unipile-auto-disable",
        "jobs-fresh",
    ]
    outcomes = {c.get("name"): [e.tag for e in c] for c in cases}
    assert outcomes["jobs-fresh"] == ["failure", "system-out"]
    assert outcomes["unipile-auto-disable"] == ["skipped", "system-out"]
    assert outcomes["webhook-burst"] == ["system-out"]
    text = report.read_text()
    assert "release-42" in text and "| jobs-fresh | fail |" in text
    assert "s3cr3t-token" not in result.stdout + text + junit.read_text()


def test_since_further_back_than_the_bound_exits_2_in_one_line(
    sqlite_url: str,
) -> None:
    result = _verify(sqlite_url, "--since", "99999999h", "--no-live")

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: --since: '99999999h' is more than 3650 days back; "
        "accepted: a deploy time within the last 3650 days\n"
    )
