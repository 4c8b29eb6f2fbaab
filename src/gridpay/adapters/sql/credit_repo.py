"""SQL: the credit policy's state, decisions and the staff queue.

The policy runs in two passes (see ``services.credit``): a cheap set-based pass over every
prepaid account (numbers only), then a detailed read of the few accounts near a threshold, whose
``credit_state`` rows are locked first on PostgreSQL so that a payment landing meanwhile is
judged after this pass, never overwritten by it. SQLite serializes writers already.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Connection, Table, and_, case, func, insert, literal, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.db import dialect, fetch_frame
from gridpay.domain.credit_policy import INPUT_SCHEMA, STATE_SCHEMA, CreditState

IN_LIST_MAX = 5_000  # ids per IN (...) list: far below SQLite's 32,766 bound parameters

SCREEN_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "balance_fen": pl.Int64,
    "window_charge_fen": pl.Int64,
    "window_days": pl.Int64,
    "state": pl.String,
    "cycle": pl.Int64,
}


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), IN_LIST_MAX):
        yield list(ids[start : start + IN_LIST_MAX])


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands timestamps back naive (they are stored in UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


class SqlCreditRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _insert(self, table: Table) -> Any:
        module = postgresql if dialect(self.conn) == "postgresql" else sqlite
        return module.insert(table)

    # --- the two passes -------------------------------------------------------------------

    def ensure_states(self, at: dt.datetime) -> int:
        """Give every prepaid account without one a credit state (normal, cycle 0, supply on)."""
        s = schema.credit_state
        a = schema.accounts
        missing = select(
            a.c.id,
            literal(CreditState.NORMAL.value),
            literal(0),
            literal("on"),
            literal(at, type_=s.c.updated_at.type),
        ).where(
            a.c.billing_mode == "prepaid",
            ~select(s.c.account_id).where(s.c.account_id == a.c.id).exists(),
        )
        result = self.conn.execute(
            insert(s).from_select(["account_id", "state", "cycle", "supply", "updated_at"], missing)
        )
        return int(result.rowcount or 0)

    def screen(self, day: dt.date | None) -> pl.DataFrame:
        """Every prepaid account's balance, recent charges (the usage row of ``day``) and
        state: ``SCREEN_SCHEMA``, numbers only, set-based."""
        return fetch_frame(
            self.conn,
            "SELECT a.id AS account_id, "
            "la.credits_posted_fen - la.debits_posted_fen AS balance_fen, "
            "u.window_charge_fen, u.window_days, cs.state, cs.cycle "
            "FROM accounts a "
            "JOIN ledger_accounts la ON la.id = a.id "
            "LEFT JOIN daily_usage u ON u.day = :day AND u.account_id = a.id "
            "LEFT JOIN credit_state cs ON cs.account_id = a.id "
            "WHERE a.billing_mode = 'prepaid' ORDER BY a.id",
            {"day": day or dt.date(1900, 1, 1)},
            schema=SCREEN_SCHEMA,
        )

    def lock_states(self, account_ids: Sequence[int]) -> None:
        """Hold these accounts' credit states until commit (PostgreSQL), in id order."""
        if dialect(self.conn) != "postgresql":
            return
        s = schema.credit_state
        for ids in _chunks(sorted(account_ids)):
            self.conn.execute(
                select(s.c.account_id)
                .where(s.c.account_id.in_(ids))
                .order_by(s.c.account_id)
                .with_for_update()
            ).all()

    def policy_inputs(self, day: dt.date | None, account_ids: Sequence[int]) -> pl.DataFrame:
        """``INPUT_SCHEMA`` for these prepaid accounts (``estimated_recent`` left null)."""
        a, la, m = schema.accounts, schema.ledger_accounts, schema.meters
        u, s, p = schema.daily_usage, schema.credit_state, schema.protections
        rows: list[dict[str, Any]] = []
        for ids in _chunks(account_ids):
            query = (
                select(
                    a.c.id.label("account_id"),
                    m.c.id.label("meter_id"),
                    m.c.has_switch,
                    (la.c.credits_posted_fen - la.c.debits_posted_fen).label("balance_fen"),
                    u.c.window_charge_fen,
                    u.c.window_days,
                    s.c.state,
                    s.c.cycle,
                    s.c.warned_at,
                    s.c.notice_at,
                    s.c.pay_by,
                    s.c.second_notice_at,
                    s.c.supply,
                    p.c.reason.label("protected"),
                )
                .select_from(a)
                .join(la, la.c.id == a.c.id)
                .outerjoin(m, and_(m.c.account_id == a.c.id, m.c.removed_on.is_(None)))
                .outerjoin(
                    u, and_(u.c.account_id == a.c.id, u.c.day == (day or dt.date(1900, 1, 1)))
                )
                .outerjoin(s, s.c.account_id == a.c.id)
                .outerjoin(p, p.c.account_id == a.c.id)
                .where(a.c.id.in_(ids), a.c.billing_mode == "prepaid")
            )
            for row in self.conn.execute(query):
                values = dict(row._mapping)
                for name in ("warned_at", "notice_at", "second_notice_at"):
                    values[name] = _utc(values[name])
                values["pay_by"] = _as_date(values["pay_by"])
                values["estimated_recent"] = None
                rows.append(values)
        return pl.DataFrame(rows, schema=INPUT_SCHEMA, orient="row").unique(
            "account_id", keep="first", maintain_order=True
        )

    def estimated_days(self, account_ids: Sequence[int], since: dt.date) -> pl.DataFrame:
        """(account_id, day) of estimated settled days on or after ``since``."""
        u = schema.daily_usage
        rows: list[tuple[int, dt.date | None]] = []
        for ids in _chunks(account_ids):
            query = select(u.c.account_id, u.c.day).where(
                u.c.account_id.in_(ids), u.c.day >= since, u.c.estimated.is_(True)
            )
            rows.extend((r.account_id, _as_date(r.day)) for r in self.conn.execute(query))
        return pl.DataFrame(rows, schema={"account_id": pl.Int64, "day": pl.Date}, orient="row")

    def recipients(self, account_ids: Sequence[int]) -> pl.DataFrame:
        """Who hears about each account: its contacts, or the account's own phone when it has
        no customer contact. account_id, phone, language, role, account_no, name."""
        a, c = schema.accounts, schema.contacts
        rows: list[dict[str, Any]] = []
        for ids in _chunks(account_ids):
            contacts = (
                select(c.c.account_id, c.c.phone, c.c.language, c.c.role, a.c.account_no, a.c.name)
                .join(a, a.c.id == c.c.account_id)
                .where(c.c.account_id.in_(ids))
            )
            own = select(
                a.c.id.label("account_id"),
                a.c.phone,
                a.c.language,
                text("'customer' AS role"),
                a.c.account_no,
                a.c.name,
            ).where(
                a.c.id.in_(ids),
                a.c.phone.is_not(None),
                ~select(c.c.account_id)
                .where(c.c.account_id == a.c.id, c.c.role == "customer")
                .exists(),
            )
            for query in (contacts, own):
                rows.extend(dict(r._mapping) for r in self.conn.execute(query))
        return pl.DataFrame(
            rows,
            schema={
                "account_id": pl.Int64,
                "phone": pl.String,
                "language": pl.String,
                "role": pl.String,
                "account_no": pl.String,
                "name": pl.String,
            },
            orient="row",
        )

    # --- writes ---------------------------------------------------------------------------

    def save_states(self, states: pl.DataFrame) -> int:
        """Upsert whole ``STATE_SCHEMA`` rows (under ``lock_states`` on PostgreSQL)."""
        if states.height == 0:
            return 0
        rows = states.select(list(STATE_SCHEMA)).to_dicts()
        statement = self._insert(schema.credit_state)
        statement = statement.on_conflict_do_update(
            index_elements=["account_id"],
            set_={name: statement.excluded[name] for name in STATE_SCHEMA if name != "account_id"},
        )
        self.conn.execute(statement, rows)
        return len(rows)

    def _add_keyed(self, table: Table, frame: pl.DataFrame) -> int:
        if frame.height == 0:
            return 0
        before = self._count(table)
        statement = self._insert(table).on_conflict_do_nothing(index_elements=["key"])
        self.conn.execute(statement, frame.to_dicts())
        return self._count(table) - before

    def _count(self, table: Table) -> int:
        return int(self.conn.execute(select(func.count()).select_from(table)).scalar_one())

    def add_decisions(self, decisions: pl.DataFrame) -> int:
        """Append decisions whose key is new; returns rows added."""
        return self._add_keyed(schema.credit_decisions, decisions)

    def add_staff_tasks(self, tasks: pl.DataFrame) -> int:
        return self._add_keyed(schema.staff_tasks, tasks)

    def confirm_supply(self, account_id: int, supply: str, at: dt.datetime) -> None:
        """The meter confirmed supply ``on`` or ``off``: the state follows the meter.

        Off is the truth whatever the state (a late cut confirmation after a payment shows up
        as disconnected, and the policy restores it again); on ends a reconnection, or puts a
        disconnected account back in arrears.
        """
        assert supply in ("on", "off")
        s = schema.credit_state
        state = s.c.state
        if supply == "off":
            new_state: Any = CreditState.DISCONNECTED.value
        else:
            new_state = case(
                (state == CreditState.RECONNECTING.value, CreditState.NORMAL.value),
                (state == CreditState.DISCONNECTED.value, CreditState.ARREARS.value),
                else_=state,
            )
        self.conn.execute(
            update(s)
            .where(s.c.account_id == account_id)
            .values(state=new_state, supply=supply, updated_at=at)
        )
        self.add_decisions(
            pl.DataFrame(
                [
                    {
                        "key": f"confirmed/{account_id:010d}/{supply}/{at.isoformat()}",
                        "account_id": account_id,
                        "at": at,
                        "action": "confirmed",
                        "reason_code": f"supply_{supply}",
                        "reason": f"the meter confirmed supply {supply}",
                    }
                ]
            )
        )

    # --- reading for people ---------------------------------------------------------------

    def decisions(self, account_id: int, limit: int) -> pl.DataFrame:
        d = schema.credit_decisions
        query = (
            select(d.c.at, d.c.action, d.c.reason_code, d.c.reason)
            .where(d.c.account_id == account_id)
            .order_by(d.c.at.desc(), d.c.id.desc())
            .limit(limit)
        )
        rows = [dict(r._mapping) | {"at": _utc(r.at)} for r in self.conn.execute(query)]
        return pl.DataFrame(
            rows,
            schema={
                "at": pl.Datetime("us", "UTC"),
                "action": pl.String,
                "reason_code": pl.String,
                "reason": pl.String,
            },
            orient="row",
        )

    def state_of(self, account_id: int) -> dict[str, Any] | None:
        s = schema.credit_state
        row = self.conn.execute(select(s).where(s.c.account_id == account_id)).first()
        if row is None:
            return None
        values = dict(row._mapping)
        for name in ("warned_at", "notice_at", "second_notice_at", "updated_at"):
            values[name] = _utc(values[name])
        values["pay_by"] = _as_date(values["pay_by"])
        return values

    def staff_tasks(self, open_only: bool, limit: int) -> pl.DataFrame:
        t = schema.staff_tasks
        query = select(t.c.account_id, t.c.kind, t.c.reason, t.c.created_at, t.c.closed_at)
        if open_only:
            query = query.where(t.c.closed_at.is_(None))
        rows = [
            dict(r._mapping) | {"created_at": _utc(r.created_at), "closed_at": _utc(r.closed_at)}
            for r in self.conn.execute(query.order_by(t.c.id).limit(limit))
        ]
        return pl.DataFrame(
            rows,
            schema={
                "account_id": pl.Int64,
                "kind": pl.String,
                "reason": pl.String,
                "created_at": pl.Datetime("us", "UTC"),
                "closed_at": pl.Datetime("us", "UTC"),
            },
            orient="row",
        )

    def state_counts(self) -> dict[str, int]:
        s = schema.credit_state
        query = select(s.c.state, func.count()).group_by(s.c.state)
        return {str(state): int(n) for state, n in self.conn.execute(query)}
