"""Read ``integration-health`` command lines out of Markdown and check them.

The README and the runbook promise commands an operator can type; these
helpers find those lines and resolve each against the real command tree.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from integration_health.cli.app import app

PROG = "integration-health"
ROOT: Any = typer.main.get_command(app)
_FENCE = re.compile(r"^```(\S*)\s*$")
_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass
class CommandLine:
    """One command line as written, split into its parts."""

    text: str
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)


def command_lines(path: Path, languages: set[str]) -> list[CommandLine]:
    """Every line of a fenced block in ``languages`` that runs the CLI."""
    lines: list[CommandLine] = []
    language: str | None = None
    for raw in path.read_text().splitlines():
        fence = _FENCE.match(raw.strip())
        if fence:
            language = None if language is not None else fence.group(1)
            continue
        if language in languages:
            parsed = _parse(raw.strip())
            if parsed is not None:
                lines.append(parsed)
    return lines


def _parse(text: str) -> CommandLine | None:
    text = text.removeprefix("$ ").strip()
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        return None
    env: dict[str, str] = {}
    while words and _ASSIGNMENT.match(words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    if not words or words[0] != PROG:
        return None
    if words[-1] == "&":
        words.pop()
    return CommandLine(text=text, env=env, args=words[1:])


def _takes_value(command: Any, token: str) -> bool:
    name = token.split("=", 1)[0]
    for param in _option_params(command):
        if name in param.opts:
            return "=" not in token and not param.is_flag and not param.count
    return False


def _option_params(command: Any) -> list[Any]:
    return [p for p in command.params if p.param_type_name == "option"]


def _options(command: Any) -> set[str]:
    names: set[str] = set()
    for param in _option_params(command):
        names.update(param.opts)
        names.update(param.secondary_opts)
    return names | {"--help", "-h"}


def resolve(args: list[str]) -> tuple[list[str], list[str]]:
    """(command path, problems) of a command line's arguments after the prog."""
    problems: list[str] = []
    command: Any = ROOT
    path: list[str] = []
    words = list(args)
    options_here = _options(command)
    while words:
        word = words.pop(0)
        if word.startswith("-"):
            if word.split("=", 1)[0] not in options_here:
                where = " ".join(path) or "the root"
                problems.append(f"{word} is not an option of {where}")
            elif _takes_value(command, word) and words:
                words.pop(0)
            continue
        if word in getattr(command, "commands", {}):
            command = command.commands[word]
            path.append(word)
            options_here = _options(command)
            continue
        if not path:
            problems.append(f"no command {word!r}")
            break
        # A positional argument: the command path is complete.
    if command is ROOT and not {"--help", "-h", "--version"} & set(args):
        problems.append("names no command")
    return path, problems


def command_paths() -> list[str]:
    """Every command path of the CLI (groups and leaves), root excluded."""
    found: list[str] = []

    def walk(command: Any, path: list[str]) -> None:
        if path:
            found.append(" ".join(path))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(ROOT, [])
    return found
