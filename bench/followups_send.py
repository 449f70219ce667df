"""Sending 2,000 steps across 50 accounts, against the ideal of full concurrency.

The sandbox answers each send in 50 ms and spacing is 0, so the floor is
2,000 x 50 ms / SEND_CONCURRENCY. Prints one ratio per line.
Usage: python bench/followups_send.py [DATABASE_URL] [CONCURRENCY]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.followups_gate import _fresh
from integration_health.config import load_settings
from integration_health.sandbox import Sandbox
from integration_health.services.followups import RunOptions, run_followups
from tests.followups_seed import NOW, known_profiles, sandbox_scenario, seed

STEPS, ACCOUNTS, LATENCY = 2000, 50, 0.05


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/b.db"
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    engine = _fresh(url)
    seed(engine, workspaces=ACCOUNTS, per_workspace=STEPS // ACCOUNTS)
    known_profiles(engine)
    with Sandbox(sandbox_scenario(ACCOUNTS)) as sb:
        sb.set_latency(LATENCY, r"^/api/v1/chats$")
        settings = load_settings(
            environ={
                "UNIPILE_DSN": sb.unipile_dsn,
                "UNIPILE_API_KEY": sb.unipile_api_key,
                "LINKEDIN_SEND_SPACING_SECONDS": "0",
                "LINKEDIN_DAILY_MESSAGES": "100000",
                "SEND_CONCURRENCY": str(concurrency),
                "FOLLOWUP_BATCH_SIZE": "500",
            }
        )
        started = time.perf_counter()
        summary = run_followups(engine, settings, RunOptions(), now=lambda: NOW)
        took = time.perf_counter() - started
    assert summary.as_dict()["sent"] == STEPS, summary.as_dict()
    ideal = STEPS * LATENCY / concurrency
    print(
        f"send_vs_ideal {engine.dialect.name} concurrency={concurrency} "
        f"{took / ideal:.2f}"
    )


if __name__ == "__main__":
    main()
