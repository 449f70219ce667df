"""Log once per window, across processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from integration_health.logwindow import close_expired, error_key, note
from tests.conftest import REPO_ROOT

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = error_key(7, "ghl", "permission_denied", "Forbidden")
WINDOW = 3600.0


@pytest.fixture
def log() -> logging.Logger:
    logger = logging.getLogger("integration_health.test_logwindow")
    logger.setLevel(logging.DEBUG)
    return logger


def occur(engine: Engine, log: logging.Logger, at: datetime) -> bool:
    return note(
        engine,
        KEY,
        logger=log,
        message="GHL refused the token",
        now=at,
        window_seconds=WINDOW,
        context={"workspace": "7"},
    )


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_error_key_names_all_four_parts() -> None:
    assert KEY == "ghl:permission_denied:ws=7:Forbidden"
    assert error_key(None, "unipile", "unknown", None) == "unipile:unknown:ws=-:-"


def test_first_occurrence_logged_with_context(
    engine: Engine, log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert occur(engine, log, T0)
    record = caplog.records[0]
    assert record.getMessage() == "GHL refused the token"
    assert record.action == "log_window.first"  # type: ignore[attr-defined]
    assert record.ctx_error_key == KEY  # type: ignore[attr-defined]
    assert record.ctx_workspace == "7"  # type: ignore[attr-defined]


def test_repeats_in_window_are_counted_not_logged(
    engine: Engine, log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    results = [occur(engine, log, T0 + timedelta(minutes=i)) for i in range(5)]
    assert results == [True, False, False, False, False]
    assert messages(caplog) == ["GHL refused the token"]


def test_occurrence_after_window_logs_summary_then_itself(
    engine: Engine, log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    occur(engine, log, T0)
    occur(engine, log, T0 + timedelta(minutes=10))
    occur(engine, log, T0 + timedelta(minutes=20))
    assert occur(engine, log, T0 + timedelta(hours=1))
    assert messages(caplog) == [
        "GHL refused the token",
        f"{KEY}: 2 more occurrences between 2026-03-01T12:00:00Z "
        "and 2026-03-01T12:20:00Z",
        "GHL refused the token",
    ]


def test_no_summary_when_window_had_no_repeats(
    engine: Engine, log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    occur(engine, log, T0)
    occur(engine, log, T0 + timedelta(hours=2))
    assert messages(caplog) == ["GHL refused the token"] * 2
    assert close_expired(engine, logger=log, now=T0, window_seconds=WINDOW) == 0


def test_close_expired_summarises_once_and_resets(
    engine: Engine, log: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for i in range(4):
        occur(engine, log, T0 + timedelta(seconds=i))
    early = T0 + timedelta(minutes=59)
    assert close_expired(engine, logger=log, now=early, window_seconds=WINDOW) == 0
    late = T0 + timedelta(hours=1)
    assert close_expired(engine, logger=log, now=late, window_seconds=WINDOW) == 1
    assert close_expired(engine, logger=log, now=late, window_seconds=WINDOW) == 0
    assert messages(caplog)[-1].startswith(f"{KEY}: 3 more occurrences")
    assert occur(engine, log, late + timedelta(seconds=1))


_SNIPPET = """
import logging, sys
from datetime import UTC, datetime, timedelta
from integration_health.db import make_engine
from integration_health.logwindow import close_expired, note
from integration_health.redact import RedactingFilter

handler = logging.StreamHandler(sys.stderr)
handler.setFormatter(logging.Formatter("LINE %(message)s"))
handler.addFilter(RedactingFilter())
log = logging.getLogger("integration_health.acceptance")
log.addHandler(handler)
log.setLevel(logging.INFO)
engine = make_engine(sys.argv[1])
t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
mode, start, stop = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if mode == "close":
    close_expired(engine, logger=log, now=t0 + timedelta(hours=2),
                  window_seconds=3600)
for i in range(start, stop):
    note(engine, "ghl:server_error:ws=1:-", logger=log, message="GHL 503",
         now=t0 + timedelta(seconds=i), window_seconds=3600)
"""


def _spawn(url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", _SNIPPET, url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _lines(procs: list[subprocess.Popen[str]]) -> list[str]:
    lines = []
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        lines += [line for line in err.splitlines() if line.startswith("LINE ")]
    return lines


def test_hundred_occurrences_in_three_processes_log_once_then_one_summary(
    engine: Engine, db_url: str
) -> None:
    ranges = [(0, 34), (34, 67), (67, 100)]
    procs = [_spawn(db_url, "note", str(a), str(b)) for a, b in ranges]
    assert _lines(procs) == ["LINE GHL 503"]
    summary = _lines([_spawn(db_url, "close", "0", "0")])
    assert len(summary) == 1
    assert summary[0].startswith("LINE ghl:server_error:ws=1:-: 99 more occurrences")
