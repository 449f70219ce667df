"""Database faults: unreachable at start, lost in the middle of a run, and
SQLite busy under another writer. Each ends in one line, never a traceback."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from integration_health.sandbox import Sandbox
from tests import reliability_support as rs

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/x"
STATE_CHANGING = ["unipile check", "ghl repair", "ghl sync-sms", "followups run",
                  "notify flush"]  # fmt: skip


@pytest.mark.parametrize("job_name", [*STATE_CHANGING, "verify"])
def test_unreachable_database_exits_2_with_one_line(job_name: str) -> None:
    job = rs.JOBS[job_name]
    env = {"DATABASE_URL": UNREACHABLE, "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/x"}
    if job_name == "verify":
        env["VERIFY_WEBHOOK_URL"] = "http://127.0.0.1:9/webhook"
    result = rs.run_cli_fast(*job.args, env=env)
    rs.assert_clean(result, allowed=(2,))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "database unreachable" in errors[0], result.stderr
    assert [ln for ln in lines if not ln.startswith(("error:", "hint:"))] == []


@pytest.fixture
def pg_world(pg_url: str) -> Iterator[tuple[Engine, Sandbox]]:
    engine = rs.fresh_pg(pg_url)
    rs.seed(engine)
    with Sandbox(rs.scenario()) as sb:
        yield engine, sb
    engine.dispose()


def _terminate_others(engine: Engine) -> int:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).all()
        conn.commit()
    return len(rows)


@pytest.mark.e2e
@pytest.mark.parametrize(
    "job_name,route",
    [("followups run", r"^/api/v1/chats"), ("ghl repair", r"^/contacts")],
)
def test_database_lost_mid_run_fails_cleanly_and_rerun_finishes(
    pg_world: tuple[Engine, Sandbox], job_name: str, route: str
) -> None:
    job = rs.JOBS[job_name]
    engine, sb = pg_world
    sb.set_latency(1.0, route)
    env = rs.job_env(sb, rs.url_of(engine), HTTP_READ_TIMEOUT="5")
    before = rs.counts(engine)
    proc = rs.start_cli(*job.args, env=env)
    assert rs.wait_for(lambda: sb.requests(route[1:].split("(")[0]), timeout=20)
    assert _terminate_others(engine) >= 1
    _stdout, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    assert proc.returncode in (0, 1), stderr
    if proc.returncode == 1:
        assert "error:" in stderr, stderr
    sb.set_latency(0, route)
    rerun = rs.run_cli_fast(*job.args, env=env)
    rs.assert_clean(rerun, allowed=(0,))
    rs.assert_nothing_lost(before, rs.counts(engine))
    sends = rs.column_values(
        engine, "SELECT status FROM send_attempt WHERE status = 'sending'"
    )
    assert sends == [], "a send left in flight after the rerun"


def _hold_write_lock(path: Path, seconds: float, started: threading.Event) -> None:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE workspace SET name = name")
    started.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


@pytest.mark.parametrize("job_name", ["followups run", "ghl repair", "notify flush"])
def test_sqlite_busy_job_waits_for_the_writer(tmp_path: Path, job_name: str) -> None:
    job = rs.JOBS[job_name]
    path = tmp_path / "busy.db"
    engine = rs.fresh_sqlite(path)
    rs.seed(engine)
    before = rs.counts(engine)
    with Sandbox(rs.scenario()) as sb:
        started = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, 2.5, started))
        holder.start()
        assert started.wait(10)
        t0 = time.monotonic()
        result = rs.run_cli_fast(*job.args, env=rs.job_env(sb, rs.url_of(engine)))
        waited = time.monotonic() - t0
        holder.join()
    rs.assert_clean(result, allowed=(0,))
    assert waited >= 1.5, "the job did not wait for the other writer"
    rs.assert_nothing_lost(before, rs.counts(engine))
    engine.dispose()
