"""households sign in: codes sent by SMS, sessions, read-only access for trusted contacts

- ``household_codes``: a sign-in code (hashed, expiring, single use, a few tries) and the hash
  of the browser's challenge; also the rate limits' memory (per account, phone, client).
- ``household_sessions``: signed-in browsers by the hash of their cookie's token, with role,
  absolute and idle expiry, and when they were signed out.
- ``household_access``: the trusted contacts the owner let read the account.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    instant = sa.DateTime(timezone=True)
    op.create_table(
        "household_codes",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("challenge_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("code_hash", sa.String(length=128), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("requested_at", instant, nullable=False),
        sa.Column("expires_at", instant, nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=12), server_default="pending", nullable=False),
        sa.Column("used_at", instant, nullable=True),
        sa.CheckConstraint("role in ('owner', 'trusted')", name="ck_household_codes_role"),
        sa.CheckConstraint(
            "status in ('pending', 'used', 'superseded', 'locked')",
            name="ck_household_codes_status",
        ),
    )
    for name, columns in (
        ("ix_household_codes_account_id_requested_at", ["account_id", "requested_at"]),
        ("ix_household_codes_phone_requested_at", ["phone", "requested_at"]),
        ("ix_household_codes_client_key_requested_at", ["client_key", "requested_at"]),
    ):
        op.create_index(name, "household_codes", columns)
    op.create_table(
        "household_sessions",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("created_at", instant, nullable=False),
        sa.Column("last_seen_at", instant, nullable=False),
        sa.Column("expires_at", instant, nullable=False),
        sa.Column("ended_at", instant, nullable=True),
        sa.CheckConstraint("role in ('owner', 'trusted')", name="ck_household_sessions_role"),
    )
    op.create_index("ix_household_sessions_account_id", "household_sessions", ["account_id"])
    op.create_table(
        "household_access",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("granted_at", instant, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "phone"),
    )


def downgrade() -> None:
    op.drop_table("household_access")
    op.drop_table("household_sessions")
    op.drop_table("household_codes")
