"""Migrations: from empty to head on both databases, matching models.py."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel

from integration_health import __version__, migrate
from integration_health.cli.common import AppState
from integration_health.db import make_engine
from integration_health.errors import ConfigError
from integration_health.services.runs import lock_key
from tests.conftest import REPO_ROOT, run_cli


@pytest.fixture
def pg_empty(pg_url: str) -> Iterator[Engine]:
    """An empty PostgreSQL schema of its own (``public`` stays untouched)."""
    schema = f"mig_{uuid.uuid4().hex[:10]}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgres":
        yield request.getfixturevalue("pg_empty")
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    yield engine
    engine.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_brings_an_empty_database_to_head(empty_engine: Engine) -> None:
    assert migrate.current_revision(empty_engine) is None

    migrate.upgrade(empty_engine)

    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    assert _tables(empty_engine) == set(SQLModel.metadata.tables)


def test_upgrade_twice_changes_nothing(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    migrate.upgrade(empty_engine)

    assert migrate.current_revision(empty_engine) == migrate.head_revision()


def test_migrated_schema_matches_the_models(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)

    with empty_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_downgrade_to_base_and_upgrade_again(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    config = migrate.alembic_config()
    with empty_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert _tables(empty_engine) == set()

    migrate.upgrade(empty_engine)
    assert _tables(empty_engine) == set(SQLModel.metadata.tables)


def test_migrations_use_only_plain_sqlalchemy_types() -> None:
    for script in (migrate.MIGRATIONS_DIR / "versions").glob("*.py"):
        text = script.read_text()
        assert "UTCDateTime" not in text, script.name
        assert "sqlmodel" not in text, script.name
    initial = (migrate.MIGRATIONS_DIR / "versions" / "0001_initial.py").read_text()
    assert "sa.DateTime(timezone=True)" in initial


def test_require_schema_names_both_revisions_and_the_fix(
    empty_engine: Engine,
) -> None:
    with pytest.raises(ConfigError) as caught:
        migrate.require_schema(empty_engine)

    assert caught.value.message == (
        f"database schema is at (empty), expected {migrate.head_revision()}; "
        "run: integration-health db upgrade"
    )


def test_require_schema_passes_at_head(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    migrate.require_schema(empty_engine)


def test_engine_of_a_command_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    state = AppState(database_url=f"sqlite:///{tmp_path / 'x.db'}")

    with pytest.raises(ConfigError, match="run: integration-health db upgrade"):
        state.engine()
    state.engine(require_schema=False, create=True)  # db upgrade still gets it


def test_package_data_ships_every_migration_file() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["integration_health"]
    package = REPO_ROOT / "integration_health"
    files = [
        p.relative_to(package).as_posix()
        for p in migrate.MIGRATIONS_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert "migrations/env.py" in files
    unshipped = [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    assert unshipped == []


def test_cli_db_upgrade_reports_from_and_to(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    head = migrate.head_revision()

    first = run_cli("db", "upgrade", env=env, cwd=tmp_path)
    again = run_cli("db", "upgrade", env=env, cwd=tmp_path)

    assert (first.returncode, first.stdout) == (0, "")
    assert first.stderr == f"database schema upgraded from (empty) to {head}\n"
    assert again.stderr == f"database schema already at {head} (head)\n"


def test_cli_db_current_says_whether_it_is_head(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    head = migrate.head_revision()
    (tmp_path / "cli.db").touch()  # a SQLite file without a schema

    empty = run_cli("db", "current", env=env, cwd=tmp_path)
    run_cli("db", "upgrade", env=env, cwd=tmp_path)
    current = run_cli("db", "current", env=env, cwd=tmp_path)

    assert empty.returncode == 1
    assert empty.stdout == f"(empty database) (head is {head})\n"
    assert "integration-health db upgrade" in empty.stderr
    assert (current.returncode, current.stdout) == (0, f"{head} (head)\n")


def test_head_revision_constant_matches_the_packaged_scripts() -> None:
    assert migrate.head_revision() == migrate.HEAD_REVISION


def test_require_schema_refuses_a_database_one_revision_behind(
    empty_engine: Engine,
) -> None:
    migrate.upgrade(empty_engine, "0001")

    with pytest.raises(ConfigError) as caught:
        migrate.require_schema(empty_engine)

    assert caught.value.message.startswith("database schema is at 0001, expected")


def test_an_in_memory_sqlite_engine_can_be_migrated() -> None:
    engine = make_engine("sqlite://")

    migrate.upgrade(engine)

    assert migrate.current_revision(engine) == migrate.HEAD_REVISION
    engine.dispose()


def _start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """``integration-health ARGS`` in its own process, not waited for."""
    child_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(REPO_ROOT),
        "LANG": "C.UTF-8",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "integration_health", *args],
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _waiters_for_the_upgrade_lock(engine: Engine) -> int:
    """Connections to this database waiting for the upgrade's advisory lock."""
    key = lock_key(migrate.UPGRADE_LOCK) & 0xFFFF_FFFF_FFFF_FFFF
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND NOT granted AND classid::bigint = :high "
                    "AND objid::bigint = :low AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"high": key >> 32, "low": key & 0xFFFF_FFFF},
            ).scalar_one()
        )


def test_two_upgrades_at_once_on_postgres_run_one_after_the_other(
    pg_empty: Engine,
) -> None:
    env = {"DATABASE_URL": pg_empty.url.render_as_string(hide_password=False)}
    head = migrate.HEAD_REVISION
    with pg_empty.connect() as holder:  # both start while the lock is taken
        key = {"key": lock_key(migrate.UPGRADE_LOCK)}
        holder.execute(text("SELECT pg_advisory_lock(:key)"), key)
        procs = [_start_cli("db", "upgrade", env=env) for _ in range(2)]
        deadline = time.monotonic() + 60
        while _waiters_for_the_upgrade_lock(pg_empty) < 2:
            assert time.monotonic() < deadline, "the upgrades never waited"
            assert all(p.poll() is None for p in procs), "an upgrade did not wait"
            time.sleep(0.1)
        holder.execute(text("SELECT pg_advisory_unlock(:key)"), key)
    outcomes = [(p.wait(timeout=60), p.communicate()) for p in procs]

    waiting = "another db upgrade is in progress; waiting for it\n"
    assert sorted((code, err) for code, (_, err) in outcomes) == [
        (0, f"{waiting}database schema already at {head} (head)\n"),
        (0, f"{waiting}database schema upgraded from (empty) to {head}\n"),
    ]
    assert migrate.current_revision(pg_empty) == head


def _has_open(pid: int, path: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.path.realpath(fd) == str(path) for fd in fds.iterdir())
    except OSError:
        return False


def test_upgrade_on_sqlite_waits_for_another_ones_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    engine = make_engine(f"sqlite:///{path}")
    config = migrate.alembic_config()
    with engine.connect() as holder:  # another upgrade, not committed yet
        holder.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        with holder.begin():
            config.attributes["connection"] = holder
            command.upgrade(config, "head")
            proc = _start_cli(
                "db", "upgrade", env={"DATABASE_URL": f"sqlite:///{path}"}
            )
            deadline = time.monotonic() + 60
            while not _has_open(proc.pid, path):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
            time.sleep(3)  # past its first read, into its own upgrade
    _, err = proc.communicate(timeout=60)
    engine.dispose()

    assert (proc.returncode, err) == (
        0,
        f"database schema already at {migrate.HEAD_REVISION} (head)\n",
    )


def _at_unknown_revision(engine: Engine) -> None:
    """The database as a newer version would leave it: a revision not shipped."""
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))


UNKNOWN_REVISION = (
    "the database is at revision 0099, which this version of integration-health "
    f"({__version__}) does not know (it may be newer); "
    "run the matching version or a newer one"
)


def test_require_schema_names_a_revision_this_version_does_not_know(
    empty_engine: Engine,
) -> None:
    _at_unknown_revision(empty_engine)

    with pytest.raises(ConfigError) as caught:
        migrate.require_schema(empty_engine)

    assert caught.value.message == UNKNOWN_REVISION


@pytest.mark.parametrize("command", [("db", "current"), ("db", "upgrade"), ("status",)])
def test_cli_on_a_revision_this_version_does_not_know_exits_2_in_one_line(
    sqlite_url: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    engine = make_engine(sqlite_url)
    _at_unknown_revision(engine)

    result = run_cli(*command, env={"DATABASE_URL": sqlite_url}, cwd=tmp_path)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: {UNKNOWN_REVISION}\n"
    assert migrate.stamped_revision(engine) == "0099"
    engine.dispose()


def test_cli_db_current_on_a_missing_sqlite_file_creates_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "typo.db"

    result = run_cli("db", "current", env={"DATABASE_URL": f"sqlite:///{path}"})

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: no database at {path}; run: integration-health db upgrade\n"
    )
    assert not path.exists()


@pytest.mark.parametrize("command", [("db", "current"), ("db", "upgrade")])
def test_cli_on_tables_without_a_revision_exits_2_in_one_line(
    sqlite_url: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))

    result = run_cli(*command, env={"DATABASE_URL": sqlite_url}, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith("error: the database has integration-health's")
    assert len(result.stderr.splitlines()) == 1
    engine.dispose()


def test_several_recorded_revisions_are_refused_in_one_line(
    empty_engine: Engine,
) -> None:
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(text("INSERT INTO alembic_version VALUES ('0001')"))

    with pytest.raises(ConfigError) as caught:
        migrate.upgrade(empty_engine)

    assert caught.value.message.startswith(
        "the database records several schema revisions (0001, 0002)"
    )
