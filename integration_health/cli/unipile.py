"""``unipile`` commands: record every workspace's LinkedIn account health."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

import typer

from integration_health.cli.common import (
    echo_err,
    flush_after_job,
    get_state,
    run_job,
    wait_option,
)
from integration_health.render import to_json

if TYPE_CHECKING:
    from integration_health.services.runs import RunHandle

app = typer.Typer(help="Unipile (LinkedIn) account health.", no_args_is_help=True)


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


@app.command("check")
def check(
    ctx: typer.Context,
    workspace: str | None = typer.Option(
        None, "--workspace", help="Check only this workspace (external ID)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would change; write nothing."
    ),
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        min=1,
        max=256,
        help="Single-account checks at once (default UNIPILE_CHECK_CONCURRENCY).",
    ),
    output: Format = typer.Option(
        Format.TABLE, "--format", help="table for people, json for machines."
    ),
    no_notify: bool = typer.Option(
        False, "--no-notify", help="Leave queued Slack notices for notify flush."
    ),
    wait: bool = wait_option(),
) -> None:
    """Check every workspace's Unipile account; pause or resume LinkedIn follow-ups.

    A disconnected account (a source in CREDENTIALS, a 401, a missing account)
    pauses the workspace's active LinkedIn follow-ups when AUTO_DISABLE is on;
    a reconnected one resumes them. A wrong UNIPILE_API_KEY exits 2 and a
    failed account list exits 1, both without changing any workspace.

    Example: integration-health unipile check --format json
    """
    from integration_health.clients.unipile import UnipileClient
    from integration_health.models import utcnow
    from integration_health.services import unipile_check

    state = get_state(ctx)
    settings = state.settings()
    engine = state.engine()
    client = UnipileClient.from_settings(settings)

    def job() -> unipile_check.CheckReport:
        return unipile_check.run_check(
            engine,
            settings,
            client,
            workspace=workspace,
            dry_run=dry_run,
            concurrency=concurrency,
            now=utcnow,
        )

    if dry_run:
        _render(ctx, job(), output, always=True)
        return

    def body(handle: RunHandle) -> int:
        report = job()
        handle.counts.update(report.counts())
        flush_after_job(state, no_notify=no_notify)
        _render(ctx, report, output)
        return 0

    run_job(ctx, unipile_check.JOB, body, wait=wait)


def _render(
    ctx: typer.Context, report: object, output: Format, *, always: bool = False
) -> None:
    """JSON when asked for; the table and summary only when not quiet."""
    from integration_health.services.unipile_check import CheckReport, summary

    assert isinstance(report, CheckReport)
    data = summary(report)
    if output == Format.JSON:
        typer.echo(to_json(data))
    if not (always or get_state(ctx).shows_summaries()):
        return
    if output != Format.JSON:
        verb = "would change" if report.dry_run else "changed"
        for row in report.rows:
            mark = f"  {verb}" if row.changed else ""
            typer.echo(
                f"{row.workspace:<24} {row.observed:<13} {row.before or '-':<13}"
                f"-> {row.after or '-':<13} {row.code or '':<22}{mark}"
            )
    echo_err(
        "unipile check: "
        + ", ".join(
            f"{key.replace('_', ' ')} {value}" for key, value in data["counts"].items()
        )
        + (" (dry run, nothing written)" if report.dry_run else "")
    )
