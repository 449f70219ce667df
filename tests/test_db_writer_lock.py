"""The per-file SQLite writer lock and the connection pool never wait on each
other: a thread waiting for a pooled connection does not hold the lock."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import create_engine

from integration_health.db import session_scope, sqlite_writer_lock


def test_a_writer_waiting_for_a_connection_does_not_hold_the_lock(
    tmp_path: Path,
) -> None:
    engine = create_engine(
        f"sqlite:///{tmp_path / 'w.db'}",
        pool_size=1,
        max_overflow=0,
        connect_args={"check_same_thread": False},
    )
    held = engine.connect()  # the pool's only connection
    entered = threading.Event()

    def writer() -> None:
        with session_scope(engine, immediate=True) as session:
            session.execute(sa.text("SELECT 1"))
            entered.set()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    thread.join(timeout=0.3)  # now waiting for the pool
    got_lock = threading.Event()

    def other() -> None:
        with sqlite_writer_lock(engine):
            got_lock.set()

    other_thread = threading.Thread(target=other, daemon=True)
    other_thread.start()
    other_thread.join(timeout=2)
    lock_was_free = got_lock.is_set()
    held.close()
    thread.join(timeout=5)

    assert lock_was_free
    assert entered.is_set()


def test_the_writer_lock_is_a_no_op_elsewhere() -> None:
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with sqlite_writer_lock(engine):
        pass  # no connection is made, nothing is locked
