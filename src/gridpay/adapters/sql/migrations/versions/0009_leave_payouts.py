"""leaving smart payment: leavings (the close-out and hand-over), receivables and payouts

- ``leavings``: one row per agreement that ended; closed out once its leaving day is settled,
  with the closing position handed to monthly billing (closing register, year-to-date kWh,
  the balance refunded or owed).
- System ledger accounts ``receivables:monthly-billing``, ``payouts:counter``, ``payouts:bank``
  (``domain.ledger``; ``gridpay init`` adds them too).
- Agreements that ended before this revision were settled up when they ended: each gets its
  row, closed when it ended, without a closing position (none was recorded then).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# ``domain.ledger``'s ids, fixed for ever.
_BASE = 10**10
_SYSTEM = (
    (_BASE + 4, "receivables:monthly-billing", "receivables"),
    (_BASE + 201, "payouts:counter", "payouts"),
    (_BASE + 202, "payouts:bank", "payouts"),
)


def upgrade() -> None:
    op.create_table(
        "leavings",
        sa.Column("enrolment_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("enrolled_on", sa.Date(), nullable=False),
        sa.Column("left_on", sa.Date(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closing_wh", sa.BigInteger(), nullable=True),
        sa.Column("closing_estimated", sa.Boolean(), nullable=True),
        sa.Column("ytd_wh", sa.BigInteger(), nullable=True),
        sa.Column("balance_fen", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["enrolment_id"], ["enrolments.id"]),
        sa.PrimaryKeyConstraint("enrolment_id"),
    )
    op.create_index("ix_leavings_account_id", "leavings", ["account_id"])
    op.create_index("ix_leavings_left_on", "leavings", ["left_on"])
    conn = op.get_bind()
    existing = {r[0] for r in conn.execute(sa.text("SELECT id FROM ledger_accounts"))}
    for ledger_id, code, kind in _SYSTEM:
        if ledger_id not in existing:
            conn.execute(
                sa.text(
                    "INSERT INTO ledger_accounts (id, code, kind, debits_posted_fen, "
                    "credits_posted_fen) VALUES (:id, :code, :kind, 0, 0)"
                ),
                {"id": ledger_id, "code": code, "kind": kind},
            )
    conn.execute(
        sa.text(
            "INSERT INTO leavings (enrolment_id, account_id, enrolled_on, left_on, asked_at, "
            "closed_at) SELECT id, account_id, enrolled_on, left_on, left_at, left_at "
            "FROM enrolments WHERE left_at IS NOT NULL"
        )
    )


def downgrade() -> None:
    op.drop_index("ix_leavings_left_on", table_name="leavings")
    op.drop_index("ix_leavings_account_id", table_name="leavings")
    op.drop_table("leavings")
