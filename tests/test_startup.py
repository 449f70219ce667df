"""``--help`` must stay fast: it imports no database or HTTP library."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

HEAVY = ("sqlalchemy", "sqlmodel", "httpx", "psycopg", "alembic")

_PROBE = """
import json, sys
from integration_health.cli.app import main
try:
    main(["--help"])
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[1])))
print("HEAVY=" + json.dumps(heavy))
"""


def test_help_imports_no_heavy_module() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )

    marker = [line for line in result.stdout.splitlines() if line.startswith("HEAVY=")]
    assert "Usage:" in result.stdout
    assert marker, result.stdout + result.stderr
    assert json.loads(marker[0].removeprefix("HEAVY=")) == []
