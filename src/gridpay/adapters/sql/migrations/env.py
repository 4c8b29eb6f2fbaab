"""Alembic environment: run against the connection gridpay hands over (see SqlStore.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from gridpay.adapters.sql.schema import metadata

config = context.config
connection = config.attributes.get("connection")

if connection is None:
    # `alembic revision --autogenerate` from a developer's shell: -x url=sqlite:///scratch.db
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///:memory:")
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
