"""Every job x every fault the sandbox can inject: a documented exit code, the
failure recorded with its category, no traceback, and no row lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from integration_health.sandbox import Sandbox
from tests import reliability_support as rs

FAULTS: dict[str, dict[str, Any]] = {
    "timeout": {"delay": 1.0},
    "reset": {"drop": True},
    "429_retry_after": {
        "status": 429,
        "headers": {"Retry-After": "1"},
        "body": {"message": "Too many requests"},
    },
    "429": {"status": 429, "body": {"message": "Too many requests"}},
    "500": {"status": 500, "body": {"message": "Internal error"}},
    "502_html": {"status": 502, "html": True},
    "503": {"status": 503, "body": {"message": "Service unavailable"}},
    "empty": {"status": 200, "empty": True},
    "malformed_json": {"status": 200, "malformed_json": True},
    "wrong_shape": {"status": 200, "body": {"unexpected": [1, 2, 3]}},
    "401": {"status": 401, "body": {"message": "Unauthorized"}},
    "403": {"status": 403, "body": {"message": "Forbidden"}},
    "422": {"status": 422, "body": {"message": "Unprocessable"}},
}

CATEGORY: dict[str, set[str]] = {
    "timeout": {"network_timeout"},
    "reset": {"network_timeout"},
    "429_retry_after": {"rate_limited"},
    "429": {"rate_limited"},
    "500": {"server_error"},
    "502_html": {"server_error"},
    "503": {"server_error"},
    "empty": {"unknown"},
    "malformed_json": {"unknown"},
    "wrong_shape": {"unknown"},
    "401": {"missing_credentials", "disconnected_account"},
    "403": {"permission_denied"},
    "422": {"validation_error", "recipient_unreachable"},
}
#: Transient faults leave work to retry; the others are failures for good.
TRANSIENT = {
    "timeout",
    "reset",
    "429_retry_after",
    "429",
    "500",
    "502_html",
    "503",
    "empty",
    "malformed_json",
    "wrong_shape",
}


PERMANENT_FAILS = {"ghl repair", "notify flush"}


def expected_exit(job: str, fault: str) -> set[int]:
    """The exit codes each command documents for a provider failure.

    ``ghl repair`` and ``notify flush`` schedule a transient failure for a
    later run (exit 0) and fail (exit 1) on a failure for good; the others
    fail the run on any provider failure; ``verify`` is never a pass.
    """
    if job in PERMANENT_FAILS:
        return {0} if fault in TRANSIENT else {1}
    if job == "verify":
        return {1, 3}
    if job == "followups run":  # transient: deferred; for good: failed
        return {0} if fault in TRANSIENT or fault == "401" else {0, 1}
    if job == "unipile check" and fault == "401":  # our key, or the account
        return {1, 2}
    return {1}


def expected_category(job: str, fault: str) -> set[str]:
    wanted = set(CATEGORY[fault])
    if fault.startswith("429"):  # Unipile's 429 is the account's throttle
        wanted.add("account_throttled")
    if job in ("unipile check", "followups run") and fault == "422":
        wanted.add("unknown")  # Unipile's 422 without a type names no recipient
    return wanted


def recorded(engine: Engine, job: str, stderr: str = "") -> set[str]:
    """The categories the job wrote where its kind of work keeps them.

    A failed Unipile account list is a run-level failure that touches no
    workspace, so its category is the one in its one-line error.
    """
    if job == "unipile check":
        return {
            line.split()[2] for line in stderr.splitlines()
            if line.startswith("error: unipile ") and len(line.split()) > 2
        }  # fmt: skip
    sql = {
        "ghl repair": "SELECT last_category FROM repair_job",
        "ghl sync-sms": "SELECT last_error_category FROM integration_health"
        " WHERE provider = 'ghl' UNION SELECT last_category FROM repair_job",
        "followups run": "SELECT error_category FROM send_attempt"
        " UNION SELECT last_error_category FROM followup_instance"
        " UNION SELECT last_error_category FROM integration_health",
        "notify flush": "SELECT last_error FROM notification",
    }[job]
    values = {str(v) for v in rs.column_values(engine, sql) if v}
    if job == "notify flush":  # "slack server_error HTTP 500 ..."
        return {v.split()[1] for v in values if len(v.split()) > 1}
    return values


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Engine, Sandbox]]:
    engine = rs.fresh_sqlite(tmp_path / "faults.db")
    rs.seed(engine)
    with Sandbox(rs.scenario()) as sb:
        yield engine, sb
    engine.dispose()


@pytest.mark.e2e
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("job_name", list(rs.JOBS))
def test_job_survives_fault(
    world: tuple[Engine, Sandbox], tmp_path: Path, job_name: str, fault: str
) -> None:
    job = rs.JOBS[job_name]
    rs.require(job)
    engine, sb = world
    for route in job.routes:
        sb.add_fault("*", route, **FAULTS[fault])
    before = rs.counts(engine)
    args = list(job.args)
    if job_name == "verify":
        args += rs.verify_args(tmp_path)
    result = rs.run_cli_fast(*args, env=rs.job_env(sb, rs.url_of(engine)))
    rs.assert_clean(result, allowed=(0, 1, 2, 3))
    assert result.returncode in expected_exit(job_name, fault), result.stderr
    assert sb.stats["faults_applied"] > 0, "the fault never reached the job"
    rs.assert_nothing_lost(before, rs.counts(engine))
    if job_name == "verify":
        return  # read-only: its JSON says fail or inconclusive
    got = recorded(engine, job_name, result.stderr)
    wanted = expected_category(job_name, fault)
    assert got & wanted, f"recorded {got}, wanted one of {wanted}"
