"""The Slack outbox: queue once, flush spaced and coalesced, retry, send once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from typing import Any, ClassVar

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from integration_health.db import session_scope
from integration_health.errors import Category, ProviderError
from integration_health.health import Transition
from integration_health.models import Notification, Workspace
from integration_health.services import notify
from integration_health.services.notify import FlushReport
from tests.conftest import run_cli

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock that only moves when slept on (or told to)."""

    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


class FakeSlack:
    """Records posted texts with the time they arrived; fails on demand."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.posts: list[tuple[datetime, str]] = []
        self.failures: list[ProviderError] = []

    def post(self, text: str) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.posts.append((self.clock(), text))


def slack_error(status: int, category: Category, **kw: object) -> ProviderError:
    options: Any = kw
    return ProviderError(category, provider="slack", status=status, **options)


@pytest.fixture
def workspaces(engine: Engine) -> list[int]:
    with session_scope(engine) as session:
        rows = [Workspace(external_id=f"w{i}", name=f"Acme {i}") for i in range(2)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows if row.id is not None]


def put(
    engine: Engine, key: str, text: str, ws: int | None, kind: str = "health"
) -> bool:
    with session_scope(engine) as session:
        return notify.queue(
            session, dedupe_key=key, kind=kind, text=text, workspace_id=ws, now=T0
        )


def run(engine: Engine, clock: Clock, slack: FakeSlack, **kw: object) -> FlushReport:
    return notify.flush(
        engine,
        post=slack.post,
        now_fn=clock,
        sleep=clock.sleep,
        **kw,  # type: ignore[arg-type]
    )


def stored(engine: Engine) -> list[Notification]:
    with session_scope(engine) as session:
        return list(session.exec(select(Notification).order_by(Notification.id)).all())


def test_second_queue_of_same_key_is_a_no_op(
    engine: Engine, workspaces: list[int]
) -> None:
    assert put(engine, "k1", "first", workspaces[0])
    assert not put(engine, "k1", "second", workspaces[0])
    assert [n.text for n in stored(engine)] == ["first"]


def test_flush_sends_once_and_marks_sent(engine: Engine, workspaces: list[int]) -> None:
    clock = Clock()
    slack = FakeSlack(clock)
    put(engine, "k1", "hello", workspaces[0])
    assert run(engine, clock, slack) == FlushReport(sent=1, pending=0)
    assert run(engine, clock, slack) == FlushReport()
    assert [text for _, text in slack.posts] == ["hello"]
    assert stored(engine)[0].status == "sent"


def test_server_error_then_success_delivers_exactly_once(
    engine: Engine, workspaces: list[int]
) -> None:
    clock = Clock()
    slack = FakeSlack(clock)
    slack.failures.append(slack_error(500, Category.SERVER_ERROR))
    put(engine, "k1", "hello", workspaces[0])
    assert run(engine, clock, slack) == FlushReport(retried=1, pending=1)
    row = stored(engine)[0]
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at == T0 + timedelta(seconds=30)
    assert run(engine, clock, slack) == FlushReport(pending=1)  # not due yet
    clock.now += timedelta(seconds=30)
    assert run(engine, clock, slack) == FlushReport(sent=1)
    assert run(engine, clock, slack) == FlushReport()
    assert [text for _, text in slack.posts] == ["hello"]


def test_not_found_fails_for_good_with_reason(
    engine: Engine, workspaces: list[int]
) -> None:
    clock = Clock()
    slack = FakeSlack(clock)
    slack.failures.append(slack_error(404, Category.NOT_FOUND, code="no_service"))
    put(engine, "k1", "hello", workspaces[0])
    assert run(engine, clock, slack) == FlushReport(failed=1)
    row = stored(engine)[0]
    assert row.status == "failed"
    assert row.last_error == "slack not_found HTTP 404 no_service"


@pytest.mark.parametrize("status", [401, 422])
def test_slack_4xx_fails_for_good_even_if_unclassified(
    engine: Engine, workspaces: list[int], status: int
) -> None:
    clock = Clock()
    slack = FakeSlack(clock)
    slack.failures.append(slack_error(status, Category.UNKNOWN))
    put(engine, "k1", "hello", workspaces[0])
    assert run(engine, clock, slack) == FlushReport(failed=1)
    assert stored(engine)[0].status == "failed"


def test_last_allowed_attempt_fails(engine: Engine, workspaces: list[int]) -> None:
    clock = Clock()
    slack = FakeSlack(clock)
    slack.failures += [slack_error(503, Category.SERVER_ERROR)] * 2
    put(engine, "k1", "hello", workspaces[0])
    assert run(engine, clock, slack, max_attempts=2).retried == 1
    clock.now += timedelta(hours=1)
    assert run(engine, clock, slack, max_attempts=2).failed == 1


def test_429_honours_retry_after_and_stops_the_flush(
    engine: Engine, workspaces: list[int]
) -> None:
    clock = Clock()
    slack = FakeSlack(clock)
    slack.failures.append(slack_error(429, Category.RATE_LIMITED, retry_after=120.0))
    put(engine, "k1", "one", workspaces[0])
    put(engine, "k2", "two", workspaces[1])
    assert run(engine, clock, slack) == FlushReport(retried=1, pending=2)
    assert slack.posts == []
    assert {n.next_attempt_at for n in stored(engine)} == {T0 + timedelta(seconds=120)}
    assert [n.attempts for n in stored(engine)] == [1, 0]


def test_posts_are_spaced_by_min_interval(
    engine: Engine, workspaces: list[int]
) -> None:
    clock = Clock()
    slack = FakeSlack(clock)
    for i in range(3):
        put(engine, f"k{i}", f"notice {i}", workspaces[0], kind=f"kind{i}")
    assert run(engine, clock, slack, min_interval=1.5).sent == 3
    times = [at for at, _ in slack.posts]
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    assert gaps == [1.5, 1.5]


def test_same_workspace_and_kind_are_coalesced_into_one_post(
    engine: Engine, workspaces: list[int]
) -> None:
    clock = Clock()
    slack = FakeSlack(clock)
    put(engine, "a", "first", workspaces[0])
    put(engine, "b", "other workspace", workspaces[1])
    put(engine, "c", "second", workspaces[0])
    assert run(engine, clock, slack).sent == 3
    assert [text for _, text in slack.posts] == ["first\n\nsecond", "other workspace"]
    assert {n.status for n in stored(engine)} == {"sent"}


def test_limit_sends_oldest_first(engine: Engine, workspaces: list[int]) -> None:
    clock = Clock()
    slack = FakeSlack(clock)
    put(engine, "a", "old", workspaces[0], kind="x")
    put(engine, "b", "new", workspaces[0], kind="y")
    assert run(engine, clock, slack, limit=1) == FlushReport(sent=1, pending=1)
    assert [text for _, text in slack.posts] == ["old"]


def _transition(to: str, frm: str | None, repeats: int = 0) -> Transition:
    return Transition(
        workspace_id=1,
        provider="unipile",
        from_status=frm,
        to_status=to,
        event_id=9,
        category="disconnected_account" if to != "OK" else None,
        code="errors/disconnected_account" if to != "OK" else None,
        reconnected=to == "OK" and frm == "DISCONNECTED",
        repeat_count=repeats,
    )


def test_health_change_text_opened() -> None:
    text = notify.health_change_text(
        "Acme",
        "unipile",
        _transition("DISCONNECTED", "OK"),
        affected=12,
        remedy="reconnect the LinkedIn account in Unipile.",
        reconnect_url="https://account.example/reconnect?for=ops@acme.test",
    )
    assert text == (
        "Episode opened: Unipile (LinkedIn) is DISCONNECTED for Acme (was OK): "
        "disconnected_account / errors/disconnected_account.\n"
        "Follow-ups paused: 12.\n"
        "What to do: reconnect the LinkedIn account in Unipile.\n"
        "Reconnect: https://account.example/reconnect?for=[email]"
    )


def test_health_change_text_closed_counts_repeats() -> None:
    text = notify.health_change_text(
        "Acme", "unipile", _transition("OK", "DISCONNECTED", 7), affected=3, remedy=""
    )
    assert text.splitlines() == [
        "Episode closed: Unipile (LinkedIn) is OK again for Acme (was DISCONNECTED).",
        "Follow-ups resumed: 3.",
        "Repeats since the last change: 7.",
    ]


def test_episode_key_is_per_event() -> None:
    assert notify.episode_key(3, "ghl", 41) == "health:3:ghl:41"


def test_cli_without_webhook_leaves_notices_queued(
    engine: Engine, workspaces: list[int], db_url: str
) -> None:
    put(engine, "k1", "hello", workspaces[0])
    result = run_cli("--no-quiet", "notify", "flush", env={"DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert (
        result.stderr.strip() == "SLACK_WEBHOOK_URL is not set: 1 notice stays queued"
    )
    assert stored(engine)[0].status == "pending"


def test_flush_after_job_never_raises_and_skips_with_no_notify(
    engine: Engine, workspaces: list[int]
) -> None:
    from integration_health.cli.common import AppState, flush_after_job
    from tests.conftest import make_settings

    put(engine, "k1", "hello", workspaces[0])
    settings = make_settings(SLACK_WEBHOOK_URL="http://127.0.0.1:9/services/x")
    state = AppState(_settings=settings, _engine=engine)
    flush_after_job(state, no_notify=True)
    flush_after_job(state, no_notify=False)  # port 9 refuses: stays queued
    assert stored(engine)[0].status == "pending"


class _SlackHandler(BaseHTTPRequestHandler):
    status = 200
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.bodies.append(self.rfile.read(length))
        body = b"ok" if self.status == 200 else b"no_service"
        self.send_response(self.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slack_server() -> Iterator[tuple[str, type[_SlackHandler]]]:
    pytest.importorskip("integration_health.clients.slack")
    handler = type("Handler", (_SlackHandler,), {"bodies": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/services/T/B/X", handler
    server.shutdown()
    server.server_close()


def test_cli_flush_posts_to_slack_once(
    engine: Engine,
    workspaces: list[int],
    db_url: str,
    slack_server: tuple[str, type[_SlackHandler]],
) -> None:
    url, handler = slack_server
    put(engine, "k1", "hello", workspaces[0])
    env = {"DATABASE_URL": db_url, "SLACK_WEBHOOK_URL": url}
    first = run_cli("--no-quiet", "notify", "flush", env=env)
    second = run_cli("notify", "flush", env=env)
    assert (first.returncode, second.returncode) == (0, 0), first.stderr
    assert first.stderr.strip() == (
        "notify flush: sent 1, retried 0, failed 0, pending 0"
    )
    assert len(handler.bodies) == 1
    assert b"hello" in handler.bodies[0]


def test_cli_flush_exits_1_when_slack_refuses_for_good(
    engine: Engine,
    workspaces: list[int],
    db_url: str,
    slack_server: tuple[str, type[_SlackHandler]],
) -> None:
    url, handler = slack_server
    handler.status = 404
    put(engine, "k1", "hello", workspaces[0])
    result = run_cli(
        "notify", "flush", env={"DATABASE_URL": db_url, "SLACK_WEBHOOK_URL": url}
    )
    assert result.returncode == 1, result.stderr
    assert stored(engine)[0].status == "failed"


def test_cli_flush_records_a_job_run(
    engine: Engine,
    workspaces: list[int],
    db_url: str,
    slack_server: tuple[str, type[_SlackHandler]],
) -> None:
    from sqlmodel import Session, select

    from integration_health.models import JobRun

    url, _ = slack_server
    put(engine, "k1", "hello", workspaces[0])
    run_cli("notify", "flush", env={"DATABASE_URL": db_url, "SLACK_WEBHOOK_URL": url})

    with Session(engine) as session:
        runs = session.exec(select(JobRun.job, JobRun.status, JobRun.counts)).all()
    assert [(job, status) for job, status, _ in runs] == [("notify-flush", "succeeded")]
    assert '"sent": 1' in runs[0][2]
