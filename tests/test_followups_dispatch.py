"""Workers and account queues: turns, longest queue first, each step once."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from integration_health.sandbox import Sandbox
from integration_health.services import followups_dispatch, followups_send
from integration_health.services.followups import RunOptions, run_followups
from tests.conftest import make_settings
from tests.followups_seed import (
    NOW,
    instances,
    known_profiles,
    sandbox_scenario,
    seed,
)


def _accounts_in_send_order(sb: Sandbox) -> list[str]:
    chats = sb.requests("/api/v1/chats", "POST")
    return [(req.form or {}).get("account_id", ["?"])[0] for req in chats]


def _run(engine: Engine, sb: Sandbox, **env: str) -> dict[str, int]:
    settings = make_settings(
        UNIPILE_DSN=sb.unipile_dsn,
        UNIPILE_API_KEY=sb.unipile_api_key,
        LINKEDIN_SEND_SPACING_SECONDS="0",
        LINKEDIN_DAILY_MESSAGES="1000",
        **env,
    )
    summary = run_followups(engine, settings, RunOptions(), now=lambda: NOW)
    return summary.as_dict()


def _send_order(
    engine: Engine, workspaces: int, per_workspace: int, **env: str
) -> tuple[dict[str, int], list[str]]:
    """Run once against a sandbox knowing the accounts; the accounts sent for."""
    seed(engine, workspaces=workspaces, per_workspace=per_workspace)
    known_profiles(engine)
    with Sandbox(sandbox_scenario(workspaces)) as sb:
        summary = _run(engine, sb, **env)
        return summary, _accounts_in_send_order(sb)


@pytest.fixture
def every_step_a_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(followups_dispatch, "SLICE_SECONDS", 0.0)


@pytest.mark.usefixtures("every_step_a_turn")
def test_one_worker_takes_turns_between_waiting_accounts(engine: Engine) -> None:
    summary, order = _send_order(engine, 2, 3, SEND_CONCURRENCY="1")

    assert summary["sent"] == 6
    assert order == ["acc0", "acc1", "acc0", "acc1", "acc0", "acc1"]


@pytest.mark.usefixtures("every_step_a_turn")
def test_a_worker_keeps_its_account_while_no_other_waits(engine: Engine) -> None:
    summary, order = _send_order(engine, 1, 4, SEND_CONCURRENCY="2")

    assert summary["sent"] == 4
    assert order == ["acc0"] * 4


@pytest.mark.usefixtures("every_step_a_turn")
def test_a_late_batch_of_a_new_account_is_sent_before_the_old_ones_end(
    engine: Engine,
) -> None:
    # Batches of 4 hold one account each: acc1's steps come in a later
    # batch, claimed while acc0 still has steps to send.
    summary, order = _send_order(
        engine, 2, 4, SEND_CONCURRENCY="1", FOLLOWUP_BATCH_SIZE="4"
    )

    assert summary["sent"] == 8
    assert order[-1] == "acc1"
    assert "acc1" in order[:4]


def test_an_account_that_cannot_be_opened_gives_its_claims_back(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = followups_send.account_db

    def account_db(db_engine: Engine, account: str) -> Any:
        if account == "acc0":
            raise RuntimeError("cannot open this account")
        return opened(db_engine, account)

    monkeypatch.setattr(followups_send, "account_db", account_db)
    summary, order = _send_order(engine, 2, 2, SEND_CONCURRENCY="2")

    assert order == ["acc1", "acc1"]
    assert summary["sent"] == 2
    by_workspace = sorted(
        (i.workspace_id, i.status, i.lease_owner) for i in instances(engine)
    )
    assert [status for _, status, _ in by_workspace] == ["active"] * 2 + [
        "completed"
    ] * 2
    assert all(owner is None for _, _, owner in by_workspace)
