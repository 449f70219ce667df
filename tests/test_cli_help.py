"""Every command and group documents itself, and every command has an example."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer

from integration_health.cli.app import app


def _walk(command: Any, path: str = "integration-health") -> Iterator[tuple[str, Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _walk(sub, f"{path} {name}")


COMMANDS = list(_walk(typer.main.get_command(app)))


def test_the_walk_finds_the_db_commands() -> None:
    paths = {path for path, _ in COMMANDS}
    assert {"integration-health db upgrade", "integration-health flags"} <= paths


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_command_has_help(path: str, command: Any) -> None:
    assert (command.help or "").strip(), f"{path} has no help text"


@pytest.mark.parametrize(
    ("path", "command"),
    [(p, c) for p, c in COMMANDS if not hasattr(c, "commands")],
    ids=[p for p, c in COMMANDS if not hasattr(c, "commands")],
)
def test_command_help_has_an_example(path: str, command: Any) -> None:
    assert "Example:" in (command.help or ""), f"{path}: help lacks 'Example:'"


def _help_of(path: str) -> str:
    from typer.testing import CliRunner

    args = path.split()[1:]
    result = CliRunner().invoke(app, [*args, "--help"], prog_name="integration-health")
    assert result.exit_code == 0, f"{path} --help exited {result.exit_code}"
    return result.output


def test_root_help_lists_every_command_group() -> None:
    output = _help_of("integration-health")
    root = typer.main.get_command(app)
    for name in root.commands:  # type: ignore[attr-defined]
        assert f" {name} " in output, f"integration-health --help lacks {name}"


HELP_PATHS = [p for p, c in COMMANDS if not hasattr(c, "commands")]
HELP_PATHS.append("integration-health ghl jobs")


@pytest.mark.parametrize("path", HELP_PATHS)
def test_command_help_output_shows_an_example(path: str) -> None:
    assert "Example:" in _help_of(path), f"{path} --help shows no example"


@pytest.mark.parametrize("path", ["ghl repair", "ghl jobs", "ghl sync-sms"])
def test_ghl_format_option_lists_its_choices(path: str) -> None:
    lines = _help_of(f"integration-health {path}").splitlines()
    assert any("--format" in line and "<table|json>" in line for line in lines)
