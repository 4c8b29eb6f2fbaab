"""staff with roles, console sessions, the audit log of every write, shift closes

- ``staff``: console users with an argon2 hash, a role and (clerks, supervisors) an office.
- ``staff_sessions``: signed-in sessions, by the SHA-256 of their token only.
- ``staff_signin_failures``: failed sign-ins, for a rate limit that survives restarts.
- ``audit_log``: who made every write, appended in the write's transaction. Triggers refuse
  UPDATE and DELETE on both engines, so no code path of the app can edit it.
- ``shift_closes``: a clerk's cash drawer counted against the ledger, a supervisor's note.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "staff",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(length=32), nullable=False, unique=True),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("office_id", sa.Integer(), sa.ForeignKey("offices.id"), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role in ('clerk', 'supervisor', 'finance', 'admin')", name="ck_staff_role"
        ),
        sa.CheckConstraint(
            "(role in ('clerk', 'supervisor')) = (office_id IS NOT NULL)", name="ck_staff_office"
        ),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column("staff_id", sa.BigInteger(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_staff_sessions_staff_id", "staff_sessions", ["staff_id"])
    op.create_table(
        "staff_signin_failures",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_staff_signin_failures_username_at", "staff_signin_failures", ["username", "at"]
    )
    op.create_index("ix_staff_signin_failures_client_at", "staff_signin_failures", ["client", "at"])
    op.create_table(
        "audit_log",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=True),
        sa.Column("actor_office_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=True),
        sa.Column("subject", sa.String(length=128), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_audit_log_account_id_id", "audit_log", ["account_id", "id"])
    op.create_index("ix_audit_log_actor_id_id", "audit_log", ["actor_id", "id"])
    op.create_index("ix_audit_log_action_id", "audit_log", ["action", "id"])
    op.create_table(
        "shift_closes",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("staff_id", sa.BigInteger(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_audit_id", sa.BigInteger(), nullable=False),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.Column("ledger_fen", sa.BigInteger(), nullable=False),
        sa.Column("counted_fen", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.Column("explained_by", sa.String(length=32), nullable=True),
        sa.Column("explanation", sa.String(length=300), nullable=True),
        sa.Column("explained_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_shift_closes_staff_id_id", "shift_closes", ["staff_id", "id"])
    _append_only_triggers()


def _append_only_triggers() -> None:
    """The audit log refuses UPDATE and DELETE in the database itself: no route, repository
    or mistaken statement of the app can change what was recorded."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_log_no_{operation.lower()} BEFORE {operation} ON audit_log "
            f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {operation} refused'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("shift_closes")
    op.drop_table("audit_log")
    op.drop_table("staff_signin_failures")
    op.drop_table("staff_sessions")
    op.drop_table("staff")
