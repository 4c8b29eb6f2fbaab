"""the hand-over file lists each settle-up after a close-out

- ``leaving_settle_ups``: one row per settle-up of an agreement already closed out (a late
  reading trued up one of its days): its number, the transfer that refunded or handed over what
  the true-up moved, the closing position as corrected, and the business day it was posted. The
  hand-over file lists each next to the original close-out, so monthly billing sees what
  changed since its last file.
- Settle-ups posted before this revision are found by their deterministic ids
  (``refund/leave-<account>-<agreement>-<n>``, ``handover/...-<n>``) and recorded.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ZONE = ZoneInfo("Asia/Shanghai")  # the business day of a settle-up posted before it was kept


def upgrade() -> None:
    op.create_table(
        "leaving_settle_ups",
        sa.Column("enrolment_id", sa.BigInteger(), nullable=False),
        sa.Column("settle_up_no", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.String(length=96), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("closing_wh", sa.BigInteger(), nullable=False),
        sa.Column("closing_estimated", sa.Boolean(), nullable=False),
        sa.Column("ytd_wh", sa.BigInteger(), nullable=False),
        sa.Column("posted_on", sa.Date(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["enrolment_id"], ["leavings.enrolment_id"]),
        sa.PrimaryKeyConstraint("enrolment_id", "settle_up_no"),
    )
    op.create_index("ix_leaving_settle_ups_posted_on", "leaving_settle_ups", ["posted_on"])
    _record_earlier_settle_ups(op.get_bind())


def _record_earlier_settle_ups(conn: sa.Connection) -> None:
    # Closed agreements are few (households that left); each probe is a unique-index seek.
    closed = conn.execute(
        sa.text(
            "SELECT lv.enrolment_id, lv.account_id, lv.left_on, a.account_no FROM leavings lv "
            "JOIN accounts a ON a.id = lv.account_id WHERE lv.closing_wh IS NOT NULL"
        )
    ).all()
    for enrolment_id, account_id, left_on, account_no in closed:
        position = conn.execute(
            sa.text(
                "SELECT reading_wh, estimated, ytd_wh FROM daily_usage "
                "WHERE day = :d AND account_id = :a"
            ),
            {"d": left_on, "a": account_id},
        ).first()
        number = 1
        while True:
            ref = f"leave-{account_no}-{enrolment_id}-{number}"
            found = conn.execute(
                sa.text(
                    "SELECT id, kind, amount_fen, created_at FROM transfers "
                    "WHERE id IN (:refund, :handover)"
                ),
                {"refund": f"refund/{ref}", "handover": f"handover/{ref}"},
            ).first()
            if found is None or position is None:
                break
            created_at = found.created_at
            if isinstance(created_at, str):  # SQLite keeps it as text, in UTC
                created_at = dt.datetime.fromisoformat(created_at)
            if created_at.tzinfo is None:
                created_at = created_at.replace(tzinfo=dt.UTC)
            amount_fen = int(found.amount_fen)
            conn.execute(
                sa.text(
                    "INSERT INTO leaving_settle_ups (enrolment_id, settle_up_no, transfer_id, "
                    "amount_fen, closing_wh, closing_estimated, ytd_wh, posted_on, posted_at) "
                    "VALUES (:e, :n, :t, :amount, :w, :est, :ytd, :on, :at)"
                ),
                {
                    "e": enrolment_id,
                    "n": number,
                    "t": found.id,
                    "amount": amount_fen if found.kind == "refund" else -amount_fen,
                    "w": position.reading_wh,
                    "est": bool(position.estimated),
                    "ytd": position.ytd_wh,
                    "on": created_at.astimezone(_ZONE).date(),
                    "at": created_at,
                },
            )
            number += 1


def downgrade() -> None:
    op.drop_index("ix_leaving_settle_ups_posted_on", table_name="leaving_settle_ups")
    op.drop_table("leaving_settle_ups")
