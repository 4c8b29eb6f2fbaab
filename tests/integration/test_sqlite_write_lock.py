"""SQLite's one write lock: a writer that waits for it gets in when the holder pauses briefly."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from gridpay import limits
from gridpay.adapters.sql import db

ROUNDS = 8
# The first chunk is long, so that a waiter using SQLite's own busy handler has backed off to
# polling every 100 ms by the time the pauses come (and would mostly miss them).
FIRST_CHUNK_S, CHUNK_S = 0.5, 0.15


def _engine(path: Path):  # type: ignore[no-untyped-def]
    engine = db.make_engine(db.sqlite_url(str(path)))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE log (who TEXT NOT NULL, round INTEGER NOT NULL)"))
    return engine


def test_a_waiting_writer_gets_in_while_a_long_writer_pauses_between_transactions(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path / "lock.db")
    holding = threading.Event()

    def settle_in_chunks() -> None:
        for i in range(ROUNDS):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO log VALUES ('settlement', :i)"), {"i": i})
                holding.set()
                time.sleep(FIRST_CHUNK_S if i == 0 else CHUNK_S)  # holding the write lock
            time.sleep(limits.sqlite_writer_pause_s)

    settler = threading.Thread(target=settle_in_chunks)
    settler.start()
    assert holding.wait(10)
    with engine.begin() as conn:  # waits for the lock
        conn.execute(text("INSERT INTO log VALUES ('payment', 0)"))
    settler.join(60)
    with engine.connect() as conn:
        order = [tuple(r) for r in conn.execute(text("SELECT who, round FROM log ORDER BY rowid"))]
    engine.dispose()
    assert len(order) == ROUNDS + 1
    landed = order.index(("payment", 0))
    # The payment waited for a chunk, not for the run: it got in at one of the first pauses.
    assert 1 <= landed <= 3, order


def test_a_writer_that_never_gets_the_lock_fails_after_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = _engine(tmp_path / "lock.db")
    monkeypatch.setattr(limits, "sqlite_busy_timeout_ms", 300)
    with engine.connect() as holder:
        holder.begin()
        holder.execute(text("INSERT INTO log VALUES ('holder', 0)"))
        waiter = engine.connect()
        with pytest.raises(OperationalError, match="locked"):
            waiter.begin()
        # The connection's busy timeout is back for every later statement.
        timeout = waiter.exec_driver_sql("PRAGMA busy_timeout").scalar()
        assert timeout == 300
        waiter.close()
        holder.rollback()
    with engine.begin() as conn:  # the lock is free again: no wait at all
        conn.execute(text("INSERT INTO log VALUES ('next', 0)"))
    engine.dispose()


def test_every_connection_gets_the_settings_the_bulk_paths_rely_on(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "lock.db")
    with engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "wal_autocheckpoint", "busy_timeout")
        }
    engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL: in WAL mode a commit does not wait for the disk
        "wal_autocheckpoint": limits.sqlite_wal_checkpoint_pages,
        "busy_timeout": limits.sqlite_busy_timeout_ms,
    }
