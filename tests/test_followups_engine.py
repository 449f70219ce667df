"""The follow-up engine against real SQLite and PostgreSQL, with fake senders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, col

from integration_health.errors import Category, ProviderConfigError, ProviderError
from integration_health.models import IntegrationHealth, SendAttempt
from integration_health.services.followups import RunOptions, Senders, run_followups
from tests.conftest import make_settings
from tests.followups_seed import NOW, instances, seed

TABLES = SQLModel.metadata.tables


@dataclass(frozen=True)
class _Result:
    message_id: str = "m1"
    chat_id: str = "chat1"
    invitation_id: str = "inv1"
    provider_id: str = "ACoX"


@dataclass
class FakeSender:
    """Satisfies both sender protocols; ``errors`` maps account -> list of errors."""

    calls: list[tuple[str, ...]] = field(default_factory=list)
    errors: dict[str, list[ProviderError]] = field(default_factory=dict)

    def _maybe_fail(self, key: str) -> None:
        queue = self.errors.get(key)
        if queue:
            raise queue.pop(0)

    def get_profile(self, identifier: str, account_id: str) -> Any:
        self.calls.append(("profile", account_id, identifier))
        return _Result(provider_id=f"P-{identifier}")

    def start_chat(self, account_id: str, attendee_ids: list[str], text: str) -> Any:
        self._maybe_fail(account_id)
        self.calls.append(("chat", account_id, attendee_ids[0], text))
        return _Result()

    def send_message(self, chat_id: str, text: str) -> Any:
        self.calls.append(("message", chat_id, text))
        return _Result()

    def send_invitation(self, account_id: str, provider_id: str, message: str) -> Any:
        self._maybe_fail(account_id)
        self.calls.append(("invite", account_id, provider_id, message))
        return _Result()

    def send_sms(self, token: str, contact_id: str, text: str, **_: Any) -> Any:
        self._maybe_fail(token)
        self.calls.append(("sms", token, contact_id, text))
        return _Result()

    def sends(self) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] != "profile"]


def _run(
    engine: Engine,
    fake: FakeSender,
    *,
    sleeps: list[float] | None = None,
    options: RunOptions | None = None,
    **env: str,
) -> Any:
    base = {"LINKEDIN_SEND_SPACING_SECONDS": "0", "SEND_CONCURRENCY": "4"}
    settings = make_settings(**{**base, **env})
    return run_followups(
        engine,
        settings,
        options or RunOptions(),
        senders=Senders(linkedin=fake, sms=fake),
        now=lambda: NOW,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        rand=lambda: 0.5,
        clock=lambda: 0.0,
    )


GATING = [
    # (unipile, ghl, lead flags, channel, gate flag) -> (status, paused_reason, sends)
    (
        "DISCONNECTED",
        None,
        {},
        "linkedin_message",
        "1",
        "paused",
        "unipile_disconnected",
        0,
    ),
    (
        "DISCONNECTED",
        None,
        {},
        "linkedin_invite",
        "1",
        "paused",
        "unipile_disconnected",
        0,
    ),
    ("DISCONNECTED", None, {}, "linkedin_message", "0", "active", None, 1),
    (
        "OK",
        None,
        {"linkedin_unreachable_at": NOW},
        "linkedin_message",
        "1",
        "paused",
        "linkedin_unreachable",
        0,
    ),
    (
        "OK",
        None,
        {"linkedin_unreachable_at": NOW},
        "linkedin_message",
        "0",
        "active",
        None,
        1,
    ),
    (None, "DISCONNECTED", {}, "sms", "1", "paused", "ghl_disconnected", 0),
    (None, "DISCONNECTED", {}, "sms", "0", "active", None, 1),
    ("DISCONNECTED", None, {}, "sms", "1", "active", None, 1),
    (None, "DISCONNECTED", {}, "linkedin_message", "1", "active", None, 1),
    (None, None, {"ghl_contact_id": None}, "sms", "1", "active", None, 0),
    ("OK", "OK", {}, "linkedin_message", "1", "active", None, 1),
]


@pytest.mark.parametrize("unipile,ghl,lead,channel,gate,status,reason,sends", GATING)
def test_gating_table(
    engine: Engine,
    unipile: str | None,
    ghl: str | None,
    lead: dict[str, Any],
    channel: str,
    gate: str,
    status: str,
    reason: str | None,
    sends: int,
) -> None:
    seed(engine, unipile=unipile, ghl=ghl, lead_values=lead, channels=(channel, "sms"))
    fake = FakeSender()
    _run(engine, fake, UNIPILE_HEALTH_GATE=gate, AUTO_DISABLE="0")
    row = instances(engine)[0]
    assert (row.status, row.paused_reason, len(fake.sends())) == (status, reason, sends)
    assert row.lease_owner is None


def test_missing_contact_queues_one_repair_and_defers(engine: Engine) -> None:
    seed(
        engine, per_workspace=2, channels=("sms",), lead_values={"ghl_contact_id": None}
    )
    _run(engine, FakeSender())
    _run(engine, FakeSender())  # not due again: still one job per lead
    with engine.connect() as conn:
        jobs = conn.execute(sa.select(TABLES["repair_job"])).all()
    rows = instances(engine)
    assert len(jobs) == 2 and {j.status for j in jobs} == {"pending"}
    assert {r.deferred_reason for r in rows} == {"ghl_contact_missing"}
    assert all(r.next_run_at == NOW + timedelta(hours=1) for r in rows)


def test_success_advances_and_stores_chat(engine: Engine) -> None:
    seed(engine, channels=("linkedin_message", "linkedin_message"))
    fake = FakeSender()
    summary = _run(engine, fake)
    row = instances(engine)[0]
    assert fake.sends() == [("chat", "acc0", "P-ann-0-0", "Hi Ann L0")]
    assert (row.current_step, row.status, row.next_run_at) == (
        1,
        "active",
        NOW + timedelta(hours=24),
    )
    assert summary.as_dict()["sent"] == 1 and summary.exit_code == 0
    with engine.connect() as conn:
        attempt = conn.execute(sa.select(TABLES["send_attempt"])).one()
        lead = conn.execute(
            sa.text("SELECT linkedin_chat_id, linkedin_provider_id FROM lead")
        ).one()
    assert (attempt.status, attempt.provider_message_id) == ("sent", "m1")
    assert tuple(lead) == ("chat1", "P-ann-0-0")


def test_last_step_completes(engine: Engine) -> None:
    seed(engine, channels=("linkedin_invite",), template="Hello {first_name}{missing}")
    fake = FakeSender()
    _run(engine, fake)
    row = instances(engine)[0]
    assert fake.sends() == [("invite", "acc0", "P-ann-0-0", "Hello Ann{missing}")]
    assert (row.status, row.completed_at, row.current_channel) == (
        "completed",
        NOW,
        None,
    )


def test_long_invitation_note_fails_without_a_call(engine: Engine) -> None:
    seed(engine, channels=("linkedin_invite",), template="x" * 301)
    fake = FakeSender()
    summary = _run(engine, fake)
    row = instances(engine)[0]
    assert fake.calls == [] and summary.exit_code == 1
    assert (row.status, row.last_error_category) == ("failed", "validation_error")


def test_expired_sending_becomes_unknown_and_is_not_resent(engine: Engine) -> None:
    seed(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(SendAttempt.__table__).values(  # type: ignore[attr-defined]
                instance_id=1,
                workspace_id=1,
                step_position=0,
                channel="linkedin_message",
                account_id="acc0",
                status="sending",
                lease_expires_at=NOW - timedelta(seconds=1),
                created_at=NOW,
                updated_at=NOW,
            )
        )
    fake = FakeSender()
    summary = _run(engine, fake)
    row = instances(engine)[0]
    assert fake.calls == [] and summary.exit_code == 1
    assert (row.status, row.paused_reason, row.paused_by) == (
        "paused",
        "send_unknown",
        "system",
    )
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT status FROM send_attempt")).scalar_one()
            == "unknown"
        )


def test_daily_cap_defers_to_next_utc_day(engine: Engine) -> None:
    seed(engine, per_workspace=3, channels=("linkedin_invite",))
    fake = FakeSender()
    summary = _run(engine, fake, LINKEDIN_DAILY_INVITES="2")
    rows = instances(engine)
    assert len(fake.sends()) == 2
    deferred = [r for r in rows if r.deferred_reason == "daily_cap"]
    assert len(deferred) == 1 and deferred[0].next_run_at.isoformat().startswith(
        "2026-03-03T00:00"
    )
    assert summary.as_dict()["deferred"] == {"daily_cap": 1}


def test_sends_of_one_account_are_spaced_with_jitter(engine: Engine) -> None:
    seed(engine, per_workspace=3)
    sleeps: list[float] = []
    _run(engine, FakeSender(), sleeps=sleeps, LINKEDIN_SEND_SPACING_SECONDS="10")
    assert sleeps == [12.5, 12.5]  # 10 s + 50% of the 50% jitter, between 3 sends


def _err(category: Category, code: str = "x", status: int = 500) -> ProviderError:
    return ProviderError(category, provider="unipile", status=status, code=code)


def test_transient_retries_then_fails_after_max_attempts(engine: Engine) -> None:
    seed(engine)
    fake = FakeSender(errors={"acc0": [_err(Category.SERVER_ERROR) for _ in range(3)]})
    for _ in range(2):
        _run(engine, fake, FOLLOWUP_MAX_STEP_ATTEMPTS="3")
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE followup_instance SET next_run_at = :t"),
                {"t": NOW - timedelta(seconds=1)},
            )
    row = instances(engine)[0]
    assert (row.status, row.step_attempts) == ("active", 2)
    summary = _run(engine, fake, FOLLOWUP_MAX_STEP_ATTEMPTS="3")
    row = instances(engine)[0]
    assert (row.status, row.last_error_category) == ("failed", "server_error")
    assert summary.exit_code == 1


def test_throttled_account_defers_the_rest_of_its_steps(engine: Engine) -> None:
    seed(engine, per_workspace=3)
    fake = FakeSender(
        errors={"acc0": [_err(Category.ACCOUNT_THROTTLED, "too_many_requests", 429)]}
    )
    _run(engine, fake)
    rows = instances(engine)
    assert fake.sends() == []
    assert {r.deferred_reason for r in rows} == {"account_throttled"}
    with engine.connect() as conn:
        until = conn.execute(
            sa.select(col(IntegrationHealth.backoff_until))
        ).scalar_one()
    assert until is not None and until > NOW


def test_must_wait_defers_the_step(engine: Engine) -> None:
    seed(engine)
    err = _err(Category.RECIPIENT_NOT_READY, "no_connection_with_recipient", 422)
    _run(engine, FakeSender(errors={"acc0": [err]}))
    row = instances(engine)[0]
    assert (row.status, row.deferred_reason) == (
        "active",
        "no_connection_with_recipient",
    )
    assert row.next_run_at == NOW + timedelta(days=1)


def test_401_stops_further_sends_of_that_workspace(engine: Engine) -> None:
    seed(engine, workspaces=2, per_workspace=3)
    err = _err(Category.DISCONNECTED_ACCOUNT, "errors/disconnected_account", 401)
    fake = FakeSender(errors={"acc0": [err]})
    summary = _run(engine, fake, GRACE_PERIOD_MINUTES="0")
    rows = instances(engine)
    assert [c[1] for c in fake.sends()] == ["acc1"] * 3
    assert {(r.status, r.paused_reason) for r in rows if r.workspace_id == 1} == {
        ("paused", "unipile_disconnected")
    }
    assert summary.as_dict()["paused"] == {"unipile_disconnected": 1}


def test_config_error_stops_the_run_and_releases_claims(engine: Engine) -> None:
    seed(engine, per_workspace=2)
    err = ProviderConfigError(
        Category.CONFIG_ERROR,
        provider="unipile",
        status=401,
        code="errors/missing_credentials",
    )
    with pytest.raises(ProviderConfigError):
        _run(engine, FakeSender(errors={"acc0": [err]}))
    assert {r.lease_owner for r in instances(engine)} == {None}


def _attempt_statuses(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT status FROM send_attempt ORDER BY id"))
        return [row[0] for row in rows]


def test_config_error_closes_the_attempt_it_interrupted(engine: Engine) -> None:
    seed(engine, per_workspace=1)
    err = ProviderConfigError(
        Category.CONFIG_ERROR, provider="unipile", status=401, code="bad_key"
    )
    with pytest.raises(ProviderConfigError):
        _run(engine, FakeSender(errors={"acc0": [err]}))
    assert _attempt_statuses(engine) == ["failed"]


@pytest.mark.parametrize("code", ["connect_error", "connect_timeout", "pool_timeout"])
def test_a_send_that_never_connected_is_retried_not_unknown(
    engine: Engine, code: str
) -> None:
    seed(engine, per_workspace=1)
    err = ProviderError(Category.NETWORK_TIMEOUT, provider="unipile", code=code)
    summary = _run(engine, FakeSender(errors={"acc0": [err]}))
    assert _attempt_statuses(engine) == ["failed"]
    assert summary.as_dict()["unknown"] == 0
    assert [(r.status, r.step_attempts) for r in instances(engine)] == [("active", 1)]


def test_a_refused_connection_stops_sends_to_that_provider_for_the_run(
    engine: Engine,
) -> None:
    seed(engine, workspaces=2, per_workspace=2)
    refused = ProviderError(
        Category.NETWORK_TIMEOUT, provider="unipile", code="connect_error"
    )
    fake = FakeSender(errors={"acc0": [refused], "acc1": [refused]})
    summary = _run(engine, fake, SEND_CONCURRENCY="1").as_dict()
    assert _attempt_statuses(engine) == ["failed"]
    assert (summary["skipped"], summary["unknown"], summary["sent"]) == (3, 0, 0)
    assert {(r.status, r.lease_owner) for r in instances(engine)} == {("active", None)}


def test_a_timeout_during_the_send_is_unknown(engine: Engine) -> None:
    seed(engine, per_workspace=1)
    err = ProviderError(Category.NETWORK_TIMEOUT, provider="unipile", code="timeout")
    summary = _run(engine, FakeSender(errors={"acc0": [err]}))
    assert _attempt_statuses(engine) == ["unknown"]
    assert summary.as_dict()["unknown"] == 1


def test_a_workspace_without_an_account_defers_its_steps_an_hour(
    engine: Engine,
) -> None:
    seed(engine, per_workspace=2)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE workspace SET unipile_account_id = NULL"))
    fake = FakeSender()
    summary = _run(engine, fake)
    assert fake.calls == []
    assert summary.as_dict()["deferred"] == {"no_sending_account": 2}
    assert {
        (r.status, r.deferred_reason, r.next_run_at, r.lease_owner)
        for r in instances(engine)
    } == {("active", "no_sending_account", NOW + timedelta(hours=1), None)}


def test_a_stored_delay_beyond_ten_years_is_held_to_ten_years(
    engine: Engine,
) -> None:
    seed(engine, per_workspace=1, channels=("linkedin_message", "sms"))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE followup_step SET delay_hours = 1e300"))
    summary = _run(engine, FakeSender())
    assert summary.as_dict()["sent"] == 1
    (row,) = instances(engine)
    assert (row.current_step, row.next_run_at) == (1, NOW + timedelta(hours=87600))


def test_dry_run_changes_nothing(engine: Engine) -> None:
    seed(engine, per_workspace=2, unipile="DISCONNECTED")
    fake = FakeSender()
    summary = _run(engine, fake, options=RunOptions(dry_run=True))
    assert [r["action"] for r in summary.plan] == ["pause", "pause"]
    assert {r.status for r in instances(engine)} == {"active"} and fake.calls == []


def _count_statements(engine: Engine, fn: Any) -> int:
    seen: list[str] = []

    def listener(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(seen)


@pytest.mark.parametrize("size", [10, 1000])
def test_gating_statements_do_not_grow_with_the_batch(
    engine: Engine, size: int
) -> None:
    seed(engine, per_workspace=size, unipile="DISCONNECTED")
    env = {"FOLLOWUP_BATCH_SIZE": "1000"}
    count = _count_statements(engine, lambda: _run(engine, FakeSender(), **env))
    assert count <= 25
    assert {r.paused_reason for r in instances(engine)} == {"unipile_disconnected"}


def test_sending_statements_grow_by_a_small_constant_per_send(engine: Engine) -> None:
    def per_run(n: int, prefix: str) -> int:
        seed(engine, per_workspace=n, prefix=prefix)
        return _count_statements(engine, lambda: _run(engine, FakeSender()))

    small, big = per_run(5, "ws"), per_run(25, "wb")
    # Measured: 2 per send on PostgreSQL (the ``sending`` row with the claim
    # renewal; the outcome); 8 on SQLite (BEGIN, renew, cap count, insert;
    # BEGIN, attempt, lead, instance).
    assert (big - small) / 20 <= 9
