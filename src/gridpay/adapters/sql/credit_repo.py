"""SQL: the credit policy's state, decisions and the staff queue.

The policy runs in two passes (see ``services.credit``): a cheap set-based pass over every
prepaid account (numbers only), then a detailed read of the few accounts near a threshold, whose
``credit_state`` rows are locked first on PostgreSQL so that a payment landing meanwhile is
judged after this pass, never overwritten by it. SQLite serializes writers already.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import (
    Connection,
    String,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)

from gridpay import limits
from gridpay.adapters.sql import schema
from gridpay.adapters.sql.bulk_keyed import insert_new, upsert
from gridpay.adapters.sql.db import as_date, as_utc, dialect, fetch_frame
from gridpay.adapters.sql.driver_many import ManyRows
from gridpay.adapters.sql.settlement_repo import days_between, newest_settled_day
from gridpay.domain.commands import CommandAction, CommandState, escalation_kind
from gridpay.domain.credit_policy import (
    INPUT_SCHEMA,
    OVERDUE_RECONNECT_SCHEMA,
    RESTORE_OVERDUE_TASK,
    STATE_SCHEMA,
    AccountCreditState,
    Action,
    CreditPolicy,
    CreditState,
    LatestDecision,
)

# Read by every payment: built once (a Core statement built per call cost more than its query).
_STATE_OF = select(schema.credit_state).where(
    schema.credit_state.c.account_id == bindparam("account_id")
)
_STATE_OF_FOR_UPDATE = _STATE_OF.with_for_update()
_STATES_OF = (
    select(schema.credit_state)
    .where(schema.credit_state.c.account_id.in_(bindparam("ids", expanding=True)))
    .order_by(schema.credit_state.c.account_id)
)
_STATES_OF_FOR_UPDATE = _STATES_OF.with_for_update()


def _credit_state(row: Any) -> AccountCreditState:
    values = dict(row._mapping)
    for name in ("warned_at", "notice_at", "second_notice_at", "updated_at"):
        values[name] = as_utc(values[name])
    values["pay_by"] = as_date(values["pay_by"])
    values["state"] = CreditState(values["state"])
    return AccountCreditState(**values)


RECIPIENT_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "phone": pl.String,
    "language": pl.String,
    "role": pl.String,
    "account_no": pl.String,
    "name": pl.String,
}

SCREEN_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "balance_fen": pl.Int64,
    "window_charge_fen": pl.Int64,
    "window_days": pl.Int64,
    "state": pl.String,
    "cycle": pl.Int64,
}


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), limits.credit_in_list_ids_max):
        yield list(ids[start : start + limits.credit_in_list_ids_max])


def _id_list(ids: Sequence[int]) -> str:
    """Integer ids inlined into an IN list (integers only: nothing to escape)."""
    return ", ".join(str(int(i)) for i in ids) or "NULL"


def _parse_instant(text_: pl.Expr) -> pl.Expr:
    return text_.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us").dt.replace_time_zone("UTC")


# When the cycle's arrears notice first reached a phone (``INPUT_SCHEMA.notice_delivered_at``).
_NOTICE_DELIVERED_AT = (
    "(SELECT MIN(msg.delivered_at) FROM messages msg WHERE msg.account_id = a.id "
    "AND msg.kind = 'arrears' AND msg.created_at >= cs.notice_at)"
)
# An account whose agreement ended and awaits its close-out (the night after its leaving day) is
# still prepaid for that day's settlement, but the policy no longer warns, notifies or cuts it.
_NOT_LEAVING = (
    "NOT EXISTS (SELECT 1 FROM leavings lv WHERE lv.account_id = a.id AND lv.closed_at IS NULL)"
)


class SqlCreditRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- the two passes -------------------------------------------------------------------

    def ensure_states(self, account_ids: Sequence[int], at: dt.datetime) -> int:
        """Give these accounts a credit state where they have none (normal, cycle 0, on)."""
        n = len(account_ids)
        if n == 0:
            return 0
        fresh = pl.DataFrame(
            {
                "account_id": list(account_ids),
                "state": [CreditState.NORMAL.value] * n,
                "cycle": [0] * n,
                "supply": ["on"] * n,
                "updated_at": [at] * n,
            },
            schema={
                k: STATE_SCHEMA[k] for k in ("account_id", "state", "cycle", "supply", "updated_at")
            },
        )
        return insert_new(self.conn, "credit_state", fresh, ["account_id"])

    def screen(
        self, day: dt.date | None, policy: CreditPolicy, *, in_debt_only: bool = False
    ) -> pl.DataFrame:
        """``SCREEN_SCHEMA`` for the prepaid accounts that may be near a threshold: not in the
        normal state, or below their warning line (``day``'s usage row gives the average).

        A generous superset, filtered in SQL so that the rest of a city never leaves the
        database; ``domain.credit_policy.near_threshold`` makes the exact cut."""
        if in_debt_only:  # the timer between settlements: from the state index, not the city
            return fetch_frame(
                self.conn,
                "SELECT a.id AS account_id, "
                "la.credits_posted_fen - la.debits_posted_fen AS balance_fen, "
                "u.window_charge_fen, u.window_days, cs.state, cs.cycle "
                "FROM credit_state cs "
                "JOIN accounts a ON a.id = cs.account_id "
                "JOIN ledger_accounts la ON la.id = a.id "
                "LEFT JOIN daily_usage u ON u.day = :day AND u.account_id = a.id "
                "WHERE cs.state <> 'normal' AND a.billing_mode = 'prepaid' "
                f"AND {_NOT_LEAVING} ORDER BY a.id",
                {"day": day or dt.date(1900, 1, 1)},
                schema=SCREEN_SCHEMA,
            )
        return fetch_frame(
            self.conn,
            "SELECT a.id AS account_id, "
            "la.credits_posted_fen - la.debits_posted_fen AS balance_fen, "
            "u.window_charge_fen, u.window_days, cs.state, cs.cycle "
            "FROM accounts a "
            "JOIN ledger_accounts la ON la.id = a.id "
            "LEFT JOIN daily_usage u ON u.day = :day AND u.account_id = a.id "
            "LEFT JOIN credit_state cs ON cs.account_id = a.id "
            f"WHERE a.billing_mode = 'prepaid' AND {_NOT_LEAVING} AND ("
            " COALESCE(cs.state, 'normal') <> 'normal'"
            " OR la.credits_posted_fen - la.debits_posted_fen < :days * (CASE"
            "  WHEN COALESCE(u.window_days, 0) >= :history_min"
            "  THEN u.window_charge_fen / u.window_days + 1"
            "  ELSE :default_fen END)"
            ") ORDER BY a.id",
            {
                "day": day or dt.date(1900, 1, 1),
                "days": policy.warn_days_of_credit,
                "history_min": max(policy.warn_history_days_min, 1),
                "default_fen": policy.default_daily_charge_fen,
            },
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
        instants = ("warned_at", "notice_at", "second_notice_at", "notice_delivered_at")
        read_as = {
            **INPUT_SCHEMA,
            **dict.fromkeys(instants, pl.String),
        }
        read_as.pop("estimated_recent")
        frames = [
            fetch_frame(
                self.conn,
                "SELECT a.id AS account_id, m.id AS meter_id, m.has_switch, "
                "la.credits_posted_fen - la.debits_posted_fen AS balance_fen, "
                "u.window_charge_fen, u.window_days, cs.state, cs.cycle, "
                f"{self._instant('cs.warned_at')} AS warned_at, "
                f"{self._instant('cs.notice_at')} AS notice_at, cs.pay_by, "
                f"{self._instant('cs.second_notice_at')} AS second_notice_at, "
                "cs.supply, p.reason AS protected, e.enrolled_on AS agreement_from, "
                # The cycle's arrears notice is sent in the transaction that sets notice_at,
                # with the same instant: its messages are those of the kind sent since.
                f"{self._instant(_NOTICE_DELIVERED_AT)} AS notice_delivered_at "
                "FROM accounts a "
                "JOIN ledger_accounts la ON la.id = a.id "
                "LEFT JOIN meters m ON m.account_id = a.id AND m.removed_on IS NULL "
                "LEFT JOIN daily_usage u ON u.day = :day AND u.account_id = a.id "
                "LEFT JOIN credit_state cs ON cs.account_id = a.id "
                "LEFT JOIN protections p ON p.account_id = a.id "
                "LEFT JOIN enrolments e ON e.account_id = a.id AND e.left_at IS NULL "
                f"WHERE a.billing_mode = 'prepaid' AND {_NOT_LEAVING} "
                f"AND a.id IN ({_id_list(ids)})",
                {"day": day or dt.date(1900, 1, 1)},
                schema=read_as,
            )
            for ids in _chunks(account_ids)
        ]
        frame = pl.concat(frames) if frames else pl.DataFrame(schema=read_as)
        return (
            frame.with_columns(
                *(_parse_instant(pl.col(name)) for name in instants),
                pl.lit(None, dtype=pl.Boolean).alias("estimated_recent"),
            )
            .select(list(INPUT_SCHEMA))
            .unique("account_id", keep="first", maintain_order=True)
        )

    def _instant(self, column: str) -> str:
        """A timestamp column as UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]' (SQLite stores it so)."""
        if dialect(self.conn) == "postgresql":
            return f"CAST({column} AT TIME ZONE 'UTC' AS TEXT)"
        return column

    def estimated_since(self, first_days: Mapping[int, dt.date]) -> set[int]:
        """The accounts among ``first_days`` with a day settled on an estimate on or after
        their own first day.

        Each account's days from its own first day on are looked up by the primary key; one
        bound for all (the oldest notice) made SQLite scan every account's days since then
        (~10 ms a judgement at 5,000 accounts).
        """
        found: set[int] = set()
        newest = newest_settled_day(self.conn)
        if newest is None:
            return found
        # (account, day) pairs from each account's first day to the last settled day, each a
        # seek of the primary key (day, account_id): no index leads with the account.
        pairs = [
            (int(a), d)
            for a, first in sorted(first_days.items())
            for d in days_between(first, newest)
        ]
        day = self._date_literal
        for start in range(0, len(pairs), limits.credit_in_list_ids_max):
            listed = ", ".join(
                f"({a}, {day(d)})" for a, d in pairs[start : start + limits.credit_in_list_ids_max]
            )
            rows = self.conn.exec_driver_sql(
                f"WITH w (account_id, day) AS (VALUES {listed}) "
                "SELECT DISTINCT u.account_id FROM w JOIN daily_usage u "
                "ON u.day = w.day AND u.account_id = w.account_id WHERE u.estimated"
            ).all()
            found.update(int(r[0]) for r in rows)
        return found

    def _date_literal(self, day: dt.date) -> str:
        """A date as an SQL literal (SQLite stores dates as ISO text)."""
        assert isinstance(day, dt.date)
        if dialect(self.conn) == "postgresql":
            return f"DATE '{day.isoformat()}'"
        return f"'{day.isoformat()}'"

    def recipients(self, account_ids: Sequence[int]) -> pl.DataFrame:
        """Who hears about each account: its contacts, or the account's own phone when it has
        no customer contact. account_id, phone, language, role, account_no, name."""
        if (
            len(account_ids) <= limits.credit_row_by_row_accounts_max
        ):  # a payment's one account: no frames to join
            return self._few_recipients(account_ids)
        people = {k: RECIPIENT_SCHEMA[k] for k in ("account_id", "phone", "language", "role")}
        owners: list[pl.DataFrame] = []
        contacts: list[pl.DataFrame] = []
        for ids in _chunks(account_ids):
            listed = _id_list(ids)
            owners.append(
                fetch_frame(
                    self.conn,
                    "SELECT id AS account_id, phone, language, 'customer' AS role, account_no, "
                    f"name FROM accounts WHERE id IN ({listed})",
                    schema=RECIPIENT_SCHEMA,
                )
            )
            contacts.append(
                fetch_frame(
                    self.conn,
                    "SELECT account_id, phone, language, role FROM contacts "
                    f"WHERE account_id IN ({listed})",
                    schema=people,
                )
            )
        if not owners:
            return pl.DataFrame(schema=RECIPIENT_SCHEMA)
        own, listed_contacts = pl.concat(owners), pl.concat(contacts)
        names = own.select("account_id", "account_no", "name")
        has_customer = listed_contacts.filter(pl.col("role") == "customer").select("account_id")
        fallback = own.filter(pl.col("phone").is_not_null()).join(
            has_customer.unique(), on="account_id", how="anti"
        )
        from_contacts = listed_contacts.join(names, on="account_id", how="inner", validate="m:1")
        return pl.concat([from_contacts.select(list(RECIPIENT_SCHEMA)), fallback])

    def _few_recipients(self, account_ids: Sequence[int]) -> pl.DataFrame:
        listed = _id_list(account_ids)
        owners = self.conn.exec_driver_sql(
            f"SELECT id, phone, language, account_no, name FROM accounts WHERE id IN ({listed})"
        ).all()
        contacts = self.conn.exec_driver_sql(
            f"SELECT account_id, phone, language, role FROM contacts WHERE account_id IN ({listed})"
        ).all()
        names = {o[0]: (o[3], o[4]) for o in owners}
        with_customer = {c[0] for c in contacts if c[3] == "customer"}
        rows = [(c[0], c[1], c[2], c[3], *names[c[0]]) for c in contacts if c[0] in names]
        rows += [
            (o[0], o[1], o[2], "customer", o[3], o[4])
            for o in owners
            if o[1] is not None and o[0] not in with_customer
        ]
        return pl.DataFrame(rows, schema=RECIPIENT_SCHEMA, orient="row")

    # --- writes ---------------------------------------------------------------------------

    def save_states(self, states: pl.DataFrame) -> int:
        """Upsert whole ``STATE_SCHEMA`` rows (under ``lock_states`` on PostgreSQL)."""
        return upsert(self.conn, "credit_state", states, ["account_id"], list(STATE_SCHEMA))

    def add_decisions(self, decisions: pl.DataFrame) -> int:
        """Append decisions whose key is new; returns rows added."""
        return insert_new(self.conn, "credit_decisions", decisions, ["key"])

    def add_staff_tasks(self, tasks: pl.DataFrame) -> int:
        return insert_new(self.conn, "staff_tasks", tasks, ["key"])

    def close_staff_tasks(self, closings: pl.DataFrame) -> int:
        """Close the open tasks named by ``CLOSING_SCHEMA`` rows (account and kind), with the
        code and reason; returns tasks closed. Most rows name no open task: the open ones of
        these accounts are found first, by the account index, and only they are written."""
        if closings.height == 0:
            return 0
        t = schema.staff_tasks
        account_ids = sorted(set(closings["account_id"].to_list()))
        found = [
            (row.id, row.account_id, row.kind)
            for ids in _chunks(account_ids)
            for row in self.conn.execute(
                select(t.c.id, t.c.account_id, t.c.kind).where(
                    t.c.account_id.in_(ids), t.c.closed_at.is_(None)
                )
            )
        ]
        if not found:
            return 0
        why = {
            (r["account_id"], r["kind"]): r
            for r in closings.unique(["account_id", "kind"], keep="first").iter_rows(named=True)
        }
        params = [
            {
                "b_id": task_id,
                "b_closed_at": why[(account_id, kind)]["closed_at"],
                "b_close_code": why[(account_id, kind)]["close_code"],
                "b_close_reason": why[(account_id, kind)]["close_reason"],
            }
            for task_id, account_id, kind in found
            if (account_id, kind) in why
        ]
        if params:
            self.conn.execute(_CLOSE_TASK, params)
        return len(params)

    def confirm_supply(self, account_id: int, supply: str, at: dt.datetime) -> None:
        """The meter confirmed supply ``on`` or ``off``: the state follows the meter.

        Off is the truth whatever the state (a late cut confirmation after a payment shows up
        as disconnected, and the policy restores it again); on ends a reconnection, or puts a
        disconnected account back in arrears.
        """
        assert supply in ("on", "off")
        self.conn.execute(
            _SUPPLY_OFF if supply == "off" else _SUPPLY_ON,
            {"b_account_id": account_id, "b_updated_at": at},
        )
        self.conn.execute(
            _ADD_CONFIRMATION,
            {
                "key": f"confirmed/{account_id:010d}/{supply}/{at.isoformat()}",
                "account_id": account_id,
                "at": as_utc(at),
                "action": "confirmed",
                "reason_code": f"supply_{supply}",
                "reason": f"the meter confirmed supply {supply}",
            },
        )
        if supply == "on":  # a failed reconnection's task has lost its cause
            self.conn.execute(
                _CLOSE_RECONNECT_TASKS,
                {
                    "b_account_id": account_id,
                    "b_closed_at": at,
                    "b_close_code": "supply_on",
                    "b_close_reason": "the meter confirmed supply on",
                },
            )

    def confirm_supplies(self, confirmations: Sequence[tuple[int, str, dt.datetime]]) -> None:
        """Each statement of ``confirm_supply`` once per round, for all its rows (executemany);
        an account confirmed twice goes into a later round, so the order is kept."""
        for round_ in _rounds(confirmations):
            for supply, statement in (("off", _SUPPLY_OFF_MANY), ("on", _SUPPLY_ON_MANY)):
                rows = [
                    {"b_account_id": a, "b_updated_at": at} for a, s, at in round_ if s == supply
                ]
                statement.execute(self.conn, rows)
            _ADD_CONFIRMATION_MANY.execute(
                self.conn,
                [
                    {
                        "key": f"confirmed/{a:010d}/{s}/{at.isoformat()}",
                        "account_id": a,
                        "at": as_utc(at),
                        "action": "confirmed",
                        "reason_code": f"supply_{s}",
                        "reason": f"the meter confirmed supply {s}",
                    }
                    for a, s, at in round_
                ],
            )
            closing = [
                {
                    "b_account_id": a,
                    "b_closed_at": at,
                    "b_close_code": "supply_on",
                    "b_close_reason": "the meter confirmed supply on",
                }
                for a, s, at in round_
                if s == "on"
            ]
            _CLOSE_RECONNECT_TASKS_MANY.execute(self.conn, closing)

    def overdue_reconnects(
        self,
        queued_from: dt.datetime,
        queued_to: dt.datetime,
        finished_after: dt.datetime,
        limit: int,
    ) -> pl.DataFrame:
        """``OVERDUE_RECONNECT_SCHEMA``: reconnects queued in [queued_from, queued_to], not
        cancelled, not confirmed or confirmed after ``finished_after``, and with no
        ``restore_overdue`` task yet (each is handled once), oldest first."""
        c, t = schema.meter_commands, schema.staff_tasks
        task_key = literal(f"{RESTORE_OVERDUE_TASK}/", String) + c.c.correlation_id
        acknowledged = CommandState.ACKNOWLEDGED.value
        query = (
            select(*(c.c[name] for name in OVERDUE_RECONNECT_SCHEMA))
            .where(
                c.c.action == CommandAction.RECONNECT.value,
                c.c.state != CommandState.CANCELLED.value,
                c.c.created_at >= as_utc(queued_from),
                c.c.created_at <= as_utc(queued_to),
                or_(c.c.state != acknowledged, c.c.finished_at > as_utc(finished_after)),
                ~exists().where(t.c.key == task_key),
            )
            .order_by(c.c.created_at, c.c.id)
            .limit(limit)
        )
        rows = [
            dict(r._mapping)
            | {"created_at": as_utc(r.created_at), "finished_at": as_utc(r.finished_at)}
            for r in self.conn.execute(query)
        ]
        return pl.DataFrame(rows, schema=OVERDUE_RECONNECT_SCHEMA, orient="row")

    # --- reading for people ---------------------------------------------------------------

    def decisions(self, account_id: int, limit: int) -> pl.DataFrame:
        d = schema.credit_decisions
        query = (
            select(d.c.at, d.c.action, d.c.reason_code, d.c.reason)
            .where(d.c.account_id == account_id)
            .order_by(d.c.at.desc(), d.c.id.desc())
            .limit(limit)
        )
        rows = [dict(r._mapping) | {"at": as_utc(r.at)} for r in self.conn.execute(query)]
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

    def latest_decisions(
        self, account_ids: Sequence[int], since: dt.datetime
    ) -> list[LatestDecision]:
        """Each account's newest decision (as ``decisions`` orders them) if it was made at or
        after ``since``. One query for many accounts."""
        newest: dict[int, tuple[dt.datetime, int, LatestDecision]] = {}
        for ids in _chunks(account_ids):
            for row in self.conn.execute(_DECISIONS_SINCE, {"ids": ids, "since": as_utc(since)}):
                at = as_utc(row.at)
                assert at is not None
                known = newest.get(row.account_id)
                if known is None or (at, row.id) > known[:2]:
                    decision = LatestDecision(
                        account_id=row.account_id,
                        at=at,
                        action=Action(row.action),
                        reason_code=row.reason_code,
                    )
                    newest[row.account_id] = (at, row.id, decision)
        return [newest[a][2] for a in sorted(newest)]

    def state_of(self, account_id: int, *, lock: bool = False) -> AccountCreditState | None:
        locked = lock and dialect(self.conn) == "postgresql"  # SQLite: one writer already
        query = _STATE_OF_FOR_UPDATE if locked else _STATE_OF
        row = self.conn.execute(query, {"account_id": account_id}).first()
        return None if row is None else _credit_state(row)

    def states_of(
        self, account_ids: Collection[int], *, lock: bool = False
    ) -> dict[int, AccountCreditState]:
        """``state_of`` for several accounts in one statement (locked in ascending order)."""
        if not account_ids:
            return {}
        locked = lock and dialect(self.conn) == "postgresql"
        query = _STATES_OF_FOR_UPDATE if locked else _STATES_OF
        rows = self.conn.execute(query, {"ids": sorted(set(account_ids))})
        return {int(r.account_id): _credit_state(r) for r in rows}

    def staff_tasks(self, open_only: bool, limit: int) -> pl.DataFrame:
        t = schema.staff_tasks
        query = select(
            t.c.account_id,
            t.c.kind,
            t.c.reason,
            t.c.created_at,
            t.c.closed_at,
            t.c.close_code,
            t.c.close_reason,
        )
        if open_only:
            query = query.where(t.c.closed_at.is_(None))
        rows = [
            dict(r._mapping)
            | {"created_at": as_utc(r.created_at), "closed_at": as_utc(r.closed_at)}
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
                "close_code": pl.String,
                "close_reason": pl.String,
            },
            orient="row",
        )

    def state_counts(self) -> dict[str, int]:
        s = schema.credit_state
        query = select(s.c.state, func.count()).group_by(s.c.state)
        return {str(state): int(n) for state, n in self.conn.execute(query)}


# --- statements, built once: the dispatcher confirms a switch per acknowledgement -----------

_S = schema.credit_state
_BY_ACCOUNT = _S.c.account_id == bindparam("b_account_id")
_UPDATED_AT = bindparam("b_updated_at", type_=_S.c.updated_at.type)
_SUPPLY_OFF = (
    update(_S)
    .where(_BY_ACCOUNT)
    .values(state=CreditState.DISCONNECTED.value, supply="off", updated_at=_UPDATED_AT)
)
_SUPPLY_ON = (
    update(_S)
    .where(_BY_ACCOUNT)
    .values(
        state=case(
            (_S.c.state == CreditState.RECONNECTING.value, CreditState.NORMAL.value),
            (_S.c.state == CreditState.DISCONNECTED.value, CreditState.ARREARS.value),
            else_=_S.c.state,
        ),
        supply="on",
        updated_at=_UPDATED_AT,
    )
)


# As ``add_decisions`` writes one: a key already stored is skipped.
def _rounds(
    confirmations: Sequence[tuple[int, str, dt.datetime]],
) -> list[list[tuple[int, str, dt.datetime]]]:
    """The confirmations in rounds with each account at most once, in their order."""
    rounds: list[list[tuple[int, str, dt.datetime]]] = []
    seen: list[set[int]] = []
    for confirmation in confirmations:
        assert confirmation[1] in ("on", "off")
        account_id = confirmation[0]
        i = next((i for i in range(len(seen) - 1, -1, -1) if account_id in seen[i]), -1) + 1
        if i == len(rounds):
            rounds.append([])
            seen.append(set())
        rounds[i].append(confirmation)
        seen[i].add(account_id)
    return rounds


_ADD_CONFIRMATION = text(
    "INSERT INTO credit_decisions (key, account_id, at, action, reason_code, reason) "
    "VALUES (:key, :account_id, :at, :action, :reason_code, :reason) ON CONFLICT (key) DO NOTHING"
).bindparams(bindparam("at", type_=schema.credit_decisions.c.at.type))

_D = schema.credit_decisions
_DECISIONS_SINCE = select(_D.c.account_id, _D.c.at, _D.c.action, _D.c.reason_code, _D.c.id).where(
    _D.c.account_id.in_(bindparam("ids", expanding=True)),
    _D.c.at >= bindparam("since", type_=_D.c.at.type),
)

_T = schema.staff_tasks
# An open task only: a task closed meanwhile keeps its first reason.
_CLOSE_TASK = (
    update(_T)
    .where(_T.c.id == bindparam("b_id"), _T.c.closed_at.is_(None))
    .values(
        closed_at=bindparam("b_closed_at", type_=_T.c.closed_at.type),
        close_code=bindparam("b_close_code"),
        close_reason=bindparam("b_close_reason"),
    )
)
_CLOSE_RECONNECT_TASKS = (
    update(_T)
    .where(
        _T.c.account_id == bindparam("b_account_id"),
        # Not ``in_``: its expanding parameter cannot go through executemany (confirm_supplies).
        or_(
            _T.c.kind == escalation_kind(CommandAction.RECONNECT),
            _T.c.kind == RESTORE_OVERDUE_TASK,
        ),
        _T.c.closed_at.is_(None),
    )
    .values(
        closed_at=bindparam("b_closed_at", type_=_T.c.closed_at.type),
        close_code=bindparam("b_close_code"),
        close_reason=bindparam("b_close_reason"),
    )
)

# confirm_supplies: a burst's confirmations, row values bound by the driver (driver_many).
_SUPPLY_OFF_MANY = ManyRows(_SUPPLY_OFF)
_SUPPLY_ON_MANY = ManyRows(_SUPPLY_ON)
_ADD_CONFIRMATION_MANY = ManyRows(_ADD_CONFIRMATION)
_CLOSE_RECONNECT_TASKS_MANY = ManyRows(_CLOSE_RECONNECT_TASKS)
