"""The health state machine of design section 4, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from integration_health import health
from integration_health.db import session_scope
from integration_health.errors import Category, ProviderError
from integration_health.health import Observation, RecordResult
from integration_health.models import HealthEvent, IntegrationHealth, Workspace

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OK = Observation.ok()
DISCONNECTED = Observation.disconnected(
    Category.DISCONNECTED_ACCOUNT, "errors/disconnected_account"
)


def transient() -> Observation:
    return Observation.from_error(
        ProviderError(Category.SERVER_ERROR, provider="unipile", status=503)
    )


@pytest.fixture
def ws(engine: Engine) -> int:
    with session_scope(engine) as session:
        workspace = Workspace(external_id="w1", name="Acme")
        session.add(workspace)
        session.flush()
        assert workspace.id is not None
        return workspace.id


def rec(
    engine: Engine, ws: int, obs: Observation, at: datetime = T0, **kw: object
) -> RecordResult:
    options: Any = kw
    with session_scope(engine, immediate=True) as session:
        return health.record(session, ws, "unipile", obs, now=at, **options)


def row(engine: Engine, ws: int) -> IntegrationHealth:
    with session_scope(engine) as session:
        found = health.get_health(session, ws, "unipile")
        assert found is not None
        return found


def events(engine: Engine) -> list[tuple[str | None, str]]:
    with session_scope(engine) as session:
        rows = session.exec(select(HealthEvent).order_by(HealthEvent.id)).all()
        return [(e.from_status, e.to_status) for e in rows]


def test_first_ok_creates_row_without_event(engine: Engine, ws: int) -> None:
    result = rec(engine, ws, OK)
    assert result.transition is None
    assert result.status == "OK"
    assert row(engine, ws).last_ok_at == T0
    assert events(engine) == []


def test_first_failure_writes_event_from_none(engine: Engine, ws: int) -> None:
    result = rec(engine, ws, DISCONNECTED)
    assert result.transition is not None
    assert result.transition.from_status is None
    assert result.transition.to_status == "DISCONNECTED"
    assert events(engine) == [(None, "DISCONNECTED")]


def test_degraded_at_threshold_and_not_before(engine: Engine, ws: int) -> None:
    rec(engine, ws, OK)
    assert rec(engine, ws, transient(), T0 + timedelta(seconds=1)).status == "OK"
    assert rec(engine, ws, transient(), T0 + timedelta(seconds=2)).status == "OK"
    third = rec(engine, ws, transient(), T0 + timedelta(seconds=3))
    assert third.status == "DEGRADED"
    assert third.transition is not None
    assert third.transition.category == "server_error"
    stored = row(engine, ws)
    assert stored.consecutive_failures == 3
    assert stored.backoff_until == T0 + timedelta(seconds=3 + 60)
    assert events(engine) == [("OK", "DEGRADED")]


def test_degraded_backoff_grows_and_is_capped(engine: Engine, ws: int) -> None:
    for i in range(3):
        rec(engine, ws, transient(), T0, degraded_after=1, backoff_cap=200)
        assert row(engine, ws).backoff_until == T0 + timedelta(
            seconds=min(200, 60 * 2**i)
        )


def test_degraded_heals_on_success(engine: Engine, ws: int) -> None:
    for _ in range(3):
        rec(engine, ws, transient())
    result = rec(engine, ws, OK, T0 + timedelta(minutes=1))
    assert result.status == "OK"
    assert result.transition is not None
    assert not result.transition.reconnected
    stored = row(engine, ws)
    assert (stored.consecutive_failures, stored.backoff_until) == (0, None)
    assert events(engine) == [("OK", "DEGRADED"), ("DEGRADED", "OK")]


def test_ok_to_disconnected(engine: Engine, ws: int) -> None:
    rec(engine, ws, OK)
    result = rec(engine, ws, DISCONNECTED, T0 + timedelta(minutes=1))
    assert result.status == "DISCONNECTED"
    assert result.transition is not None
    assert result.transition.code == "errors/disconnected_account"
    stored = row(engine, ws)
    assert stored.last_error_category == "disconnected_account"
    assert stored.changed_at == T0 + timedelta(minutes=1)


def test_degraded_to_disconnected(engine: Engine, ws: int) -> None:
    rec(engine, ws, Observation.degraded("STOPPED"))
    result = rec(engine, ws, DISCONNECTED)
    assert result.status == "DISCONNECTED"
    assert events(engine) == [(None, "DEGRADED"), ("DEGRADED", "DISCONNECTED")]


def test_disconnected_stays_on_transient_and_degraded(engine: Engine, ws: int) -> None:
    rec(engine, ws, DISCONNECTED)
    for _ in range(5):
        assert rec(engine, ws, transient()).status == "DISCONNECTED"
    assert rec(engine, ws, Observation.degraded("ERROR")).status == "DISCONNECTED"
    assert row(engine, ws).repeat_count == 6
    assert events(engine) == [(None, "DISCONNECTED")]


def test_reconnect_sets_connected_at_and_carries_repeats(
    engine: Engine, ws: int
) -> None:
    rec(engine, ws, DISCONNECTED)
    rec(engine, ws, DISCONNECTED, T0 + timedelta(minutes=5))
    back = T0 + timedelta(hours=1)
    result = rec(engine, ws, OK, back)
    assert result.transition is not None
    assert result.transition.reconnected
    assert result.transition.repeat_count == 1
    stored = row(engine, ws)
    assert (stored.connected_at, stored.repeat_count) == (back, 0)


def test_401_within_grace_after_reconnect_is_not_believed(
    engine: Engine, ws: int
) -> None:
    rec(engine, ws, DISCONNECTED)
    rec(engine, ws, OK, T0 + timedelta(hours=1))
    result = rec(engine, ws, DISCONNECTED, T0 + timedelta(hours=1, minutes=5))
    assert result.suppressed_by_grace
    assert result.status == "OK"
    assert result.transition is None
    assert row(engine, ws).consecutive_failures == 1


def test_grace_expires(engine: Engine, ws: int) -> None:
    rec(engine, ws, DISCONNECTED)
    rec(engine, ws, OK, T0 + timedelta(hours=1))
    later = T0 + timedelta(hours=1, minutes=16)
    result = rec(engine, ws, DISCONNECTED, later)
    assert not result.suppressed_by_grace
    assert result.status == "DISCONNECTED"


def test_mark_connected_gives_grace_to_a_new_account(engine: Engine, ws: int) -> None:
    with session_scope(engine) as session:
        health.mark_connected(session, ws, "unipile", T0 - timedelta(minutes=2))
        health.mark_connected(session, ws, "unipile", T0 - timedelta(days=2))
    assert row(engine, ws).connected_at == T0 - timedelta(minutes=2)
    result = rec(engine, ws, DISCONNECTED)
    assert result.suppressed_by_grace
    assert events(engine) == []


def test_connecting_changes_nothing(engine: Engine, ws: int) -> None:
    assert rec(engine, ws, Observation.none()).status is None
    rec(engine, ws, DISCONNECTED)
    result = rec(engine, ws, Observation.none(), T0 + timedelta(minutes=1))
    assert result.status == "DISCONNECTED"
    stored = row(engine, ws)
    assert stored.last_checked_at == T0 + timedelta(minutes=1)
    assert stored.repeat_count == 0


def test_explicit_degraded_is_immediate(engine: Engine, ws: int) -> None:
    rec(engine, ws, OK)
    result = rec(engine, ws, Observation.degraded("PERMISSIONS"))
    assert result.status == "DEGRADED"
    assert result.transition is not None
    assert result.transition.code == "PERMISSIONS"


def test_lead_level_error_has_no_health_effect(engine: Engine, ws: int) -> None:
    rec(engine, ws, OK)
    err = ProviderError(Category.RECIPIENT_UNREACHABLE, provider="unipile", status=422)
    result = rec(engine, ws, Observation.from_error(err))
    assert result.status == "OK"
    assert row(engine, ws).consecutive_failures == 0


def test_lead_level_error_keeps_last_error_without_status_change(
    engine: Engine, ws: int
) -> None:
    rec(engine, ws, OK)
    err = ProviderError(
        Category.VALIDATION_ERROR, provider="ghl", status=422, code="bad_request"
    )
    result = rec(engine, ws, Observation.from_error(err), T0 + timedelta(minutes=1))
    assert (result.status, result.transition) == ("OK", None)
    stored = row(engine, ws)
    assert (stored.last_error_category, stored.last_error_code) == (
        "validation_error",
        "bad_request",
    )
    assert stored.last_error_status == 422
    assert stored.consecutive_failures == 0
    assert events(engine) == []


def test_lead_level_error_on_no_row_leaves_an_unchecked_trace(
    engine: Engine, ws: int
) -> None:
    err = ProviderError(Category.VALIDATION_ERROR, provider="ghl", status=422)
    rec(engine, ws, Observation.from_error(err))
    stored = row(engine, ws)
    assert stored.last_error_category == "validation_error"
    assert stored.last_checked_at is None
    assert events(engine) == []


def test_ten_same_state_checks_write_one_event(engine: Engine, ws: int) -> None:
    for i in range(10):
        rec(engine, ws, DISCONNECTED, T0 + timedelta(minutes=i))
    with session_scope(engine) as session:
        count = session.exec(select(func.count()).select_from(HealthEvent)).one()
    assert count == 1
    stored = row(engine, ws)
    assert stored.repeat_count == 9
    assert stored.last_checked_at == T0 + timedelta(minutes=9)
    assert stored.changed_at == T0


def test_statuses_returns_known_workspaces(engine: Engine, ws: int) -> None:
    rec(engine, ws, DISCONNECTED)
    with session_scope(engine) as session:
        assert health.statuses(session, "unipile", [ws, 999]) == {ws: "DISCONNECTED"}
        assert health.statuses(session, "ghl", [ws]) == {}


def test_a_transition_is_logged_with_the_workspace_external_id(
    engine: Engine, ws: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="integration_health.health"):
        rec(engine, ws, DISCONNECTED)

    (line,) = [r for r in caplog.records if r.name == "integration_health.health"]
    assert line.getMessage().startswith("unipile health of workspace w1: new -> ")
