"""The demo's HTML report: one offline file with its numbers, charts, holidays and sample SMS."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gridpay.errors import ConfigError
from gridpay.services.audit import AuditReport
from gridpay.simulation.html_report import HOLIDAY_COLOUR, render_demo_report, write_demo_report
from gridpay.simulation.lifecycle import LifeDay, LifeOptions, LifeSummary

FIRST = dt.date(2026, 9, 30)
KINDS = ("workday", "holiday", "holiday", "weekend")


def _day(i: int) -> LifeDay:
    return LifeDay(
        day=FIRST + dt.timedelta(days=i),
        day_kind=KINDS[i],
        settled_day=FIRST + dt.timedelta(days=i - 1),
        readings_stored=100,
        readings_duplicates=2,
        readings_quarantined=1,
        late_readings=3,
        estimated=3,
        energy_wh=500_000 + i,
        charged_fen=30_000 + 100 * i,
        payments=4 + i,
        paid_fen=40_000,
        retries_absorbed=1,
        warnings=5,
        arrears_notices=2,
        second_notices=1 if i == 0 else 0,
        cuts_queued=1 if i == 0 else 0,
        holds=0 if i == 0 else 2,
        holds_by_reason={} if i == 0 else {"holiday": 2},
        cuts_confirmed=1 if i == 0 else 0,
        restorations_confirmed=1,
        messages_sent=8,
        commands_sent=2,
        commands_retried=0,
        commands_failed=0,
        accounts_at_or_below_zero=3,
        accounts_disconnected=1,
    )


@pytest.fixture
def summary() -> LifeSummary:
    return LifeSummary(
        options=LifeOptions(accounts=100, days=4, first_day=FIRST),
        days=[_day(i) for i in range(4)],
        queue_latencies_s=[0.0, 0.0],
        ack_latencies_s=[3.5, 12.25],
        sample_messages={
            "warning": {"zh": "尊敬的客户0000000001：余额不足", "en": "Dear customer 0000000001"},
            "restored": {"zh": "已恢复 <供电>"},
        },
        end_balances_fen=[-500, 1_000, 20_000, 35_000],
        payments_by_channel={"app": 10, "counter": 3, "bank": 2, "agent": 1},
        payments_by_habit={"regular": 10, "elderly": 3},
        habits={"regular": 60, "elderly": 40},
        audit=AuditReport(checks=(), seconds=0.1),
    )


def test_the_report_is_one_file_with_its_sections_and_four_charts(
    summary: LifeSummary, tmp_path: Path
) -> None:
    path = write_demo_report(summary, tmp_path / "report.html")
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    for section in ('id="numbers"', 'id="revenue"', 'id="policy"', 'id="balances"'):
        assert section in html
    for section in ('id="latency"', 'id="sms"', 'id="payments"', 'id="days"'):
        assert section in html
    assert html.count("<svg") == 4
    assert "<?xml" not in html


def test_the_report_works_offline(summary: LifeSummary) -> None:
    html = render_demo_report(summary)
    assert "<script" not in html
    assert "<link" not in html
    assert 'src="http' not in html and 'href="http' not in html


def test_holidays_are_shaded_and_listed(summary: LifeSummary) -> None:
    html = render_demo_report(summary)
    assert HOLIDAY_COLOUR in html
    assert "10-01, 10-02" in html


def test_sample_sms_appear_in_both_languages_escaped(summary: LifeSummary) -> None:
    html = render_demo_report(summary)
    assert "尊敬的客户0000000001：余额不足" in html
    assert "Dear customer 0000000001" in html
    assert "已恢复 &lt;供电&gt;" in html


def test_latencies_are_summarised(summary: LifeSummary) -> None:
    html = render_demo_report(summary)
    assert "p50 3.5 s" in html and "max 12.2 s" in html


def test_a_run_without_restorations_still_renders(summary: LifeSummary) -> None:
    summary.ack_latencies_s = []
    summary.queue_latencies_s = []
    assert "No payment restored a cut supply" in render_demo_report(summary)


def test_a_missing_folder_is_refused(summary: LifeSummary, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no folder"):
        write_demo_report(summary, tmp_path / "nowhere" / "report.html")
