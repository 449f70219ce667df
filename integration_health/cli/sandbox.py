"""``sandbox`` commands: run the local stand-in providers for demos and tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from integration_health.sandbox import Sandbox

app = typer.Typer(
    help="The local sandbox: fake Unipile, GHL, Slack and webhook endpoint.",
    no_args_is_help=True,
)


@app.command("serve")
def serve(
    scenario: Path | None = typer.Option(
        None,
        "--scenario",
        help="Scenario JSON file (default: the shipped default scenario).",
    ),
    port: int = typer.Option(
        0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: a free one)."
    ),
) -> None:
    """Serve fake Unipile, GHL, Slack and webhook endpoints on 127.0.0.1.

    Prints the variables to export, then serves until Ctrl-C or SIGTERM.

    Example: integration-health sandbox serve --scenario scenario.json --port 8765
    """
    import signal
    import threading

    from integration_health.sandbox import Sandbox

    sandbox = Sandbox(scenario, port=port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with sandbox:
        typer.echo(f"# sandbox at {sandbox.url} (Ctrl-C to stop)")
        for name, value in _exports(sandbox).items():
            typer.echo(f"export {name}={value}")
        while not stop.wait(0.5):
            pass


def _exports(sandbox: Sandbox) -> dict[str, str]:
    return {
        "UNIPILE_DSN": sandbox.unipile_dsn,
        "UNIPILE_API_KEY": sandbox.unipile_api_key,
        "GHL_BASE_URL": sandbox.ghl_base_url,
        "SLACK_WEBHOOK_URL": sandbox.slack_webhook_url,
        "VERIFY_WEBHOOK_URL": sandbox.webhook_url,
    }
