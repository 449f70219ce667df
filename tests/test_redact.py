"""Secrets and personal data never survive into errors, logs, rows or notices."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from integration_health import health
from integration_health.cli.common import JsonFormatter
from integration_health.db import session_scope
from integration_health.errors import Category, ProviderError
from integration_health.health import Observation
from integration_health.models import HealthEvent, Notification, Workspace
from integration_health.redact import RedactingFilter, redact, register_secret
from integration_health.services import notify

API_KEY = "ghl_pit_7f3a9c2e41b84d0e"
register_secret(API_KEY)

SECRETS = {
    "api key": f"token rejected: {API_KEY}",
    "bearer": "sent Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig-123",
    "slack url": "posting to https://hooks.slack.com/services/T0AB/B0CD/xYz123",
    "email": "contact jane.doe+crm@example.co.uk exists",
    "phone e164": "phone +15551234567 is invalid",
    "phone us": "phone (555) 123-4567 is invalid",
    "phone uk": "phone +44 20 7946 0958 is invalid",
    "phone dashes": "phone 555-123-4567 is invalid",
    "phone tel uri": "dial tel:+15551234567",
}
LEAKS = [
    API_KEY,
    "eyJhbGciOiJIUzI1NiJ9",
    "hooks.slack.com",
    "xYz123",
    "jane.doe",
    "example.co.uk",
    "5551234567",
    "123-4567",
    "7946 0958",
    "555-123",
]
SAFE = "at 2026-03-01T12:00:00Z (2026-03-01 12:00:00.123+00:00) HTTP 503 acc_9f3K2"
EVERYTHING = " | ".join([*SECRETS.values(), SAFE])
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def assert_clean(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} leaked in {text!r}"


@pytest.mark.parametrize("text", SECRETS.values(), ids=SECRETS.keys())
def test_redact_removes(text: str) -> None:
    assert_clean(redact(text))


def test_redact_masks_with_labels() -> None:
    assert redact(SECRETS["email"]) == "contact [email] exists"
    assert redact(SECRETS["phone uk"]) == "phone [phone] is invalid"
    assert redact(SECRETS["slack url"]) == "posting to [slack-webhook]"
    assert redact(SECRETS["api key"]) == "token rejected: [redacted]"


@pytest.mark.parametrize(
    "text",
    [
        SAFE,
        "2026-03-01T12:00:00.123456+00:00",
        "HTTP 429 after 120 s",
        "req-12345 msg_01HZY3K9 workspace 42",
        "3f2b6c1e-1234-5678-9abc-def012345678",
        "13:32:21",
    ],
)
def test_redact_keeps_timestamps_statuses_and_short_ids(text: str) -> None:
    assert redact(text) == text


def test_redact_keeps_quotes_around_a_slack_url_in_json() -> None:
    text = '{"url": "https://hooks.slack.com/services/T0/B0/X"}'
    assert redact(text) == '{"url": "[slack-webhook]"}'


def provider_error() -> ProviderError:
    return ProviderError(
        Category.VALIDATION_ERROR,
        provider="ghl",
        status=422,
        code="duplicate contact jane.doe+crm@example.co.uk",
        detail=EVERYTHING,
    )


def test_provider_error_str_repr_and_detail_are_clean() -> None:
    err = provider_error()
    for text in (str(err), repr(err), err.detail, err.code or ""):
        assert_clean(text)
    assert "HTTP 422" in str(err)
    assert "2026-03-01T12:00:00Z" in err.detail


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("integration_health.test_redact")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, stream, handler
    logger.removeHandler(handler)


def _log_everything(logger: logging.Logger) -> None:
    try:
        raise RuntimeError(f"boom {EVERYTHING}")
    except RuntimeError:
        logger.exception(
            "upsert failed: %s",
            EVERYTHING,
            extra={"action": "ghl.upsert.failed", "ctx_email": SECRETS["email"]},
        )


@pytest.mark.parametrize("formatter", ["text", "json"])
def test_log_records_are_redacted(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler], formatter: str
) -> None:
    logger, stream, handler = captured
    if formatter == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    _log_everything(logger)
    output = stream.getvalue()
    assert_clean(output)
    assert "RuntimeError" in output
    assert "HTTP 503" in output
    if formatter == "json":
        payload = json.loads(output)
        assert datetime.fromisoformat(payload["time"]).utcoffset() == timedelta(0)
        assert payload["action"] == "ghl.upsert.failed"
        assert payload["email"] == "contact [email] exists"


def test_health_record_stores_redacted_details(engine: Engine) -> None:
    with session_scope(engine) as session:
        workspace = Workspace(external_id="w1", name="Acme")
        session.add(workspace)
        session.flush()
        assert workspace.id is not None
        obs = Observation.disconnected(
            Category.PERMISSION_DENIED, f"denied {API_KEY}", detail=EVERYTHING
        )
        health.record(session, workspace.id, "ghl", obs, now=T0)
    with session_scope(engine) as session:
        row = health.get_health(session, workspace.id, "ghl")
        event = session.exec(select(HealthEvent)).one()
    assert row is not None
    for text in (row.last_error_detail, row.last_error_code, event.detail, event.code):
        assert text
        assert_clean(text)


def test_notify_queue_stores_redacted_text(engine: Engine) -> None:
    with session_scope(engine) as session:
        notify.queue(
            session,
            dedupe_key="k",
            kind="health",
            text=EVERYTHING,
            workspace_id=None,
            now=T0,
        )
    with session_scope(engine) as session:
        text = session.exec(select(Notification.text)).one()
    assert_clean(text)
    assert "2026-03-01T12:00:00Z" in text
