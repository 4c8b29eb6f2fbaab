"""accounts: an index on (billing_mode, id) for the settlement's list of prepaid accounts

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_accounts_billing_mode_id", "accounts", ["billing_mode", "id"])


def downgrade() -> None:
    op.drop_index("ix_accounts_billing_mode_id", table_name="accounts")
