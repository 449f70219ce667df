"""``followups run`` end to end: the CLI in subprocesses against the sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from integration_health.sandbox import Sandbox
from integration_health.services.followups import JOB
from integration_health.services.runs import job_run
from tests.conftest import REPO_ROOT, run_cli
from tests.followups_seed import (
    attendees_requested,
    instances,
    known_profiles,
    sandbox_scenario,
    seed,
)

SandboxFactory = Callable[..., Sandbox]


def _env(sb: Sandbox, db_url: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "UNIPILE_DSN": sb.unipile_dsn,
        "UNIPILE_API_KEY": sb.unipile_api_key,
        "GHL_BASE_URL": sb.ghl_base_url,
        "SLACK_WEBHOOK_URL": sb.slack_webhook_url,
        "LINKEDIN_SEND_SPACING_SECONDS": "0",
        "LINKEDIN_DAILY_MESSAGES": "100000",
        **extra,
    }


def _prepared(engine: Engine, make_sandbox: SandboxFactory, **kw: Any) -> Sandbox:
    """Due LinkedIn messages in ``workspaces`` workspaces, one account each."""
    workspaces = kw.pop("workspaces", 1)
    seed(engine, workspaces=workspaces, **kw)
    known_profiles(engine)
    return make_sandbox(sandbox_scenario(workspaces))


def test_run_prints_one_summary_line_and_exits_0(
    engine: Engine, db_url: str, make_sandbox: SandboxFactory
) -> None:
    sb = _prepared(engine, make_sandbox, workspaces=2, per_workspace=3)
    result = run_cli(
        "--no-quiet", "followups", "run", "--no-notify", env=_env(sb, db_url)
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        "followups: sent 6, deferred 0, paused 0, failed 0, skipped 0, unknown 0"
    ]
    assert len(set(attendees_requested(sb))) == 6
    assert {i.status for i in instances(engine)} == {"completed"}


def test_a_step_failed_for_good_exits_1(
    engine: Engine, db_url: str, make_sandbox: SandboxFactory
) -> None:
    sb = _prepared(engine, make_sandbox, per_workspace=2)
    with engine.begin() as conn:  # one lead with no LinkedIn profile at all
        conn.execute(
            sa.text(
                "UPDATE lead SET linkedin_provider_id = NULL, "
                "linkedin_identifier = NULL WHERE id = 1"
            )
        )
    result = run_cli(
        "--no-quiet", "followups", "run", "--no-notify", env=_env(sb, db_url)
    )
    assert result.returncode == 1
    assert "sent 1," in result.stderr and "failed 1," in result.stderr


def test_dry_run_changes_nothing_and_calls_no_provider(
    engine: Engine, db_url: str, make_sandbox: SandboxFactory
) -> None:
    sb = _prepared(engine, make_sandbox, per_workspace=3)
    before = instances(engine)
    result = run_cli(
        "followups", "run", "--dry-run", "--format", "json", env=_env(sb, db_url)
    )
    assert result.returncode == 0, result.stderr
    assert '"dry_run": true' in result.stdout
    assert instances(engine) == before
    assert sb.requests("/api/v1") == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM job_run")).scalar() == 0


def test_dry_run_table_shows_whole_values_when_piped(
    engine: Engine, db_url: str, make_sandbox: SandboxFactory
) -> None:
    long_name = "workspace-with-a-rather-long-external-id-"
    sb = _prepared(engine, make_sandbox, per_workspace=1, prefix=long_name)
    result = run_cli("followups", "run", "--dry-run", env=_env(sb, db_url))
    assert result.returncode == 0, result.stderr
    assert f"{long_name}0" in result.stdout
    assert "linkedin_message" in result.stdout


def test_a_second_run_while_one_is_going_exits_0_with_one_line(
    engine: Engine, db_url: str, make_sandbox: SandboxFactory
) -> None:
    sb = _prepared(engine, make_sandbox, per_workspace=2)
    with job_run(engine, JOB) as handle:
        assert handle.acquired
        result = run_cli("--no-quiet", "followups", "run", env=_env(sb, db_url))
    assert result.returncode == 0
    assert result.stderr.strip().splitlines() == [
        f"another {JOB} run is in progress; exiting"
    ]
    assert sb.requests("/api/v1") == []
    assert {i.status for i in instances(engine)} == {"active"}


def test_limit_claims_at_most_n_steps(
    engine: Engine, db_url: str, make_sandbox: SandboxFactory
) -> None:
    sb = _prepared(engine, make_sandbox, per_workspace=5)
    result = run_cli(
        "--no-quiet",
        "followups",
        "run",
        "--limit",
        "2",
        "--no-notify",
        env=_env(sb, db_url),
    )
    assert result.returncode == 0, result.stderr
    assert len(attendees_requested(sb)) == 2


@pytest.mark.parametrize("processes", [2, 4])
def test_overlapping_cli_runs_send_every_step_exactly_once(
    pg_engine: Engine, make_sandbox: SandboxFactory, processes: int
) -> None:
    steps = 2000
    sb = _prepared(pg_engine, make_sandbox, workspaces=50, per_workspace=40)
    url = pg_engine.url.render_as_string(hide_password=False)
    env = _env(sb, url, SEND_CONCURRENCY="16", FOLLOWUP_BATCH_SIZE="500")
    with ThreadPoolExecutor(processes) as pool:
        results = list(
            pool.map(
                lambda _: run_cli(
                    "--no-quiet", "followups", "run", "--no-notify", env=env
                ),
                range(processes),
            )
        )
    assert [r.returncode for r in results] == [0] * processes, results
    asked = Counter(attendees_requested(sb))
    assert len(asked) == steps and set(asked.values()) == {1}
    assert len(sb.state.sent_of("chat")) == steps
    assert {i.status for i in instances(pg_engine)} == {"completed"}
    lines = [r.stderr.strip() for r in results]
    assert sum(f"sent {steps}," in line for line in lines) == 1
    assert all(
        f"sent {steps}," in line or "in progress" in line or "sent 0," in line
        for line in lines
    )


def _popen_cli(env: dict[str, str]) -> subprocess.Popen[str]:
    child_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(REPO_ROOT),
        "LANG": "C.UTF-8",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "integration_health", "followups", "run", "--no-notify"],
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_killed_mid_send_is_never_resent_and_parks_unknown_sends(
    engine: Engine, db_url: str, make_sandbox: SandboxFactory
) -> None:
    sb = _prepared(engine, make_sandbox, workspaces=3, per_workspace=4)
    sb.set_latency(20, r"^/api/v1/chats$")
    env = _env(sb, db_url, LEASE_SECONDS="1")
    proc = _popen_cli(env)
    try:
        _wait_for(lambda: len(attendees_requested(sb)) == 3)  # one per account
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    in_flight = set(attendees_requested(sb))
    sb.set_latency(0, r"^/api/v1/chats$")
    time.sleep(1.2)  # the killed run's send leases expire
    with engine.begin() as conn:  # SQLite's run-lock row outlives a killed run
        conn.execute(sa.text("DELETE FROM run_lock"))
    rerun = run_cli("--no-quiet", "followups", "run", "--no-notify", env=env)
    assert rerun.returncode == 1, rerun.stderr
    asked = Counter(attendees_requested(sb))
    assert set(asked.values()) == {1} and len(asked) == 12
    assert "sent 9," in rerun.stderr and "unknown 3" in rerun.stderr
    with engine.connect() as conn:
        unknown = conn.execute(
            sa.text(
                "SELECT 'ACoAA' || CAST(i.lead_id AS VARCHAR(20)), i.status, "
                "i.paused_reason FROM send_attempt a "
                "JOIN followup_instance i ON i.id = a.instance_id "
                "WHERE a.status = 'unknown'"
            )
        ).all()
    assert {row[0] for row in unknown} == in_flight
    assert {(row[1], row[2]) for row in unknown} == {("paused", "send_unknown")}


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_ends_a_spaced_run_at_once_and_gives_back_its_claims(
    sqlite_engine: Engine,
    make_sandbox: SandboxFactory,
    stop: signal.Signals,
) -> None:
    sb = _prepared(sqlite_engine, make_sandbox, workspaces=1, per_workspace=5)
    url = sqlite_engine.url.render_as_string(hide_password=False)
    env = _env(sb, url, LINKEDIN_SEND_SPACING_SECONDS="60")
    proc = subprocess.Popen(
        [sys.executable, "-m", "integration_health", "followups", "run", "--no-notify"],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO_ROOT), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # Children of a non-interactive shell may inherit SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for(lambda: len(attendees_requested(sb)) == 1)  # then a 60 s spacing
    started = time.monotonic()
    proc.send_signal(stop)
    _, stderr = proc.communicate(timeout=20)

    assert time.monotonic() - started < 10
    assert proc.returncode in (130, 143)
    assert "Traceback" not in stderr
    assert len(attendees_requested(sb)) == 1
    with sqlite_engine.connect() as conn:
        held = conn.execute(
            sa.text(
                "SELECT count(*) FROM followup_instance WHERE lease_owner IS NOT NULL"
            )
        ).scalar_one()
        locks = conn.execute(sa.text("SELECT count(*) FROM run_lock")).scalar_one()
        run = conn.execute(
            sa.text("SELECT status, exit_code, counts FROM job_run")
        ).one()
    assert (held, locks) == (0, 0)
    assert tuple(run[:2]) == ("failed", proc.returncode)
    assert json.loads(run[2])["sent"] == 1  # what it did before the stop
