"""The invariants of the whole-system simulation, checked after every simulated day.

Each check reads the database with its own SQL (not the services' queries), so that a mistake
in a service is not also a mistake in its check. A failure names the seed, the day and the
accounts, so that ``pytest ... --simulation-seeds`` reproduces it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from gridpay.adapters.sql.store import SqlStore
from gridpay.domain.calendar import cut_allowed, rule_set
from gridpay.domain.credit_policy import CreditPolicy
from gridpay.domain.ledger import REVENUE_ID
from gridpay.ports.gateways import HolidayCalendar
from gridpay.services.audit import LEDGER_CHECKS, audit

ZONE = ZoneInfo("Asia/Shanghai")


class RecordingGateway:
    """An SMS gateway that keeps every message it was handed, to find one sent twice."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []  # phone, body, dedupe key

    def send(self, phone: str, body: str, dedupe_key: str) -> None:
        self.sent.append((phone, body, dedupe_key))


@dataclass
class Checker:
    seed: int
    store: SqlStore
    policy: CreditPolicy
    calendar: HolidayCalendar
    gateway: RecordingGateway
    checked_days: int = 0
    seen: dict[str, int] = field(default_factory=Counter)  # what the run exercised

    @property
    def engine(self) -> Engine:
        return self.store.engine

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def fail(self, day: dt.date, rule: str, detail: object) -> None:
        raise AssertionError(f"seed {self.seed}, day {day}: {rule}: {detail}")

    def __call__(self, store: Any, clock: Any, day: dt.date, record: Any) -> None:
        self.books_balance(day)
        self.nobody_in_credit_is_cut(day)
        self.cuts_are_fair(day)
        self.payments_restore_at_once(day)
        self.no_message_twice(day)
        self.no_task_outlives_its_cause(day)
        self.no_charge_outside_an_agreement(day)
        self.no_decision_outside_an_agreement(day)
        self.checked_days += 1
        self.seen["leavings"] += record.leavings
        self.seen["enrolments"] += record.enrolments
        self.seen["cuts"] += record.cuts_confirmed
        self.seen["restorations"] += record.restorations_confirmed
        self.seen["holds"] += record.holds
        self.seen["payments"] += record.payments
        self.seen["retries_absorbed"] += record.retries_absorbed
        self.seen["late_readings"] += record.late_readings
        self.seen["duplicates"] += record.readings_duplicates
        self.seen["commands_retried"] += record.commands_retried
        self.seen["estimated"] += record.estimated
        for reason, n in record.holds_by_reason.items():
            self.seen[f"hold:{reason}"] += n

    # --- the invariants -------------------------------------------------------------------

    def books_balance(self, day: dt.date) -> None:
        """Every day: debits equal credits, the transfers add up to the cached totals, and every
        account moved today holds the sum of its transfers. Every tenth day (and the engine's
        final audit): all of ``gridpay audit``'s ledger checks."""
        debits, credits, posted = self.rows(
            "SELECT (SELECT SUM(debits_posted_fen) FROM ledger_accounts), "
            "(SELECT SUM(credits_posted_fen) FROM ledger_accounts), "
            "(SELECT SUM(amount_fen) FROM transfers)"
        )[0]
        if not debits == credits == posted:
            self.fail(day, "the books do not balance", (debits, credits, posted))
        first, last = _day_bounds(day)
        # One grouped pass over the transfers (no index leads with the account: the ledger
        # appends by day), not a sum per account moved today.
        drifted = self.rows(
            "WITH moved AS (SELECT DISTINCT account_id FROM transfers"
            "  WHERE created_at >= :first AND created_at < :last AND account_id IS NOT NULL),"
            " sums AS (SELECT t.account_id, SUM(CASE WHEN t.credit_account_id = t.account_id"
            "  THEN t.amount_fen ELSE -t.amount_fen END) AS net FROM transfers t"
            "  WHERE t.account_id IN (SELECT account_id FROM moved) GROUP BY t.account_id)"
            " SELECT la.id FROM ledger_accounts la JOIN sums s ON s.account_id = la.id"
            " WHERE la.credits_posted_fen - la.debits_posted_fen <> s.net",
            first=first,
            last=last,
        )
        if drifted:
            self.fail(day, "cached balances differ from their transfers", drifted[:10])
        if self.checked_days % 10 == 9:
            report = audit(self.store, LEDGER_CHECKS)
            if not report.ok:
                failing = [c for c in report.checks if not c.ok]
                self.fail(day, "the ledger audit failed", failing)

    def nobody_in_credit_is_cut(self, day: dt.date) -> None:
        """At the end of the day no account with a positive balance is disconnected, due for a
        cut, or off at its meter without a reconnection on its way."""
        bad = self.rows(
            "SELECT cs.account_id, cs.state, cs.supply, "
            "la.credits_posted_fen - la.debits_posted_fen AS balance "
            "FROM credit_state cs JOIN ledger_accounts la ON la.id = cs.account_id "
            "WHERE la.credits_posted_fen - la.debits_posted_fen > 0 AND ("
            " cs.state IN ('disconnecting', 'disconnected')"
            " OR (cs.supply = 'off' AND cs.state <> 'reconnecting'))"
        )
        if bad:
            self.fail(day, "accounts in credit are cut or due for a cut", bad[:10])

    def cuts_are_fair(self, day: dt.date) -> None:
        """Every cut sent today: after a notice at least the notice period earlier, inside an
        allowed window, never of a protected customer, never on estimated arrears."""
        rules = rule_set(self.policy.cut_rules)
        first, last = _day_bounds(day)
        cuts = self.rows(
            "SELECT c.account_id, c.created_at, c.sent_at, c.correlation_id "
            "FROM meter_commands c WHERE c.action = 'disconnect' "
            "AND c.sent_at >= :first AND c.sent_at < :last",
            first=first,
            last=last,
        )
        for account_id, created_at, sent_at, correlation_id in cuts:
            created, sent = _instant(created_at), _instant(sent_at)
            cycle = int(correlation_id.rsplit("/", 1)[1])
            # A notice on estimated readings names no cut: the one after the meter is read
            # (key suffix /firm) starts the notice period then.
            notices = self.rows(
                "SELECT at, reason_code FROM credit_decisions WHERE account_id = :a "
                "AND key IN (:k, :firm)",
                a=account_id,
                k=f"notice/{account_id:010d}/{cycle}",
                firm=f"notice/{account_id:010d}/{cycle}/firm",
            )
            notices = [n for n in notices if n[1] != "arrears_estimated"]
            if not notices:
                self.fail(day, "a cut without an arrears notice naming the cut", correlation_id)
            noticed = max(_instant(n[0]) for n in notices)
            if created - noticed < dt.timedelta(days=self.policy.notice_days):
                self.fail(day, "a cut sooner than the notice period", (correlation_id, noticed))
            # The customer's notice period runs from the SMS actually sent, not from the
            # decision: the outbox holds night-time messages until morning.
            sent_notice = self.rows(
                "SELECT MIN(sent_at) FROM messages WHERE account_id = :a AND kind = 'arrears' "
                "AND status = 'sent' AND dedupe_key LIKE :key",
                a=account_id,
                key=f"arrears/{account_id:010d}/{cycle}/%",
            )[0][0]
            if sent_notice is None:
                self.fail(day, "a cut without an arrears SMS sent", correlation_id)
            elif created - _instant(sent_notice) < dt.timedelta(days=self.policy.notice_days):
                self.fail(day, "a cut sooner than the notice period after the SMS", correlation_id)
            # ...and from its delivery: no cut without a delivered notice (the simulation's
            # gateway reports no receipts, so its acceptance counts as delivery).
            delivered = self.rows(
                "SELECT MIN(delivered_at) FROM messages WHERE account_id = :a AND kind = 'arrears' "
                "AND receipt IN ('delivered', 'accepted') AND dedupe_key LIKE :key",
                a=account_id,
                key=f"arrears/{account_id:010d}/{cycle}/%",
            )[0][0]
            if delivered is None:
                self.fail(day, "a cut without a delivered arrears notice", correlation_id)
            elif created - _instant(delivered) < dt.timedelta(days=self.policy.notice_days):
                self.fail(day, "a cut sooner than the notice period after delivery", correlation_id)
            for moment in (created, sent):
                local = moment.astimezone(ZONE)
                check = cut_allowed(local, rules, self.calendar.day_kind(local.date()))
                if not check.allowed:
                    self.fail(day, f"a cut outside the window ({check.reason})", correlation_id)
            if self.rows("SELECT 1 FROM protections WHERE account_id = :a", a=account_id):
                self.fail(day, "a protected customer was cut", correlation_id)
            notice_day = noticed.astimezone(ZONE).date() - dt.timedelta(days=1)
            estimated = self.rows(
                "SELECT day FROM daily_usage WHERE account_id = :a AND estimated = :yes "
                "AND day >= :since AND day < :cut_day",
                a=account_id,
                yes=True,
                since=notice_day,
                cut_day=created.astimezone(ZONE).date(),
            )
            if estimated:
                self.fail(day, "a cut for arrears resting on estimated readings", correlation_id)

    def payments_restore_at_once(self, day: dt.date) -> None:
        """Every payment today that left a cut account above zero has its reconnect command
        queued within one (simulated) second."""
        first, last = _day_bounds(day)
        # Each payment with its account's balance just after it, in one grouped query: no
        # index leads with the account over every transfer (the ledger appends by day), so a
        # query per payment would read the whole ledger each time.
        payments = self.rows(
            "SELECT p.account_id, p.seq, p.created_at, COALESCE(SUM(CASE WHEN "
            "t.credit_account_id = p.account_id THEN t.amount_fen ELSE -t.amount_fen END), 0) "
            "FROM transfers p JOIN transfers t ON t.account_id = p.account_id AND t.seq <= p.seq "
            "WHERE p.kind = 'payment' AND p.created_at >= :first AND p.created_at < :last "
            "GROUP BY p.account_id, p.seq, p.created_at",
            first=first,
            last=last,
        )
        for account_id, _seq, created_at, balance in payments:
            paid_at = _instant(created_at)
            if balance <= 0 or not self._cut_at(account_id, paid_at):
                continue
            reconnects = self.rows(
                "SELECT created_at FROM meter_commands WHERE account_id = :a "
                "AND action = 'reconnect' AND created_at >= :paid",
                a=account_id,
                paid=created_at,
            )
            soon = [r for r in reconnects if _instant(r[0]) - paid_at <= dt.timedelta(seconds=1)]
            if not soon:
                self.fail(day, "a restoring payment without a reconnect within 1 s", account_id)
            self.seen["restoring_payments"] += 1

    def _cut_at(self, account_id: int, at: dt.datetime) -> bool:
        """Was the account's last acknowledged switch before ``at`` a cut?"""
        last = self.rows(
            "SELECT action, finished_at FROM meter_commands WHERE account_id = :a "
            "AND state = 'acknowledged' ORDER BY finished_at DESC",
            a=account_id,
        )
        before = [r for r in last if _instant(r[1]) < at]
        return bool(before) and before[0][0] == "disconnect"

    def no_task_outlives_its_cause(self, day: dt.date) -> None:
        """No staff task of a debt (call, read the meter, cut on site, call about an
        undelivered notice) is open for an account
        no longer in debt or no longer in its agreement: it closed itself, with the reason."""
        stale = self.rows(
            "SELECT t.key, cs.state, a.billing_mode FROM staff_tasks t "
            "JOIN accounts a ON a.id = t.account_id "
            "LEFT JOIN credit_state cs ON cs.account_id = t.account_id "
            "WHERE t.closed_at IS NULL "
            "AND t.kind IN ('protected', 'estimated', 'no_switch', 'cut_failed', "
            "'undelivered_notice') "
            "AND (a.billing_mode <> 'prepaid' OR cs.state IS NULL "
            " OR cs.state NOT IN ('arrears', 'disconnecting', 'disconnected'))"
        )
        if stale:
            self.fail(day, "open staff tasks whose cause is gone", stale[:10])
        closed = self.rows("SELECT COUNT(*) FROM staff_tasks WHERE close_code IS NOT NULL")
        self.seen["tasks_closed"] = int(closed[0][0])
        self.seen["notices_on_estimates"] = sum(
            key.startswith("arrears_estimated/") for _, _, key in self.gateway.sent
        )
        # The messages the credit invariants are about, counted from what the gateway sent.
        sent = Counter(key.split("/", 1)[0] for _, _, key in self.gateway.sent)
        self.seen["warnings"] = sent["warning"]
        self.seen["arrears_notices"] = sent["arrears"]
        self.seen["second_notices"] = sent["cut_soon"]
        self.seen["restored_messages"] = sent["restored"]

    def no_charge_outside_an_agreement(self, day: dt.date) -> None:
        """Every (account, day) that revenue kept money for, among those moved today, lies
        inside one of the account's agreements (an account with none recorded was prepaid
        before agreements were: all its days are inside, so only the others are read)."""
        first, last = _day_bounds(day)
        outside = self.rows(
            "SELECT p.account_id, p.day, SUM(CASE WHEN t.credit_account_id = :revenue"
            " THEN t.amount_fen ELSE -t.amount_fen END) AS fen "
            "FROM (SELECT DISTINCT m.account_id, m.day FROM transfers m"
            " WHERE m.created_at >= :first AND m.created_at < :last AND m.day IS NOT NULL"
            " AND m.account_id IN (SELECT account_id FROM enrolments)) p "
            "JOIN transfers t ON t.account_id = p.account_id AND t.day = p.day"
            " AND (t.credit_account_id = :revenue OR t.debit_account_id = :revenue) "
            "WHERE NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.account_id = p.account_id"
            " AND e.enrolled_on <= p.day AND (e.left_on IS NULL OR e.left_on >= p.day)) "
            "GROUP BY p.account_id, p.day "
            "HAVING SUM(CASE WHEN t.credit_account_id = :revenue"
            " THEN t.amount_fen ELSE -t.amount_fen END) <> 0",
            revenue=REVENUE_ID,
            first=first,
            last=last,
        )
        if outside:
            self.fail(day, "charges for days outside every agreement", outside[:10])

    def no_decision_outside_an_agreement(self, day: dt.date) -> None:
        """No warning, arrears notice, second notice or cut decided today for an account at a
        moment when it had no agreement in force."""
        first, last = _day_bounds(day)
        outside = self.rows(
            "SELECT d.key, d.at FROM credit_decisions d "
            "WHERE d.at >= :first AND d.at < :last "
            "AND d.action IN ('warn', 'notice', 'second_notice', 'cut') "
            "AND EXISTS (SELECT 1 FROM enrolments e WHERE e.account_id = d.account_id) "
            "AND NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.account_id = d.account_id "
            " AND e.enrolled_at <= d.at AND (e.left_at IS NULL OR e.left_at > d.at))",
            first=first,
            last=last,
        )
        if outside:
            self.fail(day, "decisions against an account outside its agreements", outside[:10])

    def no_message_twice(self, day: dt.date) -> None:
        keys = Counter(key for _, _, key in self.gateway.sent)
        twice = [k for k, n in keys.items() if n > 1]
        if twice:
            self.fail(day, "messages sent twice", twice[:10])
        per_notice = Counter(
            key.rsplit("/", 1)[0] + "/" + phone for phone, _, key in self.gateway.sent
        )
        if any(n > 1 for n in per_notice.values()):
            self.fail(day, "the same notice twice to a phone", per_notice.most_common(3))


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The local day as naive UTC bounds (how both engines compare stored instants)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=ZONE).astimezone(dt.UTC)
    end = start + dt.timedelta(days=1)
    return start.replace(tzinfo=None), end.replace(tzinfo=None)


def _instant(value: Any) -> dt.datetime:
    """A stored instant as aware UTC (SQLite gives text or naive values)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
