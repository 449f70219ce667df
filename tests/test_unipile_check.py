"""``unipile check`` against the sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from integration_health.clients.unipile import UnipileClient
from integration_health.errors import ProviderConfigError, ProviderError
from integration_health.models import Notification
from integration_health.sandbox import Sandbox
from integration_health.services.unipile_check import run_check
from tests.conftest import make_settings, run_cli
from tests.linkedin_seed import (
    NOW,
    account,
    add_instance,
    add_lead,
    add_workspace,
    count,
    events,
    health_row,
    instance,
)

SCENARIO = {
    "unipile": {"api_key": "sandbox-key", "accounts": [account("acc_1", "OK")]},
    "slack": {},
}


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with Sandbox(SCENARIO) as sandbox:
        yield sandbox


def _env(box: Sandbox, db_url: str, **extra: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": db_url,
        "UNIPILE_DSN": box.unipile_dsn,
        "UNIPILE_API_KEY": box.unipile_api_key,
        "SLACK_WEBHOOK_URL": box.slack_webhook_url,
        "SLACK_MIN_INTERVAL_SECONDS": "0",
        "GRACE_PERIOD_MINUTES": "15",
    }
    env.update(extra)
    return env


def _check(
    engine: Engine,
    box: Sandbox,
    *,
    at: datetime = NOW,
    key: str | None = None,
    **env: str,
):
    url = engine.url.render_as_string(hide_password=False)  # unused: engine given
    settings = make_settings(**_env(box, url, **env))
    client = UnipileClient(
        box.unipile_dsn,
        key or box.unipile_api_key,
        connect_timeout=2,
        read_timeout=5,
        sleep=lambda _s: None,
    )
    return run_check(engine, settings, client, now=lambda: at)


def _slack_posts(box: Sandbox) -> int:
    return len(box.requests("/slack"))


def test_ok_credentials_ok_writes_two_events_two_messages(
    engine: Engine, db_url: str, box: Sandbox
) -> None:
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
    env = _env(box, db_url)
    assert run_cli("unipile", "check", env=env).returncode == 0
    events_before, posts_before = len(events(engine, ws)), _slack_posts(box)
    box.set_account_sources("acc_1", ["CREDENTIALS"])
    down = run_cli("unipile", "check", env=env)
    assert down.returncode == 0, down.stderr
    assert instance(engine, inst).paused_reason == "unipile_disconnected"
    box.set_account_sources("acc_1", ["OK"])
    assert run_cli("unipile", "check", env=env).returncode == 0
    new_events = events(engine, ws)[events_before:]
    assert new_events == [("OK", "DISCONNECTED"), ("DISCONNECTED", "OK")]
    assert _slack_posts(box) - posts_before == 2
    assert instance(engine, inst).status == "active"
    assert instance(engine, person).status == "paused"


def test_ten_checks_of_a_disconnected_workspace_write_one_event(
    engine: Engine, db_url: str, box: Sandbox
) -> None:
    ws = add_workspace(engine)
    box.set_account_sources("acc_1", ["CREDENTIALS"])
    for n in range(10):
        _check(engine, box, at=NOW + timedelta(minutes=n))
    assert [to for _, to in events(engine, ws)] == ["DISCONNECTED"]
    assert count(engine, "notification") == 1
    assert run_cli("notify", "flush", env=_env(box, db_url)).returncode == 0
    assert _slack_posts(box) == 1


def test_one_source_in_credentials_is_disconnected(
    engine: Engine, box: Sandbox
) -> None:
    ws = add_workspace(engine)
    box.set_account_sources("acc_1", ["OK", "CREDENTIALS"])
    report = _check(engine, box)
    assert report.rows[0].after == "DISCONNECTED"
    row = health_row(engine, ws)
    assert row is not None and row.status == "DISCONNECTED"


def test_stopped_source_is_degraded_and_connecting_changes_nothing(
    engine: Engine, box: Sandbox
) -> None:
    ws = add_workspace(engine)
    box.set_account_sources("acc_1", ["STOPPED"])
    assert _check(engine, box).rows[0].after == "DEGRADED"
    box.set_account_sources("acc_1", ["CONNECTING"])
    assert (
        _check(engine, box, at=NOW + timedelta(minutes=1)).rows[0].after == "DEGRADED"
    )
    assert len(events(engine, ws)) == 1


def test_missing_credentials_exits_2_and_touches_no_workspace(
    engine: Engine, db_url: str, box: Sandbox
) -> None:
    ws = add_workspace(engine)
    add_workspace(engine, "ws-2", "acc_gone")
    result = run_cli(
        "unipile", "check", env=_env(box, db_url, UNIPILE_API_KEY="wrong-key")
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) <= 2
    assert health_row(engine, ws) is None
    assert count(engine, "integration_health") == 0
    with pytest.raises(ProviderConfigError):
        _check(engine, box, key="wrong-key")


def test_failed_list_call_exits_1_and_changes_nothing(
    engine: Engine, db_url: str, box: Sandbox
) -> None:
    add_workspace(engine)
    box.add_fault(
        "GET",
        r"^/api/v1/accounts$",
        status=503,
        body={"status": 503, "type": "errors/service_unavailable"},
        times=10,
    )
    result = run_cli("unipile", "check", env=_env(box, db_url))
    assert result.returncode == 1
    assert count(engine, "integration_health") == 0
    assert count(engine, "health_event") == 0


def test_account_missing_from_list_and_404_is_disconnected(
    engine: Engine, box: Sandbox
) -> None:
    ws = add_workspace(engine, "ws-2", "acc_gone")
    report = _check(engine, box)
    assert (report.rows[0].after, report.rows[0].code) == (
        "DISCONNECTED",
        "account_not_found",
    )
    assert [to for _, to in events(engine, ws)] == ["DISCONNECTED"]
    assert len(box.requests("/api/v1/accounts/acc_gone")) == 1


def test_workspace_without_account_is_skipped_and_counted(
    engine: Engine, box: Sandbox
) -> None:
    add_workspace(engine, "ws-none", None)
    report = _check(engine, box)
    assert report.rows == [] and report.skipped_no_account == 1


def test_grace_period_after_a_fresh_connection(engine: Engine, box: Sandbox) -> None:
    ws = add_workspace(engine)
    created = NOW - timedelta(minutes=3)
    box.state.accounts["acc_1"]["created_at"] = created.strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
    box.set_account_sources("acc_1", ["CREDENTIALS"])
    first = _check(engine, box)
    assert first.rows[0].after != "DISCONNECTED"
    assert events(engine, ws) == [] or events(engine, ws)[-1][1] != "DISCONNECTED"
    later = _check(engine, box, at=NOW + timedelta(minutes=20))
    assert later.rows[0].after == "DISCONNECTED"


def test_slack_500_then_200_exits_0_and_delivers_once(
    engine: Engine, db_url: str, box: Sandbox
) -> None:
    add_workspace(engine)
    box.set_account_sources("acc_1", ["CREDENTIALS"])
    box.add_fault("POST", r"^/slack", status=500, times=1)
    env = _env(box, db_url)
    assert run_cli("unipile", "check", env=env).returncode == 0
    delivered = box.requests("/slack")
    assert count(engine, "notification WHERE status = 'pending'") == 1
    with engine.begin() as conn:  # the retry's wait has passed
        conn.execute(
            sa.update(Notification).values(next_attempt_at=NOW - timedelta(days=1))
        )
    assert run_cli("notify", "flush", env=env).returncode == 0
    assert run_cli("notify", "flush", env=env).returncode == 0
    assert len(box.requests("/slack")) == len(delivered) + 1


def test_auto_disable_off_then_on(engine: Engine, box: Sandbox) -> None:
    ws = add_workspace(engine)
    inst = add_instance(engine, add_lead(engine, ws, "l1", "jane"))
    box.set_account_sources("acc_1", ["CREDENTIALS"])
    _check(engine, box, AUTO_DISABLE="0")
    assert health_row(engine, ws).status == "DISCONNECTED"  # type: ignore[union-attr]
    assert instance(engine, inst).status == "active"
    _check(engine, box, at=NOW + timedelta(minutes=5), AUTO_DISABLE="1")
    assert instance(engine, inst).paused_reason == "unipile_disconnected"
    assert len(events(engine, ws)) == 1


def test_dry_run_writes_nothing(engine: Engine, db_url: str, box: Sandbox) -> None:
    add_workspace(engine)
    box.set_account_sources("acc_1", ["CREDENTIALS"])
    result = run_cli(
        "unipile", "check", "--dry-run", "--format", "json", env=_env(box, db_url)
    )
    assert result.returncode == 0, result.stderr
    assert '"changed": 1' in result.stdout
    assert count(engine, "integration_health") == 0
    assert count(engine, "job_run") == 0


def test_provider_errors_are_not_raised_for_single_account_failures(
    engine: Engine, box: Sandbox
) -> None:
    ws = add_workspace(engine, "ws-2", "acc_gone")
    box.add_fault(
        "GET",
        r"^/api/v1/accounts/acc_gone$",
        status=503,
        body={"status": 503, "type": "errors/service_unavailable"},
        times=10,
    )
    try:
        report = _check(engine, box)
    except ProviderError as exc:  # pragma: no cover - a failure of the test
        pytest.fail(f"raised {exc!r}")
    assert report.rows[0].observed == "error"
    assert events(engine, ws) == []
