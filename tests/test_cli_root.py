"""The root command: version, help, and one-line errors."""

from __future__ import annotations

from integration_health import __version__
from tests.conftest import run_cli


def test_version_prints_the_package_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"integration-health {__version__}"


def test_unknown_option_exits_2_without_traceback() -> None:
    result = run_cli("--no-such-option")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
