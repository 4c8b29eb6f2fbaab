"""SQL: agreements that ended, their close-out, the hand-over file's rows and refunds to pay."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, func, select, text

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.db import as_date, as_utc
from gridpay.domain.leaving import (
    HandoverEntry,
    HandoverReason,
    HandoverRow,
    Leaving,
    LeavingDay,
    RefundDue,
    SettleUp,
    leave_ref,
)
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

    def add_settle_up(self, settle_up: SettleUp) -> None:
        self.conn.execute(
            schema.leaving_settle_ups.insert().values(
                enrolment_id=settle_up.enrolment_id,
                settle_up_no=settle_up.number,
                transfer_id=settle_up.transfer_id,
                amount_fen=settle_up.amount_fen,
                closing_wh=settle_up.closing_wh,
                closing_estimated=settle_up.closing_estimated,
                ytd_wh=settle_up.ytd_wh,
                posted_on=settle_up.posted_on,
                posted_at=settle_up.posted_at,
            )
        )

    def last_settle_up_no(self, enrolment_id: int) -> int:
        t = schema.leaving_settle_ups
        return int(
            self.conn.execute(
                select(func.coalesce(func.max(t.c.settle_up_no), 0)).where(
                    t.c.enrolment_id == enrolment_id
                )
            ).scalar_one()
        )

    def closing_position(self, account_id: int, day: dt.date) -> tuple[int, bool, int] | None:
        row = self.conn.execute(
            text(
                "SELECT reading_wh, estimated, ytd_wh FROM daily_usage "
                "WHERE day = :d AND account_id = :a"
            ),
            {"d": day, "a": account_id},
        ).first()
        if row is None:
            return None
        return int(row.reading_wh), bool(row.estimated), int(row.ytd_wh)

    def handover_rows(self, first_day: dt.date, last_day: dt.date) -> list[HandoverRow]:
        # The close-out line shows what the close-out itself moved: the closing balance less
        # the settle-ups added to it since.
        params = {"f": first_day, "l": last_day}
        close_outs = self.conn.execute(
            text(
                "SELECT a.account_no, a.name, lv.enrolment_id, lv.enrolled_on, lv.left_on, "
                "lv.closing_wh, lv.closing_estimated, lv.ytd_wh, "
                "lv.balance_fen - COALESCE((SELECT SUM(s.amount_fen) FROM leaving_settle_ups s "
                "WHERE s.enrolment_id = lv.enrolment_id), 0) AS amount_fen, "
                "0 AS entry_no, lv.left_on AS entry_day, oc.id AS owner_change "
                "FROM leavings lv JOIN accounts a ON a.id = lv.account_id "
                f"{_OWNER_CHANGE_JOIN}"
                "WHERE lv.left_on BETWEEN :f AND :l AND lv.closing_wh IS NOT NULL"
            ),
            params,
        ).all()
        settle_ups = self.conn.execute(
            text(
                "SELECT a.account_no, a.name, lv.enrolment_id, lv.enrolled_on, lv.left_on, "
                "s.closing_wh, s.closing_estimated, s.ytd_wh, s.amount_fen, "
                "s.settle_up_no AS entry_no, s.posted_on AS entry_day, oc.id AS owner_change "
                "FROM leaving_settle_ups s "
                "JOIN leavings lv ON lv.enrolment_id = s.enrolment_id "
                "JOIN accounts a ON a.id = lv.account_id "
                f"{_OWNER_CHANGE_JOIN}"
                "WHERE s.posted_on BETWEEN :f AND :l OR lv.left_on BETWEEN :f AND :l"
            ),
            params,
        ).all()
        rows = [_handover_row(r) for r in [*close_outs, *settle_ups]]
        return sorted(rows, key=lambda r: (r.left_on, r.enrolment_id, r.entry_no))

    def refunds_due(self, limit: int) -> list[RefundDue]:
        # Refunds are never a day's own charge or credit, so they are all in the small partial
        # index of rare transfers: its predicate (written out, as SQLite matches it literally)
        # and a range on its first column read that index instead of every transfer.
        rows = self.conn.execute(
            text(
                "SELECT t.ref, a.account_no, a.name, t.amount_fen, t.day FROM transfers t "
                "JOIN accounts a ON a.id = t.account_id "
                f"WHERE t.account_id >= 0 AND {_RARE_TRANSFERS_OF_T} "
                "AND t.kind = 'refund' AND t.credit_account_id = :refunds "
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


_RARE_TRANSFERS_OF_T = schema.RARE_TRANSFERS.replace("(id,", "(t.id,")

# The agreement that ended with a change of owner (the hand-over line's reason).
_OWNER_CHANGE_JOIN = "LEFT JOIN owner_changes oc ON oc.old_enrolment_id = lv.enrolment_id "


def _handover_row(r: Any) -> HandoverRow:
    amount_fen, entry_no = int(r.amount_fen), int(r.entry_no)
    ref = leave_ref(int(r.account_no), int(r.enrolment_id)) + (f"-{entry_no}" if entry_no else "")
    return HandoverRow(
        account_no=r.account_no,
        name=r.name,
        enrolment_id=int(r.enrolment_id),
        enrolled_on=_date(r.enrolled_on),
        left_on=_date(r.left_on),
        closing_wh=int(r.closing_wh),
        closing_estimated=bool(r.closing_estimated),
        ytd_wh=int(r.ytd_wh),
        refunded_fen=max(0, amount_fen),
        owed_fen=max(0, -amount_fen),
        refund_ref=ref if amount_fen > 0 else None,
        reason=HandoverReason.OWNER_CHANGE if r.owner_change is not None else HandoverReason.LEFT,
        entry=HandoverEntry.SETTLE_UP if entry_no else HandoverEntry.CLOSE_OUT,
        entry_no=entry_no,
        entry_day=_date(r.entry_day),
    )


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
