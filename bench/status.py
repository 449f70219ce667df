"""How long ``status`` takes on 1,000 workspaces and 100,000 leads (SQLite).

Seeds a throwaway SQLite file, then times gathering and rendering the
Prometheus text. Prints ``status_seconds=<x> (target < 1.0)``.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import SQLModel

import integration_health.models  # noqa: F401  (registers the tables)
from integration_health.db import make_engine
from integration_health.services.status import gather_status, prometheus_text

WORKSPACES = 1_000
LEADS = 100_000
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def seed(url: str) -> None:
    rng = random.Random(7)
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    t = {name: table for name, table in SQLModel.metadata.tables.items()}
    with engine.begin() as conn:
        conn.execute(
            t["workspace"].insert(),
            [
                {
                    "id": w + 1,
                    "external_id": f"ws{w}",
                    "name": f"W{w}",
                    "country": "US",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for w in range(WORKSPACES)
            ],
        )
        conn.execute(
            t["integration_health"].insert(),
            [
                {
                    "workspace_id": w + 1,
                    "provider": p,
                    "status": rng.choice(["OK", "OK", "DEGRADED", "DISCONNECTED"]),
                    "changed_at": NOW,
                    "consecutive_failures": 0,
                    "repeat_count": 0,
                }
                for w in range(0, WORKSPACES, 2)
                for p in ("unipile", "ghl")
            ],
        )
        conn.execute(
            t["followup_sequence"].insert(),
            [
                {"id": w + 1, "workspace_id": w + 1, "name": "s", "created_at": NOW}
                for w in range(WORKSPACES)
            ],
        )
        leads, instances, repairs = [], [], []
        for n in range(LEADS):
            ws = n % WORKSPACES + 1
            leads.append(
                {
                    "id": n + 1,
                    "external_id": f"l{n}",
                    "workspace_id": ws,
                    "linkedin_unreachable_at": NOW if n % 50 == 0 else None,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
            paused = n % 10 == 0
            instances.append(
                {
                    "lead_id": n + 1,
                    "sequence_id": ws,
                    "workspace_id": ws,
                    "status": "paused" if paused else "active",
                    "paused_reason": "unipile_disconnected" if paused else None,
                    "current_step": 0,
                    "step_attempts": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
            if n % 5 == 0:
                repairs.append(
                    {
                        "lead_id": n + 1,
                        "workspace_id": ws,
                        "kind": "ghl_contact",
                        "status": "pending",
                        "attempts": 0,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                )
        conn.execute(t["lead"].insert(), leads)
        conn.execute(t["followup_instance"].insert(), instances)
        conn.execute(t["repair_job"].insert(), repairs)
        conn.execute(
            t["job_run"].insert(),
            [
                {
                    "job": j,
                    "status": "succeeded",
                    "started_at": NOW,
                    "counts": "{}",
                    "finished_at": NOW - timedelta(minutes=k),
                }
                for k in range(200)
                for j in ("ghl repair", "unipile check")
            ],
        )
    engine.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        seed(url)
        engine = make_engine(url)
        gather_status(engine)  # warm the connection pool and page cache
        start = time.perf_counter()
        report = gather_status(engine)
        prometheus_text(report)
        elapsed = time.perf_counter() - start
        engine.dispose()
    assert len(report.workspaces) == WORKSPACES
    print(f"status_seconds={elapsed:.3f} (target < 1.0)")
    sys.exit(0)


if __name__ == "__main__":
    main()
