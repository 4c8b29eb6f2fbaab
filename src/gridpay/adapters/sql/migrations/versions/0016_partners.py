"""partners: the signed partner API and nightly reconciliation

- ``partners``: code, name, kind, HMAC secret, suspended, limits per payment and per day.
- ``partner_nonces``: each verified request's nonce (replays refused across restarts).
- ``partner_payments``: each partner payment by its reference, with its first answer.
- ``partner_days``: a partner's running total per business day (the per-day limit).
- ``reconciliation_lines``: the latest reconciliation of a partner's day, line by line.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("code", sa.String(length=16), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("suspended", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("payment_amount_fen_max", sa.BigInteger(), nullable=False),
        sa.Column("day_amount_fen_max", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind in ('bank', 'agent', 'wallet')", name="ck_partners_kind"),
    )
    op.create_table(
        "partner_nonces",
        sa.Column("partner_code", sa.String(length=16), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partner_code", "nonce"),
    )
    op.create_index("ix_partner_nonces_seen_at", "partner_nonces", ["seen_at"])
    op.create_table(
        "partner_payments",
        sa.Column("partner_code", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("account_no", sa.String(length=10), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("transfer_id", sa.String(length=96), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=True),
        sa.Column("reversal_id", sa.String(length=96), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partner_code", "reference"),
        sa.CheckConstraint(
            "status in ('pending', 'posted', 'reversed')", name="ck_partner_payments_status"
        ),
    )
    op.create_index(
        "ix_partner_payments_partner_code_day", "partner_payments", ["partner_code", "day"]
    )
    op.create_table(
        "partner_days",
        sa.Column("partner_code", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("partner_code", "day"),
    )
    op.create_table(
        "reconciliation_lines",
        sa.Column("partner_code", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("account_no", sa.String(length=10), nullable=False),
        sa.Column("amount_fen_ours", sa.BigInteger(), nullable=True),
        sa.Column("amount_fen_theirs", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("confirmed_by", sa.String(length=64), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("partner_code", "day", "reference"),
    )


def downgrade() -> None:
    op.drop_table("reconciliation_lines")
    op.drop_table("partner_days")
    op.drop_index("ix_partner_payments_partner_code_day", table_name="partner_payments")
    op.drop_table("partner_payments")
    op.drop_index("ix_partner_nonces_seen_at", table_name="partner_nonces")
    op.drop_table("partner_nonces")
    op.drop_table("partners")
