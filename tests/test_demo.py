"""The demo end to end: its story holds in the kept database, and repeats."""

from __future__ import annotations

import csv
import os
import re
import site
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from integration_health.db import make_engine
from integration_health.models import (
    LINKEDIN_CHANNELS,
    FollowUpInstance,
    HealthEvent,
    IntegrationHealth,
    Lead,
    RepairJob,
    SendAttempt,
    Workspace,
)
from integration_health.sandbox import Sandbox
from integration_health.services.demo import JOBS, child_env_for
from tests.conftest import REPO_ROOT, run_cli

pytestmark = pytest.mark.e2e
EXAMPLES = REPO_ROOT / "examples"


@dataclass
class DemoRun:
    folder: Path
    proc: subprocess.CompletedProcess[str]
    engine: Engine

    @property
    def url(self) -> str:
        return f"sqlite:///{self.folder / 'demo.db'}"


def _demo(folder: Path) -> DemoRun:
    proc = run_cli("demo", "--keep", str(folder), timeout=120)
    return DemoRun(folder, proc, make_engine(f"sqlite:///{folder / 'demo.db'}"))


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    run = _demo(tmp_path_factory.mktemp("demo") / "kept")
    yield run
    run.engine.dispose()


def _ws_id(engine: Engine, external_id: str) -> int:
    with engine.connect() as conn:
        query = sa.select(Workspace.id).where(Workspace.external_id == external_id)
        return int(conn.scalar(query))


def _story(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("  story:")]


def test_demo_exits_zero_and_ends_with_explore_commands(kept: DemoRun) -> None:
    assert kept.proc.returncode == 0, kept.proc.stderr[-2000:]
    assert "Traceback" not in kept.proc.stdout + kept.proc.stderr
    assert f"integration-health --database-url {kept.url} status" in kept.proc.stdout


def test_the_throttled_location_never_answers_429(kept: DemoRun) -> None:
    counts = re.findall(r"GHL 429s (\d+)", kept.proc.stdout)
    assert counts
    assert set(counts) == {"0"}


def test_disconnected_workspace_is_paused_and_sends_nothing(kept: DemoRun) -> None:
    ws = _ws_id(kept.engine, "ws-bluebird")
    with kept.engine.connect() as conn:
        reasons = conn.execute(
            sa.select(FollowUpInstance.status, FollowUpInstance.paused_reason).where(
                FollowUpInstance.workspace_id == ws,
                col(FollowUpInstance.current_channel).in_(LINKEDIN_CHANNELS),
            )
        ).all()
        sends = conn.scalar(
            sa.select(sa.func.count())
            .select_from(SendAttempt)
            .where(
                SendAttempt.workspace_id == ws,
                col(SendAttempt.channel).in_(LINKEDIN_CHANNELS),
            )
        )
    assert reasons and set(reasons) == {("paused", "unipile_disconnected")}
    assert sends == 0


def test_revoked_token_waits_rather_than_dies(kept: DemoRun) -> None:
    ws = _ws_id(kept.engine, "ws-cedar")
    with kept.engine.connect() as conn:
        status = conn.scalar(
            sa.select(IntegrationHealth.status).where(
                IntegrationHealth.workspace_id == ws,
                IntegrationHealth.provider == "ghl",
            )
        )
        jobs = Counter(
            conn.scalars(
                sa.select(RepairJob.status).where(RepairJob.workspace_id == ws)
            ).all()
        )
    assert status == "DISCONNECTED"
    assert jobs and set(jobs) == {"pending"}


def test_two_contact_lead_needs_an_operator(kept: DemoRun) -> None:
    assert _lead_repair_status(kept.engine, "lead-two-contacts") == "needs_operator"


def _lead_repair_status(engine: Engine, external_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.scalar(
            sa.select(RepairJob.status)
            .join(Lead, Lead.id == RepairJob.lead_id)  # type: ignore[arg-type]
            .where(Lead.external_id == external_id)
        )


def test_unreachable_profile_lead_is_quarantined(kept: DemoRun) -> None:
    with kept.engine.connect() as conn:
        at = conn.scalar(
            sa.select(Lead.linkedin_unreachable_at).where(
                Lead.external_id == "lead-unreachable"
            )
        )
    assert at is not None


def test_sms_sync_says_nothing_about_email_only_leads(kept: DemoRun) -> None:
    with (EXAMPLES / "leads.csv").open(encoding="utf-8") as handle:
        email_only = {
            row["external_id"]
            for row in csv.DictReader(handle)
            if row["email"].strip() and not row["phone"] and not row["linkedin_url"]
        }
    section = kept.proc.stdout.split("ghl sync-sms\n", 1)[1].split("-- after", 1)[0]
    warnings = [line for line in section.splitlines() if "WARNING" in line]
    assert email_only
    assert not [w for w in warnings if "email" in w.lower() or "phone" in w.lower()]
    assert not [w for w in warnings if any(lead in w for lead in email_only)]


def test_every_due_step_is_sent_once(kept: DemoRun) -> None:
    with kept.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                SendAttempt.instance_id,
                SendAttempt.step_position,
                SendAttempt.status,
                SendAttempt.error_category,
                Lead.external_id,
            )
            .join(FollowUpInstance, FollowUpInstance.id == SendAttempt.instance_id)
            .join(Lead, Lead.id == FollowUpInstance.lead_id)
        ).all()
    per_step = Counter((instance, step) for instance, step, *_ in rows)
    not_sent = [
        (status, why, lead) for _, _, status, why, lead in rows if status != "sent"
    ]
    assert len(rows) > 100
    assert max(per_step.values()) == 1
    # The only step not sent is the unreachable profile's: tried once, then
    # the lead is quarantined instead of retried.
    assert not_sent == [("failed", "recipient_unreachable", "lead-unreachable")]


def _sent_and_events(engine: Engine) -> tuple[Counter[tuple[int, int]], int]:
    with engine.connect() as conn:
        sent = Counter(
            conn.execute(
                sa.select(SendAttempt.instance_id, SendAttempt.step_position).where(
                    SendAttempt.status == "sent"
                )
            ).all()
        )
        events = conn.scalar(sa.select(sa.func.count()).select_from(HealthEvent))
    return Counter({tuple(k): v for k, v in sent.items()}), int(events or 0)


def test_second_cycle_sends_nothing_twice_and_writes_no_event(kept: DemoRun) -> None:
    sent_before, events_before = _sent_and_events(kept.engine)
    with Sandbox(EXAMPLES / "sandbox-scenario.json") as sandbox:
        env = child_env_for(sandbox)
        for job in JOBS:
            result = run_cli("--database-url", kept.url, *job, env=env)
            assert result.returncode in {0, 1}, result.stderr[-1000:]
    sent_after, events_after = _sent_and_events(kept.engine)
    assert max(sent_after.values()) == 1
    assert set(sent_before) <= set(sent_after)
    assert events_after == events_before


def test_two_runs_tell_the_same_story(kept: DemoRun, tmp_path: Path) -> None:
    again = _demo(tmp_path / "again")
    again.engine.dispose()
    assert again.proc.returncode == 0, again.proc.stderr[-2000:]
    assert _story(kept.proc.stdout)
    assert _story(again.proc.stdout) == _story(kept.proc.stdout)


def test_missing_examples_folder_exits_2_in_one_line(tmp_path: Path) -> None:
    # The package alone, without its checkout: no site (so no editable-install
    # finder), the package linked into an empty folder, dependencies on the path.
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "integration_health").symlink_to(REPO_ROOT / "integration_health")
    path = os.pathsep.join([str(package), *site.getsitepackages()])
    result = subprocess.run(
        [sys.executable, "-S", "-m", "integration_health", "demo"],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": path},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert f"looked in {package / 'examples'}" in result.stderr


def test_keep_naming_an_existing_file_exits_2_in_one_line(tmp_path: Path) -> None:
    target = tmp_path / "somefile"
    target.write_text("mine\n")

    result = run_cli("demo", "--keep", str(target), timeout=60)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: --keep {target}: exists and is not a folder; choose a new folder\n"
    )
    assert target.read_text() == "mine\n"


def test_keep_under_an_existing_file_exits_2_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "somefile").write_text("mine\n")
    target = tmp_path / "somefile" / "demo"

    result = run_cli("demo", "--keep", str(target), timeout=60)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: --keep {target}: cannot create the folder: Not a directory\n"
    )
