"""Schema migrations with Alembic, configured in code.

The migration scripts ship inside the package (``integration_health/
migrations``), so an installed toolkit can upgrade a database without an
``alembic.ini``. Commands other than ``db ...`` refuse to run on a schema that
is not at head (:func:`require_schema`): a half-migrated database fails in one
line instead of in the middle of a job.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from integration_health.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The newest revision among the packaged scripts, written here so that every
#: command's schema check is one SELECT, without importing Alembic and every
#: script (a tenth of a second of each cron run). A test holds it equal to
#: what Alembic finds; a new migration changes both.
HEAD_REVISION = "0002"


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged scripts; no file needed."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` in one transaction."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision this version of the toolkit knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise ConfigError("no migrations found in the installed package")
    return head


def stamped_revision(engine: Engine) -> str | None:
    """The revision in ``alembic_version`` by plain SQL; None when absent."""
    import sqlalchemy as sa

    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        rows = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        versions = [str(row[0]) for row in rows]
    return versions[0] if len(versions) == 1 else ",".join(sorted(versions)) or None


def require_schema(engine: Engine) -> None:
    """Raise :class:`ConfigError` unless the database is at head."""
    current = stamped_revision(engine)
    head = HEAD_REVISION
    if current != head:
        raise ConfigError(
            f"database schema is at {current or '(empty)'}, expected {head}; "
            "run: integration-health db upgrade"
        )
