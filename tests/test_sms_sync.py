"""SMS sync: stored once per message, both page shapes, silent skips."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from integration_health.clients.ghl import GhlClient
from integration_health.models import Lead, Message, RepairJob
from integration_health.sandbox import Sandbox
from integration_health.services.sms_sync import SyncReport, run_sms_sync
from tests.ghl_seed import LOCATION, add_lead, add_workspace, scenario, settings_for


def _conversation_scenario(shape: str, count: int = 45) -> dict[str, Any]:
    messages = [
        {
            "id": f"m{n}",
            "messageType": "TYPE_SMS" if n % 5 else "TYPE_EMAIL",
            "type": 2,
            "direction": "inbound" if n % 2 else "outbound",
            "body": f"message {n}",
            "dateAdded": f"2026-11-0{1 + n % 9}T10:00:00.000Z",
            "status": "delivered",
            "contactId": "c1",
            "conversationId": "conv1",
        }
        for n in range(count)
    ]
    return scenario(
        contacts=[{"id": "c1", "locationId": LOCATION, "phone": "+15550100001"}],
        conversations=[
            {
                "id": "conv1",
                "contactId": "c1",
                "locationId": LOCATION,
                "type": "TYPE_PHONE",
            }
        ],
        messages={"conv1": messages},
        message_page_shape=shape,
        page_size=10,
    )


def _sync(engine: Engine, sb: Sandbox) -> SyncReport:
    settings = settings_for(sb)
    return run_sms_sync(engine, settings, GhlClient.from_settings(settings))


def _stored(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.exec(select(Message.provider_message_id)).all())


@pytest.mark.parametrize("shape", ["nested", "flat"])
def test_both_page_shapes_sync_every_sms(
    engine: Engine, make_sandbox: Callable[..., Sandbox], shape: str
) -> None:
    sb = make_sandbox(_conversation_scenario(shape))
    add_lead(engine, add_workspace(engine), "l1", phone="+15550100001", contact_id="c1")

    report = _sync(engine, sb)

    expected = sorted(f"m{n}" for n in range(45) if n % 5)
    assert _stored(engine) == expected
    assert report.messages_stored == len(expected)


def test_repeated_sync_stores_no_message_twice(
    engine: Engine, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(_conversation_scenario("nested"))
    add_lead(engine, add_workspace(engine), "l1", phone="+15550100001", contact_id="c1")
    _sync(engine, sb)

    second = _sync(engine, sb)

    assert second.messages_stored == 0
    assert len(_stored(engine)) == 36


def test_email_only_lead_is_a_silent_counted_skip(
    sqlite_engine: Engine,
    make_sandbox: Callable[..., Sandbox],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sb = make_sandbox(scenario())
    add_lead(sqlite_engine, add_workspace(sqlite_engine), "l1", email="a@example.com")
    caplog.set_level(logging.DEBUG, logger="integration_health")

    report = _sync(sqlite_engine, sb)

    assert (report.skipped_no_contact, report.skipped_email_only) == (1, 1)
    assert [r for r in caplog.records if r.levelno > logging.DEBUG] == []
    assert sb.requests("/conversations") == []


def test_lead_without_contact_but_with_phone_gets_a_repair_job(
    sqlite_engine: Engine, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())
    lead = add_lead(
        sqlite_engine, add_workspace(sqlite_engine), "l1", phone="+15550100009"
    )

    report = _sync(sqlite_engine, sb)

    with Session(sqlite_engine) as session:
        jobs = session.exec(select(RepairJob.lead_id, RepairJob.status)).all()
    assert jobs == [(lead, "pending")]
    assert report.repair_queued == 1


def test_history_without_any_way_to_repair_is_flagged_once(
    sqlite_engine: Engine,
    make_sandbox: Callable[..., Sandbox],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sb = make_sandbox(scenario())
    ws = add_workspace(sqlite_engine)
    lead = add_lead(sqlite_engine, ws, "l1")
    with Session(sqlite_engine) as session:
        session.add(Message(provider_message_id="old1", workspace_id=ws, lead_id=lead))
        session.commit()
    caplog.set_level(logging.WARNING, logger="integration_health")

    first, second = _sync(sqlite_engine, sb), _sync(sqlite_engine, sb)

    assert (first.needs_repair, second.needs_repair) == (1, 0)
    warnings = [r for r in caplog.records if "SMS history" in r.getMessage()]
    assert len(warnings) == 1
    with Session(sqlite_engine) as session:
        flagged = session.exec(
            select(func.count()).where(col(Lead.ghl_needs_repair_at).is_not(None))
        ).one()
    assert flagged == 1


def test_revoked_token_marks_workspace_disconnected_and_stops_it(
    engine: Engine, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(_conversation_scenario("flat"))
    sb.add_fault("GET", r"^/conversations", status=401, body={"message": "Invalid JWT"})
    ws = add_workspace(engine)
    for n in range(3):
        add_lead(engine, ws, f"l{n}", phone=f"+1555010000{n}", contact_id=f"c{n}")

    report = _sync(engine, sb)

    assert report.failed == 1
    assert dict(report.categories) == {"missing_credentials": 1}
    assert len(sb.requests("/conversations")) == 1
