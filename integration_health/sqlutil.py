"""Insert-if-absent on SQLite and PostgreSQL: the one race-free way to create
a row that several processes may create at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from integration_health.errors import ConfigError


def dialect_insert(session: Session, model: Any) -> Any:
    """The dialect's INSERT for ``model``, the kind that has ``on_conflict_*``."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise ConfigError(f"unsupported database {dialect}; accepted: SQLite, PostgreSQL")


def insert_ignoring_conflict(
    session: Session,
    model: Any,
    values: Mapping[str, Any],
    keys: Sequence[str],
) -> bool:
    """INSERT ... ON CONFLICT (keys) DO NOTHING; True when a row was inserted."""
    stmt = dialect_insert(session, model).values(**values)
    # RETURNING, not rowcount: with implicit RETURNING, PostgreSQL reports -1.
    key_column = model.__table__.c[keys[0]]
    stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    return session.execute(stmt.returning(key_column)).first() is not None
