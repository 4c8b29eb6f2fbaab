"""settlement_runs: the host and process of a run (to tell a died run); reading_rebases

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("settlement_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("pid", sa.Integer(), nullable=True))
    op.create_table(
        "reading_rebases",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("meter_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("total_wh", sa.BigInteger(), nullable=False),
        sa.Column("replaced_wh", sa.BigInteger(), nullable=True),
        sa.Column("refuted_readings", sa.Integer(), nullable=False),
        sa.Column("checked_by", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reading_rebases_meter_id", "reading_rebases", ["meter_id"])


def downgrade() -> None:
    op.drop_index("ix_reading_rebases_meter_id", table_name="reading_rebases")
    op.drop_table("reading_rebases")
    with op.batch_alter_table("settlement_runs", schema=None) as batch_op:
        batch_op.drop_column("pid")
        batch_op.drop_column("host")
