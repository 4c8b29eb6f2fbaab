"""staff_tasks: why a task closed itself (close_code, close_reason)

A task closes when its cause goes away (the debt paid or trued up, the agreement ended); the
code and the reason say which, next to ``closed_at``.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("close_code", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("close_reason", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_tasks", schema=None) as batch_op:
        batch_op.drop_column("close_reason")
        batch_op.drop_column("close_code")
