"""account changes at the counter: a tariff from a day on, a phone confirmed by an SMS code

- ``account_tariffs``: an account's tariff from ``from_day`` on, with who changed it and why.
  Settlement prices each day at the row in force that day (else ``accounts.tariff_code``); the
  tier year is the account's, so it continues across the change.
- ``phone_changes``: a new SMS phone waiting for the code sent to it (hashed, expiring, single
  use, a few attempts), with who asked for it and why.
- ``owner_changes``: a change of owner (过户) with the old owner's final balance and refund,
  both agreements, who and why.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "account_tariffs",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("tariff_code", sa.String(length=64), nullable=False),
        sa.Column("from_day", sa.Date(), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ux_account_tariffs_account_id_from_day",
        "account_tariffs",
        ["account_id", "from_day"],
        unique=True,
    )
    op.create_table(
        "phone_changes",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("old_phone", sa.String(length=32), nullable=True),
        sa.Column("new_phone", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=12), server_default="pending", nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status in ('pending', 'confirmed', 'superseded', 'locked')",
            name="ck_phone_changes_status",
        ),
    )
    op.create_index("ix_phone_changes_account_id", "phone_changes", ["account_id"])
    op.create_table(
        "owner_changes",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("from_day", sa.Date(), nullable=False),
        sa.Column("old_enrolment_id", sa.BigInteger(), nullable=False),
        sa.Column("new_enrolment_id", sa.BigInteger(), nullable=False),
        sa.Column("old_name", sa.String(length=200), nullable=False),
        sa.Column("old_phone", sa.String(length=32), nullable=True),
        sa.Column("new_name", sa.String(length=200), nullable=False),
        sa.Column("new_phone", sa.String(length=32), nullable=False),
        sa.Column("final_balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("refund_transfer_id", sa.String(length=96), nullable=True),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_owner_changes_account_id", "owner_changes", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_owner_changes_account_id", table_name="owner_changes")
    op.drop_table("owner_changes")
    op.drop_index("ix_phone_changes_account_id", table_name="phone_changes")
    op.drop_table("phone_changes")
    op.drop_index("ux_account_tariffs_account_id_from_day", table_name="account_tariffs")
    op.drop_table("account_tariffs")
