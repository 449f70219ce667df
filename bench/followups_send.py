"""Sending 2,000 steps across 50 accounts, against the ideal of full concurrency.

The sandbox answers each send in 50 ms and spacing is 0, so the floor is
2,000 x 50 ms / SEND_CONCURRENCY. The sandbox runs in its own process (started
here, or the one at SANDBOX_URL, which must serve ``sandbox_scenario(50)``), so
the measured process is only the engine. Prints one ratio per line.
Usage: python bench/followups_send.py [DATABASE_URL] [CONCURRENCY] [SANDBOX_URL]
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.followups_gate import _fresh
from integration_health.config import load_settings
from integration_health.services.followups import RunOptions, run_followups
from tests.followups_seed import NOW, known_profiles, sandbox_scenario, seed

STEPS, ACCOUNTS, LATENCY = 2000, 50, 0.05
DEFAULT_CONCURRENCY = 16


@contextlib.contextmanager
def _sandbox_process() -> Iterator[str]:
    """``sandbox serve`` in a child process; yields its URL."""
    scenario = Path(tempfile.mkdtemp()) / "scenario.json"
    scenario.write_text(json.dumps(sandbox_scenario(ACCOUNTS)))
    command = [sys.executable, "-m", "integration_health", "sandbox", "serve"]
    child = subprocess.Popen(
        [*command, "--scenario", str(scenario), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()  # "# sandbox at http://... (Ctrl-C ...)"
        yield first.split()[3]
    finally:
        child.terminate()
        child.wait(timeout=10)


def _run(url: str, concurrency: int, sandbox_url: str) -> tuple[float, float]:
    """Wall and CPU seconds of the engine's run (the CPU of all its threads)."""
    httpx.post(
        f"{sandbox_url}/_sandbox/latency",
        json={"seconds": LATENCY, "path": r"^/api/v1/chats$"},
    ).raise_for_status()
    engine = _fresh(url)
    seed(engine, workspaces=ACCOUNTS, per_workspace=STEPS // ACCOUNTS)
    known_profiles(engine)
    settings = load_settings(
        environ={
            "UNIPILE_DSN": sandbox_url,
            "UNIPILE_API_KEY": sandbox_scenario(ACCOUNTS)["unipile"]["api_key"],
            "LINKEDIN_SEND_SPACING_SECONDS": "0",
            "LINKEDIN_DAILY_MESSAGES": "100000",
            "SEND_CONCURRENCY": str(concurrency),
            "FOLLOWUP_BATCH_SIZE": "500",
        }
    )
    assert settings.send_concurrency == concurrency
    started, cpu = time.perf_counter(), time.process_time()
    summary = run_followups(engine, settings, RunOptions(), now=lambda: NOW)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert summary.as_dict()["sent"] == STEPS, summary.as_dict()
    return took, cpu


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{tempfile.mkdtemp()}/b.db"
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_CONCURRENCY
    with contextlib.ExitStack() as stack:
        sandbox_url = (
            sys.argv[3]
            if len(sys.argv) > 3
            else stack.enter_context(_sandbox_process())
        )
        took, cpu = _run(url, concurrency, sandbox_url)
    dialect = url.split(":", 1)[0].split("+", 1)[0]
    floor = STEPS * LATENCY / concurrency
    print(
        f"send_vs_ideal {dialect} concurrency={concurrency} "
        f"took={took:.2f}s cpu={cpu:.2f}s floor={floor:.2f}s {took / floor:.2f}"
    )


if __name__ == "__main__":
    main()
