"""``db`` commands: bring the schema to head and say where it is."""

from __future__ import annotations

import typer

from integration_health.cli.common import echo_err, get_state

app = typer.Typer(help="Database schema: upgrade and inspect.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Bring the database schema to the newest revision (safe to run again).

    Creates every table in an empty database; run it after each deploy,
    before the jobs. Prints the revisions it went from and to on stderr.
    Upgrades run one at a time: a second one started meanwhile (another
    host's deploy hook) waits for the first, then finds the schema at head.

    Example: integration-health db upgrade
    """
    from integration_health import migrate

    engine = get_state(ctx).engine(require_schema=False, create=True)
    before, after = migrate.upgrade(
        engine,
        on_wait=lambda: echo_err("another db upgrade is in progress; waiting for it"),
    )
    if before == after:
        echo_err(f"database schema already at {after} (head)")
    else:
        echo_err(f"database schema upgraded from {before or '(empty)'} to {after}")


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Print the schema revision the database is at, and whether it is head.

    Exits 1 when the schema is behind (or empty), so a deploy script can
    stop before the jobs run.

    Example: integration-health db current
    """
    from integration_health import migrate

    engine = get_state(ctx).engine(require_schema=False)
    revision = migrate.current_revision(engine)
    migrate.require_known(revision)
    head = migrate.head_revision()
    if revision == head:
        typer.echo(f"{revision} (head)")
        return
    typer.echo(f"{revision or '(empty database)'} (head is {head})")
    echo_err("hint: run: integration-health db upgrade")
    raise typer.Exit(1)
