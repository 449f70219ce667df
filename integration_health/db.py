"""Engine and session factory: SQLite by default, PostgreSQL by URL.

SQLite gets WAL, foreign keys and a busy timeout on every connection, so that
a cron run and an operator's command can share one file. PostgreSQL goes
through psycopg 3. Connection failures become :class:`DatabaseError` with one
readable line (never the driver's traceback).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlmodel import Session, create_engine

from integration_health.errors import DatabaseError

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_POOL_SIZE = 20
PG_POOL_RECYCLE_SECONDS = 600


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy control transactions, and start them with BEGIN IMMEDIATE
    # where the caller asks for a write lock (see ``write_session``).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for ``url`` with the per-dialect settings above."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # Keep every connection a concurrent job opens (``SEND_CONCURRENCY``
    # workers and more): past ``pool_size`` each checkout reconnects. No
    # pre-ping (a round trip per checkout): connections are recycled instead,
    # before a server or proxy idle timeout would have closed them.
    return create_engine(
        url,
        echo=echo,
        pool_size=PG_POOL_SIZE,
        max_overflow=PG_POOL_SIZE,
        pool_recycle=PG_POOL_RECYCLE_SECONDS,
        connect_args={"connect_timeout": 10},
    )


def rowcount(result: Any) -> int:
    """Rows touched by an UPDATE/INSERT/DELETE result (0 when unknown)."""
    count = getattr(result, "rowcount", 0)
    return int(count) if count and count > 0 else 0


def check_connection(engine: Engine) -> None:
    """Fail early, in one line, when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except DBAPIError as exc:
        # Unreachable, refused, or a file that is not a database at all.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseError(
            f"database unreachable or unusable ({engine.url.get_backend_name()}): "
            f"{reason}",
            hint="check DATABASE_URL or --database-url",
        ) from exc


@contextmanager
def session_scope(engine: Engine, *, immediate: bool = False) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error.

    ``immediate=True`` takes SQLite's write lock at BEGIN (``BEGIN
    IMMEDIATE``), which is what claim-then-update code needs to keep the
    same semantics as ``FOR UPDATE`` on PostgreSQL. It is ignored there.
    """
    writer = _sqlite_writer(engine) if immediate else None
    if writer is not None:
        writer.acquire()
    session = Session(engine, expire_on_commit=False)
    try:
        if writer is not None:
            # Applies to this session's first transaction only: keep one
            # claim per ``session_scope``.
            session.connection(execution_options={"sqlite_begin": "BEGIN IMMEDIATE"})
        yield session
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        raise DatabaseError(f"database error: {type(exc).__name__}") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        if writer is not None:
            writer.release()


_writers_lock = threading.Lock()
_writers: dict[str, threading.RLock] = {}


def _sqlite_writer(engine: Engine) -> threading.RLock | None:
    """One lock per SQLite file, held around each ``BEGIN IMMEDIATE``.

    Threads of one process then hand the write lock over at once instead of
    meeting SQLite's busy handler, which sleeps in growing steps (up to
    100 ms) while it waits. Other processes still rely on the busy timeout.
    """
    if not is_sqlite(engine):
        return None
    key = str(engine.url)
    with _writers_lock:
        return _writers.setdefault(key, threading.RLock())
