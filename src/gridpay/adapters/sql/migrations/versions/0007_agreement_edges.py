"""the agreement's edges: only direct supply prepaid; imported agreements; stray charges reversed

- ``accounts``: a CHECK that only direct supply is prepaid. Accounts that break it (registered
  as prepaid by an accounts file) go back to monthly billing first, and any agreement of theirs
  in force ends today.
- ``enrolments``: channel ``import``, for accounts registered as prepaid by an accounts file.
- Every charge, credit or true-up that revenue kept for a day outside the account's agreements
  (before it began, after the day it ended, or on an account that is not direct supply) is
  undone by its reversal (``reversal/<id>``), the cached balances moved by the same amounts.
  Nothing is edited or deleted: the usage rows stay as the record of what the meter counted.

SQLite cannot add or change a CHECK in place: batch mode copies the table.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The system ledger's revenue account (``domain.ledger.REVENUE_ID``), fixed for ever.
_REVENUE_ID = 10**10 + 1
_NOTE = "charged for a day outside the smart-payment agreement"

# As ``adapters.sql.settlement_repo.in_agreement_sql`` says it, plus direct supply.
_OUTSIDE = """
    NOT (a.supply_type = 'direct' AND (
      EXISTS (SELECT 1 FROM enrolments e WHERE e.account_id = t.account_id
              AND e.enrolled_on <= t.day AND (e.left_on IS NULL OR e.left_on >= t.day))
      OR NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.account_id = t.account_id)))
"""

_transfers = sa.table(
    "transfers",
    sa.column("id", sa.String),
    sa.column("debit_account_id", sa.BigInteger),
    sa.column("credit_account_id", sa.BigInteger),
    sa.column("amount_fen", sa.BigInteger),
    sa.column("kind", sa.String),
    sa.column("account_id", sa.BigInteger),
    sa.column("day", sa.Date),
    sa.column("reverses_id", sa.String),
    sa.column("note", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_ledger_accounts = sa.table(
    "ledger_accounts",
    sa.column("id", sa.BigInteger),
    sa.column("debits_posted_fen", sa.BigInteger),
    sa.column("credits_posted_fen", sa.BigInteger),
)


def upgrade() -> None:
    conn = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    _end_non_direct_prepaid(conn, now)
    with op.batch_alter_table("accounts") as batch:
        batch.create_check_constraint(
            "ck_accounts_prepaid_direct", "billing_mode = 'postpaid' OR supply_type = 'direct'"
        )
    with op.batch_alter_table("enrolments") as batch:
        batch.drop_constraint("ck_enrolments_channel", type_="check")
        batch.create_check_constraint(
            "ck_enrolments_channel", "channel in ('office', 'online', 'import')"
        )
    _reverse_charges_outside_agreements(conn, now)


def _end_non_direct_prepaid(conn: sa.Connection, now: dt.datetime) -> None:
    # The local business day (Asia/Shanghai, no daylight saving) the agreement ends on.
    today = (now + dt.timedelta(hours=8)).date()
    conn.execute(
        sa.text(
            "UPDATE enrolments SET left_on = :today, left_at = :now WHERE left_at IS NULL "
            "AND account_id IN (SELECT id FROM accounts WHERE supply_type <> 'direct')"
        ).bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True))),
        {"today": today, "now": now},
    )
    conn.execute(
        sa.text(
            "UPDATE accounts SET billing_mode = 'postpaid' "
            "WHERE billing_mode = 'prepaid' AND supply_type <> 'direct'"
        )
    )


def _reverse_charges_outside_agreements(conn: sa.Connection, now: dt.datetime) -> None:
    stray = conn.execute(
        sa.text(
            "SELECT t.id, t.debit_account_id, t.credit_account_id, t.amount_fen, t.account_id, "
            "t.day FROM transfers t JOIN accounts a ON a.id = t.account_id "
            "WHERE t.kind IN ('charge', 'credit') AND t.day IS NOT NULL "
            "AND (t.credit_account_id = :revenue OR t.debit_account_id = :revenue) "
            "AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.id = 'reversal/' || t.id) "
            f"AND {_OUTSIDE} ORDER BY t.seq"
        ),
        {"revenue": _REVENUE_ID},
    ).all()
    if not stray:
        return
    reversals = [
        {
            "id": f"reversal/{t.id}",
            "debit_account_id": t.credit_account_id,
            "credit_account_id": t.debit_account_id,
            "amount_fen": t.amount_fen,
            "kind": "reversal",
            "account_id": t.account_id,
            "day": t.day if isinstance(t.day, dt.date) else dt.date.fromisoformat(t.day),
            "reverses_id": t.id,
            "note": _NOTE,
            "created_at": now,
        }
        for t in stray
    ]
    conn.execute(_transfers.insert(), reversals)
    debits: Counter[int] = Counter()
    credits: Counter[int] = Counter()
    for r in reversals:
        debits[r["debit_account_id"]] += r["amount_fen"]
        credits[r["credit_account_id"]] += r["amount_fen"]
    la = _ledger_accounts
    for ledger_id in sorted(debits.keys() | credits.keys()):
        conn.execute(
            la.update()
            .where(la.c.id == ledger_id)
            .values(
                debits_posted_fen=la.c.debits_posted_fen + debits[ledger_id],
                credits_posted_fen=la.c.credits_posted_fen + credits[ledger_id],
            )
        )


def downgrade() -> None:
    # The reversals stay: the ledger is append-only.
    with op.batch_alter_table("enrolments") as batch:
        batch.drop_constraint("ck_enrolments_channel", type_="check")
        batch.create_check_constraint("ck_enrolments_channel", "channel in ('office', 'online')")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint("ck_accounts_prepaid_direct", type_="check")
