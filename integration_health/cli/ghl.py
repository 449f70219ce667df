"""``ghl`` commands: repair missing contact IDs, inspect the queue, sync SMS."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from integration_health.cli.common import (
    echo_err,
    echo_summary,
    get_state,
    run_job,
    wait_option,
)
from integration_health.render import counted, to_json

if TYPE_CHECKING:
    from integration_health.services.ghl_repair import RepairReport
    from integration_health.services.runs import RunHandle
    from integration_health.services.sms_sync import SyncReport

app = typer.Typer(
    help="GoHighLevel: repair contact IDs, manage the repair queue, sync SMS.",
    no_args_is_help=True,
)
jobs_app = typer.Typer(
    help="List the repair queue, or put jobs back with 'retry'.\n\n"
    "Example: integration-health ghl jobs --state needs_operator",
    invoke_without_command=True,
)
app.add_typer(jobs_app, name="jobs")

_WORKSPACE = typer.Option(
    None, "--workspace", help="Only this workspace (external ID); repeatable."
)
_NO_NOTIFY = typer.Option(
    False, "--no-notify", help="Queue Slack notices but do not send them now."
)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def _parse_format(value: str) -> OutputFormat:
    """The choices show in ``--help``; a bad value stays a one-line error."""
    try:
        return OutputFormat(value)
    except ValueError:
        from integration_health.errors import ConfigError

        accepted = ", ".join(OutputFormat)
        raise ConfigError(
            f"--format: unknown format {value!r}; accepted: {accepted}"
        ) from None


_FORMAT = typer.Option(
    OutputFormat.TABLE,
    "--format",
    parser=_parse_format,
    help="Output: table or json.",
)


@app.command("repair")
def repair(
    ctx: typer.Context,
    workspace: list[str] | None = _WORKSPACE,
    lead: list[str] | None = typer.Option(
        None, "--lead", help="Run this lead now, whatever its schedule (external ID)."
    ),
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=1,
        max=1_000_000_000,
        help="Process at most N jobs in this run.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what is due; send nothing, change nothing."
    ),
    fmt: OutputFormat = _FORMAT,
    wait: bool = wait_option(),
    no_notify: bool = _NO_NOTIFY,
) -> None:
    """Give every lead a GHL contact ID: search first, else upsert.

    Creates a repair job for each lead missing an ID, processes the due ones
    with bounded, scheduled retries, and prints a summary by category.

    Example: integration-health ghl repair --limit 500
    """
    state = get_state(ctx)
    engine = state.engine()
    from integration_health.services import repair_jobs

    ws_ids = repair_jobs.workspace_ids_for(engine, workspace) if workspace else None
    lead_ids = repair_jobs.lead_ids_for(engine, lead) if lead else None
    if dry_run:
        _repair_dry_run(ctx, ws_ids, fmt)
        return

    def body(handle: RunHandle) -> int:
        report = _run_repair(ctx, handle, ws_ids, lead_ids, limit)
        _show_repair(ctx, report, fmt, detailed=lead_ids is not None)
        _flush(ctx, no_notify)
        if report.config_error is not None:
            echo_err(f"error: {report.config_error}")
            return 2
        return 1 if report.failed else 0

    run_job(ctx, "ghl-repair", body, wait=wait)


def _run_repair(
    ctx: typer.Context,
    handle: RunHandle,
    ws_ids: list[int] | None,
    lead_ids: list[int] | None,
    limit: int | None,
) -> RepairReport:
    from integration_health.clients.ghl import GhlClient
    from integration_health.services.ghl_repair import run_repair
    from integration_health.services.runs import default_owner

    state = get_state(ctx)
    settings = state.settings()
    report = run_repair(
        state.engine(),
        settings,
        GhlClient.from_settings(settings),
        owner=f"{default_owner()}:{handle.job_run_id}",
        workspace_ids=ws_ids,
        lead_ids=lead_ids,
        limit=limit,
    )
    handle.counts.update(report.outcomes)
    handle.counts["created_jobs"] = report.created_jobs
    return report


def _repair_dry_run(
    ctx: typer.Context, ws_ids: list[int] | None, fmt: OutputFormat
) -> None:
    from integration_health.services.repair_plan import repair_dry_run

    plan = repair_dry_run(get_state(ctx).engine(), workspace_ids=ws_ids)
    if fmt is OutputFormat.JSON:
        typer.echo(to_json(plan))
        return
    from integration_health.render import render_table

    render_table(
        "ghl repair (dry run): nothing was sent or changed",
        ["workspace", "GHL health", "leads missing an ID", "jobs due", "would run"],
        [
            [r["workspace"], r["health"], r["missing"], r["due"], r["would_run"]]
            for r in plan
        ],
    )


def _show_repair(
    ctx: typer.Context,
    report: RepairReport,
    fmt: OutputFormat,
    *,
    detailed: bool,
) -> None:
    payload: dict[str, Any] = {
        "created_jobs": report.created_jobs,
        "released_expired": report.released_expired,
        "outcomes": dict(report.outcomes),
        "categories": dict(report.categories),
        "disconnected_workspaces": report.disconnected_workspaces,
        "jobs": [vars(job) for job in report.jobs],
        "not_run": [vars(lead) for lead in report.not_run],
    }
    if fmt is OutputFormat.JSON:
        typer.echo(to_json(payload))
        return
    parts = [f"{name} {count}" for name, count in sorted(report.outcomes.items())]
    cats = [f"{name} {count}" for name, count in sorted(report.categories.items())]
    echo_summary(
        ctx,
        f"ghl repair: {counted(report.created_jobs, 'job')} created; "
        + (", ".join(parts) or "nothing due")
        + (f"; by category: {', '.join(cats)}" if cats else ""),
    )
    if report.disconnected_workspaces:
        echo_summary(
            ctx,
            "waiting (GHL DISCONNECTED, one probe each): "
            + ", ".join(report.disconnected_workspaces),
        )
    if detailed:
        for lead in report.not_run:
            echo_err(f"lead {lead.lead}: {lead.reason}")
        for job in report.jobs:
            why = f"{job.category} {job.code or ''}".strip() if job.category else "ok"
            echo_err(
                f"lead {job.lead_external_id}: {job.state} ({why}"
                + (f", HTTP {job.http_status}" if job.http_status else "")
                + (f"): {job.detail}" if job.detail else ")")
                + (f"; contact {job.contact_id}" if job.contact_id else "")
            )


@jobs_app.callback()
def jobs(
    ctx: typer.Context,
    state_name: str | None = typer.Option(
        None, "--state", help="pending, running, done, needs_operator or dead."
    ),
    workspace: list[str] | None = _WORKSPACE,
    limit: int = typer.Option(
        200, "--limit", min=1, max=1_000_000_000, help="Show at most N jobs."
    ),
    fmt: OutputFormat = _FORMAT,
) -> None:
    """List the repair queue, most recently changed first.

    Example: integration-health ghl jobs --state needs_operator
    """
    if ctx.invoked_subcommand is not None:
        return
    from integration_health.services import repair_jobs

    engine = get_state(ctx).engine()
    rows = repair_jobs.list_jobs(
        engine,
        state=repair_jobs.parse_state(state_name),
        workspace_ids=repair_jobs.workspace_ids_for(engine, workspace)
        if workspace
        else None,
        limit=limit,
    )
    if fmt is OutputFormat.JSON:
        typer.echo(to_json([vars(r) for r in rows]))
        return
    from integration_health.render import render_table

    render_table(
        "GHL repair jobs",
        ["id", "workspace", "lead", "state", "attempts", "next attempt", "last error"],
        [
            [
                r.id,
                r.workspace,
                r.lead,
                r.status,
                r.attempts,
                r.next_attempt_at,
                " ".join(
                    str(x) for x in (r.last_category, r.last_code, r.last_status) if x
                ),
            ]
            for r in rows
        ],
    )


@jobs_app.command("retry")
def retry(
    ctx: typer.Context,
    job_ids: list[int] | None = typer.Argument(None, help="Job IDs to put back."),
    state_name: str | None = typer.Option(
        None, "--state", help="Put back every job in this state (e.g. dead)."
    ),
    workspace: list[str] | None = _WORKSPACE,
) -> None:
    """Put repair jobs back in the queue, due now, with a fresh attempt budget.

    Example: integration-health ghl jobs retry --state dead --workspace acme
    """
    from integration_health.services import repair_jobs

    engine = get_state(ctx).engine()
    state = repair_jobs.parse_state(state_name)
    ws_ids = repair_jobs.workspace_ids_for(engine, workspace) if workspace else None

    def body(handle: RunHandle) -> int:
        count = repair_jobs.retry_jobs(
            engine,
            job_ids=list(job_ids) if job_ids else None,
            state=state,
            workspace_ids=ws_ids,
        )
        handle.counts["retried"] = count
        echo_err(f"{counted(count, 'repair job')} put back in the queue")
        return 0

    run_job(ctx, "ghl-jobs-retry", body, wait=True)


@app.command("sync-sms")
def sync_sms(
    ctx: typer.Context,
    workspace: list[str] | None = _WORKSPACE,
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=1,
        max=1_000_000_000,
        help="Sync at most N leads (least recent first).",
    ),
    fmt: OutputFormat = _FORMAT,
    wait: bool = wait_option(),
    no_notify: bool = _NO_NOTIFY,
) -> None:
    """Store each lead's SMS history from GHL, once per message.

    Leads without a GHL contact ID are skipped silently (e-mail-only leads)
    or queued for repair.

    Example: integration-health ghl sync-sms --limit 1000
    """

    def body(handle: RunHandle) -> int:
        from integration_health.clients.ghl import GhlClient
        from integration_health.services import repair_jobs
        from integration_health.services.sms_sync import run_sms_sync

        state = get_state(ctx)
        engine = state.engine()
        ws_ids = repair_jobs.workspace_ids_for(engine, workspace) if workspace else None
        report = run_sms_sync(
            engine,
            state.settings(),
            GhlClient.from_settings(state.settings()),
            workspace_ids=ws_ids,
            limit=limit,
        )
        handle.counts.update(_sync_counts(report))
        _show_sync(ctx, report, fmt)
        _flush(ctx, no_notify)
        if report.config_error is not None:
            echo_err(f"error: {report.config_error}")
            return 2
        return 1 if report.failed else 0

    run_job(ctx, "ghl-sync-sms", body, wait=wait)


def _sync_counts(report: SyncReport) -> dict[str, int]:
    names = (
        "leads_synced",
        "messages_stored",
        "skipped_no_contact",
        "skipped_email_only",
        "repair_queued",
        "needs_repair",
        "failed",
    )
    return {name: int(getattr(report, name)) for name in names}


def _show_sync(ctx: typer.Context, report: SyncReport, fmt: OutputFormat) -> None:
    counts = _sync_counts(report)
    if fmt is OutputFormat.JSON:
        payload = {
            **counts,
            "categories": dict(report.categories),
            "disconnected_workspaces": report.disconnected_workspaces,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    echo_summary(
        ctx,
        f"ghl sync-sms: {counted(counts['leads_synced'], 'lead')} synced, "
        f"{counted(counts['messages_stored'], 'new message')}; skipped "
        f"{counts['skipped_no_contact']} without a contact "
        f"({counts['skipped_email_only']} e-mail only, "
        f"{counts['repair_queued']} queued for repair); {counts['failed']} failed",
    )
    if report.disconnected_workspaces:
        echo_summary(
            ctx,
            "skipped (GHL DISCONNECTED): " + ", ".join(report.disconnected_workspaces),
        )


def _flush(ctx: typer.Context, no_notify: bool) -> None:
    from integration_health.cli.common import flush_after_job

    flush_after_job(get_state(ctx), no_notify=no_notify)
