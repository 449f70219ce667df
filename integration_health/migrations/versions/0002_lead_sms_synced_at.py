"""Lead.sms_synced_at: SMS sync visits the least recently synced leads first.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("lead") as batch:
        batch.add_column(sa.Column("sms_synced_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("lead") as batch:
        batch.drop_column("sms_synced_at")
