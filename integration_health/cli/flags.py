"""``flags``: the feature flags in effect, and where each value came from.

Turning a flag off is the rollback (design section 9), so an operator must be
able to see at a glance what a run will do and why.
"""

from __future__ import annotations

import json
from enum import StrEnum

import typer

from integration_health.cli.common import get_state

FLAG_VARIABLES = ("UNIPILE_HEALTH_GATE", "AUTO_DISABLE")


class FlagsFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def flags(
    ctx: typer.Context,
    output: FlagsFormat = typer.Option(
        FlagsFormat.TABLE, "--format", help="table for people, json for machines."
    ),
    show_all: bool = typer.Option(
        False, "--all", help="Show every setting, not only the flags."
    ),
) -> None:
    """Show the effective feature flags and where each value came from.

    Sources: environment, .env, option, or default. With --all, every
    setting is listed; secrets show only "(set)" or "(not set)".

    Example: integration-health flags --all --format json
    """
    rows = get_state(ctx).settings().public_items()
    if not show_all:
        rows = [row for row in rows if row[0] in FLAG_VARIABLES]
    if output is FlagsFormat.JSON:
        items = [{"variable": v, "value": shown, "source": s} for v, shown, s in rows]
        typer.echo(json.dumps(items, indent=2))
        return
    from integration_health.render import render_table

    render_table(
        "settings" if show_all else "flags", ("variable", "value", "source"), rows
    )
