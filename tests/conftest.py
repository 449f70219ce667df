"""Shared fixtures: real SQLite and PostgreSQL engines, settings, the CLI.

PostgreSQL tests run when ``TEST_DATABASE_URL`` names a PostgreSQL database
(``.ci/run`` creates a throwaway one); without it they skip with that reason.
Each test gets an empty database whose schema the real migrations built:
SQLite a new migrated file, PostgreSQL migrated once per session and its
tables truncated before each test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import integration_health.models  # noqa: F401  (registers the tables)
from integration_health.config import Settings, load_settings
from integration_health.db import make_engine
from integration_health.migrate import upgrade

pytest_plugins = ["tests.sandbox_fixtures"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def _pg_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    return url or None


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url() -> str:
    url = _pg_url()
    if url is None:
        pytest.skip("TEST_DATABASE_URL is not set: no PostgreSQL for this run")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


_PG_MIGRATED: set[str] = set()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """PostgreSQL migrated once per test session, then emptied per test.

    Tests must not change the schema of ``public``; a test that needs its
    own schema uses a separate one (see ``tests/test_migrations.py``).
    """
    engine = make_engine(pg_url)
    if pg_url not in _PG_MIGRATED:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        upgrade(engine)
        _PG_MIGRATED.add(pg_url)
    else:
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on SQLite and on PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    return request.getfixturevalue(name)


@pytest.fixture
def db_url(engine: Engine) -> str:
    """The URL of ``engine``, for running the CLI against the same database."""
    return engine.url.render_as_string(hide_password=False)


def make_settings(**env: str) -> Settings:
    """Settings from the given variables only (no process env, no .env)."""
    return load_settings(environ=env)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input_text: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m integration_health ARGS`` in a subprocess.

    The child gets a minimal environment (no variables of this process that
    could change settings) plus ``env``; it imports this checkout.
    """
    child_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(REPO_ROOT),
        "LANG": "C.UTF-8",
    }
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "integration_health", *args],
        env=child_env,
        cwd=cwd,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
