"""Initial schema: every table of models.py at the first release.

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-04 13:45:23.966844
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("counts", sa.String(length=4000), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')", name="ck_job_run_status"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run")),
    )
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.create_index(
            "ix_job_run_job_status_at", ["job", "status", "finished_at"], unique=False
        )

    op.create_table(
        "log_window",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("logged", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_window")),
        sa.UniqueConstraint("key", name=op.f("uq_log_window_key")),
    )
    op.create_table(
        "run_lock",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_run_lock")),
    )
    op.create_table(
        "workspace",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("ghl_location_id", sa.String(length=200), nullable=True),
        sa.Column("ghl_api_key", sa.String(length=4000), nullable=True),
        sa.Column("unipile_account_id", sa.String(length=200), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace")),
        sa.UniqueConstraint("external_id", name=op.f("uq_workspace_external_id")),
    )
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workspace_unipile_account_id"),
            ["unipile_account_id"],
            unique=False,
        )

    op.create_table(
        "followup_sequence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_followup_sequence_workspace_id_workspace"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_sequence")),
        sa.UniqueConstraint("workspace_id", "name", name="uq_sequence_ws_name"),
    )
    op.create_table(
        "health_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=True),
        sa.Column("code", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_health_event_workspace_id_workspace"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_event")),
    )
    with op.batch_alter_table("health_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_health_event_ws_provider_at",
            ["workspace_id", "provider", "created_at"],
            unique=False,
        )

    op.create_table(
        "integration_health",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_code", sa.String(length=200), nullable=True),
        sa.Column("last_error_category", sa.String(length=50), nullable=True),
        sa.Column("last_error_status", sa.Integer(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error_detail", sa.String(length=1000), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("repeat_count", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("backoff_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("provider IN ('unipile', 'ghl')", name="ck_health_provider"),
        sa.CheckConstraint(
            "status IN ('OK', 'DEGRADED', 'DISCONNECTED')", name="ck_health_status"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_integration_health_workspace_id_workspace"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_health")),
        sa.UniqueConstraint("workspace_id", "provider", name="uq_health_ws_provider"),
    )
    with op.batch_alter_table("integration_health", schema=None) as batch_op:
        batch_op.create_index(
            "ix_health_provider_status", ["provider", "status"], unique=False
        )

    op.create_table(
        "lead",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=300), nullable=True),
        sa.Column("last_name", sa.String(length=300), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("ghl_contact_id", sa.String(length=200), nullable=True),
        sa.Column("linkedin_url", sa.String(length=1000), nullable=True),
        sa.Column("linkedin_identifier", sa.String(length=300), nullable=True),
        sa.Column("linkedin_provider_id", sa.String(length=300), nullable=True),
        sa.Column("linkedin_chat_id", sa.String(length=300), nullable=True),
        sa.Column("linkedin_unreachable_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("linkedin_unreachable_reason", sa.String(length=300), nullable=True),
        sa.Column("ghl_needs_repair_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ghl_needs_repair_reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_lead_workspace_id_workspace"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead")),
        sa.UniqueConstraint("external_id", name=op.f("uq_lead_external_id")),
    )
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lead_workspace_id"), ["workspace_id"], unique=False
        )
        batch_op.create_index(
            "ix_lead_workspace_missing_contact",
            ["workspace_id", "ghl_contact_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_lead_workspace_unreachable",
            ["workspace_id", "linkedin_unreachable_at"],
            unique=False,
        )

    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=500), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("text", sa.String(length=4000), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name="ck_notification_status"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_notification_workspace_id_workspace"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notification_dedupe_key")),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_due", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "followup_instance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("sequence_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=False),
        sa.Column("current_channel", sa.String(length=30), nullable=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("paused_reason", sa.String(length=50), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_by", sa.String(length=20), nullable=True),
        sa.Column("step_attempts", sa.Integer(), nullable=False),
        sa.Column("last_error_category", sa.String(length=50), nullable=True),
        sa.Column("last_error_code", sa.String(length=200), nullable=True),
        sa.Column("deferred_reason", sa.String(length=200), nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'completed', 'failed')",
            name="ck_instance_status",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["lead.id"], name=op.f("fk_followup_instance_lead_id_lead")
        ),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["followup_sequence.id"],
            name=op.f("fk_followup_instance_sequence_id_followup_sequence"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_followup_instance_workspace_id_workspace"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_instance")),
        sa.UniqueConstraint("lead_id", "sequence_id", name="uq_instance_lead_seq"),
    )
    with op.batch_alter_table("followup_instance", schema=None) as batch_op:
        batch_op.create_index(
            "ix_instance_due", ["status", "next_run_at"], unique=False
        )
        batch_op.create_index(
            "ix_instance_lead_status", ["lead_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_instance_ws_paused_reason",
            ["workspace_id", "paused_reason"],
            unique=False,
        )
        batch_op.create_index(
            "ix_instance_ws_status_channel",
            ["workspace_id", "status", "current_channel"],
            unique=False,
        )

    op.create_table(
        "followup_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("delay_hours", sa.Float(), nullable=False),
        sa.Column("template", sa.String(length=8000), nullable=False),
        sa.CheckConstraint(
            "channel IN ('linkedin_message', 'linkedin_invite', 'sms')",
            name="ck_step_channel",
        ),
        sa.ForeignKeyConstraint(
            ["sequence_id"],
            ["followup_sequence.id"],
            name=op.f("fk_followup_step_sequence_id_followup_sequence"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_step")),
        sa.UniqueConstraint("sequence_id", "position", name="uq_step_seq_position"),
    )
    op.create_table(
        "message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=300), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.String(length=300), nullable=True),
        sa.Column("direction", sa.String(length=20), nullable=True),
        sa.Column("message_type", sa.String(length=50), nullable=True),
        sa.Column("body", sa.String(length=10000), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["lead.id"], name=op.f("fk_message_lead_id_lead")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_message_workspace_id_workspace"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
        sa.UniqueConstraint(
            "provider_message_id", name=op.f("uq_message_provider_message_id")
        ),
    )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_lead_id"), ["lead_id"], unique=False
        )
        batch_op.create_index(
            "ix_message_ws_direction_read",
            ["workspace_id", "direction", "read_at"],
            unique=False,
        )

    op.create_table(
        "repair_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_category", sa.String(length=50), nullable=True),
        sa.Column("last_code", sa.String(length=200), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_detail", sa.String(length=1000), nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'done', 'needs_operator', 'dead')",
            name="ck_repair_status",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["lead.id"], name=op.f("fk_repair_job_lead_id_lead")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_repair_job_workspace_id_workspace"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_job")),
        sa.UniqueConstraint("lead_id", "kind", name="uq_repair_lead_kind"),
    )
    with op.batch_alter_table("repair_job", schema=None) as batch_op:
        batch_op.create_index(
            "ix_repair_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_repair_ws_status", ["workspace_id", "status"], unique=False
        )

    op.create_table(
        "send_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("step_position", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider_message_id", sa.String(length=300), nullable=True),
        sa.Column("error_category", sa.String(length=50), nullable=True),
        sa.Column("error_code", sa.String(length=200), nullable=True),
        sa.Column("error_detail", sa.String(length=1000), nullable=True),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('sending', 'sent', 'failed', 'unknown')", name="ck_send_status"
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["followup_instance.id"],
            name=op.f("fk_send_attempt_instance_id_followup_instance"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_send_attempt_workspace_id_workspace"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_attempt")),
    )
    with op.batch_alter_table("send_attempt", schema=None) as batch_op:
        batch_op.create_index(
            "ix_send_account_channel_at",
            ["account_id", "channel", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_send_instance_step", ["instance_id", "step_position"], unique=False
        )
        batch_op.create_index(
            "ix_send_status_lease", ["status", "lease_expires_at"], unique=False
        )
        batch_op.create_index(
            "ix_send_ws_channel_at",
            ["workspace_id", "channel", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("send_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_send_ws_channel_at")
        batch_op.drop_index("ix_send_status_lease")
        batch_op.drop_index("ix_send_instance_step")
        batch_op.drop_index("ix_send_account_channel_at")

    op.drop_table("send_attempt")
    with op.batch_alter_table("repair_job", schema=None) as batch_op:
        batch_op.drop_index("ix_repair_ws_status")
        batch_op.drop_index("ix_repair_due")

    op.drop_table("repair_job")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_ws_direction_read")
        batch_op.drop_index(batch_op.f("ix_message_lead_id"))

    op.drop_table("message")
    op.drop_table("followup_step")
    with op.batch_alter_table("followup_instance", schema=None) as batch_op:
        batch_op.drop_index("ix_instance_ws_status_channel")
        batch_op.drop_index("ix_instance_ws_paused_reason")
        batch_op.drop_index("ix_instance_lead_status")
        batch_op.drop_index("ix_instance_due")

    op.drop_table("followup_instance")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_due")

    op.drop_table("notification")
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_workspace_unreachable")
        batch_op.drop_index("ix_lead_workspace_missing_contact")
        batch_op.drop_index(batch_op.f("ix_lead_workspace_id"))

    op.drop_table("lead")
    with op.batch_alter_table("integration_health", schema=None) as batch_op:
        batch_op.drop_index("ix_health_provider_status")

    op.drop_table("integration_health")
    with op.batch_alter_table("health_event", schema=None) as batch_op:
        batch_op.drop_index("ix_health_event_ws_provider_at")

    op.drop_table("health_event")
    op.drop_table("followup_sequence")
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workspace_unipile_account_id"))

    op.drop_table("workspace")
    op.drop_table("run_lock")
    op.drop_table("log_window")
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.drop_index("ix_job_run_job_status_at")

    op.drop_table("job_run")
