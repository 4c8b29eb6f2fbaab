"""daily_usage: no index leading with the account; runs of settled days marked instead

The index (account_id, day) put each day's 550,000 new rows on as many scattered pages. Rows
now say whether they start a run (no row for the account the day before), and a small partial
index on those rows lets the account's last settled day be found by seeks on the primary key.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "daily_usage",
        sa.Column("starts_run", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    day_before = "date(daily_usage.day, '-1 day')" if sqlite else "daily_usage.day - 1"
    # Still on the old index: one seek per row.
    op.execute(
        "UPDATE daily_usage SET starts_run = NOT EXISTS (SELECT 1 FROM daily_usage p "
        f"WHERE p.account_id = daily_usage.account_id AND p.day = {day_before})"
    )
    op.create_index(
        "ix_daily_usage_run_starts",
        "daily_usage",
        ["account_id", "day"],
        sqlite_where=sa.text("starts_run"),
        postgresql_where=sa.text("starts_run"),
    )
    op.drop_index("ix_daily_usage_account_id_day", table_name="daily_usage")


def downgrade() -> None:
    op.create_index("ix_daily_usage_account_id_day", "daily_usage", ["account_id", "day"])
    op.drop_index("ix_daily_usage_run_starts", table_name="daily_usage")
    op.drop_column("daily_usage", "starts_run")
