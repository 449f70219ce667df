"""The whole cycle on invented data: import, check, repair, sync, send, verify.

Each step is the very command an operator would type, run as a subprocess
against a fresh SQLite database and an in-process sandbox. Between steps the
demo reads the database and the sandbox and reports what changed; the CLI
renders these events. Known limitation: the story is stated in counts (how
many paused, repaired, sent), because retry jitter makes exact times vary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import integration_health
from integration_health.db import make_engine
from integration_health.errors import ConfigError
from integration_health.models import (
    FollowUpInstance,
    IntegrationHealth,
    Lead,
    Message,
    RepairJob,
    SendAttempt,
    Workspace,
)

IMPORTS = (
    ("workspaces", "workspaces.csv"),
    ("leads", "leads.csv"),
    ("sequences", "sequences.json"),
    ("enrollments", "enrollments.csv"),
)
#: The cron order of the jobs, each as its command line.
JOBS: tuple[tuple[str, ...], ...] = (
    ("unipile", "check"),
    ("ghl", "repair"),
    ("ghl", "sync-sms"),
    ("followups", "run"),
    ("notify", "flush"),
)
VERIFY = ("verify", "--no-live", "--config", "verify.toml")
#: A small webhook burst, so that verify takes a second, not a minute.
VERIFY_TOML = """[webhook-burst]
count = 20
rate = 50.0
timeout_seconds = 5.0
deadline_seconds = 10.0
"""
#: Settings that make one cycle finish in seconds against the sandbox.
#: The demo compresses time: GHL's 100 calls per 10 s window becomes 100 per
#: second, here and in the example locations' rate-limit headers (the
#: throttled one allows 5 a second, and the client keeps to that from its
#: headers), and sends need no spacing.
FAST_SETTINGS = {
    "GHL_RATE_LIMIT": "100",
    "GHL_RATE_INTERVAL_SECONDS": "1",
    "LINKEDIN_SEND_SPACING_SECONDS": "0",
    "SLACK_MIN_INTERVAL_SECONDS": "0",
    "RETRY_AFTER_CAP_SECONDS": "1",
    "HTTP_CONNECT_TIMEOUT": "2",
    "HTTP_READ_TIMEOUT": "10",
    "REPAIR_MAX_ATTEMPTS": "3",
    "NOTIFY_MAX_ATTEMPTS": "3",
    "GRACE_PERIOD_MINUTES": "15",
}
#: Exit codes that are part of the story (1: some work failed, 3: inconclusive).
STORY_EXIT_CODES = {0, 1, 3}


def examples_dir() -> Path:
    """The ``examples/`` folder beside the package (a checkout or editable install)."""
    return Path(integration_health.__file__).parent.parent / "examples"


def find_examples(folder: Path | None = None) -> Path:
    """The examples folder, checked complete; ConfigError (exit 2) otherwise."""
    folder = folder or examples_dir()
    wanted = [name for _, name in IMPORTS] + ["sandbox-scenario.json"]
    missing = [name for name in wanted if not (folder / name).is_file()]
    if missing:
        raise ConfigError(
            f"examples not found: looked in {folder} (missing {', '.join(missing)})"
        )
    return folder


@dataclass(frozen=True)
class CommandRun:
    """One command of the story: its line, exit code and what it printed."""

    title: str
    argv: tuple[str, ...]
    exit_code: int
    output: str
    seconds: float = 0.0


@dataclass(frozen=True)
class WorkspaceView:
    external_id: str
    name: str
    unipile: str
    ghl: str
    paused: dict[str, int]
    quarantined: int
    repairs: dict[str, int]
    repair_waits: dict[str, int]
    sent: dict[str, int]
    not_sent: dict[str, int]
    messages: int


@dataclass(frozen=True)
class Snapshot:
    """The database and sandbox as the story tells them, after one step."""

    title: str
    workspaces: list[WorkspaceView]
    health_events: int
    slack_texts: list[str]
    ghl_429: int


@dataclass(frozen=True)
class DemoDone:
    folder: Path
    database_url: str
    kept: bool
    failed: list[str] = field(default_factory=list)


DemoEvent = CommandRun | Snapshot | DemoDone


def run_demo(keep: Path | None = None) -> Iterator[DemoEvent]:
    """Run the cycle, yielding each command and snapshot as it happens."""
    from integration_health.sandbox import Sandbox

    examples = find_examples()
    folder, temp = _folder(keep)
    database_url = f"sqlite:///{folder / 'demo.db'}"
    (folder / "verify.toml").write_text(VERIFY_TOML, encoding="utf-8")
    failed: list[str] = []
    try:
        with Sandbox(examples / "sandbox-scenario.json") as sandbox:
            runner = _Runner(database_url, folder, _child_env(sandbox))
            yield from _setup(runner, examples, failed)
            engine = make_engine(database_url)
            try:
                yield snapshot(engine, sandbox, "after import")
                for job in (*JOBS, VERIFY):
                    _let_rate_windows_pass(sandbox)
                    run = runner.run(job)
                    _note_failure(run, failed)
                    yield run
                    if job != VERIFY:
                        yield snapshot(engine, sandbox, f"after {' '.join(job)}")
            finally:
                engine.dispose()
        yield DemoDone(folder, database_url, kept=temp is None, failed=failed)
    finally:
        if temp is not None:
            temp.cleanup()


def _let_rate_windows_pass(sandbox: object) -> None:
    """Wait out the throttled location's window before the next command.

    Cron runs the jobs minutes apart; the demo runs them back to back, and a
    new process knows nothing of the calls its predecessor made in the last
    second, so its first call could find the window full (a 429).
    """
    from integration_health.sandbox import Sandbox

    assert isinstance(sandbox, Sandbox)
    time.sleep(sandbox.ghl_limiter.seconds_until_clear())


def _setup(runner: _Runner, examples: Path, failed: list[str]) -> Iterator[CommandRun]:
    steps = [("db", "upgrade")] + [
        ("import", kind, str(examples / name)) for kind, name in IMPORTS
    ]
    for argv in steps:
        run = runner.run(argv)
        _note_failure(run, failed, allowed={0})
        yield run


def _note_failure(
    run: CommandRun, failed: list[str], allowed: set[int] = STORY_EXIT_CODES
) -> None:
    if run.exit_code not in allowed:
        failed.append(f"{' '.join(run.argv)} exited {run.exit_code}")


def _folder(
    keep: Path | None,
) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    if keep is None:
        temp = tempfile.TemporaryDirectory(prefix="integration-health-demo-")
        return Path(temp.name), temp
    try:
        keep.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(
            f"--keep {keep}: exists and is not a folder; choose a new folder"
        ) from None
    except OSError as exc:  # a parent that is a file, no permission, ...
        raise ConfigError(
            f"--keep {keep}: cannot create the folder: {exc.strerror}"
        ) from None
    if (keep / "demo.db").exists():
        raise ConfigError(f"--keep {keep}: demo.db already exists; choose a new folder")
    return keep.resolve(), None


def _child_env(sandbox: object) -> dict[str, str]:
    """Only what the commands need: the sandbox's addresses and fast settings."""
    from integration_health.sandbox import Sandbox

    assert isinstance(sandbox, Sandbox)
    env = {
        key: os.environ[key]
        for key in ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")
        if key in os.environ
    }
    package_root = str(Path(integration_health.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = package_root
    env.update(FAST_SETTINGS)
    env.update(
        UNIPILE_DSN=sandbox.unipile_dsn,
        UNIPILE_API_KEY=sandbox.unipile_api_key,
        GHL_BASE_URL=sandbox.ghl_base_url,
        SLACK_WEBHOOK_URL=sandbox.slack_webhook_url,
        VERIFY_WEBHOOK_URL=sandbox.webhook_url,
    )
    return env


def child_env_for(sandbox: object) -> dict[str, str]:
    """The environment the demo gives its commands (tests rerun the cycle)."""
    return _child_env(sandbox)


@dataclass
class _Runner:
    database_url: str
    cwd: Path
    env: dict[str, str]

    def run(self, argv: tuple[str, ...]) -> CommandRun:
        title = " ".join(a for a in argv if not a.startswith("/"))
        line = (
            "integration-health",
            "--no-quiet",
            "--database-url",
            self.database_url,
            *argv,
        )
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "integration_health", *line[1:]],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        output = (proc.stderr + proc.stdout).rstrip()
        seconds = time.monotonic() - started
        return CommandRun(title, line, proc.returncode, output, seconds)


def snapshot(engine: Engine, sandbox: object, title: str) -> Snapshot:
    """What the story tells after a step, read from the database and sandbox."""
    from integration_health.db import session_scope
    from integration_health.models import HealthEvent
    from integration_health.sandbox import Sandbox

    assert isinstance(sandbox, Sandbox)
    with session_scope(engine) as session:
        workspaces = session.execute(
            sa.select(
                _col(Workspace.id), _col(Workspace.external_id), _col(Workspace.name)
            ).order_by(Workspace.external_id)
        ).all()
        views = [_workspace_view(session, *row) for row in workspaces]
        events = session.scalar(sa.select(sa.func.count()).select_from(HealthEvent))
    with sandbox.state.lock:
        texts = [str(item.get("text", "")) for item in sandbox.state.slack_messages]
    return Snapshot(title, views, int(events or 0), texts, sandbox.stats["ghl_429"])


def _workspace_view(session: Any, ws_id: int, ext: str, name: str) -> WorkspaceView:
    health = dict(
        session.execute(
            sa.select(
                _col(IntegrationHealth.provider), _col(IntegrationHealth.status)
            ).where(_col(IntegrationHealth.workspace_id) == ws_id)
        ).all()
    )
    inst, job, send = FollowUpInstance, RepairJob, SendAttempt
    return WorkspaceView(
        external_id=ext,
        name=name,
        unipile=health.get("unipile", "-"),
        ghl=health.get("ghl", "-"),
        paused=_count_by(session, inst.paused_reason, ws_id, inst.status == "paused"),
        quarantined=_count(
            session, Lead, ws_id, _not_null(Lead.linkedin_unreachable_at)
        ),
        repairs=_count_by(session, job.status, ws_id),
        repair_waits=_count_by(
            session, job.last_category, ws_id, job.status == "pending"
        ),
        sent=_count_by(session, send.channel, ws_id, send.status == "sent"),
        not_sent=_count_by(session, send.status, ws_id, send.status != "sent"),
        messages=_count(session, Message, ws_id),
    )


def _col(attribute: Any) -> Any:
    """A model attribute as a column (SQLModel types them as their values)."""
    return attribute


def _not_null(column: Any) -> Any:
    return column.is_not(None)


def _count(session: Any, model: Any, ws_id: int, *where: Any) -> int:
    query = sa.select(sa.func.count()).select_from(model)
    query = query.where(model.workspace_id == ws_id, *where)
    return int(session.scalar(query) or 0)


def _count_by(session: Any, column: Any, ws_id: int, *where: Any) -> dict[str, int]:
    """Counts by ``column`` of its table's rows for one workspace."""
    model = column.class_
    query = (
        sa.select(column, sa.func.count())
        .where(model.workspace_id == ws_id, *where)
        .group_by(column)
    )
    counts: Counter[str] = Counter()
    for key, number in session.execute(query).all():
        counts[str(key or "none")] += int(number)
    return dict(sorted(counts.items()))
