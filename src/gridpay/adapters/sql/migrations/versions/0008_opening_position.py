"""enrolments: the opening position taken from monthly billing

``opening_wh`` (the register at the start of the agreement's first day: monthly billing's
closing reading), ``opening_ytd_wh`` (kWh already billed in that tier year) and
``position_source`` (entered | accounts_file | drive_file | missing). Agreements recorded before
keep nulls: their settlement is unchanged.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opening_wh", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("opening_ytd_wh", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("position_source", sa.String(length=16), nullable=True))
        batch_op.create_check_constraint(
            "ck_enrolments_opening",
            "(opening_wh IS NULL) = (opening_ytd_wh IS NULL) "
            "AND (opening_wh IS NULL OR (opening_wh >= 0 AND opening_ytd_wh >= 0))",
        )


def downgrade() -> None:
    with op.batch_alter_table("enrolments", schema=None) as batch_op:
        batch_op.drop_constraint("ck_enrolments_opening", type_="check")
        batch_op.drop_column("position_source")
        batch_op.drop_column("opening_ytd_wh")
        batch_op.drop_column("opening_wh")
