"""The whole cycle at scale against the sandbox: 1,000 workspaces and 100,000
leads by default (``--scale 0.01`` for a smoke run); prints each job's wall
time, the end state (sends, instances, repair jobs) and
``status_seconds=... (target < 1.0)``. ``--json FILE`` also writes the figures
(``docs/load.json`` is what ``bench/reliability_report.py`` reads).

Usage: python bench/load.py [--scale 1.0] [--database-url URL] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from integration_health.sandbox import Sandbox
from tests import reliability_support as rs

CYCLE = [("unipile", "check"), ("ghl", "repair"), ("ghl", "sync-sms"),
         ("followups", "run"), ("notify", "flush")]  # fmt: skip
#: ``status`` is timed as a whole command (interpreter start-up included).
STATUS_RUNS = 5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", type=Path, default=None)
    opts = parser.parse_args()
    figures: dict[str, object] = {"scale": opts.scale, "cpus": _cpus()}
    workspaces = max(1, int(1000 * opts.scale))
    leads = 100
    if opts.database_url:
        engine = rs.fresh_pg(opts.database_url)
    else:
        engine = rs.fresh_sqlite(Path(tempfile.mkdtemp()) / "load.db")
    t0 = time.monotonic()
    # Every workspace has its own Unipile account and GHL location, as in
    # production (the reliability tests share two).
    rs.seed(engine, workspaces=workspaces, leads=leads, channels=("linkedin_message",),
            notifications=0, slots=workspaces)  # fmt: skip
    figures.update(database=engine.dialect.name, workspaces=workspaces,
                   leads=workspaces * leads,
                   seed_seconds=round(time.monotonic() - t0, 1))  # fmt: skip
    print(f"seed_seconds={figures['seed_seconds']} workspaces={workspaces} "
          f"leads={workspaces * leads}")  # fmt: skip
    jobs: list[dict[str, object]] = []
    with Sandbox(rs.scenario(leads, slots=workspaces)) as sb:
        sb.set_ghl_rate_limit(None, 100_000, 1.0)
        # The sandbox allows any rate; the client's own limiter is lifted too,
        # so that the run measures the toolkit, not GHL's 10 calls a second.
        env = rs.job_env(sb, rs.url_of(engine), HTTP_READ_TIMEOUT="30",
                         LINKEDIN_DAILY_MESSAGES="1000000",
                         GHL_RATE_LIMIT="100000", GHL_RATE_INTERVAL_SECONDS="1",
                         REPAIR_CONCURRENCY="8", SEND_CONCURRENCY="16")  # fmt: skip
        for args in CYCLE:
            start = time.monotonic()
            result = rs.run_cli_fast(*args, env=env, timeout=3600)
            took = round(time.monotonic() - start, 1)
            jobs.append({"job": " ".join(args), "seconds": took,
                         "exit": result.returncode})  # fmt: skip
            print(f"{' '.join(args)}_seconds={took} exit={result.returncode}")
        timings, codes = [], set()
        for _ in range(STATUS_RUNS):
            start = time.monotonic()
            result = rs.run_cli_fast("status", "--format", "json", env=env)
            timings.append(time.monotonic() - start)
            codes.add(result.returncode)
        print(
            f"status_seconds={statistics.median(timings):.2f} (median of "
            f"{STATUS_RUNS}, max {max(timings):.2f}, target < 1.0) "
            f"exit={','.join(map(str, sorted(codes)))}"
        )
    end = _end_state(engine)
    print(" ".join(f"{key}={value}" for key, value in end.items()))
    figures.update(jobs=jobs, end_state=end, status_runs=STATUS_RUNS,
                   status_median_seconds=round(statistics.median(timings), 2),
                   status_max_seconds=round(max(timings), 2),
                   status_exit=sorted(codes))  # fmt: skip
    if opts.json is not None:
        opts.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


def _cpus() -> str:
    return f"{platform.machine()} x{len(os.sched_getaffinity(0))}"


def _end_state(engine: Engine) -> dict[str, int]:
    """What the cycle left: each count read from the tables, not the jobs."""
    queries = {
        "sent": "SELECT count(*) FROM send_attempt WHERE status = 'sent'",
        "sent_twice": "SELECT count(*) FROM (SELECT instance_id, step_position "
        "FROM send_attempt WHERE status = 'sent' GROUP BY 1, 2 "
        "HAVING count(*) > 1) AS twice",
        "instances_completed": "SELECT count(*) FROM followup_instance "
        "WHERE status = 'completed'",
        "instances_other": "SELECT count(*) FROM followup_instance "
        "WHERE status <> 'completed'",
        "leads_without_contact": "SELECT count(*) FROM lead "
        "WHERE ghl_contact_id IS NULL",
        "repair_jobs_open": "SELECT count(*) FROM repair_job "
        "WHERE status NOT IN ('done')",
        "messages": "SELECT count(*) FROM message",
    }
    with engine.connect() as conn:
        return {
            k: int(conn.execute(sa.text(q)).scalar_one()) for k, q in queries.items()
        }


if __name__ == "__main__":
    main()
