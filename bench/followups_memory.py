"""Peak memory of a run over 100,000 due instances against one over 10,000.

Every step is of a disconnected account (gated), so the run must pause them
without loading them: peak memory should not grow with the backlog.
Prints one ratio per line. Usage: python bench/followups_memory.py [DATABASE_URL]
"""

from __future__ import annotations

import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.followups_gate import _fresh
from integration_health.config import load_settings
from integration_health.services.followups import RunOptions, run_followups
from tests.followups_seed import NOW, seed


def _peak(url: str, n: int) -> int:
    engine = _fresh(url)
    seed(engine, workspaces=10, per_workspace=n // 10, unipile="DISCONNECTED")
    settings = load_settings(environ={})
    tracemalloc.start()
    summary = run_followups(engine, settings, RunOptions(), now=lambda: NOW)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    engine.dispose()
    assert summary.as_dict()["paused"] == {"unipile_disconnected": n}
    return peak


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else None

    def fresh_url() -> str:
        return url or f"sqlite:///{tempfile.mkdtemp()}/m.db"

    small = _peak(fresh_url(), 10_000)
    large = _peak(fresh_url(), 100_000)
    print(f"peak_memory_100k_vs_10k {large / small:.2f}")


if __name__ == "__main__":
    main()
