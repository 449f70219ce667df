"""``db`` commands: bring the schema to head and say where it is."""

from __future__ import annotations

import typer

from integration_health.cli.common import get_state

app = typer.Typer(help="Database schema: upgrade and inspect.", no_args_is_help=True)


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Print the schema revision the database is at.

    Example: integration-health db current
    """
    from integration_health.migrate import current_revision

    state = get_state(ctx)
    typer.echo(current_revision(state.engine()) or "(empty database)")
