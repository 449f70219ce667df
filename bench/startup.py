"""Start-up cost of ``integration-health --help`` against a bare Typer app.

Both run on this interpreter, N times each; the ratio of the medians is
printed as ``startup_ratio=<x> (target <= 1.5)``.

Usage: python bench/startup.py [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

MINIMAL_APP = """
import typer

app = typer.Typer()


@app.command()
def hello() -> None:
    \"\"\"Say hello.\"\"\"


app()
"""


def _median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal_app.py"
        minimal.write_text(MINIMAL_APP)
        baseline = _median_seconds([sys.executable, str(minimal), "--help"], runs)
    ours = _median_seconds([sys.executable, "-m", "integration_health", "--help"], runs)
    print(f"startup_ratio={ours / baseline:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
