"""Run locks and job-run records, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest
import typer
from sqlalchemy.engine import Engine
from sqlmodel import select
from typer.testing import CliRunner

from integration_health.cli.common import AppState, run_job
from integration_health.db import make_engine, session_scope
from integration_health.models import JobRun, RunLock
from integration_health.services.runs import (
    RunHandle,
    job_run,
    last_successes,
    lock_key,
)
from tests.conftest import REPO_ROOT

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def _other(engine: Engine) -> Engine:
    """A second engine on the same database: its own connections, like a
    second cron host."""
    return make_engine(engine.url.render_as_string(hide_password=False))


def _runs(engine: Engine) -> list[JobRun]:
    with session_scope(engine) as session:
        return list(session.exec(select(JobRun).order_by(JobRun.id)).all())


def test_run_is_recorded_succeeded_with_counts(engine: Engine) -> None:
    with job_run(engine, "ghl-repair") as handle:
        assert handle.acquired
        assert [r.status for r in _runs(engine)] == ["running"]
        handle.counts["repaired"] = 3

    [run] = _runs(engine)
    assert run.id == handle.job_run_id
    assert (run.job, run.status, run.exit_code) == ("ghl-repair", "succeeded", 0)
    assert json.loads(run.counts) == {"repaired": 3}
    assert run.finished_at is not None and run.finished_at >= run.started_at


def test_nonzero_exit_code_is_recorded_failed(engine: Engine) -> None:
    with job_run(engine, "ghl-repair") as handle:
        handle.set_exit_code(1)

    [run] = _runs(engine)
    assert (run.status, run.exit_code) == ("failed", 1)


def test_exception_is_recorded_failed_and_reraised(engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="boom"), job_run(engine, "sync"):
        raise RuntimeError("boom")

    [run] = _runs(engine)
    assert (run.status, run.exit_code) == ("failed", 1)
    assert run.finished_at is not None


def test_second_run_is_not_acquired_and_records_nothing(engine: Engine) -> None:
    other = _other(engine)
    with job_run(engine, "followups"), job_run(other, "followups") as second:
        assert not second.acquired
        assert second.job_run_id is None
    other.dispose()

    assert len(_runs(engine)) == 1


def test_other_jobs_do_not_contend(engine: Engine) -> None:
    other = _other(engine)
    with job_run(engine, "followups"), job_run(other, "ghl-repair") as second:
        assert second.acquired
    other.dispose()


def test_lock_is_free_after_a_run_and_after_a_failure(engine: Engine) -> None:
    with job_run(engine, "sync"):
        pass
    with pytest.raises(ValueError), job_run(engine, "sync"):
        raise ValueError
    with job_run(_other(engine), "sync") as third:
        assert third.acquired


def test_wait_takes_the_lock_once_the_other_run_ends(engine: Engine) -> None:
    holder = ExitStack()
    holder.enter_context(job_run(_other(engine), "sync"))
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        holder.close()  # the other run finishes while we wait

    with job_run(engine, "sync", wait=True, sleep=sleep) as handle:
        assert handle.acquired
    assert sleeps == [1.0]


def test_wait_gives_up_after_wait_seconds(engine: Engine) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    other = _other(engine)
    with (
        job_run(other, "sync"),
        job_run(
            engine,
            "sync",
            wait=True,
            wait_seconds=5,
            sleep=sleep,
            monotonic=lambda: now[0],
        ) as handle,
    ):
        assert not handle.acquired
    assert now[0] == 5.0
    other.dispose()


def test_expired_sqlite_lock_is_taken_over(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as session:
        session.add(RunLock(name="sync", owner="crashed:1", expires_at=T0))

    with job_run(sqlite_engine, "sync", clock=lambda: T0 + timedelta(seconds=1)) as h:
        assert h.acquired
        with session_scope(sqlite_engine) as session:
            lock = session.get(RunLock, "sync")
            assert lock is not None and lock.owner != "crashed:1"
            assert lock.expires_at == T0 + timedelta(seconds=3601)


def test_unexpired_sqlite_lock_of_another_owner_blocks(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as session:
        session.add(RunLock(name="sync", owner="other:1", expires_at=T0))

    with job_run(sqlite_engine, "sync", clock=lambda: T0 - timedelta(1)) as handle:
        assert not handle.acquired
    assert _runs(sqlite_engine) == []


def test_sqlite_lock_of_a_dead_process_on_this_host_is_taken_over(
    sqlite_engine: Engine,
) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    owner = f"{socket.gethostname()}:{dead.stdout.strip()}:abcd"
    with session_scope(sqlite_engine) as session:
        session.add(RunLock(name="sync", owner=owner, expires_at=T0))

    with job_run(sqlite_engine, "sync", clock=lambda: T0 - timedelta(1)) as handle:
        assert handle.acquired


def test_sqlite_lock_of_a_live_process_on_this_host_blocks(
    sqlite_engine: Engine,
) -> None:
    owner = f"{socket.gethostname()}:{os.getppid()}:abcd"
    with session_scope(sqlite_engine) as session:
        session.add(RunLock(name="sync", owner=owner, expires_at=T0))

    with job_run(sqlite_engine, "sync", clock=lambda: T0 - timedelta(1)) as handle:
        assert not handle.acquired


def test_postgres_lock_writes_no_lock_row(pg_engine: Engine) -> None:
    with job_run(pg_engine, "sync"), session_scope(pg_engine) as session:
        assert session.exec(select(RunLock)).all() == []


_HOLDER = """
import sys
from integration_health.db import make_engine
from integration_health.services.runs import job_run
with job_run(make_engine(sys.argv[1]), "sync") as handle:
    print("acquired" if handle.acquired else "busy", flush=True)
    sys.stdin.readline()
"""


def _start_holder(url: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "acquired"
    return child


def test_lock_held_by_another_process_blocks_until_it_ends(
    engine: Engine, db_url: str
) -> None:
    child = _start_holder(db_url)
    with job_run(engine, "sync") as handle:
        assert not handle.acquired
    child.communicate("\n", timeout=30)
    assert child.returncode == 0

    with job_run(engine, "sync") as handle:
        assert handle.acquired


def test_killed_process_frees_the_postgres_lock(pg_engine: Engine) -> None:
    child = _start_holder(pg_engine.url.render_as_string(hide_password=False))
    child.kill()
    child.wait(timeout=30)

    with job_run(pg_engine, "sync", wait=True, wait_seconds=10) as handle:
        assert handle.acquired


def test_lock_key_is_a_fixed_64_bit_value_not_a_process_hash() -> None:
    # Pinned: every host must compute the same key for the same job.
    assert lock_key("x") == 6139300719019568702
    assert lock_key("x") != lock_key("y")


def test_last_successes_gives_latest_success_per_job(engine: Engine) -> None:
    for job, minutes, code in [("a", 1, 0), ("a", 2, 0), ("a", 3, 1), ("b", 1, 0)]:
        at = T0 + timedelta(minutes=minutes)
        with job_run(engine, job, clock=lambda at=at: at) as handle:
            handle.set_exit_code(code)

    with session_scope(engine) as session:
        assert last_successes(session) == {
            "a": T0 + timedelta(minutes=2),
            "b": T0 + timedelta(minutes=1),
        }


def _cli(db_url: str, body_code: int = 0, *, wait: bool = False) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = AppState(database_url=db_url)

    @app.command()
    def work(ctx: typer.Context) -> None:
        def body(handle: RunHandle) -> int:
            handle.counts["done"] = 2
            return body_code

        run_job(ctx, "work", body, wait=wait, wait_seconds=0)

    return app


def test_run_job_exits_with_the_body_code_and_records_it(
    engine: Engine, db_url: str
) -> None:
    result = CliRunner().invoke(_cli(db_url, body_code=1), ["work"])

    assert result.exit_code == 1
    [run] = _runs(engine)
    assert (run.status, run.exit_code, json.loads(run.counts)) == (
        "failed",
        1,
        {"done": 2},
    )


def test_run_job_exits_0_with_one_line_when_the_job_is_running(
    engine: Engine, db_url: str
) -> None:
    with job_run(_other(engine), "work"):
        result = CliRunner().invoke(_cli(db_url), ["work"])

    assert result.exit_code == 0
    assert result.stderr == "another work run is in progress; exiting\n"
    assert len(_runs(engine)) == 1


def test_run_job_with_wait_exits_1_when_the_wait_runs_out(
    engine: Engine, db_url: str
) -> None:
    with job_run(_other(engine), "work"):
        result = CliRunner().invoke(_cli(db_url, wait=True), ["work"])

    assert result.exit_code == 1
    assert "still in progress after waiting 0s" in result.stderr
