"""Every command in docs/runbook.md is run by a test against the sandbox.

The runbook is the operator's document: each of its command lines must run
as written, in its order, on an installation holding the example data.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.cli_lines import CommandLine, command_lines, resolve
from tests.conftest import REPO_ROOT, run_cli
from tests.sandbox_fixtures import SandboxFactory

RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
LINES = command_lines(RUNBOOK, {"sh"})
EXAMPLES = REPO_ROOT / "examples"
#: The application's log file the runbook names, and a stand-in for it.
APP_LOG = "/var/log/platform/app.jsonl"
APP_LOG_TEXT = (
    '{"time": "2026-07-01T12:05:00Z", "level": "info", "message": "started"}\n'
    '{"time": "2026-07-01T12:06:00Z", "level": "error", '
    '"message": "refresh_token_not_found"}\n'
)
#: Exit codes the runbook (and the README's table) documents per command.
EXIT_CODES = {
    ("verify",): {0, 1, 3},
    ("unipile", "check"): {0, 1},
    ("ghl", "repair"): {0, 1},
}


def test_the_runbook_has_command_lines() -> None:
    assert len(LINES) >= 10


@pytest.mark.parametrize("line", LINES, ids=[line.text for line in LINES])
def test_runbook_line_names_real_commands_and_options(line: CommandLine) -> None:
    _, problems = resolve(line.args)
    assert not problems, f"runbook line {line.text!r}: {'; '.join(problems)}"


def _environment(sandbox_factory: SandboxFactory, db_url: str) -> dict[str, str]:
    sb = sandbox_factory(EXAMPLES / "sandbox-scenario.json")
    return {
        "DATABASE_URL": db_url,
        "UNIPILE_DSN": sb.unipile_dsn,
        "UNIPILE_API_KEY": sb.unipile_api_key,
        "GHL_BASE_URL": sb.ghl_base_url,
        "SLACK_WEBHOOK_URL": sb.slack_webhook_url,
        "VERIFY_WEBHOOK_URL": sb.webhook_url,
        "UNIPILE_HEALTH_GATE": "1",
        "AUTO_DISABLE": "1",
        "SLACK_MIN_INTERVAL_SECONDS": "0",
    }


#: Leads kept per workspace: the example data's stories, at a tenth of the size.
LEADS_PER_WORKSPACE = 8
STORY_LEADS = {"lead-unreachable", "lead-two-contacts"}


def _trimmed_examples(folder: Path) -> tuple[Path, Path]:
    """leads.csv and enrollments.csv of the examples, cut to a few leads each."""
    leads = list(csv.DictReader((EXAMPLES / "leads.csv").open(newline="")))
    kept: dict[str, list[str]] = {}
    for row in leads:
        ids = kept.setdefault(row["workspace_external_id"], [])
        if len(ids) < LEADS_PER_WORKSPACE or row["external_id"] in STORY_LEADS:
            ids.append(row["external_id"])
    keep = {lead for ids in kept.values() for lead in ids}
    paths = []
    for name, key in (
        ("leads.csv", "external_id"),
        ("enrollments.csv", "lead_external_id"),
    ):
        with (EXAMPLES / name).open(newline="") as source:
            reader = csv.DictReader(source)
            path = folder / name
            with path.open("w", newline="") as target:
                writer = csv.DictWriter(target, fieldnames=reader.fieldnames or [])
                writer.writeheader()
                writer.writerows(row for row in reader if row[key] in keep)
            paths.append(path)
    return paths[0], paths[1]


def _import_examples(env: dict[str, str], cwd: Path) -> None:
    """The installation the runbook assumes: a schema and the platform's data."""
    leads, enrollments = _trimmed_examples(cwd)
    steps = [
        ("db", "upgrade"),
        ("import", "workspaces", str(EXAMPLES / "workspaces.csv")),
        ("import", "leads", str(leads)),
        ("import", "sequences", str(EXAMPLES / "sequences.json")),
        ("import", "enrollments", str(enrollments)),
    ]
    for args in steps:
        result = run_cli(*args, env=env, cwd=cwd)
        assert result.returncode == 0, f"{args}: {result.stderr}"


def _as_written(line: CommandLine, log_file: Path) -> list[str]:
    return [str(log_file) if word == APP_LOG else word for word in line.args]


def test_every_runbook_command_runs_against_the_sandbox(
    make_sandbox: SandboxFactory, tmp_path: Path
) -> None:
    env = _environment(make_sandbox, f"sqlite:///{tmp_path / 'runbook.db'}")
    _import_examples(env, tmp_path)
    log_file = tmp_path / "app.jsonl"
    log_file.write_text(APP_LOG_TEXT)
    for line in LINES:
        result = run_cli(*_as_written(line, log_file), env=env, cwd=tmp_path)
        output = result.stdout + result.stderr
        path = tuple(resolve(line.args)[0])
        allowed = EXIT_CODES.get(path, {0})
        assert result.returncode in allowed, (
            f"{line.text!r} exited {result.returncode}:\n{output}"
        )
        assert "Traceback" not in output, f"{line.text!r} showed a traceback"
    assert (tmp_path / "verify.xml").is_file()
    assert (tmp_path / "deploy-release-2026-07-01.md").is_file()
