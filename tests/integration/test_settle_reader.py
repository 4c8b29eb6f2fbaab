"""The settlement's reader in a process of its own (a big day) against a real database."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from gridpay import limits
from gridpay.adapters.sql.store import SqlStore
from gridpay.services.settlement import reprice_settled_day, settle_day
from gridpay.services.settlement_reader import Reader
from tests.integration.settle_helpers import add_city, add_readings, fresh_sqlite_store, snapshot

D0 = dt.date(2026, 10, 1)
D1 = D0 + dt.timedelta(days=1)
SKIPPED = {4, 11, 19}  # no reading on D1: estimated


def _city(store: SqlStore, clock: Any) -> list[int]:
    ids = add_city(store, 23)
    for day in (D0, D1):
        add_readings(store, ids, day, skip=SKIPPED if day == D1 else set())
    settle_day(store, clock, D0, reader_process=False)
    return ids


def _wait_for_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hand batches to the reader process only, once it has started (a run this small would
    otherwise be over before the process is up, with every batch read on the stand-in thread)."""

    def process_up(reader: Any) -> bool:
        started = reader._started
        return started is not None and started.result(timeout=60) is None

    monkeypatch.setattr(Reader, "_process_up", process_up)


def test_a_reader_process_settles_a_day_as_the_reader_thread_does(
    store, clock, tmp_path, monkeypatch
):
    _city(store, clock)
    _wait_for_the_process(monkeypatch)
    report = settle_day(store, clock, D1, chunk_accounts=7, batch_accounts=3, reader_process=True)
    # 23 accounts in chunks of 7, 7, 7 and 2; batches of 1, 2, 3, 1 and 1, 1: each chunk's first
    # batch is read by the writer itself, the other ten by the process.
    assert report.reader == "10 on the process"
    assert (report.accounts, report.estimated) == (23, len(SKIPPED))

    thread = fresh_sqlite_store(tmp_path / "thread.db", clock)
    _city(thread, clock)
    expected = settle_day(thread, clock, D1, chunk_accounts=7, batch_accounts=3)
    assert expected.reader == "10 on the thread"
    assert (report.charged_fen, report.energy_wh) == (expected.charged_fen, expected.energy_wh)
    assert snapshot(store) == snapshot(thread)
    thread.dispose()
    assert reprice_settled_day(store, D1).mismatched_account_ids == []


def test_a_day_as_big_as_the_limit_gets_a_reader_process(store, clock, monkeypatch):
    _city(store, clock)
    _wait_for_the_process(monkeypatch)
    monkeypatch.setattr(limits, "settle_reader_process_accounts_min", 23)
    report = settle_day(store, clock, D1, chunk_accounts=7, batch_accounts=3)
    assert report.reader == "10 on the process"


def test_a_day_below_the_limit_is_read_on_a_thread(store, clock):
    _city(store, clock)
    assert limits.settle_reader_process_accounts_min > 23
    report = settle_day(store, clock, D1, chunk_accounts=7, batch_accounts=3)
    assert report.reader == "10 on the thread"


class _StoreWithBrokenOpener:
    """The store, but a reader process started for it cannot open the database."""

    def __init__(self, inner: SqlStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def opener(self) -> Callable[[], SqlStore]:
        return partial(SqlStore, "nosuchengine://nowhere")


def test_a_reader_process_that_cannot_start_leaves_the_day_to_the_thread(store, clock, tmp_path):
    _city(store, clock)
    broken = _StoreWithBrokenOpener(store)
    report = settle_day(broken, clock, D1, chunk_accounts=7, batch_accounts=3, reader_process=True)  # type: ignore[arg-type]
    assert report.accounts == 23
    # However far the process got before failing, every batch was read, once.
    assert report.reader.startswith("10 on the thread")
    thread = fresh_sqlite_store(tmp_path / "thread.db", clock)
    _city(thread, clock)
    settle_day(thread, clock, D1, chunk_accounts=7, batch_accounts=3)
    assert snapshot(store) == snapshot(thread)
    thread.dispose()


def test_a_store_opens_again_in_another_process_unless_it_lives_in_memory(store):
    opener = store.opener()
    assert opener is not None
    again = opener()
    try:
        assert again.url == store.url
        with again.reader() as reading:
            assert reading.settlement.prepaid_account_count() == 0
    finally:
        again.dispose()
    assert SqlStore("sqlite://").opener() is None
    assert SqlStore("sqlite:///:memory:").opener() is None


_HOLD_A_READER = """
import sys, time
from gridpay.adapters.sql.store import SqlStore
from gridpay.services.settlement import _load_and_price
from gridpay.services.settlement_reader import Reader

with Reader.start(SqlStore(sys.argv[1]), _load_and_price, True) as reader:
    reader._started.result(timeout=60)
    print(*reader._process._processes, flush=True)
    time.sleep(600)
"""


def _gone(pid: int) -> bool:
    """The process has ended (a zombie not yet reaped counts as ended)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return any(line.split()[1:2] == ["Z"] for line in status if line.startswith("State:"))
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_reader_process_ends_when_the_settlement_is_killed(store):
    with subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_READER, store.url], stdout=subprocess.PIPE, text=True
    ) as settling:
        try:
            assert settling.stdout is not None
            (reader_pid,) = (int(pid) for pid in settling.stdout.readline().split())
            assert not _gone(reader_pid)
        finally:
            settling.kill()  # SIGKILL: nothing of the settlement's own runs any more
    deadline = time.monotonic() + 30
    while not _gone(reader_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(reader_pid)
