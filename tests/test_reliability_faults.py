"""Every job x every fault the sandbox can inject: a documented exit code, the
failure recorded with its category, no traceback, and no row lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
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


#: Faults for which verify also sends its webhook burst into the fault; the
#: others skip it (the burst's own handling of faults is verify's own test).
BURST_FAULTS = {"timeout", "reset", "502_html"}
WORKERS = 3


@dataclass(frozen=True)
class Outcome:
    """What one job x fault run left behind, for its test to judge."""

    returncode: int
    stderr: str
    faults_applied: int
    before: dict[str, int]
    after: dict[str, int]
    recorded: set[str]


def _run_case(cli: rs.WarmCli, tmp: Path, job_name: str, fault: str) -> Outcome:
    """One subprocess run of one job against one fault, on its own copy."""
    job = rs.JOBS[job_name]
    case = tmp / f"{job_name.replace(' ', '_')}-{fault}"
    case.mkdir()
    engine = rs.seeded_sqlite(case / "faults.db")
    try:
        with Sandbox(rs.scenario()) as sb:
            for route in job.routes:
                sb.add_fault("*", route, **FAULTS[fault])
            before = rs.counts(engine)
            args = list(job.args)
            if job_name == "verify":
                args += rs.verify_args(case)
                if fault not in BURST_FAULTS:
                    args += ["--skip", "webhook-burst"]
            result = cli.run(*args, env=rs.job_env(sb, rs.url_of(engine)))
            applied = sb.stats["faults_applied"]
        got = (
            set() if job_name == "verify" else recorded(engine, job_name, result.stderr)
        )
        return Outcome(
            result.returncode, result.stderr, applied, before, rs.counts(engine), got
        )
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], Outcome]:
    """Every selected case, run a few at a time (each is one subprocess that
    mostly waits on imports and timeouts), before the first one is judged."""
    cases = [
        (item.callspec.params["job_name"], item.callspec.params["fault"])
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_job_survives_fault"
    ]
    tmp = tmp_path_factory.mktemp("faults")
    rs.seeded_sqlite(tmp / "template.db").dispose()  # made once, before threads
    clis: Queue[rs.WarmCli] = Queue()
    for _ in range(WORKERS):
        clis.put(rs.WarmCli())

    def run(case: tuple[str, str]) -> Outcome:
        cli = clis.get()
        try:
            return _run_case(cli, tmp, *case)
        finally:
            clis.put(cli)

    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = {case: pool.submit(run, case) for case in cases}
            return {case: future.result() for case, future in futures.items()}
    finally:
        while not clis.empty():
            clis.get().close()


@pytest.mark.e2e
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("job_name", list(rs.JOBS))
def test_job_survives_fault(
    outcomes: dict[tuple[str, str], Outcome], job_name: str, fault: str
) -> None:
    got = outcomes[(job_name, fault)]
    rs.assert_clean(got, allowed=(0, 1, 2, 3))
    assert got.returncode in expected_exit(job_name, fault), got.stderr
    assert got.faults_applied > 0, "the fault never reached the job"
    rs.assert_nothing_lost(got.before, got.after)
    if job_name == "verify":
        return  # read-only: its JSON says fail or inconclusive
    wanted = expected_category(job_name, fault)
    assert got.recorded & wanted, f"recorded {got.recorded}, wanted one of {wanted}"
