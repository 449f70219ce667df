"""GHL contact repair: every GHL answer ends in a category and a job state."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from integration_health.clients.ghl import GhlClient
from integration_health.config import Settings
from integration_health.errors import Category, ProviderError
from integration_health.models import (
    HealthEvent,
    IntegrationHealth,
    Lead,
    Notification,
    RepairJob,
    Workspace,
)
from integration_health.sandbox import Sandbox
from integration_health.services import repair_queue
from integration_health.services.ghl_repair import RepairReport, run_repair
from tests.ghl_seed import add_lead, add_workspace, scenario, settings_for

DUPLICATE = "This location does not allow duplicated contacts."
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _repair(
    engine: Engine,
    settings: Settings,
    api: Any,
    *,
    now: datetime = T0,
    **kwargs: Any,
) -> RepairReport:
    return run_repair(
        engine, settings, api, owner="test", now=lambda: now, rand=lambda: 1.0, **kwargs
    )


def _job(engine: Engine, lead_id: int) -> RepairJob:
    with Session(engine) as session:
        return session.exec(select(RepairJob).where(RepairJob.lead_id == lead_id)).one()


def _lead(engine: Engine, lead_id: int) -> Lead:
    with Session(engine) as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None
        return lead


def _count(engine: Engine, model: Any) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def _one_lead(engine: Engine) -> int:
    return add_lead(engine, add_workspace(engine), "l", email="a@example.com")


def _fault_upsert(sb: Sandbox, **fault: Any) -> None:
    sb.add_fault("POST", r"^/contacts/upsert$", **fault)


def _fault_everything(sb: Sandbox, **fault: Any) -> None:
    sb.add_fault("*", r"^/contacts", **fault)


ANSWERS: list[tuple[str, Callable[[Sandbox], None], str, str | None]] = [
    ("upsert 200 with id", lambda sb: None, "done", None),
    (
        "upsert 200 without id",
        lambda sb: _fault_upsert(sb, status=200, body={"new": True, "contact": {}}),
        "pending",
        "unknown",
    ),
    (
        "duplicate 400 with meta.contactId",
        lambda sb: _fault_upsert(
            sb,
            status=400,
            body={
                "statusCode": 400,
                "message": DUPLICATE,
                "meta": {"contactId": "c_existing", "matchingField": "email"},
            },
        ),
        "done",
        None,
    ),
    (
        "duplicate 400 without contactId",
        lambda sb: _fault_upsert(
            sb,
            status=400,
            body={"statusCode": 400, "message": DUPLICATE, "meta": {}},
        ),
        "pending",
        "unknown",
    ),
    (
        "401 invalid token",
        lambda sb: _fault_everything(
            sb, status=401, body={"statusCode": 401, "message": "Invalid JWT"}
        ),
        "pending",
        "missing_credentials",
    ),
    (
        "403 location",
        lambda sb: _fault_everything(
            sb,
            status=403,
            body={
                "statusCode": 403,
                "message": "The token does not have access to this location.",
            },
        ),
        "pending",
        "permission_denied",
    ),
    (
        "422 list",
        lambda sb: _fault_upsert(
            sb,
            status=422,
            body={"statusCode": 422, "message": ["email must be an email"]},
        ),
        "needs_operator",
        "validation_error",
    ),
    (
        "429 with Retry-After",
        lambda sb: _fault_everything(
            sb, status=429, body={"message": "Too many"}, headers={"Retry-After": "3"}
        ),
        "pending",
        "rate_limited",
    ),
    (
        "429 without Retry-After",
        lambda sb: _fault_everything(sb, status=429, body={"message": "Too many"}),
        "pending",
        "rate_limited",
    ),
    (
        "500",
        lambda sb: _fault_upsert(sb, status=500, body={"message": "boom"}),
        "pending",
        "server_error",
    ),
    ("HTML 502", lambda sb: _fault_upsert(sb, html=True), "pending", "server_error"),
    (
        "read timeout",
        lambda sb: _fault_upsert(sb, delay=1.5),
        "pending",
        "network_timeout",
    ),
]


@pytest.mark.parametrize(
    ("name", "inject", "state", "category"), ANSWERS, ids=[a[0] for a in ANSWERS]
)
def test_ghl_answer_ends_in_category_and_job_state(
    engine: Engine,
    make_sandbox: Callable[..., Sandbox],
    name: str,
    inject: Callable[[Sandbox], None],
    state: str,
    category: str | None,
) -> None:
    sb = make_sandbox(scenario())
    inject(sb)
    settings = settings_for(sb)
    ws = add_workspace(engine)
    lead = add_lead(engine, ws, "lead-1", email="ada@example.com", phone="+15550100001")

    _repair(engine, settings, GhlClient.from_settings(settings))

    job = _job(engine, lead)
    assert (job.status, job.last_category) == (state, category)
    if state == "done":
        assert _lead(engine, lead).ghl_contact_id
    else:
        assert _lead(engine, lead).ghl_contact_id is None


def test_duplicate_400_adopts_the_existing_contact_id(
    sqlite_engine: Engine, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())
    _fault_upsert(
        sb,
        status=400,
        body={"statusCode": 400, "message": DUPLICATE, "meta": {"contactId": "c_dup"}},
    )
    settings = settings_for(sb)
    lead = add_lead(
        sqlite_engine, add_workspace(sqlite_engine), "l", email="a@example.com"
    )

    _repair(sqlite_engine, settings, GhlClient.from_settings(settings))

    assert _lead(sqlite_engine, lead).ghl_contact_id == "c_dup"


def test_found_contact_is_adopted_without_an_upsert(
    sqlite_engine: Engine, make_sandbox: Callable[..., Sandbox]
) -> None:
    contact = {"id": "c_known", "locationId": "loc_alpha", "email": "a@example.com"}
    sb = make_sandbox(scenario(contacts=[contact]))
    settings = settings_for(sb)
    lead = add_lead(
        sqlite_engine, add_workspace(sqlite_engine), "l", email="a@example.com"
    )

    _repair(sqlite_engine, settings, GhlClient.from_settings(settings))

    assert _lead(sqlite_engine, lead).ghl_contact_id == "c_known"
    assert sb.requests("/contacts/upsert") == []


def test_email_and_phone_matching_different_contacts_needs_operator(
    engine: Engine, make_sandbox: Callable[..., Sandbox]
) -> None:
    contacts = [
        {"id": "c_by_mail", "locationId": "loc_alpha", "email": "a@example.com"},
        {"id": "c_by_phone", "locationId": "loc_alpha", "phone": "+15550100002"},
    ]
    sb = make_sandbox(scenario(contacts=contacts))
    settings = settings_for(sb)
    ws = add_workspace(engine)
    lead = add_lead(engine, ws, "l", email="a@example.com", phone="+15550100002")

    _repair(engine, settings, GhlClient.from_settings(settings))

    job = _job(engine, lead)
    assert job.status == "needs_operator"
    assert "c_by_mail" in (job.last_detail or "")
    assert "c_by_phone" in (job.last_detail or "")
    assert sb.requests("/contacts/upsert") == []


def test_lead_without_email_or_phone_fails_before_any_request(
    sqlite_engine: Engine, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())
    settings = settings_for(sb)
    lead = add_lead(sqlite_engine, add_workspace(sqlite_engine), "l")

    _repair(sqlite_engine, settings, GhlClient.from_settings(settings))

    job = _job(sqlite_engine, lead)
    assert (job.status, job.last_category) == ("needs_operator", "validation_error")
    assert sb.requests("/contacts") == []


def test_failed_upsert_searches_again_before_the_next_upsert(
    sqlite_engine: Engine, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())
    _fault_upsert(sb, status=500, body={"message": "boom"}, times=1)
    settings = settings_for(sb)
    lead = add_lead(
        sqlite_engine, add_workspace(sqlite_engine), "l", email="a@example.com"
    )
    api = GhlClient.from_settings(settings)
    _repair(sqlite_engine, settings, api)
    sb.clear_requests()

    _repair(sqlite_engine, settings, api, now=T0 + timedelta(hours=2))

    paths = [r.path for r in sb.requests("/contacts")]
    assert paths == ["/contacts/search/duplicate", "/contacts/upsert"]
    assert _job(sqlite_engine, lead).status == "done"


class AlwaysFailing:
    """A contact API whose every call fails the same way (no network)."""

    def __init__(self, category: Category) -> None:
        self.category = category
        self.calls = 0

    def find_duplicate(self, token: str, location_id: str, **_: Any) -> str | None:
        self.calls += 1
        raise ProviderError(self.category, provider="ghl", status=500, code="boom")

    def upsert_contact(self, *args: Any, **kwargs: Any) -> object:
        raise AssertionError("upsert must not be reached")


def test_backoff_delays_grow_under_the_cap_then_the_job_is_dead(
    sqlite_engine: Engine,
) -> None:
    settings = settings_for_no_sandbox(
        REPAIR_MAX_ATTEMPTS="6",
        REPAIR_BACKOFF_BASE_SECONDS="10",
        REPAIR_BACKOFF_CAP_SECONDS="100",
    )
    lead = add_lead(
        sqlite_engine, add_workspace(sqlite_engine), "l", email="a@example.com"
    )
    api = AlwaysFailing(Category.SERVER_ERROR)
    now, delays = T0, []
    for _ in range(6):
        _repair(sqlite_engine, settings, api, now=now)
        job = _job(sqlite_engine, lead)
        if job.next_attempt_at is None:
            break
        delays.append((job.next_attempt_at - now).total_seconds())
        now = job.next_attempt_at

    assert delays == [10, 20, 40, 80, 100]
    job = _job(sqlite_engine, lead)
    assert (job.status, job.attempts, job.last_category) == ("dead", 6, "server_error")


def settings_for_no_sandbox(**extra: str) -> Settings:
    from tests.conftest import make_settings

    return make_settings(GHL_BASE_URL="http://127.0.0.1:9", **extra)


def test_dead_job_queues_one_notice_for_its_workspace(sqlite_engine: Engine) -> None:
    settings = settings_for_no_sandbox(REPAIR_MAX_ATTEMPTS="1")
    ws = add_workspace(sqlite_engine)
    for n in range(3):
        add_lead(sqlite_engine, ws, f"l{n}", email=f"a{n}@example.com")

    report = _repair(sqlite_engine, settings, AlwaysFailing(Category.SERVER_ERROR))

    assert report.outcomes["dead"] == 3
    with Session(sqlite_engine) as session:
        kinds = session.exec(select(Notification.kind)).all()
    assert kinds == ["repair_dead"]


def test_bad_token_disconnects_once_and_burns_no_attempt(
    engine: Engine,
    make_sandbox: Callable[..., Sandbox],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sb = make_sandbox(scenario(locations={"loc_alpha": {"token": "the-real-token"}}))
    settings = settings_for(sb, LOG_WINDOW_SECONDS="3600")
    ws = add_workspace(engine)
    for n in range(100):
        add_lead(engine, ws, f"l{n}", email=f"lead{n}@example.com")
    api = GhlClient.from_settings(settings)
    caplog.set_level(logging.WARNING, logger="integration_health")
    requests_per_run = []
    for run in range(3):
        sb.clear_requests()
        _repair(engine, settings, api, now=T0 + timedelta(minutes=10 * run))
        requests_per_run.append(len(sb.requests("/contacts")))
    first_window = _messages(caplog, "repair failed")
    _repair(engine, settings, api, now=T0 + timedelta(hours=2))

    assert requests_per_run == [1, 1, 1]
    assert _count(engine, HealthEvent) == 1
    assert _count(engine, Notification) == 1
    with Session(engine) as session:
        status = session.exec(select(IntegrationHealth.status)).one()
        attempts = session.exec(select(func.max(RepairJob.attempts))).one()
        pending = session.exec(
            select(func.count()).where(col(RepairJob.status) == "pending")
        ).one()
    assert (status, attempts, pending) == ("DISCONNECTED", 0, 100)
    assert len(first_window) == 1
    summaries = _messages(caplog, "more occurrences")
    assert len(summaries) == 1
    assert ": 2 more occurrences" in summaries[0]


def _messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_operator_lead_path_runs_a_job_scheduled_later(
    sqlite_engine: Engine, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())
    _fault_upsert(sb, status=500, body={"message": "boom"}, times=1)
    settings = settings_for(sb)
    lead = add_lead(
        sqlite_engine, add_workspace(sqlite_engine), "l", email="a@example.com"
    )
    api = GhlClient.from_settings(settings)
    _repair(sqlite_engine, settings, api)
    assert _job(sqlite_engine, lead).next_attempt_at > T0  # type: ignore[operator]

    report = _repair(sqlite_engine, settings, api, lead_ids=[lead])

    assert [j.state for j in report.jobs] == ["done"]
    assert _job(sqlite_engine, lead).status == "done"


def _locations(*names: str, revoked: str | None = None) -> dict[str, Any]:
    return {
        f"loc_{name}": {"token": f"tok-{name}", "revoked": name == revoked}
        for name in names
    }


def _seed_workspaces(engine: Engine, leads: dict[str, int]) -> None:
    """One workspace per name (in this order), with that many leads to repair."""
    for name, count in leads.items():
        ws = add_workspace(
            engine, f"ws-{name}", token=f"tok-{name}", location=f"loc_{name}"
        )
        for n in range(count):
            add_lead(engine, ws, f"{name}-{n}", email=f"{name}{n}@example.com")


def _tried_by_workspace(engine: Engine) -> dict[str, int]:
    """Jobs no longer pending untouched, by workspace external ID."""
    with Session(engine) as session:
        rows = session.exec(
            select(Workspace.external_id, func.count())
            .join(RepairJob, col(RepairJob.workspace_id) == Workspace.id)
            .where(col(RepairJob.status) != "pending")
            .group_by(col(Workspace.external_id))
        ).all()
    return {ws: int(n) for ws, n in rows}


def test_limit_below_the_total_lets_every_workspace_progress(
    engine: Engine, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario(locations=_locations("a", "b", "c")))
    _seed_workspaces(engine, {"a": 6, "b": 3, "c": 1})
    settings = settings_for(sb)

    report = _repair(engine, settings, GhlClient.from_settings(settings), limit=6)

    assert report.outcomes == {"done": 6}
    assert _tried_by_workspace(engine) == {"ws-a": 3, "ws-b": 2, "ws-c": 1}


def test_share_a_workspace_does_not_need_goes_to_the_others(
    engine: Engine, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario(locations=_locations("a", "b")))
    _seed_workspaces(engine, {"a": 2, "b": 10})
    settings = settings_for(sb)

    report = _repair(engine, settings, GhlClient.from_settings(settings), limit=8)

    assert report.outcomes == {"done": 8}
    assert _tried_by_workspace(engine) == {"ws-a": 2, "ws-b": 6}


def test_jobs_a_stopped_workspace_gives_back_go_to_the_others(
    sqlite_engine: Engine, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario(locations=_locations("a", "b", revoked="a")))
    _seed_workspaces(sqlite_engine, {"a": 5, "b": 10})
    settings = settings_for(sb, REPAIR_CONCURRENCY="1")
    api = GhlClient.from_settings(settings)

    report = _repair(sqlite_engine, settings, api, limit=10)

    assert report.outcomes == {"waiting_disconnected": 1, "done": 9}
    assert _tried_by_workspace(sqlite_engine) == {"ws-b": 9}


@pytest.mark.parametrize(
    ("state", "fault", "extra"),
    [
        ("needs_operator", {"status": 422, "body": {"message": ["bad email"]}}, {}),
        (
            "dead",
            {"status": 500, "body": {"message": "boom"}},
            {"REPAIR_MAX_ATTEMPTS": "1"},
        ),
    ],
)
def test_operator_lead_path_runs_a_job_no_schedule_would(
    sqlite_engine: Engine,
    make_sandbox: Callable[..., Sandbox],
    state: str,
    fault: dict[str, Any],
    extra: dict[str, str],
) -> None:
    sb = make_sandbox(scenario())
    _fault_upsert(sb, times=1, **fault)
    settings = settings_for(sb, **extra)
    api = GhlClient.from_settings(settings)
    lead = _one_lead(sqlite_engine)
    _repair(sqlite_engine, settings, api)
    assert _job(sqlite_engine, lead).status == state

    report = _repair(sqlite_engine, settings, api, lead_ids=[lead])

    assert [(j.state, j.attempts) for j in report.jobs] == [("done", 2)]
    assert _lead(sqlite_engine, lead).ghl_contact_id is not None


def test_operator_lead_path_says_why_a_lead_did_not_run(
    sqlite_engine: Engine, make_sandbox: Callable[..., Sandbox]
) -> None:
    sb = make_sandbox(scenario())
    settings = settings_for(sb)
    ws = add_workspace(sqlite_engine)
    linked = add_lead(sqlite_engine, ws, "linked", contact_id="c_1")
    busy = add_lead(sqlite_engine, ws, "busy", email="b@example.com")
    with Session(sqlite_engine) as session:
        repair_queue.create_missing_jobs(session, now=T0)
        session.commit()
    repair_queue.claim(
        sqlite_engine,
        workspace_id=ws,
        owner="another run",
        now=T0,
        lease_seconds=300,
        limit=1,
    )

    report = _repair(
        sqlite_engine,
        settings,
        GhlClient.from_settings(settings),
        lead_ids=[linked, busy],
    )

    assert report.jobs == []
    assert [(n.lead, n.state, n.reason) for n in report.not_run] == [
        ("busy", "running", "not run: its repair job 1 is running in another run"),
        ("linked", None, "nothing to do: it has a GHL contact ID (c_1)"),
    ]
    assert sb.requests("/contacts") == []
