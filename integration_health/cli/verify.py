"""``verify``: the post-deploy checklist, for people (table) and CI (JSON, JUnit)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from integration_health.cli.common import get_state

if TYPE_CHECKING:
    from integration_health.config import Settings
    from integration_health.services.verify import CheckResult, LiveAccounts


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def _live_accounts(settings: Settings) -> LiveAccounts | None:
    """Unipile's own view of each account, or None without a client or settings."""
    try:
        from integration_health.clients import unipile
    except ImportError:
        return None
    if not (settings.unipile_dsn and settings.unipile_api_key):
        return None

    def fetch() -> dict[str, Any]:
        client = unipile.UnipileClient.from_settings(settings)
        accounts = client.list_accounts()
        return {a.id: unipile.account_health(a).status for a in accounts}

    return fetch


def _render_table(results: list[CheckResult]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="integration-health verify")
    for column in ("check", "result", "value", "threshold", "detail"):
        table.add_column(column, overflow="fold")
    colours = {"pass": "green", "fail": "red", "inconclusive": "yellow"}
    for r in results:
        shown = f"[{colours[r.outcome.value]}]{r.outcome.value}[/]"
        cells = (escape(r.value), escape(r.threshold), escape(r.detail))
        table.add_row(r.name, shown, *cells)
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
    console.print(table)


def verify(
    ctx: typer.Context,
    since: str | None = typer.Option(
        None, "--since", help="Deploy time: ISO-8601 or relative (30m, 2h). Default 1h."
    ),
    logs: list[str] = typer.Option(
        [], "--logs", help="Log file (JSON Lines or text); '-' is stdin. Repeatable."
    ),
    check: list[str] = typer.Option([], "--check", help="Run only this check."),
    skip: list[str] = typer.Option([], "--skip", help="Skip this check."),
    config: Path | None = typer.Option(None, "--config", help="TOML thresholds."),
    output: OutputFormat = typer.Option(
        OutputFormat.TABLE, "--format", case_sensitive=False, help="table or json."
    ),
    junit: Path | None = typer.Option(None, "--junit", help="Write JUnit XML here."),
    report: Path | None = typer.Option(None, "--report", help="Write Markdown here."),
    deploy_id: str | None = typer.Option(None, "--deploy-id", help="For the report."),
    no_live: bool = typer.Option(False, "--no-live", help="Do not ask Unipile."),
) -> None:
    """Check a deploy: webhook burst, inbox query timeout, token-refresh spam,
    Unipile auto-disable and job freshness. Exit 0 all pass, 1 any fail,
    3 inconclusive (no data is never a pass), 2 bad configuration. Read-only.

    Example: integration-health verify --since 30m --logs app.log --junit verify.xml
    """
    from integration_health.models import utcnow
    from integration_health.redact import register_secret
    from integration_health.report import junit_xml, markdown_report, results_json
    from integration_health.services import verify as service
    from integration_health.services.verify_config import load_config, parse_since

    state = get_state(ctx)
    now = utcnow()
    names = service.select_checks(check, skip)
    settings = state.settings()
    register_secret(settings.verify_webhook_url)
    context = service.VerifyContext(
        config=load_config(config),
        since=parse_since(since, now=now),
        now=now,
        engine_factory=state.engine,
        log_sources=logs,
        webhook_url=settings.verify_webhook_url,
        auto_disable=settings.auto_disable,
        live=not no_live,
        live_accounts=None if no_live else _live_accounts(settings),
    )
    results = service.run_checklist(names, context)
    code = service.exit_code(results)
    if output is OutputFormat.JSON:
        typer.echo(results_json(results, since=context.since, exit_code=code))
    else:
        _render_table(results)
    if junit:
        junit.write_text(junit_xml(results), encoding="utf-8")
    if report:
        text = markdown_report(
            results,
            since=context.since,
            generated_at=now,
            exit_code=code,
            deploy_id=deploy_id,
        )
        report.write_text(text, encoding="utf-8")
    raise typer.Exit(code)
