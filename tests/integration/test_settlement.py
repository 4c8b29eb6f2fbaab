"""Daily settlement against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading

import polars as pl
import pytest
from sqlalchemy import text

from gridpay.domain.ledger import REVENUE_ID
from gridpay.domain.settlement import charge_transfers
from gridpay.errors import InvalidInput
from gridpay.services import settlement
from gridpay.services.settlement import reprice_settled_day, settle_day, settle_range
from tests.integration.settle_helpers import (
    add_city,
    add_readings,
    fresh_sqlite_store,
    queue_late_readings,
    register_wh,
    snapshot,
)

D0 = dt.date(2026, 10, 1)
D1 = D0 + dt.timedelta(days=1)
D2 = D0 + dt.timedelta(days=2)


def test_settling_a_day_charges_each_account_once_and_keeps_the_books_balanced(store, clock):
    ids = add_city(store, 40)
    for day in (D0, D1):
        add_readings(store, ids, day)
    settle_day(store, clock, D0)  # the baseline day: registers recorded, nothing charged
    report = settle_day(store, clock, D1)
    assert report.accounts == 40
    expected_wh = sum(register_wh(i, D1) - register_wh(i, D0) for i in ids)
    assert report.energy_wh == expected_wh
    with store.unit_of_work() as uow:
        customer_total = sum(uow.ledger.balance_fen(i) for i in ids)
        revenue = uow.ledger.balance_fen(REVENUE_ID)
    assert customer_total == -report.charged_fen
    assert revenue == report.charged_fen > 0


def test_settling_the_same_day_twice_changes_nothing(store, clock):
    ids = add_city(store, 25)
    for day in (D0, D1):
        add_readings(store, ids, day)
    settle_range(store, clock, D0, D1)
    before = snapshot(store)
    again = settle_day(store, clock, D1)
    assert again.accounts == 0
    assert snapshot(store) == before


def test_chunked_settlement_gives_the_ledger_of_a_single_chunk(store, clock, tmp_path):
    ids = add_city(store, 30)
    for day in (D0, D1):
        add_readings(store, ids, day)
    settle_day(store, clock, D0, chunk_accounts=7)
    settle_day(store, clock, D1, chunk_accounts=7)
    other = fresh_sqlite_store(tmp_path / "one-chunk.db", clock)
    add_city(other, 30)
    for day in (D0, D1):
        add_readings(other, ids, day)
    settle_range(other, clock, D0, D1)
    chunked, whole = snapshot(store), snapshot(other)
    other.dispose()
    assert chunked["transfers"] == whole["transfers"]
    assert chunked["balances"] == whole["balances"]


def test_a_day_that_has_not_ended_cannot_be_settled(store, clock):
    with pytest.raises(InvalidInput, match="has not ended"):
        settle_day(store, clock, clock.today())


def test_quarantined_and_missing_readings_are_estimated_and_counted(store, clock):
    ids = add_city(store, 10)
    add_readings(store, ids, D0)
    add_readings(store, ids, D1)
    settle_range(store, clock, D0, D1)
    add_readings(store, ids, D2, skip={3}, **{"5": register_wh(5, D1) - 1_000})
    report = settle_day(store, clock, D2)
    assert (report.accounts, report.estimated, report.quarantined) == (10, 2, 1)


def test_late_real_reading_trues_up_to_the_ledger_of_real_readings_alone(store, clock, tmp_path):
    days = [D0 + dt.timedelta(days=i) for i in range(5)]
    ids = add_city(store, 6)
    late_day = days[2]
    for day in days:
        add_readings(store, ids, day, skip={2, 4} if day == late_day else set())
    settle_range(store, clock, days[0], days[-1])
    queue_late_readings(store, {i: register_wh(i, late_day) for i in (2, 4)}, late_day)
    report = settle_day(store, clock, days[-1] + dt.timedelta(days=1))
    assert report.trued_up_accounts == 2

    clean_store = fresh_sqlite_store(tmp_path / "clean.db", clock)
    add_city(clean_store, 6)
    for day in days:
        add_readings(clean_store, ids, day)
    settle_range(clean_store, clock, days[0], days[-1] + dt.timedelta(days=1))
    trued, clean = snapshot(store), snapshot(clean_store)
    clean_store.dispose()
    # The append-only ledger keeps the estimate and its correction, so gross debits differ;
    # every account's balance, and every day's settled usage, equal the real readings alone.
    net = lambda snap: [(i, credits - debits) for i, debits, credits in snap["balances"]]  # noqa: E731
    assert net(trued) == net(clean)
    assert trued["usage"] == clean["usage"]
    with store.unit_of_work() as uow:
        corrections = uow.conn.execute(
            text("SELECT count(*) FROM transfers WHERE id LIKE :p"), {"p": "trueup/%"}
        ).scalar()
    assert corrections > 0


def test_repricing_a_settled_day_finds_nothing_wrong_until_a_charge_is_tampered_with(store, clock):
    ids = add_city(store, 12)
    for day in (D0, D1, D2):
        add_readings(store, ids, day, skip={4} if day == D2 else set())
    settle_range(store, clock, D0, D2)
    clean = reprice_settled_day(store)
    assert (clean.day, clean.rows_checked, clean.mismatched_account_ids) == (D2, 12, [])
    with store.unit_of_work() as uow:
        uow.conn.execute(
            text(
                "UPDATE daily_usage SET charge_fen = charge_fen + 1 "
                "WHERE account_id = 7 AND day = :d"
            ),
            {"d": D2},
        )
        uow.commit()
    assert reprice_settled_day(store).mismatched_account_ids == [7]


def test_a_settlement_chunk_waits_for_a_readings_import_in_flight(store, clock):
    """Otherwise a reading could be stored for a day settled meanwhile on an estimate, with no
    true-up queued (the import checked 'not settled' before the chunk committed)."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite serializes every writer already: nothing extra to lock")
    ids = add_city(store, 5)
    add_readings(store, ids, D0)
    settle_day(store, clock, D0)
    add_readings(store, ids, D1)
    settled = threading.Event()

    def settle() -> None:
        settle_day(store, clock, D1)
        settled.set()

    with store.unit_of_work() as importing:
        importing.lock_settlement(shared=True)
        with store.unit_of_work() as another_import:  # imports share the lock: no wait
            another_import.lock_settlement(shared=True)
        settler = threading.Thread(target=settle)
        settler.start()
        assert not settled.wait(1.0), "settlement did not wait for the import in flight"
        importing.rollback()
    settler.join(timeout=60)
    assert settled.is_set()


def test_a_reading_stored_while_a_run_goes_on_is_used_by_the_chunks_after_it(
    store, clock, monkeypatch
):
    """Each chunk reads the day's readings after it holds the settlement lock: a reading that
    an import stored meanwhile (seeing the day unsettled, so queueing no true-up) is used, not
    estimated over."""
    ids = add_city(store, 6)
    add_readings(store, ids, D0)
    settle_day(store, clock, D0)
    add_readings(store, ids, D1, skip={6})
    late = []

    def a_reading_arrives_between_chunks() -> None:
        if not late:
            late.append(6)
            add_readings(store, [6], D1)

    monkeypatch.setattr(store, "let_other_writers_in", a_reading_arrives_between_chunks)
    report = settle_day(store, clock, D1, chunk_accounts=2)
    assert late == [6]
    assert report.estimated == 0
    assert reprice_settled_day(store, D1).mismatched_account_ids == []


def test_batches_within_a_chunk_settle_as_one_big_batch_would(store, clock, tmp_path):
    """Chunks of 7 accounts read in batches of 1, 2, 3 and 1 (the pipeline's ramp) give the
    ledger of a run in one batch."""
    ids = add_city(store, 23)
    for day in (D0, D1):
        add_readings(store, ids, day, skip={5, 17} if day == D1 else set())
    settle_day(store, clock, D0)
    settle_day(store, clock, D1, chunk_accounts=7, batch_accounts=3)
    clean = fresh_sqlite_store(tmp_path / "clean.db", clock)
    add_city(clean, 23)
    for day in (D0, D1):
        add_readings(clean, ids, day, skip={5, 17} if day == D1 else set())
    settle_day(clean, clock, D0)
    settle_day(clean, clock, D1, chunk_accounts=100, batch_accounts=100)
    expected = snapshot(clean)
    clean.dispose()
    assert snapshot(store) == expected


def test_each_chunks_log_is_folded_in_beside_the_next_chunk(store, clock, tmp_path, monkeypatch):
    ids = add_city(store, 30)
    for day in (D0, D1):
        add_readings(store, ids, day)
    calls: list[str] = []
    real_checkpoint = store.checkpoint
    monkeypatch.setattr(
        store,
        "checkpoint",
        lambda: calls.append(threading.current_thread().name) or real_checkpoint(),
    )
    settle_day(store, clock, D0, chunk_accounts=7)
    # 30 accounts in chunks of 7: five chunks, the log of the first four folded in on a thread
    # of its own; the last one's is left to the database's own checkpoints.
    assert len(calls) == 4
    assert all(name.startswith("settle-checkpoint") for name in calls)
    with store.unit_of_work() as uow:  # pooled connections got their setting back
        assert uow.conn is not None
        if store.dialect == "sqlite":
            setting = uow.conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
            assert setting == 10_000
        assert uow.settlement.usage_for_day(D0).height == 30


def _one_fen_more_for(account_id: int):
    """``charge_transfers``, but posting one fen more to ``account_id`` than its usage row."""

    def perturbed(usage: pl.DataFrame) -> pl.DataFrame:
        transfers = charge_transfers(usage)
        more = pl.when(pl.col("account_id") == account_id).then(pl.col("amount_fen") + 1)
        return transfers.with_columns(more.otherwise(pl.col("amount_fen")).alias("amount_fen"))

    return perturbed


def _missing_for(account_id: int):
    """``charge_transfers``, but with no transfer for ``account_id``."""

    def perturbed(usage: pl.DataFrame) -> pl.DataFrame:
        return charge_transfers(usage).filter(pl.col("account_id") != account_id)

    return perturbed


@pytest.mark.parametrize("perturbed", [_one_fen_more_for, _missing_for])
def test_a_chunk_whose_postings_differ_from_its_usage_rows_refuses_and_writes_nothing(
    store, clock, monkeypatch, tmp_path, perturbed
):
    ids = add_city(store, 20)
    for day in (D0, D1):
        add_readings(store, ids, day)
    settle_day(store, clock, D0)
    # Chunks of 7 accounts: 1-7, 8-14, 15-20. Account 10's posting is wrong: the second chunk.
    monkeypatch.setattr(settlement, "charge_transfers", perturbed(10))
    with pytest.raises(AssertionError):
        settle_day(store, clock, D1, chunk_accounts=7, batch_accounts=4)
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        settled = uow.conn.execute(
            text("SELECT account_id FROM daily_usage WHERE day = :d ORDER BY account_id"),
            {"d": D1},
        ).scalars()
        assert list(settled) == ids[:7]
        posted = uow.conn.execute(
            text("SELECT account_id FROM transfers WHERE day = :d ORDER BY account_id"),
            {"d": D1},
        ).scalars()
        assert list(posted) == ids[:7]
        assert sum(uow.ledger.balance_fen(i) for i in ids[7:]) == 0

    # Without the mistake the day settles the rest, to the ledger of one clean run.
    monkeypatch.undo()
    assert settle_day(store, clock, D1, chunk_accounts=7, batch_accounts=4).accounts == 13
    clean = fresh_sqlite_store(tmp_path / "clean.db", clock)
    add_city(clean, 20)
    for day in (D0, D1):
        add_readings(clean, ids, day)
    settle_range(clean, clock, D0, D1)
    assert snapshot(store) == snapshot(clean)
    clean.dispose()
