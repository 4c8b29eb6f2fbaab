"""Compare every table of two demo databases, row for row.

Behaviour-preserving changes (refactors, speed work) must leave the demo's tables identical on
the same seed. Usage:

    python scripts/compare_demo_tables.py BEFORE.db AFTER.db

Only ``settlement_runs.seconds`` (wall-clock time of a run) is expected to differ; it is left
out. Exit 0 when every other column of every table is identical, 1 otherwise.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys

IGNORED = {("settlement_runs", "seconds")}


def digest(path: str) -> dict[str, tuple[int, str]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    out: dict[str, tuple[int, str]] = {}
    names = [n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for name in sorted(names):
        columns = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")')]
        kept = [c for c in columns if (name, c) not in IGNORED]
        select = ", ".join(f'"{c}"' for c in kept)
        h = hashlib.sha256(",".join(kept).encode())
        count = 0
        for row in con.execute(f'SELECT {select} FROM "{name}" ORDER BY {select}'):
            h.update(repr(row).encode())
            count += 1
        out[name] = (count, h.hexdigest()[:16])
    return out


def main(before: str, after: str) -> int:
    a, b = digest(before), digest(after)
    same = True
    print(f"{'table':<20} {'rows before':>12} {'rows after':>12}  identical")
    for name in sorted(a.keys() | b.keys()):
        ra, rb = a.get(name, (0, "-")), b.get(name, (0, "-"))
        ok = ra == rb
        same &= ok
        print(f"{name:<20} {ra[0]:>12,} {rb[0]:>12,}  {'yes' if ok else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
