"""``leads`` commands: one lead on LinkedIn, by hand, as the engine would."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING

import typer

from integration_health.cli.common import (
    echo_note,
    flush_after_job,
    get_state,
    run_job,
)
from integration_health.render import to_json

if TYPE_CHECKING:
    from integration_health.services.runs import RunHandle

app = typer.Typer(
    help="Leads: LinkedIn lookups, sends and quarantine.", no_args_is_help=True
)


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


_FORMAT = typer.Option(Format.TABLE, "--format", help="table, or json for machines.")
_NO_NOTIFY = typer.Option(
    False, "--no-notify", help="Leave queued Slack notices for notify flush."
)


@app.command("clear-unreachable")
def clear_unreachable(
    ctx: typer.Context,
    lead_ids: list[str] = typer.Argument(None, help="Leads' external IDs."),
    workspace: str | None = typer.Option(None, "--workspace", help="Workspace ID."),
    all_leads: bool = typer.Option(
        False, "--all", help="Every unreachable lead of --workspace."
    ),
    output: Format = _FORMAT,
) -> None:
    """Clear the LinkedIn quarantine after a person corrected the profile.

    The leads' follow-ups that the system paused as unreachable resume; what
    a person paused stays paused.

    Example: integration-health leads clear-unreachable lead-17 lead-18
    """
    from integration_health.models import utcnow
    from integration_health.services import leads_linkedin

    state = get_state(ctx)

    def body(handle: RunHandle) -> int:
        result = leads_linkedin.clear_unreachable(
            state.engine(),
            lead_external_ids=lead_ids or [],
            workspace_external_id=workspace,
            all_leads=all_leads,
            now=utcnow,
        )
        handle.counts.update(cleared=result.cleared, resumed=result.resumed)
        if output == Format.JSON:
            typer.echo(
                json.dumps({"cleared": result.cleared, "resumed": result.resumed})
            )
        echo_note(
            ctx, f"leads cleared {result.cleared}, follow-ups resumed {result.resumed}"
        )
        return 0

    run_job(ctx, "leads", body, wait=True)


@app.command("check-linkedin")
def check_linkedin(
    ctx: typer.Context,
    lead_id: str = typer.Argument(..., help="The lead's external ID."),
    output: Format = _FORMAT,
    no_notify: bool = _NO_NOTIFY,
) -> None:
    """Look the lead's LinkedIn profile up through its workspace's account.

    Says reachable, must_wait or unreachable (and quarantines the lead on
    the last); a disconnected account is recorded as the check would.

    Example: integration-health leads check-linkedin lead-17
    """
    from integration_health.clients.unipile import UnipileClient
    from integration_health.models import utcnow
    from integration_health.services import leads_linkedin

    state = get_state(ctx)
    settings = state.settings()
    client = UnipileClient.from_settings(settings)
    run_job(
        ctx,
        "leads",
        lambda handle: _finish(
            ctx,
            leads_linkedin.check_linkedin(
                state.engine(), settings, client, lead_id, now=utcnow
            ),
            output,
            notify=not no_notify,
            reachable_ok=True,
        ),
        wait=True,
    )


@app.command("send-linkedin")
def send_linkedin(
    ctx: typer.Context,
    lead_id: str = typer.Argument(..., help="The lead's external ID."),
    message: str = typer.Option(..., "--message", help="The text to send."),
    output: Format = _FORMAT,
    no_notify: bool = _NO_NOTIFY,
) -> None:
    """Send one LinkedIn message to a lead by hand.

    Refuses (exit 1) when the workspace is DISCONNECTED, the lead is
    quarantined or the account is backing off; records health and
    quarantine from the answer exactly as the follow-up engine does.

    Example: integration-health leads send-linkedin lead-17 --message "Hi Jane"
    """
    from integration_health.clients.unipile import UnipileClient
    from integration_health.models import utcnow
    from integration_health.services import leads_linkedin

    if not message.strip():
        from integration_health.errors import ConfigError

        raise ConfigError("--message: empty text")
    state = get_state(ctx)
    settings = state.settings()
    client = UnipileClient.from_settings(settings)
    run_job(
        ctx,
        "leads",
        lambda handle: _finish(
            ctx,
            leads_linkedin.send_linkedin(
                state.engine(), settings, client, lead_id, message, now=utcnow
            ),
            output,
            notify=not no_notify,
            reachable_ok=False,
        ),
        wait=True,
    )


def _finish(
    ctx: typer.Context,
    outcome: object,
    output: Format,
    *,
    notify: bool,
    reachable_ok: bool,
) -> int:
    from dataclasses import asdict

    from integration_health.services.leads_linkedin import LeadOutcome

    assert isinstance(outcome, LeadOutcome)
    flush_after_job(get_state(ctx), no_notify=not notify)
    if output == Format.JSON:
        typer.echo(to_json(asdict(outcome), indent=None))
    else:
        typer.echo(f"{outcome.lead} {outcome.outcome} {outcome.code or ''}".rstrip())
    # The line above is the answer; this one adds, for people, what it does
    # not say (JSON already holds it all).
    extra = [outcome.detail] if outcome.detail else []
    if outcome.retry_at:
        extra.append(f"not before {outcome.retry_at.isoformat()}")
    if extra and output != Format.JSON:
        echo_note(ctx, f"{outcome.lead}: {'; '.join(extra)}")
    # must_wait is an answer, not a failure, for a lookup.
    fine = outcome.ok or (reachable_ok and outcome.outcome == "must_wait")
    return 0 if fine else 1
