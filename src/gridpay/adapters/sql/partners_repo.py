"""Partners in SQL: partners, nonces, partner payments, day totals, reconciliation lines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any

import polars as pl
from sqlalchemy import Connection, bindparam, delete, insert, select, text, tuple_, update

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.db import as_date, as_utc, bulk_insert, fetch_frame
from gridpay.adapters.sql.rows_insert import insert_new_rows
from gridpay.domain.partners import Partner, PartnerKind, PartnerPayment
from gridpay.ports.partners import OUR_PAYMENTS_SCHEMA, RECONCILIATION_SCHEMA

_P = schema.partners
_N = schema.partner_nonces
_PP = schema.partner_payments
_D = schema.partner_days
_R = schema.reconciliation_lines
_TASKS = schema.staff_tasks
_IN_LIST_MAX = 500  # keys bound in one IN list (SQLite binds at most 999 parameters)

# Built once: these run on every partner request (see ledger_repo on why).
_GET_PARTNER = select(_P).where(_P.c.code == bindparam("code"))
_GET_PARTNER_FOR_UPDATE = _GET_PARTNER.with_for_update()
_SPEND_NONCE = text(
    "INSERT INTO partner_nonces (partner_code, nonce, seen_at) VALUES (:code, :nonce, :at) "
    "ON CONFLICT (partner_code, nonce) DO NOTHING"
).bindparams(bindparam("at", type_=_N.c.seen_at.type))
# A racing request under the same reference waits here for the first to commit, then finds
# its row (no row inserted): it is answered as a retry or a conflict, never a duplicate key.
_PAYMENT_COLUMNS = [c.name for c in _PP.columns]
_ADD_PAYMENT = text(
    f"INSERT INTO partner_payments ({', '.join(_PAYMENT_COLUMNS)}) "
    f"VALUES ({', '.join(f':{c}' for c in _PAYMENT_COLUMNS)}) "
    "ON CONFLICT (partner_code, reference) DO NOTHING"
).bindparams(
    bindparam("day", type_=_PP.c.day.type), bindparam("created_at", type_=_PP.c.created_at.type)
)
_GET_PAYMENT = select(_PP).where(
    _PP.c.partner_code == bindparam("code"), _PP.c.reference == bindparam("reference")
)
_MARK_POSTED = text(
    "UPDATE partner_payments SET status = 'posted', balance_fen = :balance_fen "
    "WHERE partner_code = :code AND reference = :reference AND status = 'pending'"
)
# Checked and taken in one statement: two payments racing for the last of the day's limit
# cannot both pass (the row is locked by the first until it commits). The day's first payment
# inserts the row; it is within the limit, as a payment never exceeds a partner's day limit.
_TAKE_DAY = text(
    "INSERT INTO partner_days AS d (partner_code, day, amount_fen) "
    "VALUES (:code, :day, :amount_fen) "
    "ON CONFLICT (partner_code, day) DO UPDATE SET amount_fen = d.amount_fen + :amount_fen "
    "WHERE d.amount_fen + :amount_fen <= :day_max"
).bindparams(bindparam("day", type_=_D.c.day.type))
# The day's total, the row made if it is the day's first and held until commit (PostgreSQL; on
# SQLite the write lock holds everything): a batch judges its payments against it in order.
_DAY_FOR_UPDATE = text(
    "INSERT INTO partner_days AS d (partner_code, day, amount_fen) VALUES (:code, :day, 0) "
    "ON CONFLICT (partner_code, day) DO UPDATE SET amount_fen = d.amount_fen "
    "RETURNING amount_fen"
).bindparams(bindparam("day", type_=_D.c.day.type))
_ADD_DAY = text(
    "UPDATE partner_days SET amount_fen = amount_fen + :amount_fen "
    "WHERE partner_code = :code AND day = :day"
).bindparams(bindparam("day", type_=_D.c.day.type))
_GIVE_BACK_DAY = text(
    "UPDATE partner_days SET amount_fen = amount_fen - :amount_fen "
    "WHERE partner_code = :code AND day = :day"
).bindparams(bindparam("day", type_=_D.c.day.type))


def _partner(row: Any) -> Partner:
    created_at = as_utc(row.created_at)
    assert created_at is not None
    return Partner(
        code=row.code,
        name=row.name,
        kind=PartnerKind(row.kind),
        secret=row.secret,
        suspended=bool(row.suspended),
        payment_amount_fen_max=int(row.payment_amount_fen_max),
        day_amount_fen_max=int(row.day_amount_fen_max),
        created_at=created_at,
    )


def _payment(row: Any) -> PartnerPayment:
    day = as_date(row.day)
    created_at = as_utc(row.created_at)
    assert day is not None and created_at is not None
    return PartnerPayment(
        partner_code=row.partner_code,
        reference=row.reference,
        account_no=row.account_no,
        amount_fen=int(row.amount_fen),
        day=day,
        status=row.status,
        transfer_id=row.transfer_id,
        balance_fen=None if row.balance_fen is None else int(row.balance_fen),
        reversal_id=row.reversal_id,
        created_at=created_at,
    )


def _payment_values(payment: PartnerPayment) -> dict[str, Any]:
    return {
        "partner_code": payment.partner_code,
        "reference": payment.reference,
        "account_no": payment.account_no,
        "amount_fen": payment.amount_fen,
        "day": payment.day,
        "status": payment.status,
        "transfer_id": payment.transfer_id,
        "balance_fen": payment.balance_fen,
        "reversal_id": payment.reversal_id,
        "created_at": payment.created_at,
    }


class SqlPartnersRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def savepoint(self) -> AbstractContextManager[object]:
        """A savepoint: what is written inside is undone if the block raises."""
        return self.conn.begin_nested()

    def commit_without_flush(self) -> None:
        """PostgreSQL: this transaction's commit does not wait for its WAL flush."""
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")

    def add_partner(self, partner: Partner) -> bool:
        if self.partner(partner.code) is not None:
            return False
        self.conn.execute(
            insert(_P).values(
                code=partner.code,
                name=partner.name,
                kind=partner.kind.value,
                secret=partner.secret,
                suspended=partner.suspended,
                payment_amount_fen_max=partner.payment_amount_fen_max,
                day_amount_fen_max=partner.day_amount_fen_max,
                created_at=partner.created_at,
                updated_at=partner.created_at,
            )
        )
        return True

    def partner(self, code: str, *, for_update: bool = False) -> Partner | None:
        query = _GET_PARTNER_FOR_UPDATE if for_update else _GET_PARTNER
        row = self.conn.execute(query, {"code": code}).first()
        return None if row is None else _partner(row)

    def partners(self) -> list[Partner]:
        return [_partner(r) for r in self.conn.execute(select(_P).order_by(_P.c.code))]

    def update_partner(
        self,
        code: str,
        at: dt.datetime,
        *,
        suspended: bool | None = None,
        secret: str | None = None,
        payment_amount_fen_max: int | None = None,
        day_amount_fen_max: int | None = None,
    ) -> bool:
        given = {
            "suspended": suspended,
            "secret": secret,
            "payment_amount_fen_max": payment_amount_fen_max,
            "day_amount_fen_max": day_amount_fen_max,
        }
        values = {k: v for k, v in given.items() if v is not None}
        result = self.conn.execute(
            update(_P).where(_P.c.code == code).values(updated_at=at, **values)
        )
        return bool(result.rowcount)

    def spend_nonce(self, code: str, nonce: str, at: dt.datetime) -> bool:
        result = self.conn.execute(_SPEND_NONCE, {"code": code, "nonce": nonce, "at": at})
        return bool(result.rowcount)

    def spend_nonces(
        self, nonces: Sequence[tuple[str, str]], at: dt.datetime
    ) -> set[tuple[str, str]]:
        """``spend_nonce`` for several (partner, nonce) pairs, all different, in one statement:
        the pairs spent now (the others were seen before)."""
        if not nonces:
            return set()
        assert len(set(nonces)) == len(nonces), nonces
        rows = [{"partner_code": c, "nonce": n, "seen_at": at} for c, n in nonces]
        spent = insert_new_rows(
            self.conn,
            _N,
            rows,
            conflict="(partner_code, nonce)",
            returning="partner_code, nonce",
        )
        return {(r[0], r[1]) for r in spent}

    def prune_nonces(self, before: dt.datetime) -> int:
        return int(self.conn.execute(delete(_N).where(_N.c.seen_at < before)).rowcount)

    def payment(self, code: str, reference: str) -> PartnerPayment | None:
        row = self.conn.execute(_GET_PAYMENT, {"code": code, "reference": reference}).first()
        return None if row is None else _payment(row)

    def add_payment(self, payment: PartnerPayment) -> bool:
        return bool(self.conn.execute(_ADD_PAYMENT, _payment_values(payment)).rowcount)

    def add_payments(self, payments: Sequence[PartnerPayment]) -> set[tuple[str, str]]:
        """``add_payment`` for several payments, all of different references, in one
        statement: the (partner, reference) pairs added (the others were there already)."""
        if not payments:
            return set()
        added = insert_new_rows(
            self.conn,
            _PP,
            [_payment_values(p) for p in payments],
            conflict="(partner_code, reference)",
            returning="partner_code, reference",
        )
        return {(r[0], r[1]) for r in added}

    def payments_of(
        self, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], PartnerPayment]:
        """The payments under these (partner, reference) pairs that exist, in one statement."""
        if not keys:
            return {}
        rows = self.conn.execute(
            select(_PP).where(tuple_(_PP.c.partner_code, _PP.c.reference).in_(sorted(keys)))
        )
        return {(r.partner_code, r.reference): _payment(r) for r in rows}

    def drop_pending_many(self, keys: Collection[tuple[str, str]]) -> None:
        if keys:
            self.conn.execute(
                delete(_PP).where(
                    tuple_(_PP.c.partner_code, _PP.c.reference).in_(sorted(keys)),
                    _PP.c.status == "pending",
                )
            )

    def mark_posted_many(self, code: str, balances_fen: Sequence[tuple[str, int]]) -> None:
        """``mark_posted`` for several references of one partner (one executemany)."""
        if balances_fen:
            params = [
                {"code": code, "reference": reference, "balance_fen": balance_fen}
                for reference, balance_fen in balances_fen
            ]
            self.conn.execute(_MARK_POSTED, params)

    def day_amount_for_update(self, code: str, day: dt.date) -> int:
        return int(self.conn.execute(_DAY_FOR_UPDATE, {"code": code, "day": day}).scalar_one())

    def add_day_amount(self, code: str, day: dt.date, amount_fen: int) -> None:
        self.conn.execute(_ADD_DAY, {"code": code, "day": day, "amount_fen": amount_fen})

    def _where(self, code: str, reference: str) -> Any:
        return (_PP.c.partner_code == code) & (_PP.c.reference == reference)

    def mark_posted(self, code: str, reference: str, balance_fen: int) -> None:
        params = {"code": code, "reference": reference, "balance_fen": balance_fen}
        self.conn.execute(_MARK_POSTED, params)

    def mark_reversed(self, code: str, reference: str, reversal_id: str) -> bool:
        result = self.conn.execute(
            update(_PP)
            .where(self._where(code, reference), _PP.c.status == "posted")
            .values(status="reversed", reversal_id=reversal_id)
        )
        return bool(result.rowcount)

    def drop_pending(self, code: str, reference: str) -> None:
        self.conn.execute(
            delete(_PP).where(self._where(code, reference), _PP.c.status == "pending")
        )

    def take_day_amount(self, code: str, day: dt.date, amount_fen: int, day_max: int) -> bool:
        assert amount_fen <= day_max  # the partner's limits (``check_limits``) promise it
        params = {"code": code, "day": day, "amount_fen": amount_fen, "day_max": day_max}
        return bool(self.conn.execute(_TAKE_DAY, params).rowcount)

    def give_back_day_amount(self, code: str, day: dt.date, amount_fen: int) -> None:
        self.conn.execute(_GIVE_BACK_DAY, {"code": code, "day": day, "amount_fen": amount_fen})

    def day_payments(self, code: str, day: dt.date) -> pl.DataFrame:
        return fetch_frame(
            self.conn,
            "SELECT reference, account_no, amount_fen FROM partner_payments "
            "WHERE partner_code = :code AND day = :day AND status = 'posted'",
            {"code": code, "day": day.isoformat()},
            schema=OUR_PAYMENTS_SCHEMA,
        )

    def write_reconciliation(
        self, code: str, day: dt.date, changed: pl.DataFrame, removed: Collection[str]
    ) -> None:
        gone = sorted(set(removed) | set(changed["reference"].to_list()))
        for start in range(0, len(gone), _IN_LIST_MAX):
            self.conn.execute(
                delete(_R).where(
                    _R.c.partner_code == code,
                    _R.c.day == day,
                    _R.c.reference.in_(gone[start : start + _IN_LIST_MAX]),
                )
            )
        frame = changed.select(list(RECONCILIATION_SCHEMA)).with_columns(
            partner_code=pl.lit(code), day=pl.lit(day, dtype=pl.Date)
        )
        bulk_insert(self.conn, "reconciliation_lines", frame)

    def reconciliation(self, code: str, day: dt.date) -> pl.DataFrame:
        return fetch_frame(
            self.conn,
            f"SELECT {', '.join(RECONCILIATION_SCHEMA)} FROM reconciliation_lines "
            "WHERE partner_code = :code AND day = :day ORDER BY reference",
            {"code": code, "day": day.isoformat()},
            schema=RECONCILIATION_SCHEMA,
        )

    def confirm_line(
        self, code: str, day: dt.date, reference: str, by: str, at: dt.datetime
    ) -> None:
        self.conn.execute(
            update(_R)
            .where(_R.c.partner_code == code, _R.c.day == day, _R.c.reference == reference)
            .values(confirmed_by=by, confirmed_at=at)
        )

    def open_task_keys(self, key_prefix: str) -> set[str]:
        rows = self.conn.execute(
            select(_TASKS.c.key).where(
                _TASKS.c.key.startswith(key_prefix, autoescape=True), _TASKS.c.closed_at.is_(None)
            )
        )
        return {r.key for r in rows}

    def close_tasks(
        self, keys: Collection[str], at: dt.datetime, close_code: str, close_reason: str
    ) -> int:
        closed = 0
        ordered = sorted(keys)
        for start in range(0, len(ordered), _IN_LIST_MAX):
            result = self.conn.execute(
                update(_TASKS)
                .where(
                    _TASKS.c.key.in_(ordered[start : start + _IN_LIST_MAX]),
                    _TASKS.c.closed_at.is_(None),
                )
                .values(closed_at=at, close_code=close_code, close_reason=close_reason)
            )
            closed += int(result.rowcount)
        return closed
