"""What every command shares: global options, settings, engine, logging.

Heavy modules (SQLAlchemy, httpx, the services) are imported inside the
functions that need them, so that ``--help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from integration_health.config import Settings

LOGGER_NAME = "integration_health"


@dataclass
class AppState:
    """Global options of one invocation, with settings and engine made lazily."""

    env_file: Path | None = None
    database_url: str | None = None
    verbose: bool = False
    log_format: str = "text"
    _settings: Settings | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)
    _schema_checked: bool = field(default=False, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            from integration_health.config import load_settings

            overrides = {}
            if self.database_url:
                overrides["DATABASE_URL"] = self.database_url
            self._settings = load_settings(self.env_file, overrides=overrides)
        return self._settings

    def engine(self, *, require_schema: bool = True) -> Engine:
        """The database engine, checked to be reachable (exit 2 otherwise).

        Unless ``require_schema`` is False (the ``db`` commands), the schema
        must also be at head, so that no job runs on a half-migrated database.
        """
        if self._engine is None:
            from integration_health.db import check_connection, make_engine

            engine = make_engine(self.settings().database_url)
            check_connection(engine)
            self._engine = engine
        if require_schema and not self._schema_checked:
            from integration_health.migrate import require_schema as check_schema

            check_schema(self._engine)
            self._schema_checked = True
        return self._engine


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
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
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
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


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


def echo_err(message: str) -> None:
    """A line for people, on stderr (stdout is for data)."""
    typer.echo(message, err=True)
