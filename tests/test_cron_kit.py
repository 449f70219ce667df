"""The cron wrapper: no overlap on a host, exit codes passed through, pings."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

RUN_JOB = REPO_ROOT / "scripts" / "cron" / "run-job.sh"


@pytest.fixture
def job_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "INTEGRATION_HEALTH_ENV": str(tmp_path / "job.env"),
        "INTEGRATION_HEALTH_LOCK_DIR": str(tmp_path / "lock"),
        "INTEGRATION_HEALTH_LOG_DIR": str(tmp_path / "log"),
    }


def _run(env: dict[str, str], *command: str, name: str = "demo-job"):
    return subprocess.run(
        ["bash", str(RUN_JOB), name, "--", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ping_server() -> Iterator[tuple[str, list[str]]]:
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ping", paths
    server.shutdown()
    server.server_close()


def test_second_run_while_the_first_holds_the_lock_does_not_run(
    job_env: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "runs"
    script = f"echo run >> {marker}; sleep 3"
    first = subprocess.Popen(
        ["bash", str(RUN_JOB), "demo-job", "--", "sh", "-c", script], env=job_env
    )
    try:
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = _run(job_env, "sh", "-c", script)
    finally:
        first.wait(timeout=30)
    assert second.returncode == 0
    assert second.stdout.strip() == (
        "integration-health demo-job: already running on this host; skipped"
    )
    assert marker.read_text() == "run\n"
    assert first.returncode == 0


def test_other_jobs_are_not_blocked_by_a_held_lock(job_env: dict[str, str]) -> None:
    first = subprocess.Popen(
        ["bash", str(RUN_JOB), "job-a", "--", "sleep", "2"], env=job_env
    )
    try:
        time.sleep(0.3)
        other = _run(job_env, "sh", "-c", "echo ran", name="job-b")
    finally:
        first.wait(timeout=30)
    assert other.stdout.strip() == "ran"


@pytest.mark.parametrize("code", [0, 1, 3, 7])
def test_the_job_exit_code_is_passed_through(
    job_env: dict[str, str], code: int
) -> None:
    assert _run(job_env, "sh", "-c", f"exit {code}").returncode == code


@pytest.mark.parametrize("code", [0, 4])
def test_a_dead_ping_url_does_not_change_the_exit_code(
    job_env: dict[str, str], tmp_path: Path, code: int
) -> None:
    env = {**job_env, "HEALTHCHECK_URL": f"http://127.0.0.1:{_closed_port()}/x"}
    result = _run(env, "sh", "-c", f"exit {code}")
    assert result.returncode == code
    log = (tmp_path / "log" / "demo-job.log").read_text()
    assert "cron.ping.failed" in log
    assert "127.0.0.1" not in log


def test_pings_start_success_and_failure_with_the_exit_code(
    job_env: dict[str, str], ping_server: tuple[str, list[str]]
) -> None:
    url, paths = ping_server
    env = {**job_env, "HEALTHCHECK_URL": url}
    _run(env, "true")
    _run(env, "sh", "-c", "exit 5")
    assert paths == ["/ping/start", "/ping", "/ping/start", "/ping/5"]


def test_env_file_is_loaded_and_stderr_goes_to_the_log(
    job_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "job.env").write_text("GREETING=hello-from-env\n")
    result = _run(job_env, "sh", "-c", 'echo "$GREETING"; echo oops >&2')
    assert result.stdout.strip() == "hello-from-env"
    assert "oops" in (tmp_path / "log" / "demo-job.log").read_text()


def test_runtime_is_bounded(job_env: dict[str, str]) -> None:
    started = time.monotonic()
    result = _run({**job_env, "JOB_TIMEOUT_SECONDS": "1"}, "sleep", "30")
    assert result.returncode == 124
    assert time.monotonic() - started < 10


def test_the_cli_is_asked_for_json_logs(
    job_env: dict[str, str], tmp_path: Path
) -> None:
    fake = tmp_path / "bin" / "integration-health"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "args: $*" >&2\n')
    fake.chmod(0o755)
    assert _run(job_env, "integration-health", "notify", "flush").returncode == 0
    log = (tmp_path / "log" / "demo-job.log").read_text()
    assert "args: --log-format json notify flush" in log


def test_missing_separator_is_a_usage_error(job_env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", str(RUN_JOB), "demo-job", "true"],
        env=job_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("usage: run-job.sh")


def test_crontab_schedules_every_job_through_the_wrapper() -> None:
    crontab = (REPO_ROOT / "scripts" / "cron" / "crontab.example").read_text()
    entries = [line.split() for line in crontab.splitlines() if "$RUN " in line]
    schedule = {fields[6]: fields[0] for fields in entries}
    assert schedule == {
        "unipile-check": "*/10",
        "ghl-repair": "*/15",
        "ghl-sync-sms": "*/30",
        "followups-run": "*/5",
        "notify-flush": "*/5",
    }
