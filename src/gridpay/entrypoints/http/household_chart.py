"""The daily-usage chart, drawn on the server as SVG: no script needed to see it.

Hand-built from the data (a few hundred rectangles as text) rather than drawn by a plotting
library: it costs well under a millisecond, which the home page's budget needs. Each bar is
a day: stacked by time-of-use register where the meter has them, hatched when the day was
estimated. Each bar carries a ``<title>`` (the browser's own tooltip) and data attributes the
page's small script reads to show the tapped day; without the script the chart is complete.
"""

from __future__ import annotations

from html import escape

from gridpay.domain.household import TOU_REGISTERS
from gridpay.entrypoints.http.household_text import Words
from gridpay.services.household_view import ChartDay

WIDTH = 360
HEIGHT = 180
_TOP = 14
_BOTTOM = 22  # room for the first and last dates
_LEFT = 4
_RIGHT = 4
TOTAL_COLOUR = "#2f6fb3"
REGISTER_COLOURS = {"sharp": "#b3261e", "peak": "#e8871e", "flat": "#2f6fb3", "valley": "#3a9a5b"}


def chart_svg(days: tuple[ChartDay, ...], span_days: int, words: Words) -> str:
    """An ``<svg>`` element for the page (``span_days`` slots, the newest at the right)."""
    plot_h = HEIGHT - _TOP - _BOTTOM
    slot_w = (WIDTH - _LEFT - _RIGHT) / span_days
    bar_w = max(slot_w * 0.8, 0.6)
    top_wh = max((d.energy_wh for d in days), default=0)
    scale = plot_h / top_wh if top_wh > 0 else 0.0
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(words("chart_title"))}" xmlns="http://www.w3.org/2000/svg">',
        '<defs><pattern id="est" width="4" height="4" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="4" height="4" fill="#c9d6e6"/>'
        '<line x1="0" y1="0" x2="0" y2="4" stroke="#5a6b80" stroke-width="2"/></pattern></defs>',
        f'<line x1="{_LEFT}" y1="{HEIGHT - _BOTTOM}" x2="{WIDTH - _RIGHT}" '
        f'y2="{HEIGHT - _BOTTOM}" stroke="#888" stroke-width="0.5"/>',
    ]
    if top_wh > 0:
        parts.append(
            f'<text x="{_LEFT}" y="{_TOP - 3}" font-size="10" fill="#555">'
            f"{words.kwh(top_wh)} kWh</text>"
        )
    newest = days[-1].day if days else None
    for d in days:
        assert newest is not None
        slot = span_days - 1 - (newest - d.day).days
        x = _LEFT + slot * slot_w + (slot_w - bar_w) / 2
        parts.append(_bar(d, x, bar_w, scale, words))
    if days:
        parts.append(
            f'<text x="{_LEFT}" y="{HEIGHT - 6}" font-size="10" fill="#555">'
            f"{escape(words.short_day(days[0].day))}</text>"
            f'<text x="{WIDTH - _RIGHT}" y="{HEIGHT - 6}" font-size="10" fill="#555" '
            f'text-anchor="end">{escape(words.short_day(days[-1].day))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _bar(d: ChartDay, x: float, w: float, scale: float, words: Words) -> str:
    label = (
        f"{words.day(d.day)}: {words.kwh(d.energy_wh)} kWh · "
        f"{words.yuan(d.charge_fen)} {words('yuan')}"
    )
    if d.estimated:
        label += f" ({words('estimated')})"
    attrs = f'class="bar{" est" if d.estimated else ""}" data-label="{escape(label)}" tabindex="0"'
    base = HEIGHT - _BOTTOM
    title = f"<title>{escape(label)}</title>"
    if d.energy_wh <= 0:
        return (
            f'<g {attrs}>{title}<rect x="{x:.2f}" y="{base - 1}" width="{w:.2f}" height="1" '
            'fill="#aaa"/></g>'
        )
    if d.estimated:
        h = d.energy_wh * scale
        return (
            f'<g {attrs}>{title}<rect x="{x:.2f}" y="{base - h:.2f}" width="{w:.2f}" '
            f'height="{h:.2f}" fill="url(#est)"/></g>'
        )
    segments = []
    if d.registers_wh is not None and all(v >= 0 for v in d.registers_wh.values()):
        y = float(base)
        for name in reversed(TOU_REGISTERS):  # valley at the bottom, sharp on top
            h = d.registers_wh[name] * scale
            if h <= 0:
                continue
            y -= h
            segments.append(
                f'<rect x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" '
                f'fill="{REGISTER_COLOURS[name]}"/>'
            )
    if not segments:
        h = d.energy_wh * scale
        segments.append(
            f'<rect x="{x:.2f}" y="{base - h:.2f}" width="{w:.2f}" height="{h:.2f}" '
            f'fill="{TOTAL_COLOUR}"/>'
        )
    return f"<g {attrs}>{title}{''.join(segments)}</g>"
