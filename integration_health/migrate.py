"""Schema migrations with Alembic, configured in code.

The migration scripts ship inside the package (``integration_health/
migrations``), so an installed toolkit can upgrade a database without an
``alembic.ini``. Commands other than ``db ...`` refuse to run on a schema that
is not at head (:func:`require_schema`): a half-migrated database fails in one
line instead of in the middle of a job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from integration_health.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection, Engine

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


#: The name of the PostgreSQL advisory lock every upgrade holds (see
#: :func:`upgrade`); its key is derived like the run locks' keys.
UPGRADE_LOCK = "db-upgrade"


def upgrade(
    engine: Engine,
    revision: str = "head",
    *,
    on_wait: Callable[[], None] | None = None,
) -> tuple[str | None, str | None]:
    """Bring the database to ``revision`` in one transaction; (before, after).

    Upgrades run one at a time across processes and hosts: two deploy hooks
    running at once would otherwise both create the same tables, and the
    second fail half way. The second waits (``on_wait`` is called first,
    on PostgreSQL), then reads the revision the first left, so it finds the
    schema at head and changes nothing.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    config = alembic_config()
    with _upgrade_transaction(engine, on_wait) as connection:
        before = checked_stamp(connection)
        require_known(before)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        after = MigrationContext.configure(connection).get_current_revision()
    return before, after


@contextmanager
def _upgrade_transaction(
    engine: Engine, on_wait: Callable[[], None] | None
) -> Iterator[Connection]:
    """A transaction that holds the database's migration lock until it ends.

    PostgreSQL: a transaction-level advisory lock, freed at commit, rollback
    or when the process dies. SQLite: ``BEGIN IMMEDIATE``, the file's write
    lock (other processes wait in the busy timeout), and this process's
    writer lock so that its own threads queue instead of meeting it.
    """
    import sqlalchemy as sa

    from integration_health.db import is_postgres, is_sqlite, sqlite_writer_lock
    from integration_health.services.runs import lock_key

    if is_sqlite(engine):
        with engine.connect() as conn, sqlite_writer_lock(engine):
            conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                yield conn
        return
    with engine.begin() as conn:
        if is_postgres(engine):
            key = {"key": lock_key(UPGRADE_LOCK)}
            taken = conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:key)"), key)
            if not taken.scalar():
                if on_wait is not None:
                    on_wait()
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), key)
        yield conn


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty database."""
    with engine.connect() as connection:
        return checked_stamp(connection)


#: A table every schema revision has: its presence without a revision
#: means the revision record was lost, not that the database is empty.
_ANY_TABLE = "job_run"


def checked_stamp(connection: Connection) -> str | None:
    """The one recorded revision; None for an empty database.

    Raises :class:`ConfigError` when the record cannot be trusted: several
    revisions, or the toolkit's tables without any (upgrading then would
    try to create tables that exist and fail half way).
    """
    import sqlalchemy as sa

    inspector = sa.inspect(connection)
    versions: list[str] = []
    if inspector.has_table("alembic_version"):
        rows = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        versions = sorted(str(row[0]) for row in rows)
    if len(versions) > 1:
        raise ConfigError(
            f"the database records several schema revisions ({', '.join(versions)}) "
            "in alembic_version; keep the one the schema is at and delete the others"
        )
    if not versions and inspector.has_table(_ANY_TABLE):
        raise ConfigError(
            "the database has integration-health's tables but no schema revision "
            "(alembic_version is missing or empty), so it cannot be upgraded "
            "safely; restore that row (from a backup) first"
        )
    return versions[0] if versions else None


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


def known_revisions() -> set[str]:
    """Every revision among the packaged scripts (imports Alembic)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    return {script.revision for script in scripts.walk_revisions()}


def require_known(revision: str | None) -> None:
    """Raise :class:`ConfigError` when this version cannot read ``revision``.

    A database a newer version has migrated (the code was rolled back, or
    one host was not upgraded) cannot be upgraded from here, and telling the
    operator to run ``db upgrade`` would send them round in circles.
    """
    if revision is None:
        return
    known = known_revisions()
    if all(part in known for part in revision.split(",")):
        return
    from integration_health import __version__

    raise ConfigError(
        f"the database is at revision {revision}, which this version of "
        f"integration-health ({__version__}) does not know (it may be newer); "
        "run the matching version or a newer one"
    )


def require_schema(engine: Engine) -> None:
    """Raise :class:`ConfigError` unless the database is at head.

    Only a mismatch costs more than the one SELECT: then the scripts are
    read, to tell a database behind this version from one ahead of it.
    """
    current = stamped_revision(engine)
    head = HEAD_REVISION
    if current != head:
        require_known(current)
        raise ConfigError(
            f"database schema is at {current or '(empty)'}, expected {head}; "
            "run: integration-health db upgrade"
        )
