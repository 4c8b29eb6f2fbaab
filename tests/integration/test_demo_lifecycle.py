"""The lifecycle engine on a real database: a small city lives through Mid-Autumn 2026 with
its books balanced every day, never cut on a holiday, and the same seed gives the same run."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.bootstrap import credit_policy
from gridpay.config import Settings
from gridpay.domain.calendar import DayKind
from gridpay.services.audit import audit
from gridpay.services.credit import Policy
from gridpay.simulation.bench_repo import bench_repo_for
from gridpay.simulation.clock import SimulatedClock
from gridpay.simulation.head_end import SimulatedHeadEnd
from gridpay.simulation.lifecycle import LifeDay, LifeOptions, LifeSummary, run_life
from tests.fakes import FakeSmsGateway

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 300 households from 15 September: arrears and cuts before and after Mid-Autumn (25-27 Sep).
OPTIONS = LifeOptions(accounts=300, days=16, seed=7, first_day=dt.date(2026, 9, 15))


@dataclass
class _App:
    store: SqlStore
    settings: Settings
    credit: Policy


def live(
    db_url: str, options: LifeOptions = OPTIONS, on_day_end=None
) -> tuple[LifeSummary, SqlStore, FakeSmsGateway]:
    settings = Settings(database_url=db_url)
    store = SqlStore(db_url)
    clock = SimulatedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    head_end = SimulatedHeadEnd(
        seed=options.seed,
        latency_s=options.command_latency_s,
        failure_rate=options.command_failure_rate,
    )
    gateway = FakeSmsGateway()
    summary = run_life(
        _App(store, settings, credit_policy(settings)),
        clock,
        bench_repo_for,
        shipped_tariffs(),
        options,
        head_end=head_end,
        gateway=gateway,
        on_day_end=on_day_end,
    )
    return summary, store, gateway


def test_a_city_lives_through_a_holiday_with_balanced_books_every_day(db_url: str) -> None:
    seen: list[dt.date] = []

    def check(store, clock, day: dt.date, record: LifeDay) -> None:
        assert clock.today() == day
        assert record.day == day
        assert audit(store).ok, f"books not balanced after {day}"
        seen.append(day)

    summary, store, gateway = live(db_url, on_day_end=check)
    try:
        assert seen == [OPTIONS.first_day + dt.timedelta(days=i) for i in range(OPTIONS.days)]
        assert summary.audit is not None and summary.audit.ok
        kinds = {d.day: d.day_kind for d in summary.days}
        assert kinds[dt.date(2026, 9, 25)] == DayKind.HOLIDAY
        assert kinds[dt.date(2026, 9, 20)] == DayKind.MAKEUP_WORKDAY
        # The whole cycle happened: warnings, notices, cuts confirmed, restorations, SMS.
        assert sum(d.warnings for d in summary.days) > 0
        assert sum(d.arrears_notices for d in summary.days) > 0
        assert sum(d.cuts_confirmed for d in summary.days) > 0
        assert sum(d.restorations_confirmed for d in summary.days) > 0
        assert len(gateway.sent) == sum(d.messages_sent for d in summary.days)
        assert set(summary.payments_by_channel) == {"app", "counter", "bank", "agent"}
        # Restoring payments queue their reconnect in their own transaction.
        assert summary.ack_latencies_s and set(summary.queue_latencies_s) == {0.0}
        # Never a cut on a holiday or a weekend, only 08:00-18:00 on working days.
        with store.unit_of_work() as uow:
            commands = uow.commands.list(None, None, 1_000)
        cuts = commands.filter(action="disconnect")
        assert cuts.height > 0
        for created_at in cuts["created_at"].to_list():
            local = created_at.astimezone(SHANGHAI)
            assert kinds[local.date()] in (DayKind.WORKDAY, DayKind.MAKEUP_WORKDAY), local
            assert dt.time(8, 0) <= local.time() < dt.time(18, 0), local
        holidays = [d for d in summary.days if d.day_kind == DayKind.HOLIDAY]
        assert sum(d.holds_by_reason.get("holiday", 0) for d in holidays) > 0
        assert all(d.cuts_queued == 0 for d in holidays)
    finally:
        store.dispose()


def _numbers(summary: LifeSummary) -> dict[str, object]:
    return {
        "days": [dataclasses.asdict(d) for d in summary.days],
        "ack": summary.ack_latencies_s,
        "queue": summary.queue_latencies_s,
        "samples": summary.sample_messages,
        "balances": summary.end_balances_fen,
        "channels": summary.payments_by_channel,
        "habits": summary.payments_by_habit,
        "kinds": summary.messages_by_kind,
    }


def test_the_same_seed_lives_the_same_days(tmp_path) -> None:
    options = dataclasses.replace(OPTIONS, accounts=200, days=12)
    first, store, _ = live(f"sqlite:///{tmp_path / 'a.db'}", options)
    store.dispose()
    second, store, _ = live(f"sqlite:///{tmp_path / 'b.db'}", options)
    store.dispose()
    assert _numbers(first) == _numbers(second)
    assert sum(d.payments for d in first.days) > 0
    other, store, _ = live(f"sqlite:///{tmp_path / 'c.db'}", dataclasses.replace(options, seed=8))
    store.dispose()
    assert _numbers(other) != _numbers(first)


@pytest.mark.parametrize("share", [0.0, 0.2])
def test_duplicate_rows_in_the_readings_file_are_no_ops(tmp_path, share: float) -> None:
    options = dataclasses.replace(OPTIONS, accounts=50, days=3, duplicate_share=share)
    summary, store, _ = live(f"sqlite:///{tmp_path / 'd.db'}", options)
    store.dispose()
    later = summary.days[1:]
    assert all((d.readings_duplicates > 0) == (share > 0) for d in later)
    assert all(d.readings_quarantined == 1 for d in later)  # the unknown meter's row
    assert summary.audit is not None and summary.audit.ok
