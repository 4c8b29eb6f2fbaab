"""SMS through a provider's templates, with delivery receipts

- ``messages.params``: the template's parameters (JSON), for providers that send only
  registered templates (Alibaba Cloud SMS).
- ``messages.provider_ref``, ``receipt``, ``delivered_at``, ``delivery_error``: the provider's
  id of the sent message and what its delivery receipt said. Messages sent before have no
  receipt and count as accepted by their gateway (none of the earlier gateways reported any).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("params", sa.Text()))
        batch.add_column(sa.Column("provider_ref", sa.String(length=64)))
        batch.add_column(sa.Column("receipt", sa.String(length=12)))
        batch.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("delivery_error", sa.String(length=64)))
    # The gateways before receipts existed reported none: what they took counts as delivered,
    # so an arrears notice sent before the upgrade still allows its cut.
    op.execute(
        "UPDATE messages SET receipt = 'accepted', delivered_at = sent_at WHERE status = 'sent'"
    )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("delivery_error")
        batch.drop_column("delivered_at")
        batch.drop_column("receipt")
        batch.drop_column("provider_ref")
        batch.drop_column("params")
