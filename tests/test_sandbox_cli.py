"""``sandbox serve`` in a subprocess: prints the exports, serves, stops on signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from integration_health.sandbox import Sandbox
from tests.conftest import REPO_ROOT, run_cli

SCENARIO = {
    "unipile": {
        "api_key": "cli-key",
        "accounts": [
            {"id": "acc_a", "sources": [{"id": "acc_a_M", "status": "OK"}]},
            {"id": "acc_b", "sources": [{"id": "acc_b_M", "status": "CREDENTIALS"}]},
        ],
    }
}


def _serve(scenario: Path) -> subprocess.Popen[str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "integration_health", "sandbox", "serve"]
    return subprocess.Popen(
        [*command, "--scenario", str(scenario)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _read_exports(process: subprocess.Popen[str]) -> dict[str, str]:
    assert process.stdout is not None
    exports: dict[str, str] = {}
    while len(exports) < 5:
        line = process.stdout.readline()
        assert line, "sandbox serve ended before printing its exports"
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = value
    return exports


@pytest.mark.e2e
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_answers_accounts_and_exits_0_on_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    process = _serve(scenario)
    try:
        exports = _read_exports(process)
        answer = httpx.get(
            exports["UNIPILE_DSN"] + "/api/v1/accounts",
            headers={"X-API-KEY": exports["UNIPILE_API_KEY"]},
        )
        assert [item["id"] for item in answer.json()["items"]] == ["acc_a", "acc_b"]
        assert exports["VERIFY_WEBHOOK_URL"].endswith("/webhook")
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_bad_scenario_exits_2_with_one_line(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.json"
    scenario.write_text('{"unipile": {"accounts": [{"name": "no id"}]}}')
    result = run_cli("sandbox", "serve", "--scenario", str(scenario))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: bad sandbox scenario")


def test_missing_scenario_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("sandbox", "serve", "--scenario", str(tmp_path / "none.json"))
    assert result.returncode == 2
    assert "cannot read sandbox scenario" in result.stderr


def test_unknown_scenario_key_exits_2(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.json"
    scenario.write_text('{"hubspot": {}}')
    result = run_cli("sandbox", "serve", "--scenario", str(scenario))
    assert result.returncode == 2
    assert "unknown keys: hubspot" in result.stderr


def test_port_in_use_exits_2(sandbox: Sandbox) -> None:
    result = run_cli("sandbox", "serve", "--port", str(sandbox.port))
    assert result.returncode == 2
    assert "cannot listen on 127.0.0.1" in result.stderr
