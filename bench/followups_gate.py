"""Gating N due LinkedIn steps of disconnected workspaces, against the SQL floor.

The floor is one UPDATE of the same rows on the same database. Prints one
ratio per line. Usage: python bench/followups_gate.py [N] [DATABASE_URL]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from integration_health.config import load_settings
from integration_health.db import make_engine
from integration_health.migrate import upgrade
from integration_health.services.followups import RunOptions, run_followups
from tests.followups_seed import NOW, seed


def _fresh(url: str) -> sa.engine.Engine:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    upgrade(engine)
    return engine


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    url = (
        sys.argv[2]
        if len(sys.argv) > 2
        else (f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    )
    engine = _fresh(url)
    seed(engine, workspaces=10, per_workspace=n // 10, unipile="DISCONNECTED")
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE followup_instance SET status = 'paused', paused_reason = "
                "'unipile_disconnected', lease_owner = NULL WHERE status = 'active'"
            )
        )
    floor = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE followup_instance SET status = 'active'"))
    settings = load_settings(environ={"FOLLOWUP_BATCH_SIZE": "5000"})
    started = time.perf_counter()
    summary = run_followups(engine, settings, RunOptions(), now=lambda: NOW)
    took = time.perf_counter() - started
    assert summary.as_dict()["paused"] == {"unipile_disconnected": n}
    print(f"gate_vs_sql_floor {engine.dialect.name} n={n} {took / floor:.2f}")


if __name__ == "__main__":
    main()
