"""The root ``integration-health`` command and the one place errors end.

Every command group lives in its own module and is registered below. Errors
are handled once, here: a known error prints one line (and a hint) on stderr
and exits with its code; anything unexpected prints one line too, and the
traceback only with ``-v``.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from integration_health import __version__
from integration_health.cli.common import AppState, configure_logging, echo_err

app = typer.Typer(
    name="integration-health",
    help=(
        "Keep GHL and Unipile integrations honest: record health, pause what "
        "cannot succeed, repair what can, and verify deploys.\n\n"
        "Example: integration-health status"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"integration-health {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    env_file: Path | None = typer.Option(
        None, "--env-file", help="Read settings from this file instead of ./.env."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Override DATABASE_URL for this run."
    ),
    verbose: bool = typer.Option(
        False, "-v", "--verbose", help="Debug logging and tracebacks on errors."
    ),
    quiet: bool | None = typer.Option(
        None,
        "--quiet/--no-quiet",
        help="Hide (or show) job summaries. Default: shown on a terminal, "
        "hidden otherwise, so cron stays quiet on success.",
    ),
    log_format: LogFormat = typer.Option(
        LogFormat.TEXT,
        "--log-format",
        help="Log format on stderr: text, or json for cron.",
        case_sensitive=False,
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Keep GHL and Unipile integrations honest."""
    ctx.obj = AppState(
        env_file=env_file,
        database_url=database_url,
        verbose=verbose,
        log_format=log_format.value,
        quiet=quiet,
    )
    configure_logging(verbose=verbose, log_format=log_format.value)


def _register() -> None:
    """Attach every command group (each module imports only light things)."""
    from integration_health.cli import db as db_cli
    from integration_health.cli import demo as demo_cli
    from integration_health.cli import flags as flags_cli
    from integration_health.cli import followups as followups_cli
    from integration_health.cli import ghl as ghl_cli
    from integration_health.cli import importing as import_cli
    from integration_health.cli import leads as leads_cli
    from integration_health.cli import notify as notify_cli
    from integration_health.cli import sandbox as sandbox_cli
    from integration_health.cli import status as status_cli
    from integration_health.cli import unipile as unipile_cli
    from integration_health.cli import verify as verify_cli

    app.command("demo")(demo_cli.demo)
    app.command("flags")(flags_cli.flags)
    app.command("status")(status_cli.status)
    app.command("verify")(verify_cli.verify)
    app.add_typer(db_cli.app, name="db")
    app.add_typer(followups_cli.app, name="followups")
    app.add_typer(ghl_cli.app, name="ghl")
    app.add_typer(import_cli.app, name="import")
    app.add_typer(leads_cli.app, name="leads")
    app.add_typer(notify_cli.app, name="notify")
    app.add_typer(sandbox_cli.app, name="sandbox")
    app.add_typer(unipile_cli.app, name="unipile")


_register()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app and turn every error into an exit code."""
    from integration_health.errors import IntegrationHealthError

    args = sys.argv[1:] if argv is None else argv
    verbose = "-v" in args or "--verbose" in args
    try:
        # Standalone mode: usage errors print and exit 2, success exits 0.
        app(args=args, prog_name="integration-health")
    except IntegrationHealthError as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        echo_err(f"error: {exc.message}")
        if exc.hint:
            echo_err(f"hint: {exc.hint}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        echo_err("interrupted")
        sys.exit(130)
    except Exception as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        from integration_health.redact import redact

        echo_err(f"error: unexpected {type(exc).__name__}: {redact(exc)}")
        echo_err("hint: run again with -v for the traceback")
        sys.exit(1)
