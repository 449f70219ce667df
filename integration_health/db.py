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
#: Connections kept open between uses. A job's workers each hold one for a
#: while (a follow-up worker for its account's turn), so the pool never caps
#: how many are open (``max_overflow=-1``): past this size a checkout opens a
#: new connection, and the database's own limit is the bound. A capped pool
#: made a run with more workers than its size wait 30 s, then fail.
POOL_SIZE = 20
PG_POOL_RECYCLE_SECONDS = 600


def _sqlite_pool_args(url: str) -> dict[str, Any]:
    """The pool size for a SQLite file; nothing for an in-memory database.

    SQLAlchemy gives an in-memory database a one-connection-per-thread pool,
    which takes no size and refuses these arguments. The rule is SQLAlchemy's
    own (``mode=memory`` or no file name). The CLI refuses in-memory URLs
    before this (``config.py``); library callers still get a working engine.
    """
    parsed = make_url(url)
    database = parsed.database or ""
    if database in {"", ":memory:"} or parsed.query.get("mode") == "memory":
        return {}
    return {"pool_size": POOL_SIZE, "max_overflow": -1}


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
            **_sqlite_pool_args(url),
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # No pre-ping (a round trip per checkout): connections are recycled instead,
    # before a server or proxy idle timeout would have closed them.
    return create_engine(
        url,
        echo=echo,
        pool_size=POOL_SIZE,
        max_overflow=-1,
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
    if writer is None:
        with _session(Session(engine, expire_on_commit=False)) as session:
            yield session
        return
    # The connection is taken from the pool before the writer lock, so a
    # thread waiting for a connection never holds the lock others wait for.
    try:
        conn = engine.connect()
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database error: {type(exc).__name__}") from exc
    with conn, writer:
        immediate_conn = conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        with _session(Session(bind=immediate_conn, expire_on_commit=False)) as s:
            yield s


@contextmanager
def _session(session: Session) -> Iterator[Session]:
    try:
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


_writers_lock = threading.Lock()
_writers: dict[str, threading.RLock] = {}


@contextmanager
def sqlite_writer_lock(engine: Engine) -> Iterator[None]:
    """Hold this process's writer lock of a SQLite file (nothing elsewhere).

    For code that runs ``BEGIN IMMEDIATE`` on a connection it holds itself
    rather than through :func:`session_scope`: without the lock, its threads
    and the claiming thread meet SQLite's busy handler instead of each other.
    """
    writer = _sqlite_writer(engine)
    if writer is None:
        yield
        return
    with writer:
        yield


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
