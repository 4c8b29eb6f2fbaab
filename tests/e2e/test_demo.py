"""`gridpay demo` (the README's main job) lives a small city through the whole cycle, prints its
table, SMS and latencies, writes the HTML report, and leaves balanced books to explore."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GRIDPAY = str(Path(sys.executable).parent / "gridpay")


def test_demo_lives_through_days_and_ends_with_balanced_books(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = subprocess.run(
        [GRIDPAY, "demo", "--accounts", "300", "--days", "12", "--demo-db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "the books are balanced" in out
    assert "300 prepaid households, 12 days" in out
    assert "warning (zh): 尊敬的客户" in out and "warning (en): Dear customer" in out
    assert "Payment to reconnect" in out and "p99" in out
    report = tmp_path / "gridpay-demo-report.html"
    assert f"HTML report: {report}" in out
    html = report.read_text(encoding="utf-8")
    assert html.count("<svg") == 4
    assert (tmp_path / "gridpay-demo-sms.jsonl").stat().st_size > 0
    # The database stays for exploring, and its own audit agrees.
    audit = subprocess.run(
        [GRIDPAY, "--db", str(db), "audit"], capture_output=True, text=True, timeout=120
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    runs = subprocess.run(
        [GRIDPAY, "--db", str(db), "runs", "--json", "--limit", "50"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert runs.returncode == 0 and runs.stdout.count('"status": "done"') == 12


def test_demo_writes_the_report_where_asked(tmp_path: Path) -> None:
    report = tmp_path / "out" / "city.html"
    report.parent.mkdir()
    result = subprocess.run(
        [
            GRIDPAY, "demo", "--accounts", "50", "--days", "2",
            "--demo-db", str(tmp_path / "d.db"), "--report", str(report),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_demo_refuses_a_first_day_that_is_not_a_date(tmp_path: Path) -> None:
    result = subprocess.run(
        [GRIDPAY, "demo", "--first-day", "15/09/2026", "--demo-db", str(tmp_path / "d.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    assert "is not a date" in result.stdout + result.stderr


def test_demo_over_dlt645_switches_the_fleets_relays(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "demo.db"
    result = subprocess.run(
        [
            GRIDPAY, "demo", "--accounts", "300", "--days", "20", "--headend", "dlt645",
            "--demo-db", str(db),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "the books are balanced" in result.stdout
    assert "head-end: dlt645:127.0.0.1:" in result.stderr
    assert "confirmed by head-end dlt645:127.0.0.1:" in result.stdout
    with sqlite3.connect(db) as conn:
        used = conn.execute(
            "SELECT head_end, action, state, count(*) FROM meter_commands GROUP BY 1, 2, 3"
        ).fetchall()
    assert used and all(head.startswith("dlt645:127.0.0.1:") for head, _, _, _ in used)
    assert ("disconnect", "acknowledged") in {(action, state) for _, action, state, _ in used}
    with sqlite3.connect(db) as conn:  # every night after the build read the fleet's meters
        sources = conn.execute(
            "SELECT source, count(*) FROM readings WHERE source LIKE 'dlt645:%' GROUP BY 1"
        ).fetchall()
        everything = conn.execute("SELECT count(DISTINCT source) FROM readings").fetchone()
    assert sources and all(source.startswith("dlt645:127.0.0.1:") for source, _ in sources)
    assert sum(n for _, n in sources) >= 19 * 290  # nearly every household, every night
    assert everything == (len(sources) + 1,)  # and the build's bulk file
