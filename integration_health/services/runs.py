"""Run locks and job-run records for every state-changing command.

Several cron hosts may start the same job against one database (design
section 7). On PostgreSQL a session-level advisory lock, held on a dedicated
connection for the whole run, lets one run through; the server frees it if
the process dies. SQLite has no such lock, so a ``run_lock`` row with an
expiry stands in; a crashed run's row is taken over once it has expired.
Each run that gets the lock writes a ``job_run`` row: ``running`` at start,
``succeeded`` or ``failed`` at the end, which is what ``status`` and
``verify`` read.

Known limitation: the SQLite lock row is not renewed while a run goes on, so
a run longer than ``lock_seconds`` can be overlapped by the next one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import delete, func, select, text
from sqlmodel import col

from integration_health.db import is_postgres, session_scope
from integration_health.errors import IntegrationHealthError
from integration_health.models import JobRun, JobRunStatus, RunLock, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlmodel import Session

logger = logging.getLogger(__name__)

#: How often a waiting run asks for the lock again.
WAIT_POLL_SECONDS = 1.0


@dataclass
class RunHandle:
    """What the body of a run sees: whether it may work, and its tallies."""

    acquired: bool
    job_run_id: int | None = None
    #: Filled by the command ("sent": 3, ...); stored as JSON at the end.
    counts: dict[str, int] = field(default_factory=dict)
    exit_code: int = 0

    def set_exit_code(self, code: int) -> None:
        self.exit_code = code


def lock_key(job: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (same on every host)."""
    digest = hashlib.sha256(f"integration-health:{job}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Lock(Protocol):
    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...


class _AdvisoryLock:
    """PostgreSQL: ``pg_try_advisory_lock`` on a connection held for the run."""

    def __init__(self, engine: Engine, job: str) -> None:
        self._engine = engine
        self._key = lock_key(job)
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
        ).scalar_one()
        if got:
            self._conn = conn
        else:
            conn.close()
        return bool(got)

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}
            )
        finally:
            self._conn.close()
            self._conn = None


def owner_is_gone(owner: str) -> bool:
    """True when ``owner`` (host:pid:nonce) was a process of this host that died.

    A SQLite run lock is a row, and a killed run cannot delete it; without
    this check cron could not run that job again until the row expired.
    Known limitation: a pid reused by an unrelated process keeps the lock
    until it expires.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class _RowLock:
    """SQLite: a ``run_lock`` row, taken over once it has expired or its
    owner process on this host has died."""

    def __init__(
        self,
        engine: Engine,
        job: str,
        owner: str,
        lock_seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._engine = engine
        self._job = job
        self._owner = owner
        self._lock_seconds = lock_seconds
        self._clock = clock

    def try_acquire(self) -> bool:
        now = self._clock()
        expires = now + timedelta(seconds=self._lock_seconds)
        with session_scope(self._engine, immediate=True) as session:
            row = session.get(RunLock, self._job)
            if (
                row is not None
                and row.owner != self._owner
                and row.expires_at > now
                and not owner_is_gone(row.owner)
            ):
                return False
            if row is not None and row.owner != self._owner:
                logger.warning(
                    "taking over the run lock of a run that expired or died",
                    extra={"action": "runs.lock.takeover", "ctx_job": self._job},
                )
            row = row or RunLock(name=self._job, owner=self._owner, expires_at=now)
            row.owner, row.acquired_at, row.expires_at = self._owner, now, expires
            session.add(row)
        return True

    def release(self) -> None:
        with session_scope(self._engine) as session:
            session.execute(
                delete(RunLock).where(
                    col(RunLock.name) == self._job, col(RunLock.owner) == self._owner
                )
            )


def _acquire(
    lock: _Lock,
    *,
    wait: bool,
    wait_seconds: float,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> bool:
    deadline = monotonic() + wait_seconds
    while True:
        if lock.try_acquire():
            return True
        remaining = deadline - monotonic()
        if not wait or remaining <= 0:
            return False
        sleep(min(WAIT_POLL_SECONDS, remaining))


def _start(engine: Engine, job: str, clock: Callable[[], datetime]) -> int:
    with session_scope(engine) as session:
        run = JobRun(
            job=job,
            status=JobRunStatus.RUNNING.value,
            started_at=clock(),
            host=socket.gethostname()[:200],
            pid=os.getpid(),
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def _finish(
    engine: Engine, run_id: int, handle: RunHandle, clock: Callable[[], datetime]
) -> None:
    status = JobRunStatus.SUCCEEDED if handle.exit_code == 0 else JobRunStatus.FAILED
    with session_scope(engine) as session:
        run = session.get(JobRun, run_id)
        if run is None:  # deleted under us; nothing left to record
            return
        run.status = status.value
        run.finished_at = clock()
        run.exit_code = handle.exit_code
        run.counts = json.dumps(handle.counts, sort_keys=True)[:4000]
        session.add(run)


def _exit_code_of(exc: BaseException) -> int:
    if isinstance(exc, IntegrationHealthError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if isinstance(exc, SystemExit) and isinstance(exc.code, int):
        return exc.code
    return 1


@contextmanager
def job_run(
    engine: Engine,
    job: str,
    *,
    owner: str | None = None,
    wait: bool = False,
    wait_seconds: float = 300,
    lock_seconds: float = 3600,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[RunHandle]:
    """Hold ``job``'s run lock and record the run; yield a :class:`RunHandle`.

    When another run holds the lock (and ``wait`` is False, or the wait ran
    out), the handle has ``acquired=False`` and nothing is recorded. An
    exception in the body records the run as failed and is re-raised.
    """
    lock: _Lock
    if is_postgres(engine):
        lock = _AdvisoryLock(engine, job)
    else:
        lock = _RowLock(engine, job, owner or default_owner(), lock_seconds, clock)
    acquired = _acquire(
        lock, wait=wait, wait_seconds=wait_seconds, sleep=sleep, monotonic=monotonic
    )
    if not acquired:
        yield RunHandle(acquired=False)
        return
    try:
        handle = RunHandle(acquired=True, job_run_id=_start(engine, job, clock))
        assert handle.job_run_id is not None
        try:
            yield handle
        except BaseException as exc:
            handle.exit_code = _exit_code_of(exc) or 1
            _finish(engine, handle.job_run_id, handle, clock)
            raise
        _finish(engine, handle.job_run_id, handle, clock)
    finally:
        lock.release()


def last_successes(session: Session) -> dict[str, datetime]:
    """The latest successful finish of each job (for ``status`` and verify)."""
    rows = session.execute(
        select(col(JobRun.job), func.max(col(JobRun.finished_at)))
        .where(col(JobRun.status) == JobRunStatus.SUCCEEDED.value)
        .group_by(col(JobRun.job))
    ).all()
    return {job: at for job, at in rows if at is not None}
