"""Crash safety: each state-changing job killed with SIGKILL mid-run, then run
again: nothing lost, nothing sent twice, claims freed when their lease ends,
an interrupted send left ``unknown`` for an operator."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from integration_health.sandbox import Sandbox
from tests import reliability_support as rs

LEASE = 1.0
LEADS = 4


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Engine, Sandbox]]:
    engine = rs.fresh_sqlite(tmp_path / "crash.db")
    rs.seed(engine, leads=LEADS, notifications=3)
    with Sandbox(rs.scenario(LEADS)) as sb:
        yield engine, sb
    engine.dispose()


def _env(engine: Engine, sb: Sandbox) -> dict[str, str]:
    return rs.job_env(
        sb, rs.url_of(engine), LEASE_SECONDS=f"{LEASE:g}", HTTP_READ_TIMEOUT="5"
    )


def _kill_after(
    sb: Sandbox, job: rs.Job, env: dict[str, str], prefix: str, nth: int, pause: float
) -> None:
    """Start ``job``, let ``nth`` requests under ``prefix`` arrive, wait, kill."""
    proc = rs.start_cli(*job.args, env=env)
    arrived = rs.wait_for(lambda: len(sb.requests(prefix)) >= nth, timeout=30)
    time.sleep(pause)
    rs.kill(proc)
    assert arrived, f"the job never made {nth} calls to {prefix}"


def _recipients(sb: Sandbox) -> Counter[str]:
    sent: Counter[str] = Counter()
    for item in sb.state.sent_of("chat"):
        sent.update(item.get("attendees_ids") or [])
    for item in sb.state.sent_of("message"):
        sent[str(item.get("chat_id"))] += 1
    return sent


POINTS = [(1, 0.0), (1, 0.3), (3, 0.1)]


@pytest.mark.e2e
@pytest.mark.parametrize("nth,pause", POINTS, ids=["first", "mid-call", "later"])
def test_followups_killed_mid_send(
    world: tuple[Engine, Sandbox], nth: int, pause: float
) -> None:
    job = rs.JOBS["followups run"]
    engine, sb = world
    env = _env(engine, sb)
    before = rs.counts(engine)
    sb.set_latency(0.6, r"^/api/v1/chats")
    _kill_after(sb, job, env, "/api/v1/chats", nth, pause)
    in_flight = rs.column_values(
        engine, "SELECT count(*) FROM send_attempt WHERE status = 'sending'"
    )[0]
    sb.set_latency(0, r"^/api/v1/chats")
    time.sleep(LEASE + 0.2)
    rerun = rs.run_cli_fast(*job.args, env=env)
    rs.assert_clean(rerun, allowed=(0, 1))
    rs.assert_nothing_lost(before, rs.counts(engine))
    sent = _recipients(sb)
    assert set(sent.values()) <= {1}, f"sent twice: {sent}"
    statuses = Counter(rs.column_values(engine, "SELECT status FROM send_attempt"))
    assert statuses["sending"] == 0, statuses
    assert statuses["unknown"] >= in_flight, (statuses, in_flight)
    if statuses["unknown"]:
        assert rerun.returncode == 1, "an unknown send must fail the run"
    unknown_leads = rs.column_values(
        engine,
        "SELECT count(*) FROM followup_instance WHERE status = 'active'"
        " AND id IN (SELECT instance_id FROM send_attempt WHERE status = 'unknown')",
    )[0]
    assert unknown_leads == 0, "an instance with an unknown send is still active"


@pytest.mark.e2e
@pytest.mark.parametrize("nth,pause", POINTS, ids=["first", "mid-call", "later"])
def test_ghl_repair_killed_claims_freed_after_lease(
    world: tuple[Engine, Sandbox], nth: int, pause: float
) -> None:
    job = rs.JOBS["ghl repair"]
    engine, sb = world
    env = _env(engine, sb)
    before = rs.counts(engine)
    sb.set_latency(0.6, r"^/contacts")
    _kill_after(sb, job, env, "/contacts", nth, pause)
    sb.set_latency(0, r"^/contacts")
    time.sleep(LEASE + 0.2)
    rerun = rs.run_cli_fast(*job.args, env=env)
    rs.assert_clean(rerun, allowed=(0,))
    rs.assert_nothing_lost(before, rs.counts(engine))
    states = Counter(rs.column_values(engine, "SELECT status FROM repair_job"))
    assert states["running"] == 0, f"a claim was never freed: {states}"
    missing = rs.column_values(
        engine, "SELECT count(*) FROM lead WHERE ghl_contact_id IS NULL"
    )
    assert missing == [0], states


@pytest.mark.e2e
@pytest.mark.parametrize("job_name,prefix", [
    ("notify flush", "/slack/"),
    ("ghl sync-sms", "/conversations"),
    ("unipile check", "/api/v1/accounts"),
])  # fmt: skip
def test_killed_job_loses_nothing_and_reruns(
    world: tuple[Engine, Sandbox], job_name: str, prefix: str
) -> None:
    job = rs.JOBS[job_name]
    engine, sb = world
    env = _env(engine, sb)
    before = rs.counts(engine)
    sb.set_latency(0.6, "^" + prefix)
    _kill_after(sb, job, env, prefix, 1, 0.2)
    sb.set_latency(0, "^" + prefix)
    time.sleep(LEASE + 0.2)
    rerun = rs.run_cli_fast(*job.args, env=env)
    rs.assert_clean(rerun, allowed=(0,))
    rs.assert_nothing_lost(before, rs.counts(engine))
    if job_name == "notify flush":
        posts = [r.body for r in sb.requests("/slack/", "POST")]
        assert len(posts) == len(set(posts)), "a Slack notice was posted twice"
    if job_name == "ghl sync-sms":
        ids = rs.column_values(engine, "SELECT provider_message_id FROM message")
        assert len(ids) == len(set(ids))
