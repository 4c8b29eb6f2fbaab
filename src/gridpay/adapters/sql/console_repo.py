"""The office console's reads in SQL (each bounded by a limit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from gridpay.adapters.sql import schema
from gridpay.adapters.sql.db import as_date, as_utc
from gridpay.ports.console import ArrearsRow, CommandCount, HouseholdRow, TaskRow

_QUEUE_STATES = ("arrears", "disconnecting", "disconnected")


class SqlConsoleRepo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def find_households(
        self,
        account_id: int | None,
        phone: str | None,
        name: str | None,
        office_id: int | None,
        limit: int,
    ) -> list[HouseholdRow]:
        a, c = schema.accounts, schema.contacts
        query = select(
            a.c.id, a.c.account_no, a.c.name, a.c.phone, a.c.office_id, a.c.billing_mode,
            a.c.supply_type,
        )  # fmt: skip
        if account_id is not None:
            query = query.where(a.c.id == account_id)
        if phone is not None:
            by_contact = select(c.c.account_id).where(c.c.phone == phone)
            query = query.where(or_(a.c.phone == phone, a.c.id.in_(by_contact)))
        if name is not None:
            query = query.where(a.c.name.contains(name, autoescape=True))
        if office_id is not None:
            query = query.where(a.c.office_id == office_id)
        rows = self.conn.execute(query.order_by(a.c.id).limit(limit))
        return [
            HouseholdRow(
                int(r.id),
                r.account_no,
                r.name,
                r.phone,
                int(r.office_id),
                r.billing_mode,
                r.supply_type,
            )  # fmt: skip
            for r in rows
        ]

    def arrears_queue(self, office_id: int | None, limit: int) -> list[ArrearsRow]:
        a, s, la, p = (
            schema.accounts,
            schema.credit_state,
            schema.ledger_accounts,
            schema.protections,
        )
        d = schema.credit_decisions
        latest = (
            select(func.max(d.c.id)).where(d.c.account_id == a.c.id).correlate(a).scalar_subquery()
        )
        query = (
            select(
                a.c.id,
                a.c.account_no,
                a.c.name,
                a.c.office_id,
                s.c.state,
                s.c.pay_by,
                s.c.supply,
                (la.c.credits_posted_fen - la.c.debits_posted_fen).label("balance_fen"),
                p.c.reason.label("protected"),
                d.c.at.label("decision_at"),
                d.c.action.label("decision_action"),
                d.c.reason.label("decision_reason"),
            )
            .select_from(
                s.join(a, a.c.id == s.c.account_id)
                .join(la, la.c.id == a.c.id)
                .outerjoin(p, p.c.account_id == a.c.id)
                .outerjoin(d, d.c.id == latest)
            )
            .where(s.c.state.in_(_QUEUE_STATES))
        )
        if office_id is not None:
            query = query.where(a.c.office_id == office_id)
        rows = self.conn.execute(query.order_by(s.c.pay_by, a.c.id).limit(limit))
        return [_arrears(r) for r in rows]

    def open_tasks(self, office_id: int | None, limit: int) -> list[TaskRow]:
        t, a = schema.staff_tasks, schema.accounts
        query = (
            select(a.c.account_no, a.c.office_id, t.c.kind, t.c.reason, t.c.created_at)
            .select_from(t.join(a, a.c.id == t.c.account_id))
            .where(t.c.closed_at.is_(None))
        )
        if office_id is not None:
            query = query.where(a.c.office_id == office_id)
        rows = self.conn.execute(query.order_by(t.c.id).limit(limit))
        return [
            TaskRow(r.account_no, int(r.office_id), r.kind, r.reason, _utc(r.created_at))
            for r in rows
        ]

    def command_counts(self) -> list[CommandCount]:
        m = schema.meter_commands
        rows = self.conn.execute(
            select(m.c.action, m.c.state, func.count().label("n"))
            .group_by(m.c.action, m.c.state)
            .order_by(m.c.action, m.c.state)
        )
        return [CommandCount(r.action, r.state, int(r.n)) for r in rows]

    def restoration_latencies_s(self, limit: int) -> list[float]:
        m = schema.meter_commands
        rows = self.conn.execute(
            select(m.c.created_at, m.c.finished_at)
            .where(
                and_(
                    m.c.action == "reconnect",
                    m.c.state == "acknowledged",
                    m.c.finished_at.is_not(None),
                )
            )
            .order_by(m.c.id.desc())
            .limit(limit)
        )
        return [(_utc(r.finished_at) - _utc(r.created_at)).total_seconds() for r in rows]


def _utc(value: Any) -> Any:
    at = as_utc(value)
    assert at is not None
    return at


def _arrears(r: Any) -> ArrearsRow:
    return ArrearsRow(
        account_id=int(r.id),
        account_no=r.account_no,
        name=r.name,
        office_id=int(r.office_id),
        state=r.state,
        pay_by=as_date(r.pay_by),
        supply=r.supply,
        balance_fen=int(r.balance_fen),
        protected=r.protected,
        decision_at=as_utc(r.decision_at),
        decision_action=r.decision_action,
        decision_reason=r.decision_reason,
    )
