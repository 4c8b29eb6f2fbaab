"""`gridpay demo` (the README's main job) runs a small city end to end with balanced books."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GRIDPAY = str(Path(sys.executable).parent / "gridpay")


def test_demo_lives_through_days_and_ends_with_balanced_books(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = subprocess.run(
        [GRIDPAY, "demo", "--accounts", "300", "--days", "4", "--demo-db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "the books are balanced" in result.stdout
    assert "300 prepaid households, 4 days" in result.stdout
    # The database stays for exploring, and its own audit agrees.
    audit = subprocess.run(
        [GRIDPAY, "--db", str(db), "audit"], capture_output=True, text=True, timeout=120
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    runs = subprocess.run(
        [GRIDPAY, "--db", str(db), "runs", "--json"], capture_output=True, text=True, timeout=60
    )
    assert runs.returncode == 0 and runs.stdout.count('"status": "done"') == 4
