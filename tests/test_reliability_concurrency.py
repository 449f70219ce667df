"""Several processes of one job over the same work on PostgreSQL: every unit
of work done once, and overlapping cron runs turned away by the run lock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from integration_health.sandbox import Sandbox
from tests import reliability_support as rs

LEADS = 12


@pytest.fixture
def pg_world(pg_url: str) -> Iterator[tuple[Engine, Sandbox]]:
    engine = rs.fresh_pg(pg_url)
    rs.seed(engine, leads=LEADS, channels=("linkedin_message",), notifications=0)
    with Sandbox(rs.scenario(LEADS)) as sb:
        yield engine, sb
    engine.dispose()


def linkedin_sends(sb: Sandbox) -> Counter[str]:
    """Sends per recipient (a new chat names its attendee)."""
    sent: Counter[str] = Counter()
    for item in sb.state.sent_of("chat"):
        sent.update(item.get("attendees_ids") or [])
    for item in sb.state.sent_of("message"):
        sent[str(item.get("chat_id"))] += 1
    return sent


def ghl_writes(sb: Sandbox) -> Counter[str]:
    """Contact writes per lead e-mail (the upsert's body names it)."""
    writes: Counter[str] = Counter()
    for req in sb.requests("/contacts", "POST"):
        body: Any = req.json
        key = body.get("email") if isinstance(body, dict) else None
        writes[str(key)] += 1
    return writes


def _race(job: rs.Job, env: dict[str, str], processes: int, *extra: str) -> list[Any]:
    procs = [rs.start_cli(*job.args, *extra, env=env) for _ in range(processes)]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        results.append((proc.returncode, stdout, stderr))
    return results


@pytest.mark.e2e
@pytest.mark.parametrize("processes", [2, 4])
@pytest.mark.parametrize("wait", [False, True], ids=["overlap", "wait"])
def test_followups_every_step_sent_once(
    pg_world: tuple[Engine, Sandbox], processes: int, wait: bool
) -> None:
    job = rs.JOBS["followups run"]
    engine, sb = pg_world
    sb.set_latency(0.05, r"^/api/v1/chats")
    env = rs.job_env(sb, rs.url_of(engine), FOLLOWUP_BATCH_SIZE="3")
    results = _race(job, env, processes, *(["--wait"] if wait else []))
    for code, _, stderr in results:
        assert "Traceback" not in stderr, stderr
        assert code == 0, stderr
    sent = linkedin_sends(sb)
    assert len(sent) == rs.WORKSPACES * LEADS, sent
    assert set(sent.values()) == {1}, f"sent twice: {sent}"
    if not wait:
        turned_away = [e for c, _, e in results if "another" in e]
        assert all(len(e.strip().splitlines()) == 1 for e in turned_away), turned_away


@pytest.mark.e2e
@pytest.mark.parametrize("processes", [2, 4])
def test_ghl_repair_every_lead_written_once(
    pg_world: tuple[Engine, Sandbox], processes: int
) -> None:
    job = rs.JOBS["ghl repair"]
    engine, sb = pg_world
    sb.set_latency(0.05, r"^/contacts")
    env = rs.job_env(sb, rs.url_of(engine))
    results = _race(job, env, processes)
    for code, _, stderr in results:
        assert "Traceback" not in stderr, stderr
        assert code == 0, stderr
    writes = ghl_writes(sb)
    missing = rs.WORKSPACES * sum(1 for i in range(LEADS) if not rs.has_contact(i))
    assert sum(writes.values()) == missing, writes
    assert set(writes.values()) == {1}, f"written twice: {writes}"
    ids = rs.column_values(
        engine, "SELECT count(*) FROM lead WHERE ghl_contact_id IS NULL"
    )
    assert ids == [0]


def test_second_overlapping_run_exits_0_with_one_line(
    pg_world: tuple[Engine, Sandbox],
) -> None:
    job = rs.JOBS["followups run"]
    engine, sb = pg_world
    sb.set_latency(0.5, r"^/api/v1/chats")
    env = rs.job_env(sb, rs.url_of(engine), HTTP_READ_TIMEOUT="5")
    first = rs.start_cli(*job.args, env=env)
    assert rs.wait_for(lambda: sb.requests("/api/v1/chats"), timeout=20)
    second = rs.run_cli_fast(*job.args, env=env)
    rs.kill(first)
    rs.assert_clean(second, allowed=(0,))
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "another" in lines[0], second.stderr
