"""The LinkedIn gate: pauses, resumes, quarantine and backoff, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from integration_health.errors import Category, ProviderError
from integration_health.health import Observation
from integration_health.models import Lead, Workspace
from integration_health.services import linkedin_gate
from tests.conftest import make_settings
from tests.linkedin_seed import (
    NOW,
    add_instance,
    add_lead,
    add_workspace,
    events,
    health_row,
    instance,
    lead_row,
)

ON = make_settings(AUTO_DISABLE="1", GRACE_PERIOD_MINUTES="0")
OFF = make_settings(AUTO_DISABLE="0", GRACE_PERIOD_MINUTES="0")


def _apply(engine: Engine, ws_id: int, obs: Observation, settings=ON, at=NOW):
    with Session(engine) as session:
        ws = session.get(Workspace, ws_id)
        assert ws is not None
        outcome = linkedin_gate.apply_unipile_observation(
            session, ws, obs, now=at, settings=settings
        )
        session.commit()
    return outcome


def _disconnected() -> Observation:
    return Observation.disconnected(
        Category.DISCONNECTED_ACCOUNT, "disconnected_account"
    )


def _send_error(
    engine: Engine, ws_id: int, lead_id: int, err: ProviderError, settings=ON
):
    with Session(engine) as session:
        ws, lead = session.get(Workspace, ws_id), session.get(Lead, lead_id)
        assert ws is not None and lead is not None
        outcome = linkedin_gate.handle_send_error(
            session, ws, lead, err, now=NOW, settings=settings
        )
        session.commit()
    return outcome


def _unipile(category: Category, status: int, code: str, **kw) -> ProviderError:
    return ProviderError(category, provider="unipile", status=status, code=code, **kw)


def test_disconnect_pauses_linkedin_instances_and_reconnect_resumes(
    engine: Engine,
) -> None:
    ws = add_workspace(engine)
    lead = add_lead(engine, ws, "l1", "jane")
    linkedin = add_instance(engine, lead)
    sms = add_instance(engine, lead, channel="sms")
    person = add_instance(
        engine,
        lead,
        channel="linkedin_invite",
        status="paused",
        paused_reason="operator",
        paused_by="person",
    )
    down = _apply(engine, ws, _disconnected())
    assert (down.paused, instance(engine, linkedin).paused_reason) == (
        1,
        "unipile_disconnected",
    )
    assert instance(engine, sms).status == "active"
    up = _apply(engine, ws, Observation.ok(), at=NOW + timedelta(hours=1))
    assert up.resumed == 1 and up.transition is not None
    resumed = instance(engine, linkedin)
    assert resumed.status == "active"
    assert resumed.next_run_at is not None and resumed.next_run_at >= NOW + timedelta(
        hours=1
    )
    assert instance(engine, person).status == "paused"
    assert [to for _, to in events(engine, ws)] == ["DISCONNECTED", "OK"]


def test_bulk_pause_is_one_update_statement(engine: Engine) -> None:
    ws = add_workspace(engine)
    for n in range(5):
        add_instance(engine, add_lead(engine, ws, f"l{n}", f"slug{n}"))
    updates: list[str] = []

    def listen(conn, cursor, statement, params, context, many) -> None:
        if statement.lstrip().upper().startswith("UPDATE FOLLOWUP_INSTANCE"):
            updates.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        outcome = _apply(engine, ws, _disconnected())
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert outcome.paused == 5
    assert len(updates) == 1


def test_auto_disable_off_records_but_pauses_nothing_until_on(engine: Engine) -> None:
    ws = add_workspace(engine)
    inst = add_instance(engine, add_lead(engine, ws, "l1", "jane"))
    off = _apply(engine, ws, _disconnected(), settings=OFF)
    assert (off.status, off.paused) == ("DISCONNECTED", 0)
    assert instance(engine, inst).status == "active"
    on = _apply(engine, ws, _disconnected(), at=NOW + timedelta(minutes=5))
    assert on.transition is None and on.paused == 1
    assert instance(engine, inst).paused_reason == "unipile_disconnected"


def test_unreachable_quarantines_only_that_lead(engine: Engine) -> None:
    ws = add_workspace(engine)
    bad, good = add_lead(engine, ws, "bad", "bad"), add_lead(engine, ws, "good", "good")
    bad_inst, good_inst = add_instance(engine, bad), add_instance(engine, good)
    err = _unipile(Category.RECIPIENT_UNREACHABLE, 422, "invalid_recipient")
    outcome = _send_error(engine, ws, bad, err)
    assert (outcome.kind, outcome.retry_at) == ("unreachable", None)
    marked = lead_row(engine, bad)
    assert marked.linkedin_unreachable_at == NOW
    assert marked.linkedin_unreachable_reason == "invalid_recipient"
    assert instance(engine, bad_inst).paused_reason == "linkedin_unreachable"
    assert instance(engine, good_inst).status == "active"
    assert lead_row(engine, good).linkedin_unreachable_at is None
    assert health_row(engine, ws) is None or health_row(engine, ws).status == "OK"


def test_unreachable_with_auto_disable_off_marks_but_does_not_pause(
    engine: Engine,
) -> None:
    ws = add_workspace(engine)
    lead = add_lead(engine, ws, "l1", "jane")
    inst = add_instance(engine, lead)
    err = _unipile(Category.RECIPIENT_UNREACHABLE, 422, "invalid_recipient")
    _send_error(engine, ws, lead, err, settings=OFF)
    assert lead_row(engine, lead).linkedin_unreachable_at == NOW
    assert instance(engine, inst).status == "active"
    with Session(engine) as session:
        paused = linkedin_gate.pause_unreachable_leads(session, now=NOW)
        session.commit()
    assert paused == 1
    assert instance(engine, inst).paused_reason == "linkedin_unreachable"


def test_clear_quarantine_resumes_only_system_pauses(engine: Engine) -> None:
    ws = add_workspace(engine)
    lead = add_lead(engine, ws, "l1", "jane")
    inst = add_instance(engine, lead)
    person = add_instance(
        engine,
        lead,
        channel="linkedin_invite",
        status="paused",
        paused_reason="operator",
        paused_by="person",
    )
    _send_error(
        engine,
        ws,
        lead,
        _unipile(Category.RECIPIENT_UNREACHABLE, 422, "blocked_recipient"),
    )
    with Session(engine) as session:
        resumed = linkedin_gate.clear_quarantine(session, [lead], now=NOW)
        session.commit()
    assert resumed == 1
    assert lead_row(engine, lead).linkedin_unreachable_at is None
    assert instance(engine, inst).status == "active"
    assert instance(engine, person).status == "paused"


def test_must_wait_defers_without_quarantine(engine: Engine) -> None:
    ws = add_workspace(engine)
    lead = add_lead(engine, ws, "l1", "jane")
    err = _unipile(Category.RECIPIENT_NOT_READY, 422, "already_invited_recently")
    outcome = _send_error(engine, ws, lead, err)
    assert outcome.kind == "must_wait"
    assert outcome.retry_at == NOW + timedelta(days=7)
    assert lead_row(engine, lead).linkedin_unreachable_at is None


def test_throttle_backs_off_the_account_not_the_lead(engine: Engine) -> None:
    ws = add_workspace(engine)
    lead = add_lead(engine, ws, "l1", "jane")
    err = _unipile(Category.ACCOUNT_THROTTLED, 422, "cannot_resend_within_24hrs")
    outcome = _send_error(engine, ws, lead, err)
    assert outcome.kind == "throttled"
    assert outcome.retry_at == NOW + timedelta(hours=24)
    row = health_row(engine, ws)
    assert row is not None and row.backoff_until == NOW + timedelta(hours=24)
    assert lead_row(engine, lead).linkedin_unreachable_at is None


def test_disconnected_send_error_pauses_the_workspace(engine: Engine) -> None:
    ws = add_workspace(engine)
    lead = add_lead(engine, ws, "l1", "jane")
    inst = add_instance(engine, lead)
    err = _unipile(Category.DISCONNECTED_ACCOUNT, 401, "disconnected_account")
    outcome = _send_error(engine, ws, lead, err)
    assert outcome.kind == "disconnected"
    assert instance(engine, inst).paused_reason == "unipile_disconnected"
    assert lead_row(engine, lead).linkedin_unreachable_at is None


@pytest.mark.parametrize("code", ["action_already_performed"])
def test_already_done_is_done(engine: Engine, code: str) -> None:
    ws = add_workspace(engine)
    lead = add_lead(engine, ws, "l1", "jane")
    err = _unipile(Category.RECIPIENT_NOT_READY, 422, code)
    assert _send_error(engine, ws, lead, err).kind == "done"
