"""SQL: agreements that ended, their close-out, the hand-over file's rows and refunds to pay."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, select, text

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.db import as_date, as_utc
from gridpay.domain.leaving import HandoverRow, Leaving, LeavingDay, RefundDue
from gridpay.domain.ledger import REFUNDS_ID


class SqlLeavingRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_leaving(
        self,
        enrolment_id: int,
        account_id: int,
        enrolled_on: dt.date,
        left_on: dt.date,
        at: dt.datetime,
        note: str | None,
    ) -> None:
        self.conn.execute(
            schema.leavings.insert().values(
                enrolment_id=enrolment_id,
                account_id=account_id,
                enrolled_on=enrolled_on,
                left_on=left_on,
                asked_at=at,
                note=note,
            )
        )

    def pending(self, account_id: int) -> Leaving | None:
        lv = schema.leavings
        row = self.conn.execute(
            select(lv).where(lv.c.account_id == account_id, lv.c.closed_at.is_(None))
        ).first()
        return _leaving(row._mapping) if row else None

    def closed_with_balance(self) -> list[Leaving]:
        # The audit's accounts_that_left_are_settled_up, as rows to settle up: a handful at most.
        ids = [
            int(i)
            for (i,) in self.conn.execute(
                text(
                    "SELECT lv.enrolment_id FROM leavings lv "
                    "JOIN ledger_accounts la ON la.id = lv.account_id "
                    "WHERE lv.closed_at IS NOT NULL AND lv.balance_fen IS NOT NULL "
                    "AND la.credits_posted_fen <> la.debits_posted_fen "
                    "AND NOT EXISTS (SELECT 1 FROM enrolments e "
                    "WHERE e.account_id = lv.account_id AND e.enrolled_on >= lv.left_on "
                    "AND e.id <> lv.enrolment_id)"
                )
            )
        ]
        if not ids:
            return []
        lv = schema.leavings
        rows = self.conn.execute(
            select(lv).where(lv.c.enrolment_id.in_(ids)).order_by(lv.c.left_on, lv.c.enrolment_id)
        )
        return [_leaving(row._mapping) for row in rows]

    def add_to_closing_balance(self, enrolment_id: int, amount_fen: int) -> None:
        lv = schema.leavings
        self.conn.execute(
            lv.update()
            .where(lv.c.enrolment_id == enrolment_id)
            .values(balance_fen=lv.c.balance_fen + amount_fen)
        )

    def settled_leaving_days(self, account_id: int | None = None) -> list[LeavingDay]:
        # A handful of rows: only agreements waiting for their close-out, each one seek of the
        # usage primary key (day, account_id).
        one = " AND lv.account_id = :a" if account_id is not None else ""
        rows = self.conn.execute(
            text(
                "SELECT lv.enrolment_id, lv.account_id, lv.left_on, u.reading_wh, u.estimated, "
                "u.ytd_wh FROM leavings lv "
                "JOIN daily_usage u ON u.day = lv.left_on AND u.account_id = lv.account_id "
                f"WHERE lv.closed_at IS NULL{one} ORDER BY lv.left_on, lv.enrolment_id"
            ),
            {"a": account_id},
        )
        return [
            LeavingDay(
                enrolment_id=int(r.enrolment_id),
                account_id=int(r.account_id),
                left_on=_date(r.left_on),
                reading_wh=int(r.reading_wh),
                estimated=bool(r.estimated),
                ytd_wh=int(r.ytd_wh),
            )
            for r in rows
        ]

    def close(self, day: LeavingDay, balance_fen: int, at: dt.datetime) -> bool:
        lv = schema.leavings
        closed = self.conn.execute(
            lv.update()
            .where(lv.c.enrolment_id == day.enrolment_id, lv.c.closed_at.is_(None))
            .values(
                closed_at=at,
                closing_wh=day.reading_wh,
                closing_estimated=day.estimated,
                ytd_wh=day.ytd_wh,
                balance_fen=balance_fen,
            )
        ).rowcount
        assert closed <= 1
        return closed == 1

    def handover_rows(self, first_day: dt.date, last_day: dt.date) -> list[HandoverRow]:
        rows = self.conn.execute(
            text(
                "SELECT a.account_no, a.name, lv.enrolment_id, lv.enrolled_on, lv.left_on, "
                "lv.closing_wh, lv.closing_estimated, lv.ytd_wh, lv.balance_fen "
                "FROM leavings lv JOIN accounts a ON a.id = lv.account_id "
                "WHERE lv.left_on BETWEEN :f AND :l AND lv.closing_wh IS NOT NULL "
                "ORDER BY lv.left_on, lv.enrolment_id"
            ),
            {"f": first_day, "l": last_day},
        )
        return [
            HandoverRow(
                account_no=r.account_no,
                name=r.name,
                enrolment_id=int(r.enrolment_id),
                enrolled_on=_date(r.enrolled_on),
                left_on=_date(r.left_on),
                closing_wh=int(r.closing_wh),
                closing_estimated=bool(r.closing_estimated),
                ytd_wh=int(r.ytd_wh),
                refunded_fen=max(0, int(r.balance_fen)),
                owed_fen=max(0, -int(r.balance_fen)),
                refund_ref=f"leave-{r.account_no}-{r.enrolment_id}"
                if int(r.balance_fen) > 0
                else None,
            )
            for r in rows
        ]

    def refunds_due(self, limit: int) -> list[RefundDue]:
        rows = self.conn.execute(
            text(
                "SELECT t.ref, a.account_no, a.name, t.amount_fen, t.day FROM transfers t "
                "JOIN accounts a ON a.id = t.account_id "
                "WHERE t.kind = 'refund' AND t.credit_account_id = :refunds "
                "AND NOT EXISTS (SELECT 1 FROM transfers p WHERE p.id = 'payout/' || t.ref) "
                "AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.id = 'reversal/' || t.id) "
                "ORDER BY t.seq LIMIT :n"
            ),
            {"refunds": REFUNDS_ID, "n": limit},
        )
        return [
            RefundDue(
                ref=r.ref,
                account_no=r.account_no,
                name=r.name,
                amount_fen=int(r.amount_fen),
                day=as_date(r.day),
            )
            for r in rows
        ]


def _date(value: Any) -> dt.date:
    day = as_date(value)
    assert day is not None
    return day


def _leaving(m: Any) -> Leaving:
    asked_at = as_utc(m["asked_at"])
    assert asked_at is not None
    return Leaving(
        enrolment_id=int(m["enrolment_id"]),
        account_id=int(m["account_id"]),
        enrolled_on=_date(m["enrolled_on"]),
        left_on=_date(m["left_on"]),
        asked_at=asked_at,
        note=m["note"],
        closed_at=as_utc(m["closed_at"]),
        closing_wh=m["closing_wh"],
        closing_estimated=m["closing_estimated"],
        ytd_wh=m["ytd_wh"],
        balance_fen=m["balance_fen"],
    )
