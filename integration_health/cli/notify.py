"""``notify`` commands: send the Slack outbox that jobs fill."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from integration_health.cli.common import (
    AppState,
    echo_summary,
    get_state,
    run_job,
    wait_option,
)

if TYPE_CHECKING:
    from integration_health.services.notify import FlushReport
    from integration_health.services.runs import RunHandle

app = typer.Typer(help="Slack notices: send the outbox.", no_args_is_help=True)


def run_flush(state: AppState, *, limit: int | None = None) -> FlushReport | None:
    """Flush the outbox through Slack; None when no webhook is configured."""
    import time

    from integration_health.models import utcnow
    from integration_health.services.notify import flush

    settings = state.settings()
    if not settings.slack_webhook_url:
        return None
    from integration_health.clients.slack import SlackClient

    client = SlackClient(
        settings.slack_webhook_url,
        connect_timeout=settings.http_connect_timeout,
        read_timeout=settings.http_read_timeout,
    )
    return flush(
        state.engine(),
        post=client.post,
        now_fn=utcnow,
        sleep=time.sleep,
        min_interval=settings.slack_min_interval_seconds,
        max_attempts=settings.notify_max_attempts,
        limit=limit,
    )


@app.command("flush")
def flush_command(
    ctx: typer.Context,
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=1,
        max=1_000_000_000,
        help="Send at most this many notices.",
    ),
    wait: bool = wait_option(),
) -> None:
    """Send due Slack notices, oldest first, about one post per second.

    Notices of one workspace and kind are joined into one post. A notice
    Slack cannot take now stays queued for a later flush; the exit code is 1
    only when a notice failed for good (Slack refused it, or too many tries).
    Without SLACK_WEBHOOK_URL every notice stays queued and the exit is 0.

    Example: integration-health notify flush
    """
    from integration_health.services.notify import pending_count

    state = get_state(ctx)

    def body(handle: RunHandle) -> int:
        report = run_flush(state, limit=limit)
        if report is None:
            count = pending_count(state.engine())
            handle.counts["pending"] = count
            waits = "notice stays" if count == 1 else "notices stay"
            echo_summary(ctx, f"SLACK_WEBHOOK_URL is not set: {count} {waits} queued")
            return 0
        handle.counts.update(
            sent=report.sent,
            retried=report.retried,
            failed=report.failed,
            pending=report.pending,
        )
        echo_summary(
            ctx,
            f"notify flush: sent {report.sent}, retried {report.retried}, "
            f"failed {report.failed}, pending {report.pending}",
        )
        return 1 if report.failed else 0

    run_job(ctx, "notify-flush", body, wait=wait)
