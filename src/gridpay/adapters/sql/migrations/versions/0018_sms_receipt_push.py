"""SMS delivery receipts pushed by the provider

- ``ix_messages_provider_ref``: a pushed receipt names its message by the provider's id
  (Alibaba Cloud's ``biz_id``); without the index every push would read the whole outbox.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_provider_ref", "messages", ["provider_ref"])


def downgrade() -> None:
    op.drop_index("ix_messages_provider_ref", table_name="messages")
