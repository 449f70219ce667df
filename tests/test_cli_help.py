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
