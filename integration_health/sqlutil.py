"""Insert-if-absent on SQLite and PostgreSQL: the one race-free way to create
a row that several processes may create at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


def insert_ignoring_conflict(
    session: Session,
    model: Any,
    values: Mapping[str, Any],
    keys: Sequence[str],
) -> bool:
    """INSERT ... ON CONFLICT (keys) DO NOTHING; True when a row was inserted."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(model).values(**values)
    elif dialect == "sqlite":
        stmt = sqlite.insert(model).values(**values)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"unsupported database: {dialect}")
    # RETURNING, not rowcount: with implicit RETURNING, PostgreSQL reports -1.
    key_column = model.__table__.c[keys[0]]
    stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    return session.execute(stmt.returning(key_column)).first() is not None
