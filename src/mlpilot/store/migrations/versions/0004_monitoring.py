"""Monitoring: metric points, de-duplicated alerts, monitor cursors.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "metric_points",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("deployment", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("feature", sa.String(256), nullable=False),
        sa.Column("window_start", _TS, nullable=False),
        sa.Column("window_end", _TS, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metric_points"),
        sa.UniqueConstraint("model", "deployment", "version", "name", "feature",
                            "window_start", "window_end",
                            name="uq_metric_points_window"),
    )
    op.create_index("ix_metric_points_series", "metric_points",
                    ["model", "name", "window_start"])
    op.create_table(
        "alerts",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("deployment", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("title", sa.String(512), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("occurrences", sa.Integer, nullable=False),
        sa.Column("first_seen", _TS, nullable=False),
        sa.Column("last_seen", _TS, nullable=False),
        sa.Column("acknowledged_at", _TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        sa.Column("resolved_at", _TS, nullable=True),
        sa.Column("resolved_by", sa.String(128), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("diagnosis", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_active_key", "alerts", ["key"], unique=True,
                    sqlite_where=sa.text("status != 'resolved'"),
                    postgresql_where=sa.text("status != 'resolved'"))
    op.create_index("ix_alerts_model_status", "alerts", ["model", "status"])
    op.create_index("ix_alerts_first_seen", "alerts", ["first_seen"])
    op.create_table(
        "monitor_cursors",
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_monitor_cursors"),
    )


def downgrade() -> None:
    op.drop_table("monitor_cursors")
    op.drop_table("alerts")
    op.drop_table("metric_points")
