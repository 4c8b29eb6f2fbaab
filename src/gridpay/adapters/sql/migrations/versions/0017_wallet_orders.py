"""paying online: wallet orders and the callbacks received for them

- ``wallet_orders``: our order at the wallet (id, account, amount, state, the wallet's trade
  number); the credit's transfer is ``pay/app/<order id>``.
- ``wallet_callbacks``: every notification received and its outcome (credited, duplicate, or
  the reason it was refused).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "wallet_orders",
        sa.Column("order_id", sa.String(length=32), primary_key=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("trade_no", sa.String(length=64), nullable=True),
        sa.Column("pay_url", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state in ('created', 'paid', 'credited', 'closed', 'failed')",
            name="ck_wallet_orders_state",
        ),
        sa.CheckConstraint("amount_fen > 0", name="ck_wallet_orders_amount_fen"),
    )
    op.create_index("ix_wallet_orders_state_created_at", "wallet_orders", ["state", "created_at"])
    op.create_index("ix_wallet_orders_account_id", "wallet_orders", ["account_id"])
    op.create_table(
        "wallet_callbacks",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("notify_id", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_wallet_callbacks_notify_id", "wallet_callbacks", ["notify_id"])
    op.create_index("ix_wallet_callbacks_order_id", "wallet_callbacks", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_wallet_callbacks_order_id", table_name="wallet_callbacks")
    op.drop_index("ix_wallet_callbacks_notify_id", table_name="wallet_callbacks")
    op.drop_table("wallet_callbacks")
    op.drop_index("ix_wallet_orders_account_id", table_name="wallet_orders")
    op.drop_index("ix_wallet_orders_state_created_at", table_name="wallet_orders")
    op.drop_table("wallet_orders")
