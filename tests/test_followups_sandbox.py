"""The follow-up engine with the real clients against the sandbox."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from integration_health.db import make_engine
from integration_health.services.followups import RunOptions, run_followups
from tests.conftest import make_settings
from tests.followups_seed import NOW, instances, seed


def _env(sb: Any, **extra: str) -> dict[str, str]:
    return {
        "UNIPILE_DSN": sb.unipile_dsn,
        "UNIPILE_API_KEY": sb.unipile_api_key,
        "GHL_BASE_URL": sb.ghl_base_url,
        "LINKEDIN_SEND_SPACING_SECONDS": "0",
        "LINKEDIN_DAILY_MESSAGES": "100000",
        **extra,
    }


def _point_at_sandbox(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE workspace SET unipile_account_id = 'acc_ok'"))
        conn.execute(sa.text("UPDATE lead SET linkedin_identifier = 'jane-doe'"))


@pytest.mark.parametrize(
    "status,gate,unipile_requests,status_after",
    [
        ("DISCONNECTED", "1", 0, "paused"),
        ("DISCONNECTED", "0", 2, "active"),
        ("OK", "1", 2, "active"),
    ],
)
def test_gated_steps_reach_no_unipile_route(
    engine: Engine,
    sandbox: Any,
    status: str,
    gate: str,
    unipile_requests: int,
    status_after: str,
) -> None:
    seed(engine, unipile=status, channels=("linkedin_message", "sms"))
    _point_at_sandbox(engine)
    settings = make_settings(
        **_env(sandbox, UNIPILE_HEALTH_GATE=gate, AUTO_DISABLE="0")
    )
    run_followups(engine, settings, RunOptions(), now=lambda: NOW)
    assert len(sandbox.requests("/api/v1")) == unipile_requests  # profile + chat
    assert instances(engine)[0].status == status_after


def _worker(url: str, env: dict[str, str]) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        return run_followups(
            engine, make_settings(**env), RunOptions(), now=lambda: NOW
        ).as_dict()
    finally:
        engine.dispose()


@pytest.mark.parametrize("processes,steps", [(3, 300)])
def test_concurrent_runs_send_every_step_exactly_once(
    pg_engine: Engine, sandbox: Any, processes: int, steps: int
) -> None:
    seed(pg_engine, workspaces=1, per_workspace=steps)
    _point_at_sandbox(pg_engine)
    url = pg_engine.url.render_as_string(hide_password=False)
    env = _env(sandbox, FOLLOWUP_BATCH_SIZE="50")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as pool:
        results = pool.starmap(_worker, [(url, env)] * processes)
    texts = [c["text"] for c in sandbox.state.sent_of("chat")]
    assert len(texts) == steps and len(set(texts)) == steps
    assert sum(r["sent"] for r in results) == steps
    assert {r.status for r in instances(pg_engine)} == {"completed"}
