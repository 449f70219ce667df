"""The README's command lines are real: each names commands and options the
CLI has, every command is shown there, and the read-only ones run as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_lines import ROOT, CommandLine, command_lines, command_paths, resolve
from tests.conftest import REPO_ROOT, run_cli

README = REPO_ROOT / "README.md"
LINES = command_lines(README, {"sh", "console"})
INSTALL_PREFIX = "pip install"
#: Command paths whose every line is read-only, so it can run as written.
READ_ONLY = {("flags",), ("status",), ("ghl", "jobs"), ("db", "current")}


def _resolved(line: CommandLine) -> tuple[str, ...]:
    return tuple(resolve(line.args)[0])


def test_the_readme_has_command_lines() -> None:
    assert len(LINES) > 30


@pytest.mark.parametrize("line", LINES, ids=[line.text for line in LINES])
def test_line_names_real_commands_and_options(line: CommandLine) -> None:
    _, problems = resolve(line.args)
    assert not problems, f"README line {line.text!r}: {'; '.join(problems)}"


@pytest.mark.parametrize("path", command_paths())
def test_every_command_is_shown_with_an_example(path: str) -> None:
    shown = {" ".join(_resolved(line)[: len(path.split())]) for line in LINES}
    assert path in shown, f"README shows no command line for {path!r}"


@pytest.mark.parametrize("path", command_paths())
def test_every_command_has_help_text(path: str) -> None:
    command = ROOT
    for name in path.split():
        command = command.commands[name]  # type: ignore[attr-defined]
    assert (command.help or "").strip(), f"{path} has no help text"


def _runnable(line: CommandLine) -> bool:
    return "--help" in line.args or _resolved(line) in READ_ONLY


RUNNABLE = [line for line in LINES if _runnable(line)]


def _as_written(line: CommandLine, db_url: str, tmp_path: Path) -> list[str]:
    """The line's arguments, with its database and output file made local."""
    args = list(line.args)
    for i, word in enumerate(args[:-1]):
        if word == "--database-url":
            args[i + 1] = db_url
        elif word == "--output":
            args[i + 1] = str(tmp_path / Path(args[i + 1]).name)
    return args


def test_read_only_lines_include_each_kind() -> None:
    kinds = {_resolved(line) for line in RUNNABLE}
    assert kinds >= READ_ONLY
    assert any("--help" in line.args for line in RUNNABLE)


@pytest.fixture(scope="module")
def example_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database holding the example workspaces and leads."""
    url = f"sqlite:///{tmp_path_factory.mktemp('readme') / 'readme.db'}"
    for args in (
        ("db", "upgrade"),
        ("import", "workspaces", str(REPO_ROOT / "examples" / "workspaces.csv")),
        ("import", "leads", str(REPO_ROOT / "examples" / "leads.csv")),
    ):
        assert run_cli(*args, env={"DATABASE_URL": url}).returncode == 0, args
    return url


@pytest.mark.parametrize("line", RUNNABLE, ids=[line.text for line in RUNNABLE])
def test_read_only_line_runs_as_written(
    line: CommandLine, example_db: str, tmp_path: Path
) -> None:
    assert not line.text.startswith(INSTALL_PREFIX)
    result = run_cli(
        *_as_written(line, example_db, tmp_path),
        env={"DATABASE_URL": example_db, **line.env},
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"{line.text!r} exited {result.returncode}:\n{output}"
    )
    assert "Traceback" not in output, f"{line.text!r} showed a traceback"
