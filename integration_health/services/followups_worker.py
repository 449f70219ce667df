"""One account worker's database: a held connection, the cap lock, one
statement per send and one per outcome on PostgreSQL.

A worker is the only sender of its account in this process. On PostgreSQL it
holds the account's advisory lock for its whole queue, so other processes
cannot send for that account meanwhile and the daily cap is counted once per
queue, then kept in memory. The connection is in autocommit, and each write is
one atomic statement (data-modifying CTEs): the ``sending`` row, with the
claim renewal, commits before the provider call. SQLite's ``BEGIN IMMEDIATE``
serialises every writer, so there each send counts the cap again in the
transaction that inserts its ``sending`` row.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from integration_health.db import sqlite_writer_lock
from integration_health.models import InstanceStatus, SendStatus
from integration_health.services import followups_db as fdb
from integration_health.services.followups_sql import FI, LEAD, SA, StepItem

logger = logging.getLogger(__name__)

_LOCK_KEY = "followups-cap:{account}"


class AccountDb:
    """The statements one account's sends need, on one connection."""

    def __init__(self, conn: Connection, account: str) -> None:
        self.conn = conn
        self.account = account
        self.pg = conn.dialect.name == "postgresql"
        #: (channel, UTC day) -> sends counted against that day's cap
        #: (PostgreSQL only: valid while we hold the account's lock).
        self._used: dict[tuple[str, datetime], int] = {}

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """One real transaction on the held connection, for the rare paths
        (deferrals, failures, health); rolled back on any error."""
        conn = self.conn
        if conn.in_transaction():
            conn.commit()  # autocommit: ends only SQLAlchemy's bookkeeping
        if self.pg:
            conn.execution_options(isolation_level="READ COMMITTED")
        try:
            with self._locked(), conn.begin():
                session = Session(bind=conn, expire_on_commit=False)
                try:
                    yield session
                    session.flush()
                finally:
                    session.close()
        finally:
            if self.pg:
                conn.execution_options(isolation_level="AUTOCOMMIT")

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """PostgreSQL: each statement commits itself; SQLite: one transaction."""
        if self.pg:
            yield self.conn
            return
        with self._locked(), self.conn.begin():
            yield self.conn

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        """SQLite: this process's writer lock around each ``BEGIN IMMEDIATE``."""
        if self.pg:
            return contextlib.nullcontext()
        return sqlite_writer_lock(self.conn.engine)

    def _sends_today(self, channel: str, now: datetime) -> int:
        key = (channel, fdb.utc_day_start(now))
        if not self.pg or key not in self._used:
            conn: Any = self.conn  # a Connection serves where a Session is typed
            used = fdb.sends_today(conn, self.account, channel, now)
            self._used[key] = used
        return self._used[key]

    def begin(
        self,
        item: StepItem,
        *,
        owner: str,
        now: datetime,
        until: datetime,
        cap: int | None,
    ) -> int | str:
        """The committed ``sending`` row's id, or why nothing may be sent:
        ``"lost"`` (the claim is no longer ours) or ``"daily_cap"``."""
        with self._write() as conn:
            if cap is not None and self._sends_today(item.channel, now) >= cap:
                opens = fdb.next_utc_day(now)
                if not _defer_if_ours(conn, item, owner=owner, until=opens, now=now):
                    return "lost"
                return "daily_cap"
            attempt = _insert_sending(conn, item, owner=owner, now=now, until=until)
        if attempt is None:
            return "lost"
        key = (item.channel, fdb.utc_day_start(now))
        if key in self._used:
            self._used[key] += 1
        return attempt

    def finish_sent(
        self,
        item: StepItem,
        attempt_id: int,
        *,
        message_id: str | None,
        provider_id: str | None,
        chat_id: str | None,
        now: datetime,
    ) -> None:
        """Close the attempt ``sent``, store the lead's IDs, advance: atomic."""
        attempt = {
            "status": SendStatus.SENT.value,
            "provider_message_id": message_id,
            "updated_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        lead = fdb._lead_values(item, provider_id=provider_id, chat_id=chat_id)
        if lead:
            lead["updated_at"] = now
        instance = {
            "lease_owner": None,
            "lease_expires_at": None,
            **fdb.advance_values(item, now=now),
        }
        params: dict[str, Any] = {
            "a_id": attempt_id,
            "l_id": item.lead_id,
            "i_id": item.instance_id,
        }
        for prefix, values in (("a_", attempt), ("l_", lead), ("i_", instance)):
            params.update({prefix + k: v for k, v in values.items()})
        keys = (tuple(attempt), tuple(lead), tuple(instance))
        try:
            with self._write() as conn:
                self._finish(conn, keys, params)
        except sa.exc.DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # The message went out: record it on a fresh connection rather
            # than leave it "sending" (an operator's "unknown" later), then
            # let the run stop on the lost connection.
            with self.conn.engine.begin() as fresh:
                self._finish(fresh, keys, params)
            raise

    def _finish(
        self,
        conn: Connection,
        keys: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]],
        params: dict[str, Any],
    ) -> None:
        if self.pg:
            conn.execute(_finish_statement(*keys), params)
            return
        for name, prefix, columns in zip(
            ("sa", "lead", "fi"), "ali", keys, strict=True
        ):
            if columns:
                conn.execute(_update_by_id(name, prefix + "_", columns), params)


_TABLES = {"sa": SA, "lead": LEAD, "fi": FI}


@functools.lru_cache(maxsize=64)
def _update_by_id(table: str, prefix: str, columns: tuple[str, ...]) -> Any:
    """``UPDATE <table> SET <columns> WHERE id``, bound by name, built once:
    a statement reused keeps SQLAlchemy's cache key and compiled form."""
    t = _TABLES[table]
    values = {c: sa.bindparam(prefix + c, type_=t.c[c].type) for c in columns}
    return sa.update(t).where(t.c.id == sa.bindparam(prefix + "id")).values(values)


@functools.lru_cache(maxsize=64)
def _finish_statement(
    attempt: tuple[str, ...], lead: tuple[str, ...], instance: tuple[str, ...]
) -> Any:
    ctes = [_update_by_id("sa", "a_", attempt).cte("attempt")]
    if lead:
        ctes.append(_update_by_id("lead", "l_", lead).cte("lead_ids"))
    return _update_by_id("fi", "i_", instance).add_cte(*ctes)


_SENDING_COLUMNS = (
    "workspace_id",
    "step_position",
    "channel",
    "account_id",
    "status",
    "lease_owner",
    "lease_expires_at",
    "created_at",
    "updated_at",
)


def _renew() -> Any:
    return (
        sa.update(FI)
        .where(
            FI.c.id == sa.bindparam("b_instance_id"),
            FI.c.lease_owner == sa.bindparam("b_lease_owner"),
            FI.c.status == InstanceStatus.ACTIVE.value,
        )
        .values(
            lease_expires_at=sa.bindparam("b_until", type_=FI.c.lease_expires_at.type)
        )
    )


def _bound(columns: tuple[str, ...]) -> list[Any]:
    return [sa.bindparam("b_" + c, type_=SA.c[c].type) for c in columns]


@functools.lru_cache(maxsize=2)
def _sending_statements(pg: bool) -> tuple[Any, ...]:
    """PostgreSQL: renew-and-insert in one statement; SQLite: the two."""
    if not pg:
        insert = sa.insert(SA).values(
            dict(
                zip(
                    ("instance_id", *_SENDING_COLUMNS),
                    _bound(("instance_id", *_SENDING_COLUMNS)),
                    strict=True,
                )
            )
        )
        return (_renew(), insert.returning(SA.c.id))
    renewed = _renew().returning(FI.c.id).cte("renewed")
    rows = sa.select(renewed.c.id, *_bound(_SENDING_COLUMNS))
    statement = (
        sa.insert(SA)
        .from_select(["instance_id", *_SENDING_COLUMNS], rows)
        .returning(SA.c.id)
    )
    return (statement,)


def _insert_sending(
    conn: Connection, item: StepItem, *, owner: str, now: datetime, until: datetime
) -> int | None:
    """Renew our claim and insert the ``sending`` row; None: not ours any more."""
    params: dict[str, Any] = {
        "b_instance_id": item.instance_id,
        "b_until": until,
        "b_workspace_id": item.workspace_id,
        "b_step_position": item.position,
        "b_channel": item.channel,
        "b_account_id": item.account_id,
        "b_status": SendStatus.SENDING.value,
        "b_lease_owner": owner,
        "b_lease_expires_at": until,
        "b_created_at": now,
        "b_updated_at": now,
    }
    statements = _sending_statements(conn.dialect.name == "postgresql")
    renewed = len(statements) == 1 or conn.execute(statements[0], params).rowcount == 1
    if not renewed:
        return None
    found = conn.execute(statements[-1], params).scalar_one_or_none()
    return None if found is None else int(found)


def _defer_if_ours(
    conn: Connection, item: StepItem, *, owner: str, until: datetime, now: datetime
) -> bool:
    result = conn.execute(
        sa.update(FI)
        .where(
            FI.c.id == item.instance_id,
            FI.c.lease_owner == owner,
            FI.c.status == InstanceStatus.ACTIVE.value,
        )
        .values(
            next_run_at=until,
            deferred_reason="daily_cap",
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    return int(result.rowcount or 0) == 1


@contextlib.contextmanager
def account_db(engine: Engine, account: str) -> Iterator[AccountDb]:
    """A connection held for one account's queue (and, on PostgreSQL, its lock).

    Known limitation: a second process sending for the same account waits for
    this queue to finish before it sends (at most ``FOLLOWUP_BATCH_SIZE``
    steps), which also keeps that account's sends spaced across processes.
    """
    with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            yield AccountDb(conn, account)
            return
        conn.execution_options(isolation_level="AUTOCOMMIT")
        key = {"key": _LOCK_KEY.format(account=account)}
        conn.execute(sa.text("SELECT pg_advisory_lock(hashtext(:key))"), key)
        try:
            yield AccountDb(conn, account)
        finally:
            _unlock(conn, key)


def _unlock(conn: Connection, key: dict[str, str]) -> None:
    try:
        conn.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:key))"), key)
    except sa.exc.SQLAlchemyError:
        # A broken connection lost its lock already; never reuse it.
        conn.invalidate()
