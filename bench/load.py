"""The whole cycle at scale against the sandbox: 1,000 workspaces and 100,000
leads by default (``--scale 0.01`` for a smoke run); prints each job's wall
time and ``status_seconds=... (target < 1.0)``.

Usage: python bench/load.py [--scale 1.0] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
    opts = parser.parse_args()
    workspaces = max(1, int(1000 * opts.scale))
    leads = 100
    if opts.database_url:
        engine = rs.fresh_pg(opts.database_url)
    else:
        engine = rs.fresh_sqlite(Path(tempfile.mkdtemp()) / "load.db")
    t0 = time.monotonic()
    rs.seed(engine, workspaces=workspaces, leads=leads, channels=("linkedin_message",),
            notifications=0)  # fmt: skip
    print(f"seed_seconds={time.monotonic() - t0:.1f} workspaces={workspaces} "
          f"leads={workspaces * leads}")  # fmt: skip
    with Sandbox(rs.scenario(leads)) as sb:
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
            print(
                f"{' '.join(args)}_seconds={time.monotonic() - start:.1f} "
                f"exit={result.returncode}"
            )
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


if __name__ == "__main__":
    main()
