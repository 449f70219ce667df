"""``leads`` commands end to end: the CLI in a subprocess against the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from integration_health.models import IntegrationHealth
from integration_health.sandbox import Sandbox
from tests.conftest import run_cli
from tests.linkedin_seed import (
    account,
    add_instance,
    add_lead,
    add_workspace,
    health_row,
    instance,
    lead_row,
)

SCENARIO = {
    "unipile": {
        "api_key": "sandbox-key",
        "accounts": [account("acc_1", "OK")],
        "profiles": {
            "jane": {"provider_id": "ACoAAjane0001", "is_relationship": True},
            "gone": {
                "provider_id": "ACoAAgone0001",
                "error": {"status": 422, "type": "errors/invalid_recipient"},
            },
        },
    },
    "slack": {},
}


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with Sandbox(SCENARIO) as sandbox:
        yield sandbox


def _env(box: Sandbox, db_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "UNIPILE_DSN": box.unipile_dsn,
        "UNIPILE_API_KEY": box.unipile_api_key,
        "SLACK_WEBHOOK_URL": box.slack_webhook_url,
        "SLACK_MIN_INTERVAL_SECONDS": "0",
        "GRACE_PERIOD_MINUTES": "0",
    }


def test_check_linkedin_422_quarantines_only_that_lead(
    engine: Engine, db_url: str, box: Sandbox
) -> None:
    ws = add_workspace(engine)
    gone, jane = (
        add_lead(engine, ws, "l-gone", "gone"),
        add_lead(engine, ws, "l-jane", "jane"),
    )
    gone_inst, jane_inst = add_instance(engine, gone), add_instance(engine, jane)
    result = run_cli(
        "leads", "check-linkedin", "l-gone", "--format", "json", env=_env(box, db_url)
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["outcome"] == "unreachable"
    assert lead_row(engine, gone).linkedin_unreachable_reason == "invalid_recipient"
    assert instance(engine, gone_inst).paused_reason == "linkedin_unreachable"
    assert instance(engine, jane_inst).status == "active"
    ok = run_cli("leads", "check-linkedin", "l-jane", env=_env(box, db_url))
    assert ok.returncode == 0, ok.stderr
    assert "reachable" in ok.stdout
    assert lead_row(engine, jane).linkedin_provider_id == "ACoAAjane0001"


def test_check_linkedin_json_is_the_only_output(
    engine: Engine, db_url: str, box: Sandbox
) -> None:
    ws = add_workspace(engine)
    add_lead(engine, ws, "l-gone", "gone")
    result = run_cli(
        "leads", "check-linkedin", "l-gone", "--format", "json", env=_env(box, db_url)
    )
    assert json.loads(result.stdout)["outcome"] == "unreachable"
    assert result.stderr == ""


def test_send_linkedin_starts_a_chat_and_stores_it(
    engine: Engine, db_url: str, box: Sandbox
) -> None:
    ws = add_workspace(engine)
    jane = add_lead(engine, ws, "l-jane", "jane")
    result = run_cli(
        "leads",
        "send-linkedin",
        "l-jane",
        "--message",
        "Hi Jane",
        env=_env(box, db_url),
    )
    assert result.returncode == 0, result.stderr
    assert lead_row(engine, jane).linkedin_chat_id
    assert len(box.requests("/api/v1/chats")) == 1
    again = run_cli(
        "leads",
        "send-linkedin",
        "l-jane",
        "--message",
        "Hi again",
        env=_env(box, db_url),
    )
    assert again.returncode == 0, again.stderr
    chat = lead_row(engine, jane).linkedin_chat_id
    assert len(box.requests(f"/api/v1/chats/{chat}/messages")) == 1


def test_send_linkedin_refuses_when_disconnected(
    engine: Engine, db_url: str, box: Sandbox
) -> None:
    ws = add_workspace(engine)
    add_lead(engine, ws, "l-jane", "jane")
    with Session(engine) as session:
        session.add(
            IntegrationHealth(
                workspace_id=ws, provider="unipile", status="DISCONNECTED"
            )
        )
        session.commit()
    result = run_cli(
        "leads", "send-linkedin", "l-jane", "--message", "Hi", env=_env(box, db_url)
    )
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "DISCONNECTED" in result.stderr
    assert box.requests("/api/v1/chats") == []


def test_send_linkedin_refuses_a_quarantined_lead(
    engine: Engine, db_url: str, box: Sandbox
) -> None:
    ws = add_workspace(engine)
    add_lead(engine, ws, "l-gone", "gone")
    run_cli("leads", "check-linkedin", "l-gone", env=_env(box, db_url))
    result = run_cli(
        "leads", "send-linkedin", "l-gone", "--message", "Hi", env=_env(box, db_url)
    )
    assert result.returncode == 1
    assert "quarantined" in result.stderr
    assert box.requests("/api/v1/chats") == []


def test_send_linkedin_401_records_disconnected(
    engine: Engine, db_url: str, box: Sandbox
) -> None:
    ws = add_workspace(engine)
    add_lead(engine, ws, "l-jane", "jane")
    box.add_fault(
        "POST",
        r"^/api/v1/chats$",
        status=401,
        body={"status": 401, "type": "errors/disconnected_account"},
        times=1,
    )
    result = run_cli(
        "leads", "send-linkedin", "l-jane", "--message", "Hi", env=_env(box, db_url)
    )
    assert result.returncode == 1
    row = health_row(engine, ws)
    assert row is not None and row.status == "DISCONNECTED"


def test_clear_unreachable_resumes_the_leads_instances(
    engine: Engine, db_url: str, box: Sandbox
) -> None:
    ws = add_workspace(engine)
    gone = add_lead(engine, ws, "l-gone", "gone")
    inst = add_instance(engine, gone)
    run_cli("leads", "check-linkedin", "l-gone", env=_env(box, db_url))
    assert instance(engine, inst).status == "paused"
    result = run_cli("leads", "clear-unreachable", "l-gone", env=_env(box, db_url))
    assert result.returncode == 0, result.stderr
    assert "cleared 1" in result.stderr
    assert lead_row(engine, gone).linkedin_unreachable_at is None
    assert instance(engine, inst).status == "active"


def test_clear_unreachable_all_needs_workspace(engine: Engine, db_url: str) -> None:
    result = run_cli(
        "leads", "clear-unreachable", "--all", env={"DATABASE_URL": db_url}
    )
    assert result.returncode == 2
    assert "--all needs --workspace" in result.stderr
