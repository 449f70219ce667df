"""GHL repair throughput against a rate-limited sandbox, and the 429s it drew.

2,000 leads across 4 GHL locations, the sandbox (in its own process)
enforcing 100 requests per interval per location, with the interval scaled
down from GHL's 10 s so that the run takes seconds. Prints:

    ghl_repair_rate_ratio=<achieved requests/s over permitted> (target >= 0.9)
    ghl_repair_429s=<n> (target 0)

Usage: python bench/ghl_repair.py [LEADS (2000)] [INTERVAL_SECONDS (5; GHL uses 10)]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from integration_health.clients.ghl import GhlClient
from integration_health.config import load_settings
from integration_health.db import make_engine
from integration_health.migrate import upgrade
from integration_health.models import Lead, Workspace
from integration_health.services.ghl_repair import run_repair

LOCATIONS = 4
LIMIT = 100
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def scenario(interval: float) -> dict[str, object]:
    return {
        "ghl": {
            "locations": {
                f"loc{n}": {
                    "token": f"bench-token-{n}",
                    "rate_limit": {"limit": LIMIT, "interval_seconds": interval},
                }
                for n in range(LOCATIONS)
            }
        }
    }


def start_sandbox(folder: Path, interval: float) -> tuple[subprocess.Popen[str], str]:
    path = folder / "scenario.json"
    path.write_text(json.dumps(scenario(interval)))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "integration_health",
            "sandbox",
            "serve",
            "--scenario",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("export GHL_BASE_URL="):
            return proc, line.split("=", 1)[1].strip().strip("'\"")
    raise RuntimeError("sandbox did not start")


def seed(url: str, leads: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            Workspace.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "id": n + 1,
                    "external_id": f"ws{n}",
                    "name": f"W{n}",
                    "ghl_location_id": f"loc{n}",
                    "ghl_api_key": f"bench-token-{n}",
                    "country": "US",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for n in range(LOCATIONS)
            ],
        )
        conn.execute(
            Lead.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "external_id": f"lead{i}",
                    "workspace_id": i % LOCATIONS + 1,
                    "email": f"lead{i}@example.com",
                    "phone": f"+1201555{i % 10000:04d}",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(leads)
            ],
        )
    engine.dispose()


def main() -> None:
    leads = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'bench.db'}"
        seed(url, leads)
        proc, base = start_sandbox(folder, interval)
        try:
            settings = load_settings(
                environ={
                    "GHL_BASE_URL": base,
                    "GHL_RATE_LIMIT": str(LIMIT),
                    "GHL_RATE_INTERVAL_SECONDS": str(interval),
                    "REPAIR_CONCURRENCY": str(LOCATIONS),
                    "FOLLOWUP_BATCH_SIZE": "100",
                }
            )
            engine = make_engine(url)
            started = time.perf_counter()
            report = run_repair(
                engine, settings, GhlClient.from_settings(settings), owner="bench"
            )
            elapsed = time.perf_counter() - started
            stats = httpx.get(f"{base}/_sandbox/stats").json()["stats"]
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    requests = int(stats["requests"])
    permitted = LOCATIONS * LIMIT / interval
    print(
        f"leads={leads} done={report.outcomes['done']} requests={requests} "
        f"seconds={elapsed:.1f} permitted_rps={permitted:.0f}"
    )
    print(f"ghl_repair_rate_ratio={requests / elapsed / permitted:.2f} (target >= 0.9)")
    print(f"ghl_repair_429s={stats.get('ghl_429', 0)} (target 0)")


if __name__ == "__main__":
    main()
