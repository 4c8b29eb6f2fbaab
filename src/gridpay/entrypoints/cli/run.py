"""CLI: ``gridpay run`` keeps the system's background work going against real time."""

from __future__ import annotations

import signal
import time
from types import FrameType

import typer

from gridpay import bootstrap
from gridpay.entrypoints.cli._common import app, console, gridpay_app
from gridpay.entrypoints.cli.calendar import warn_missing_schedules
from gridpay.entrypoints.cli.headend import collection_line
from gridpay.entrypoints.head_ends import configured_head_end
from gridpay.services.collection import HeadEndCollector
from gridpay.services.workers import Schedule, TickReport, Workers


@app.command("run")
def run(
    for_seconds: float | None = typer.Option(
        None, "--for-seconds", min=0.0, help="Stop after this long (default: until Ctrl-C)."
    ),
    once: bool = typer.Option(False, "--once", help="Do one round of what is due, then stop."),
    credit_every_s: float = typer.Option(
        Schedule.credit_every_s, "--credit-every", min=1.0, help="Seconds between policy timers."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="Print only the summary at the end."),
    allow_business_date: bool = typer.Option(
        False, "--allow-business-date", help="Run with --now on a production database anyway."
    ),
) -> None:
    """Run the workers: meter commands (every second), SMS (every few seconds), the credit
    policy's timer for cuts waiting for a window, and the night's settlement of yesterday once
    it is over (and of the days missed before it, up to catch_up_days_max; more wait for
    `gridpay settle --from --to`). Stop with Ctrl-C; work in flight finishes first."""
    stopping = {"now": False}

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping["now"] = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    totals = TickReport()
    try:
        with (
            gridpay_app(clock_moves=True, business_date_allowed=allow_business_date) as g,
            configured_head_end(g.settings) as head_end,
        ):
            warn_missing_schedules(g)
            console.print(f"head-end: {head_end.name}")
            collector = bootstrap.readings_collector(g.store, g.clock, head_end)
            workers = Workers(
                g.store,
                g.clock,
                g.credit,
                head_end,
                bootstrap.sms_gateway(g.settings),
                Schedule(
                    credit_every_s=credit_every_s,
                    time_sync_every_s=g.settings.head_end_time_sync_every_s,
                ),
                limiter=bootstrap.command_limiter(g.settings),
                collector=collector,
                clock_sync=bootstrap.meter_clock_sync(head_end),
                wallet=bootstrap.payment_provider(g.settings),
            )
            started = time.monotonic()
            while not stopping["now"]:
                report = workers.tick()
                _add(totals, report)
                if report.settled_day is not None:
                    warn_missing_schedules(g)
                    if isinstance(collector, HeadEndCollector):
                        for collected in collector.reports:
                            console.print(collection_line(collected))
                        collector.reports.clear()
                if report.night_refused is not None:  # said even when quiet: work is waiting
                    console.print(f"[bold yellow]Night not settled:[/] {report.night_refused}")
                if not quiet and _worth_saying(report):
                    console.print(_line(g.clock.now().isoformat(timespec="seconds"), report))
                if once or (for_seconds is not None and time.monotonic() - started >= for_seconds):
                    break
                workers.wait(workers.seconds_to_next())
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    console.print(_line("total", totals))


def _add(totals: TickReport, report: TickReport) -> None:
    totals.commands_sent += report.commands_sent
    totals.commands_acknowledged += report.commands_acknowledged
    totals.messages_sent += report.messages_sent
    totals.credit_decisions += report.credit_decisions
    if report.settled_day is not None:
        totals.settled_day = report.settled_day
    totals.housekeeping_deleted += report.housekeeping_deleted


def _worth_saying(report: TickReport) -> bool:
    return bool(
        report.commands_sent
        or report.commands_acknowledged
        or report.messages_sent
        or report.credit_decisions
        or report.settled_day
        or report.housekeeping_deleted
    )


def _line(label: str, report: TickReport) -> str:
    settled = f", settled {report.settled_day}" if report.settled_day else ""
    if report.night is not None and report.night.readings_collected is not None:
        settled += f" ({report.night.readings_collected} readings collected from the meters)"
    return (
        f"{label}: {report.commands_sent} commands sent, {report.commands_acknowledged} "
        f"acknowledged, {report.messages_sent} SMS sent, {report.credit_decisions} credit "
        f"decisions{settled}{_housekept(report)}"
    )


def _housekept(report: TickReport) -> str:
    if not report.housekeeping_deleted:
        return ""
    line = f", housekeeping deleted {report.housekeeping_deleted} dead rows"
    if report.housekeeping is None:  # the totals
        return line
    kinds = ", ".join(f"{n} {kind}" for kind, n in report.housekeeping.deleted.items() if n)
    return f"{line} ({kinds})"
