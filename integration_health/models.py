"""SQLModel tables: the whole persistent state of the toolkit (design section 3).

Conventions that every job relies on:

* Status-like columns are plain strings holding the values of the enums below
  (no database enum types, so migrations stay simple on SQLite and
  PostgreSQL); a CHECK constraint keeps them honest.
* Every datetime is timezone-aware UTC, on SQLite too: :class:`UTCDateTime`
  stores UTC and hands back aware values.
* ``FollowUpInstance`` carries ``workspace_id`` and ``current_channel``
  copied from its lead and current step, so that gating and bulk pauses are
  one indexed UPDATE instead of a join per row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

# Re-exported: callers name them with the tables.
from integration_health.states import HealthStatus as HealthStatus
from integration_health.states import Provider as Provider

#: Names for constraints declared without one, so that later migrations can
#: drop or alter them by name on SQLite (batch mode) and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A DateTime that only accepts and only returns aware UTC datetimes.

    SQLite has no time zones: values are stored as naive UTC and made aware
    again on the way out. PostgreSQL stores ``timestamptz``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _dt(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_type=UTCDateTime,
        nullable=nullable,
        index=index,
    )


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _check(column: str, enum: type[StrEnum], name: str) -> sa.CheckConstraint:
    values = ", ".join(f"'{member.value}'" for member in enum)
    return sa.CheckConstraint(f"{column} IN ({values})", name=name)


class Channel(StrEnum):
    LINKEDIN_MESSAGE = "linkedin_message"
    LINKEDIN_INVITE = "linkedin_invite"
    SMS = "sms"


LINKEDIN_CHANNELS: frozenset[str] = frozenset(
    {Channel.LINKEDIN_MESSAGE.value, Channel.LINKEDIN_INVITE.value}
)


class InstanceStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"


class PausedReason(StrEnum):
    UNIPILE_DISCONNECTED = "unipile_disconnected"
    LINKEDIN_UNREACHABLE = "linkedin_unreachable"
    GHL_DISCONNECTED = "ghl_disconnected"
    SEND_UNKNOWN = "send_unknown"
    OPERATOR = "operator"


class PausedBy(StrEnum):
    SYSTEM = "system"
    PERSON = "person"


class SendStatus(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"


class RepairStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    NEEDS_OPERATOR = "needs_operator"
    DEAD = "dead"


class RepairKind(StrEnum):
    GHL_CONTACT = "ghl_contact"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class JobRunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Workspace(SQLModel, table=True):
    """A client of the platform, with its GHL location and Unipile account."""

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=200, unique=True, nullable=False)
    name: str = Field(max_length=300, nullable=False)
    ghl_location_id: str | None = Field(default=None, max_length=200)
    #: Secret: a GHL Private Integration Token or OAuth access token.
    ghl_api_key: str | None = Field(default=None, max_length=4000)
    unipile_account_id: str | None = Field(default=None, max_length=200, index=True)
    #: ISO 3166 alpha-2; the default region for parsing leads' phone numbers.
    country: str = Field(default="US", max_length=2, nullable=False)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Lead(SQLModel, table=True):
    __table_args__ = (
        sa.Index("ix_lead_workspace_missing_contact", "workspace_id", "ghl_contact_id"),
        sa.Index(
            "ix_lead_workspace_unreachable", "workspace_id", "linkedin_unreachable_at"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=200, unique=True, nullable=False)
    workspace_id: int = Field(foreign_key="workspace.id", nullable=False, index=True)
    first_name: str | None = Field(default=None, max_length=300)
    last_name: str | None = Field(default=None, max_length=300)
    #: Trimmed and lower-cased on import.
    email: str | None = Field(default=None, max_length=320)
    #: E.164, or None when the imported value could not be normalised.
    phone: str | None = Field(default=None, max_length=32)
    ghl_contact_id: str | None = Field(default=None, max_length=200)
    linkedin_url: str | None = Field(default=None, max_length=1000)
    #: The public slug taken from ``linkedin_url`` (``/in/<slug>``).
    linkedin_identifier: str | None = Field(default=None, max_length=300)
    #: Provider ID as seen by the workspace's account (account-specific).
    linkedin_provider_id: str | None = Field(default=None, max_length=300)
    linkedin_chat_id: str | None = Field(default=None, max_length=300)
    linkedin_unreachable_at: datetime | None = _dt()
    linkedin_unreachable_reason: str | None = Field(default=None, max_length=300)
    #: Set by SMS sync when a lead has SMS history but no way to repair it.
    ghl_needs_repair_at: datetime | None = _dt()
    ghl_needs_repair_reason: str | None = Field(default=None, max_length=300)
    #: Last successful SMS sync of this lead; the least recent go first.
    sms_synced_at: datetime | None = _dt()
    created_at: datetime = _created()
    updated_at: datetime = _created()


class IntegrationHealth(SQLModel, table=True):
    """Current health of one provider for one workspace; written on change."""

    __tablename__ = "integration_health"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "provider", name="uq_health_ws_provider"),
        _check("status", HealthStatus, "ck_health_status"),
        _check("provider", Provider, "ck_health_provider"),
        sa.Index("ix_health_provider_status", "provider", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", nullable=False)
    provider: str = Field(max_length=20, nullable=False)
    status: str = Field(default=HealthStatus.OK.value, max_length=20, nullable=False)
    last_checked_at: datetime | None = _dt()
    last_ok_at: datetime | None = _dt()
    last_error_code: str | None = Field(default=None, max_length=200)
    last_error_category: str | None = Field(default=None, max_length=50)
    last_error_status: int | None = Field(default=None)
    last_error_at: datetime | None = _dt()
    #: Redacted.
    last_error_detail: str | None = Field(default=None, max_length=1000)
    consecutive_failures: int = Field(default=0, nullable=False)
    #: Checks that found the same failing status since the episode opened.
    repeat_count: int = Field(default=0, nullable=False)
    changed_at: datetime | None = _dt()
    #: When the connection was last created or reconnected (grace period).
    connected_at: datetime | None = _dt()
    #: Account-level backoff (throttling, DEGRADED): no calls before this.
    backoff_until: datetime | None = _dt()


class HealthEvent(SQLModel, table=True):
    """Append-only history: one row per status change, never per check."""

    __tablename__ = "health_event"
    __table_args__ = (
        sa.Index(
            "ix_health_event_ws_provider_at", "workspace_id", "provider", "created_at"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", nullable=False)
    provider: str = Field(max_length=20, nullable=False)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20, nullable=False)
    category: str | None = Field(default=None, max_length=50)
    code: str | None = Field(default=None, max_length=200)
    detail: str | None = Field(default=None, max_length=1000)
    created_at: datetime = _created()


class FollowUpSequence(SQLModel, table=True):
    __tablename__ = "followup_sequence"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "name", name="uq_sequence_ws_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", nullable=False)
    name: str = Field(max_length=300, nullable=False)
    created_at: datetime = _created()


class FollowUpStep(SQLModel, table=True):
    __tablename__ = "followup_step"
    __table_args__ = (
        sa.UniqueConstraint("sequence_id", "position", name="uq_step_seq_position"),
        _check("channel", Channel, "ck_step_channel"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sequence_id: int = Field(foreign_key="followup_sequence.id", nullable=False)
    #: 0-based order within the sequence.
    position: int = Field(nullable=False)
    channel: str = Field(max_length=30, nullable=False)
    #: Wait after the previous step (or after enrolment, for the first).
    delay_hours: float = Field(default=0.0, nullable=False)
    template: str = Field(default="", max_length=8000, nullable=False)


class FollowUpInstance(SQLModel, table=True):
    """One lead's progress through one sequence."""

    __tablename__ = "followup_instance"
    __table_args__ = (
        sa.UniqueConstraint("lead_id", "sequence_id", name="uq_instance_lead_seq"),
        _check("status", InstanceStatus, "ck_instance_status"),
        sa.Index("ix_instance_due", "status", "next_run_at"),
        sa.Index(
            "ix_instance_ws_status_channel", "workspace_id", "status", "current_channel"
        ),
        sa.Index("ix_instance_ws_paused_reason", "workspace_id", "paused_reason"),
        sa.Index("ix_instance_lead_status", "lead_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", nullable=False)
    sequence_id: int = Field(foreign_key="followup_sequence.id", nullable=False)
    workspace_id: int = Field(foreign_key="workspace.id", nullable=False)
    #: Position of the next step to send; equals the step count when done.
    current_step: int = Field(default=0, nullable=False)
    #: Channel of the current step (None once completed).
    current_channel: str | None = Field(default=None, max_length=30)
    next_run_at: datetime | None = _dt()
    status: str = Field(
        default=InstanceStatus.ACTIVE.value, max_length=20, nullable=False
    )
    paused_reason: str | None = Field(default=None, max_length=50)
    paused_at: datetime | None = _dt()
    #: ``system`` for pauses the toolkit made (and may undo), ``person`` else.
    paused_by: str | None = Field(default=None, max_length=20)
    #: Failed tries of the current step (transient errors), reset on success.
    step_attempts: int = Field(default=0, nullable=False)
    last_error_category: str | None = Field(default=None, max_length=50)
    last_error_code: str | None = Field(default=None, max_length=200)
    #: Why the current step was last deferred (must wait, cap, backoff).
    deferred_reason: str | None = Field(default=None, max_length=200)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = _dt()
    completed_at: datetime | None = _dt()
    created_at: datetime = _created()
    updated_at: datetime = _created()


class SendAttempt(SQLModel, table=True):
    """One try at sending one step: committed ``sending`` before the call."""

    __tablename__ = "send_attempt"
    __table_args__ = (
        _check("status", SendStatus, "ck_send_status"),
        sa.Index("ix_send_status_lease", "status", "lease_expires_at"),
        sa.Index("ix_send_account_channel_at", "account_id", "channel", "created_at"),
        sa.Index("ix_send_instance_step", "instance_id", "step_position"),
        sa.Index("ix_send_ws_channel_at", "workspace_id", "channel", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    instance_id: int = Field(foreign_key="followup_instance.id", nullable=False)
    workspace_id: int = Field(foreign_key="workspace.id", nullable=False)
    step_position: int = Field(nullable=False)
    channel: str = Field(max_length=30, nullable=False)
    #: Unipile account ID for LinkedIn sends, GHL location ID for SMS.
    account_id: str | None = Field(default=None, max_length=200)
    status: str = Field(default=SendStatus.SENDING.value, max_length=20, nullable=False)
    provider_message_id: str | None = Field(default=None, max_length=300)
    error_category: str | None = Field(default=None, max_length=50)
    error_code: str | None = Field(default=None, max_length=200)
    error_detail: str | None = Field(default=None, max_length=1000)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = _dt()
    created_at: datetime = _created()
    updated_at: datetime = _created()


class RepairJob(SQLModel, table=True):
    """The retry queue for GHL contact repair: one row per (lead, kind)."""

    __tablename__ = "repair_job"
    __table_args__ = (
        sa.UniqueConstraint("lead_id", "kind", name="uq_repair_lead_kind"),
        _check("status", RepairStatus, "ck_repair_status"),
        sa.Index("ix_repair_due", "status", "next_attempt_at"),
        sa.Index("ix_repair_ws_status", "workspace_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(
        default=RepairKind.GHL_CONTACT.value, max_length=30, nullable=False
    )
    lead_id: int = Field(foreign_key="lead.id", nullable=False)
    workspace_id: int = Field(foreign_key="workspace.id", nullable=False)
    status: str = Field(
        default=RepairStatus.PENDING.value, max_length=20, nullable=False
    )
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime | None = _dt()
    last_category: str | None = Field(default=None, max_length=50)
    last_code: str | None = Field(default=None, max_length=200)
    last_status: int | None = Field(default=None)
    #: Redacted.
    last_detail: str | None = Field(default=None, max_length=1000)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = _dt()
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Message(SQLModel, table=True):
    """An SMS synced from GHL, stored once by its GHL message ID."""

    __table_args__ = (
        sa.Index(
            "ix_message_ws_direction_read", "workspace_id", "direction", "read_at"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider_message_id: str = Field(max_length=300, unique=True, nullable=False)
    workspace_id: int = Field(foreign_key="workspace.id", nullable=False)
    lead_id: int | None = Field(default=None, foreign_key="lead.id", index=True)
    conversation_id: str | None = Field(default=None, max_length=300)
    direction: str | None = Field(default=None, max_length=20)
    message_type: str | None = Field(default=None, max_length=50)
    body: str | None = Field(default=None, max_length=10000)
    status: str | None = Field(default=None, max_length=50)
    sent_at: datetime | None = _dt()
    read_at: datetime | None = _dt()
    created_at: datetime = _created()


class LogWindow(SQLModel, table=True):
    """ "Log once per window" state that survives across cron processes."""

    __tablename__ = "log_window"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=500, unique=True, nullable=False)
    window_start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    count: int = Field(default=0, nullable=False)
    first_seen: datetime | None = _dt()
    last_seen: datetime | None = _dt()
    logged: bool = Field(default=False, nullable=False)


class Notification(SQLModel, table=True):
    """Outbox of Slack messages; each is sent once, retried apart from its job."""

    __table_args__ = (
        _check("status", NotificationStatus, "ck_notification_status"),
        sa.Index("ix_notification_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=500, unique=True, nullable=False)
    workspace_id: int | None = Field(default=None, foreign_key="workspace.id")
    kind: str = Field(max_length=50, nullable=False)
    #: Already redacted; holds no lead's personal data.
    text: str = Field(max_length=4000, nullable=False)
    status: str = Field(
        default=NotificationStatus.PENDING.value, max_length=20, nullable=False
    )
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime | None = _dt()
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = _created()
    sent_at: datetime | None = _dt()


class JobRun(SQLModel, table=True):
    """One run of one state-changing command: what ``status`` and verify read."""

    __tablename__ = "job_run"
    __table_args__ = (
        _check("status", JobRunStatus, "ck_job_run_status"),
        sa.Index("ix_job_run_job_status_at", "job", "status", "finished_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=100, nullable=False)
    status: str = Field(
        default=JobRunStatus.RUNNING.value, max_length=20, nullable=False
    )
    started_at: datetime = _created()
    finished_at: datetime | None = _dt()
    exit_code: int | None = Field(default=None)
    #: JSON object of counts, e.g. {"sent": 3, "deferred": 1}.
    counts: str = Field(default="{}", max_length=4000, nullable=False)
    host: str | None = Field(default=None, max_length=200)
    pid: int | None = Field(default=None)


class RunLock(SQLModel, table=True):
    """SQLite's run lock: a row per job with an expiry (PostgreSQL uses
    advisory locks and never writes here)."""

    __tablename__ = "run_lock"

    name: str = Field(primary_key=True, max_length=100)
    owner: str = Field(max_length=200, nullable=False)
    acquired_at: datetime = _created()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
