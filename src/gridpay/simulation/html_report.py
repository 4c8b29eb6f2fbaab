"""The demo's HTML report: one self-contained file (charts as inline SVG, no scripts, no links),
so it opens offline and can be mailed around.

Charts are drawn with matplotlib's object API (no pyplot, no GUI backend) and rendered into a
Jinja2 template shipped as package data (``data/templates/demo_report.html.j2``). Public holidays
are shaded on the daily charts, make-up working days marked with a dotted line.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gridpay.domain.calendar import DayKind
from gridpay.domain.money import format_fen
from gridpay.errors import ConfigError
from gridpay.simulation.demo import latency_histogram, latency_stats, totals
from gridpay.simulation.lifecycle import LifeDay, LifeSummary

TEMPLATE = "demo_report.html.j2"
CHART_SIZE_IN = (9.0, 3.2)
BALANCE_BINS = 30
HOLIDAY_COLOUR = "#f4c7c3"
MAKEUP_COLOUR = "#7f7f7f"


def write_demo_report(summary: LifeSummary, path: str | Path) -> Path:
    """Write the report of a demo run to ``path`` (its folder must exist); return the path."""
    target = Path(path)
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write the report to {target}: no folder {target.parent}")
    target.write_text(render_demo_report(summary), encoding="utf-8")
    return target


def render_demo_report(summary: LifeSummary) -> str:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(TEMPLATE).render(**_context(summary))


def _template_source(name: str) -> str:
    return resources.files("gridpay").joinpath("data", "templates", name).read_text("utf-8")


def _context(summary: LifeSummary) -> dict[str, Any]:
    o = summary.options
    t = totals(summary)
    audit = summary.audit
    balances = summary.end_balances_fen
    return {
        "o": o,
        "last_day": summary.days[-1].day if summary.days else o.first_day,
        "t": t,
        "yuan": format_fen,
        "kwh": lambda wh: f"{wh / 1000:,.0f}",
        "latency": latency_stats(summary.ack_latencies_s),
        "queue_latency": latency_stats(summary.queue_latencies_s),
        "days": summary.days,
        "holidays": [d.day for d in summary.days if d.day_kind == DayKind.HOLIDAY],
        "samples": summary.sample_messages,
        "channels": sorted(summary.payments_by_channel.items()),
        "habits": [
            (habit, n, summary.payments_by_habit.get(habit, 0))
            for habit, n in sorted(summary.habits.items())
        ],
        "audit_ok": audit is not None and audit.ok,
        "audit_checks": [] if audit is None else [(c.name, c.ok) for c in audit.checks],
        "balances": {
            "accounts": len(balances),
            "at_or_below_zero": sum(1 for b in balances if b <= 0),
            "median_fen": balances[len(balances) // 2] if balances else 0,
        },
        "charts": {
            "revenue": _svg(_revenue_chart, summary.days),
            "policy": _svg(_policy_chart, summary.days),
            "balances": _svg(_balance_chart, balances),
            "latency": _svg(_latency_chart, summary.ack_latencies_s),
        },
    }


# --- charts --------------------------------------------------------------------------------


def _svg(draw: Any, data: Any) -> str:
    """Draw on a fresh figure and return its SVG element (no XML prologue)."""
    # Text stays text (small files) and ids do not change between runs.
    with matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": "gridpay-demo", "font.size": 9.0}
    ):
        figure = Figure(figsize=CHART_SIZE_IN, layout="constrained")
        draw(figure.add_subplot(), data)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _mark_days(ax: Axes, days: Sequence[LifeDay]) -> None:
    """Shade public holidays, mark make-up working days, label the x axis with dates."""
    for i, d in enumerate(days):
        if d.day_kind == DayKind.HOLIDAY:
            ax.axvspan(i - 0.5, i + 0.5, color=HOLIDAY_COLOUR, linewidth=0)
        elif d.day_kind == DayKind.MAKEUP_WORKDAY:
            ax.axvline(i, color=MAKEUP_COLOUR, linestyle=":", linewidth=1)
    step = max(1, len(days) // 10)
    positions = list(range(0, len(days), step))
    ax.set_xticks(positions, [days[i].day.strftime("%m-%d") for i in positions])
    ax.set_xlim(-0.5, len(days) - 0.5)


def _revenue_chart(ax: Axes, days: Sequence[LifeDay]) -> None:
    x = range(len(days))
    ax.bar(x, [d.charged_fen / 100 for d in days], color="#4c72b0", label="revenue settled")
    ax.plot(x, [d.paid_fen / 100 for d in days], color="#dd8452", marker=".", label="payments")
    ax.set_ylabel("yuan")
    ax.set_title("Daily revenue (settled the night before) and payments; holidays shaded")
    _mark_days(ax, days)
    ax.legend(loc="upper left", frameon=False)


def _policy_chart(ax: Axes, days: Sequence[LifeDay]) -> None:
    x = list(range(len(days)))
    for label, values, colour in (
        ("warnings", [d.warnings for d in days], "#dd8452"),
        ("arrears notices", [d.arrears_notices for d in days], "#c44e52"),
        ("cuts confirmed", [d.cuts_confirmed for d in days], "#000000"),
        ("restorations confirmed", [d.restorations_confirmed for d in days], "#55a868"),
    ):
        ax.plot(x, values, marker=".", color=colour, label=label)
    ax.set_ylabel("accounts")
    ax.set_title("Warnings, arrears notices, cuts and restorations per day; holidays shaded")
    _mark_days(ax, days)
    ax.legend(loc="upper left", frameon=False, ncols=2)


def _balance_chart(ax: Axes, balances_fen: Sequence[int]) -> None:
    ax.hist([b / 100 for b in balances_fen], bins=BALANCE_BINS, color="#4c72b0")
    ax.axvline(0, color="#c44e52", linewidth=1)
    ax.set_xlabel("balance at the end, yuan")
    ax.set_ylabel("accounts")
    ax.set_title("Balance distribution at the end of the run")


def _latency_chart(ax: Axes, latencies_s: Sequence[float]) -> None:
    buckets = latency_histogram(latencies_s)
    if not buckets:
        ax.text(0.5, 0.5, "no restoring payments", ha="center", va="center")
        return
    widths = [high - low for low, high, _ in buckets]
    ax.bar([low for low, _, _ in buckets], [n for _, _, n in buckets], width=widths, align="edge")
    ax.set_xlabel("payment -> meter acknowledged, simulated seconds")
    ax.set_ylabel("payments")
    ax.set_title("Payment-to-reconnect latency")
