"""``followups run``: send due follow-up steps under the job's run lock."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from integration_health.cli.common import (
    echo_summary,
    flush_after_job,
    get_state,
    run_job,
    wait_option,
)
from integration_health.render import to_json

if TYPE_CHECKING:
    from integration_health.services.runs import RunHandle

app = typer.Typer(
    help="Follow-up sequences.\n\nExample: integration-health followups run"
)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@app.command("run")
def run(
    ctx: typer.Context,
    limit: int | None = typer.Option(
        None, "--limit", min=1, max=1_000_000_000, help="Claim at most N steps."
    ),
    max_seconds: float | None = typer.Option(
        None,
        "--max-seconds",
        min=0,
        max=1_000_000_000,
        help="Stop claiming after S seconds.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Say what would be sent and why; change nothing."
    ),
    workspace: str | None = typer.Option(
        None, "--workspace", help="Only this workspace (external ID)."
    ),
    wait: bool = wait_option(),
    no_notify: bool = typer.Option(False, "--no-notify", help="Leave notices queued."),
    output: OutputFormat = typer.Option(
        OutputFormat.TABLE, "--format", case_sensitive=False, help="table or json."
    ),
) -> None:
    """Send the due follow-up steps: gate on health, at most once per step.

    Exit 1 when a step failed for good or a send ended unknown, 2 on a
    configuration error. A second run while one is going exits 0 at once.

    Example: integration-health followups run --limit 500 --max-seconds 240
    """
    from integration_health.services.followups import (
        JOB,
        RunOptions,
        RunSummary,
        run_followups,
    )

    state = get_state(ctx)
    settings, engine = state.settings(), state.engine()
    options = RunOptions(limit, max_seconds, dry_run, workspace)
    if dry_run:
        summary = run_followups(engine, settings, options)
        _render(summary.as_dict(), output)
        return

    def body(handle: RunHandle) -> int:
        summary = RunSummary()
        try:
            with _progress() as advance:
                run_followups(
                    engine, settings, options, progress=advance, summary=summary
                )
        finally:  # a stopped run records what it sent too
            handle.counts.update(_flat(summary.as_dict()))
        data = summary.as_dict()
        flush_after_job(state, no_notify=no_notify)
        echo_summary(ctx, _summary_line(data))
        if output is OutputFormat.JSON:
            _render(data, output)
        return summary.exit_code

    run_job(ctx, JOB, body, wait=wait)


def _flat(data: dict[str, Any]) -> dict[str, int]:
    flat: dict[str, int] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update({f"{key}:{k}": int(v) for k, v in value.items()})
        elif isinstance(value, int) and not isinstance(value, bool):
            flat[key] = value
    return flat


def _summary_line(data: dict[str, Any]) -> str:
    paused = ", ".join(f"{k} {v}" for k, v in data["paused"].items()) or "0"
    deferred = sum(data["deferred"].values())
    return (
        f"followups: sent {data['sent']}, deferred {deferred}, paused {paused}, "
        f"failed {data['failed']}, skipped {data['skipped']}, "
        f"unknown {data['unknown']}"
        + (f", crashed {data['crashed']}" if data.get("crashed") else "")
    )


def _render(data: dict[str, Any], output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        typer.echo(to_json(data, indent=None))
        return
    from integration_health.render import render_table

    render_table(
        "follow-up steps due",
        ("instance", "workspace", "lead", "step", "channel", "action", "why"),
        (
            (
                row["instance_id"],
                row["workspace"],
                row["lead"],
                row["step"],
                row["channel"],
                row["action"],
                row["reason"],
            )
            for row in data["plan"]
        ),
    )


class _progress:
    """A rich progress bar on a terminal's stderr; nothing otherwise."""

    def __enter__(self) -> Any:
        if not sys.stderr.isatty():
            self._bar = None
            return lambda n: None
        from rich.console import Console
        from rich.progress import Progress

        self._bar = Progress(console=Console(stderr=True), transient=True)
        self._bar.start()
        bar = self._bar
        task = bar.add_task("sending", total=None)
        return lambda n: bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
