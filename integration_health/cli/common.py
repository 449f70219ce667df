"""What every command shares: global options, settings, engine, logging.

Heavy modules (SQLAlchemy, httpx, the services) are imported inside the
functions that need them, so that ``--help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from integration_health.render import json_default

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from integration_health.config import Settings
    from integration_health.services.runs import RunHandle

LOGGER_NAME = "integration_health"


@dataclass
class AppState:
    """Global options of one invocation, with settings and engine made lazily."""

    env_file: Path | None = None
    database_url: str | None = None
    verbose: bool = False
    log_format: str = "text"
    #: None: decide by the terminal (see :meth:`shows_summaries`).
    quiet: bool | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)
    _schema_checked: bool = field(default=False, repr=False)

    def shows_summaries(self) -> bool:
        """Whether job summaries and tables for people are printed.

        Cron runs are not on a terminal and stay quiet on success (warnings
        and errors are always logged); ``--no-quiet`` or ``-v`` show them.
        """
        if self.quiet is not None:
            return not self.quiet
        return self.verbose or sys.stderr.isatty()

    def settings(self) -> Settings:
        if self._settings is None:
            from integration_health.config import load_settings

            overrides = {}
            if self.database_url is not None:
                if not self.database_url.strip():
                    from integration_health.errors import ConfigError

                    raise ConfigError("--database-url: empty; give a database URL")
                overrides["DATABASE_URL"] = self.database_url
            self._settings = load_settings(self.env_file, overrides=overrides)
        return self._settings

    def engine(self, *, require_schema: bool = True, create: bool = False) -> Engine:
        """The database engine, checked to be reachable (exit 2 otherwise).

        Unless ``require_schema`` is False (the ``db`` commands), the schema
        must also be at head, so that no job runs on a half-migrated database.
        Unless ``create`` is True (``db upgrade``), a SQLite file must exist:
        opening a mistyped path would leave an empty database behind.
        """
        if self._engine is None:
            from integration_health.db import check_connection, make_engine

            url = self.settings().database_url
            if not create:
                _refuse_missing_sqlite_file(url)
            engine = make_engine(url)
            check_connection(engine)
            self._engine = engine
        if require_schema and not self._schema_checked:
            from integration_health.migrate import require_schema as check_schema

            check_schema(self._engine)
            self._schema_checked = True
        return self._engine


def _refuse_missing_sqlite_file(url: str) -> None:
    """Only ``db upgrade`` may create a SQLite file; the rest say it is missing."""
    from sqlalchemy.engine import make_url

    from integration_health.errors import ConfigError

    parsed = make_url(url)
    path = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or path in {"", ":memory:"}:
        return
    if not Path(path).exists():
        raise ConfigError(f"no database at {path}; run: integration-health db upgrade")


def get_state(ctx: typer.Context) -> AppState:
    """The :class:`AppState` the root callback stored on the context."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, action and safe context."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            # UTC, written like every other time the toolkit prints.
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        action = getattr(record, "action", None)
        if action:
            payload["action"] = action
        for key, value in vars(record).items():
            if key.startswith("ctx_"):
                payload[key[4:]] = value
        if record.exc_text:
            payload["exc"] = record.exc_text
        elif record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=json_default)


def configure_logging(*, verbose: bool, log_format: str) -> None:
    """Configure the package logger only; hold ``httpx`` at WARNING.

    Not on a terminal (cron) and without ``-v``, only warnings and errors
    are shown, so that a successful run is quiet.
    """
    from integration_health.redact import RedactingFilter

    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.propagate = False
    if verbose:
        logger.setLevel(logging.DEBUG)
    elif sys.stderr.isatty():
        logger.setLevel(logging.INFO)
    else:
        logger.setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def flush_after_job(state: AppState, *, no_notify: bool) -> None:
    """Send what a job queued, at its end, unless ``--no-notify``.

    Slack (or the outbox) failing is logged and never changes the job's exit
    code: the notices stay queued for ``notify flush``.
    """
    if no_notify:
        return
    from integration_health.cli.notify import run_flush
    from integration_health.redact import redact

    try:
        run_flush(state)
    except Exception as exc:
        logging.getLogger(__name__).warning(
            "Slack notices stay queued: %s",
            redact(exc),
            extra={"action": "notify.flush_after_job_failed"},
        )


def echo_err(message: str) -> None:
    """A line for people, on stderr (stdout is for data)."""
    typer.echo(message, err=True)


def echo_note(ctx: typer.Context, message: str) -> None:
    """An operator command's result line on stderr, unless ``--quiet`` is given.

    Unlike a job's summary it shows off a terminal too (a script that imports
    wants to see what was skipped), but an explicit ``--quiet`` hides it.
    """
    if get_state(ctx).quiet is not True:
        typer.echo(message, err=True)


def echo_summary(ctx: typer.Context, message: str, *, err: bool = True) -> None:
    """A job's summary or table line: printed unless the run is quiet.

    With ``--log-format json`` a summary meant for stderr is a log record,
    so that a cron log file holds JSON lines only.
    """
    state = get_state(ctx)
    if not state.shows_summaries():
        return
    if err and state.log_format == "json":
        # INFO, or the lowest level the handler lets through off a terminal.
        level = max(logging.INFO, logging.getLogger(LOGGER_NAME).getEffectiveLevel())
        logging.getLogger(f"{LOGGER_NAME}.summary").log(
            level, message, extra={"action": "job.summary"}
        )
        return
    typer.echo(message, err=err)


def wait_option() -> Any:
    """The ``--wait`` option every state-changing command offers."""
    return typer.Option(
        False,
        "--wait",
        help="If another run of this job is in progress, wait for it "
        "(up to 5 minutes) instead of exiting.",
    )


def run_job(
    ctx: typer.Context,
    job: str,
    body: Callable[[RunHandle], int],
    *,
    wait: bool = False,
    wait_seconds: float = 300,
) -> NoReturn:
    """Run ``body`` under ``job``'s run lock, record the run, exit with its code.

    A second run of the same job prints one line and exits 0 (design section
    7); with ``wait`` it waits, and exits 1 if the other run outlasts the
    wait. ``body`` fills ``handle.counts`` and returns the exit code.
    """
    from integration_health.services.runs import job_run

    engine = get_state(ctx).engine()
    with (
        _stop_on_sigterm(),
        job_run(engine, job, wait=wait, wait_seconds=wait_seconds) as handle,
    ):
        if handle.acquired:
            handle.set_exit_code(_call_body(body, handle))
    if not handle.acquired:
        if wait:
            echo_err(
                f"another {job} run is still in progress after waiting "
                f"{wait_seconds:g}s; exiting"
            )
            raise typer.Exit(1)
        echo_err(f"another {job} run is in progress; exiting")
        raise typer.Exit(0)
    raise typer.Exit(handle.exit_code)


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM (cron's ``timeout``, systemd) into an orderly stop.

    The run then ends like a Ctrl-C: claims given back, the run lock
    released, the run recorded as failed with exit code 143.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _call_body(body: Callable[[RunHandle], int], handle: RunHandle) -> int:
    try:
        return body(handle)
    except typer.Exit as exc:  # a body that exits on its own still gets recorded
        return exc.exit_code
