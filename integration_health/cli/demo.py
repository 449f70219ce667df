"""``demo``: the whole cycle on invented data, against a local sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from integration_health.cli.common import echo_err

if TYPE_CHECKING:
    from integration_health.services.demo import (
        CommandRun,
        DemoDone,
        Snapshot,
        WorkspaceView,
    )

MAX_OUTPUT_LINES = 25


def demo(
    keep: Path | None = typer.Option(
        None,
        "--keep",
        help="Keep the database (DIR/demo.db) in this new folder to explore later.",
    ),
) -> None:
    """Run the whole cycle on the shipped examples against a local sandbox:
    import, unipile check, ghl repair, ghl sync-sms, followups run, notify
    flush and verify, showing what each job found and did. No credentials
    needed; takes about half a minute.

    Example: integration-health demo --keep ./demo
    """
    from integration_health.services.demo import (
        CommandRun,
        DemoDone,
        Snapshot,
        run_demo,
    )

    previous_notices = 0
    for event in run_demo(keep):
        if isinstance(event, CommandRun):
            _show_command(event)
        elif isinstance(event, Snapshot):
            _show_snapshot(event, previous_notices)
            previous_notices = len(event.slack_texts)
        elif isinstance(event, DemoDone):
            _show_done(event)
            if event.failed:
                raise typer.Exit(1)


def _show_command(run: CommandRun) -> None:
    typer.echo("")
    typer.echo("$ " + " ".join(run.argv))
    if run.skipped:
        typer.echo(f"  ({run.title}: skipped: command not available)")
        return
    lines = run.output.splitlines()
    for line in lines[:MAX_OUTPUT_LINES]:
        typer.echo(f"  | {line}")
    if len(lines) > MAX_OUTPUT_LINES:
        typer.echo(f"  | ... {len(lines) - MAX_OUTPUT_LINES} more lines")
    typer.echo(f"  exit {run.exit_code}")


def _show_snapshot(snap: Snapshot, previous_notices: int) -> None:
    typer.echo(f"-- {snap.title} --")
    for ws in snap.workspaces:
        typer.echo("  " + workspace_line(ws))
    typer.echo(
        f"  story: health events {snap.health_events}, slack notices "
        f"{len(snap.slack_texts)}, GHL 429s {snap.ghl_429}"
    )
    for text in snap.slack_texts[previous_notices:]:
        first = text.strip().splitlines()[0] if text.strip() else "(empty)"
        typer.echo(f"  slack> {first}")


def workspace_line(ws: WorkspaceView) -> str:
    """One line per workspace: the counts the story is told in."""
    return (
        f"story: {ws.external_id:<13} unipile {ws.unipile:<12} ghl {ws.ghl:<12} "
        f"paused {_pairs(ws.paused)}; quarantined {ws.quarantined}; "
        f"repairs {_pairs(ws.repairs)} (waiting: {_pairs(ws.repair_waits)}); "
        f"sent {_pairs(ws.sent)}; not sent {_pairs(ws.not_sent)}; "
        f"sms synced {ws.messages}"
    )


def _pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"


def _show_done(done: DemoDone) -> None:
    typer.echo("")
    if done.failed:
        for line in done.failed:
            echo_err(f"demo: {line}")
    if not done.kept:
        typer.echo("Done. Run with --keep DIR to explore the database afterwards.")
        return
    base = f"integration-health --database-url {done.database_url}"
    typer.echo(f"Done. The database is kept in {done.folder}. Explore it:")
    commands = (
        "status",
        "ghl jobs --state needs_operator",
        "ghl jobs --state pending",
        "flags",
    )
    for command in commands:
        typer.echo(f"  {base} {command}")
