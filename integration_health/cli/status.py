"""``status``: every workspace's integrations, for people, machines and metrics."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from integration_health.cli.common import echo_err, get_state


class StatusFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    PROMETHEUS = "prometheus"


def status(
    ctx: typer.Context,
    workspace: str | None = typer.Option(
        None, "--workspace", help="Only this workspace (its external ID)."
    ),
    fmt: StatusFormat = typer.Option(
        StatusFormat.TABLE,
        "--format",
        help="table, json or prometheus.",
        case_sensitive=False,
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        help="Write json or prometheus output to FILE atomically "
        "(for node_exporter's textfile collector).",
    ),
) -> None:
    """Show the health of every workspace's GHL and Unipile integrations.

    Also quarantined leads, paused follow-ups, the repair backlog and when
    each job last succeeded.

    Example: integration-health status --format prometheus --output ih.prom
    """
    from integration_health.errors import ConfigError
    from integration_health.render import to_json, write_atomic
    from integration_health.services.status import (
        gather_status,
        prometheus_text,
        status_dict,
    )

    if output is not None and fmt is StatusFormat.TABLE:
        raise ConfigError("--output needs --format json or --format prometheus")
    report = gather_status(get_state(ctx).engine(), workspace=workspace)
    if fmt is StatusFormat.TABLE:
        _table(report)
        return
    text = (
        to_json(status_dict(report)) + "\n"
        if fmt is StatusFormat.JSON
        else prometheus_text(report)
    )
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        write_atomic(output, text)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror}") from None
    echo_err(f"status written to {output}")


def _when(value: object) -> str:
    from datetime import datetime

    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else ""


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}={n}" for key, n in sorted(counts.items()) if n)


def _table(report: object) -> None:
    from integration_health.render import render_table
    from integration_health.services.status import StatusReport

    assert isinstance(report, StatusReport)
    rows = []
    for ws in report.workspaces:
        for index, (provider, state) in enumerate(ws.providers.items()):
            error = ""
            if state.last_error_at is not None:
                code = f" {state.last_error_code}" if state.last_error_code else ""
                error = (
                    f"{state.last_error_category}{code} at {_when(state.last_error_at)}"
                )
            first = index == 0
            rows.append(
                [
                    ws.external_id if first else "",
                    provider,
                    state.status,
                    _when(state.since),
                    error,
                    str(ws.quarantined_leads) if first else "",
                    _counts(ws.paused_instances) if first else "",
                    _counts(ws.repair_jobs) if first else "",
                ]
            )
    columns = [
        "Workspace",
        "Provider",
        "Status",
        "Since",
        "Last error",
        "Quarantined",
        "Paused",
        "Repairs",
    ]
    render_table("Integrations", columns, rows)
    jobs = [[job, _when(at)] for job, at in report.job_last_success.items()]
    render_table("Last successful run", ["Job", "Finished"], jobs or [["(none)", ""]])
