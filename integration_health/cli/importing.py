"""``import`` commands: load the platform's data from CSV or JSON files."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from integration_health.cli.common import echo_note, get_state, run_job

if TYPE_CHECKING:
    from integration_health.services.runs import RunHandle

app = typer.Typer(
    help=(
        "Import workspaces, leads, sequences and enrollments (CSV or JSON "
        "Lines). Idempotent: running a file twice changes nothing."
    ),
    no_args_is_help=True,
)

MAX_WARNINGS_SHOWN = 100


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


FILE_ARG = typer.Argument(..., help="A .csv, .jsonl, .ndjson or .json file.")
DRY_RUN = typer.Option(
    False, "--dry-run", help="Report what would change and write nothing."
)
FORMAT = typer.Option(
    OutputFormat.TEXT,
    "--format",
    help="text: summary on stderr; json: also the report on stdout.",
    case_sensitive=False,
)


def _run(
    ctx: typer.Context, kind: str, file: Path, dry_run: bool, fmt: OutputFormat
) -> None:
    """Import one file; a real import runs under the ``import`` run lock and is
    recorded like every job, a dry run neither locks nor records."""
    if dry_run:
        raise typer.Exit(_import(ctx, kind, file, dry_run, fmt))

    def body(handle: RunHandle) -> int:
        return _import(ctx, kind, file, dry_run, fmt, handle.counts)

    # An operator's import waits for another one rather than doing nothing.
    run_job(ctx, "import", body, wait=True)


def _import(
    ctx: typer.Context,
    kind: str,
    file: Path,
    dry_run: bool,
    fmt: OutputFormat,
    counts: dict[str, int] | None = None,
) -> int:
    from integration_health.render import to_json
    from integration_health.services.importing import ImportKind, import_file

    report = import_file(
        get_state(ctx).engine(), ImportKind(kind), file, dry_run=dry_run
    )
    if counts is not None:
        counts.update(
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            skipped=len(report.skipped),
        )
    note = " (dry run: nothing written)" if dry_run else ""
    echo_note(
        ctx,
        f"{report.kind} from {file}: {report.created} created, {report.updated} "
        f"updated, {report.unchanged} unchanged, {len(report.skipped)} skipped{note}",
    )
    if report.resumed:
        resumed = "follow-up" if report.resumed == 1 else "follow-ups"
        echo_note(ctx, f"  {report.resumed} {resumed} resumed (new LinkedIn profile)")
    for issue in report.skipped:
        echo_note(ctx, f"  line {issue.line}: skipped: {issue.reason}")
    for issue in report.warnings[:MAX_WARNINGS_SHOWN]:
        echo_note(ctx, f"  line {issue.line}: warning: {issue.reason}")
    hidden = len(report.warnings) - MAX_WARNINGS_SHOWN
    if hidden > 0:
        echo_note(ctx, f"  ... and {hidden} more warnings (see --format json)")
    if fmt is OutputFormat.JSON:
        typer.echo(to_json(report.as_dict()))
    return 1 if report.skipped else 0


@app.command("workspaces")
def workspaces(
    ctx: typer.Context,
    file: Path = FILE_ARG,
    dry_run: bool = DRY_RUN,
    fmt: OutputFormat = FORMAT,
) -> None:
    """Import workspaces, matched by external_id.

    Columns: name, GHL location and key, Unipile account, country.
    Exit 1 if a row was skipped.

    Example: integration-health import workspaces workspaces.csv
    """
    _run(ctx, "workspaces", file, dry_run, fmt)


@app.command("leads")
def leads(
    ctx: typer.Context,
    file: Path = FILE_ARG,
    dry_run: bool = DRY_RUN,
    fmt: OutputFormat = FORMAT,
) -> None:
    """Import leads, matched by external_id.

    Phones become E.164 in the workspace's country; emails are lower-cased.
    A new LinkedIn profile lifts the lead's quarantine.

    Example: integration-health import leads leads.csv --dry-run
    """
    _run(ctx, "leads", file, dry_run, fmt)


@app.command("sequences")
def sequences(
    ctx: typer.Context,
    file: Path = FILE_ARG,
    dry_run: bool = DRY_RUN,
    fmt: OutputFormat = FORMAT,
) -> None:
    """Import follow-up sequences, matched by workspace and name.

    Steps are replaced only when they changed.

    Example: integration-health import sequences sequences.json
    """
    _run(ctx, "sequences", file, dry_run, fmt)


@app.command("enrollments")
def enrollments(
    ctx: typer.Context,
    file: Path = FILE_ARG,
    dry_run: bool = DRY_RUN,
    fmt: OutputFormat = FORMAT,
) -> None:
    """Enroll leads in sequences of their workspace.

    Once per lead and sequence, starting at start_at (or now).

    Example: integration-health import enrollments enrollments.csv
    """
    _run(ctx, "enrollments", file, dry_run, fmt)
