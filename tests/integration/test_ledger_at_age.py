"""The ledger at age: month partitions made ahead by the night, a settlement across a month
boundary, archived months (their statements and the audit), and migration 0012 with data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from gridpay.adapters.holidays import ChineseHolidayCalendar
from gridpay.adapters.policy_files import shipped_policies
from gridpay.adapters.sql.store import MIGRATIONS_DIR, SqlStore
from gridpay.config import DEFAULT_OFFICES, Settings
from gridpay.domain.ledger import CLEARING_IDS, REVENUE_ID, Channel, Transfer, TransferKind
from gridpay.domain.payments import PaymentRequest, TakePayment, payment_transfer
from gridpay.errors import Conflict, NotFound, Refused
from gridpay.services.archive import archive_month
from gridpay.services.audit import LEDGER_CHECKS, audit
from gridpay.services.credit import Policy
from gridpay.services.night import run_night
from gridpay.services.payments import take_payment
from gridpay.services.queries import Statement, account_show, account_statement
from tests.fakes import FakeClock
from tests.helpers_accounts import (
    add_accounts,
    cli,
    insert_usage_row,
    rows,
    scalar,
    settle_day_by_hand,
)
from tests.integration.settle_helpers import add_city, add_readings

POLICY = Policy(shipped_policies()["henan-default"], ChineseHolidayCalendar(), Settings())
SETTINGS = Settings()
IDS = [1, 2, 3]
A = "0000000001"


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _at(day: dt.date) -> dt.datetime:
    """02:00 UTC of ``day``: 10:00 in Shanghai, so ``day`` is today."""
    return dt.datetime(day.year, day.month, day.day, 2, tzinfo=dt.UTC)


def _live_from(store: SqlStore, clock: FakeClock, first: dt.date, last: dt.date) -> None:
    """The city settled night by night from ``first`` to ``last`` (readings from the day
    before ``first``, which is settled first as the books' start)."""
    add_city(store, len(IDS))
    for day in _days(first - dt.timedelta(days=2), last):
        add_readings(store, IDS, day)
    clock.set(_at(first))
    run_night(store, clock, POLICY, days=[first - dt.timedelta(days=1)], judge=False)
    for day in _days(first, last):
        clock.set(_at(day + dt.timedelta(days=1)))
        run_night(store, clock, POLICY, days=[day], judge=False)


def _charges_by_table(store: SqlStore) -> dict[str, int]:
    found = rows(
        store,
        "SELECT tableoid::regclass::text, count(*) FROM transfers WHERE kind = 'charge' GROUP BY 1",
    )
    return {name: int(n) for name, n in found}


def _partitions(store: SqlStore) -> set[str]:
    found = rows(
        store,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE p.relname = 'transfers' AND pg_table_is_visible(p.oid)",
    )
    return {r[0] for r in found}


def _lines(statement: Statement) -> list[tuple[Any, ...]]:
    return [(x.day, x.transfer_id, x.amount_fen, x.balance_fen) for x in statement.lines]


def test_the_night_makes_the_months_ahead_and_a_settlement_across_a_month_boundary_uses_them(
    store: SqlStore, clock: FakeClock
) -> None:
    _live_from(store, clock, dt.date(2026, 11, 29), dt.date(2026, 12, 2))
    if store.dialect == "postgresql":
        # The night of 2 December made room through early February, each month its partition.
        assert {"transfers_p202611", "transfers_p202612", "transfers_p202701"} <= _partitions(store)
        assert "transfers_p202702" in _partitions(store)
        assert _charges_by_table(store) == {
            "transfers_p202611": 3 * len(IDS),  # 28, 29, 30 November
            "transfers_p202612": 2 * len(IDS),
        }
    else:
        with store.unit_of_work() as uow:
            assert uow.ledger.ensure_partitions(dt.date(2026, 12, 1), dt.date(2027, 3, 1)) == []
    november = account_statement(store, A, "2026-11")
    december = account_statement(store, A, "2026-12")
    assert december.opening_balance_fen == november.closing_balance_fen
    assert [x.day for x in december.lines] == [dt.date(2026, 12, 1), dt.date(2026, 12, 2)]
    assert [x.kind for x in november.lines] == ["charge"] * 3
    view = account_show(store, clock, A)
    assert view.balance_fen == december.closing_balance_fen
    assert view.last_settled_day == dt.date(2026, 12, 2)
    assert [t.day for t in view.recent_transfers][:2] == [dt.date(2026, 12, 2)] * 1 + [
        dt.date(2026, 12, 1)
    ]
    assert audit(store).ok


def test_a_partition_made_late_takes_the_rows_the_default_partition_holds_for_it(
    store: SqlStore, clock: FakeClock
) -> None:
    if store.dialect != "postgresql":
        pytest.skip("partitions are PostgreSQL's")
    add_accounts(store, [1])
    settle_day_by_hand(
        store, 1, dt.date(2030, 5, 3), energy_wh=1, charge_fen=70, ytd_wh=1, ytd_charged_fen=70
    )
    assert _charges_by_table(store) == {"transfers_default": 1}
    with store.unit_of_work() as uow:
        assert uow.ledger.ensure_partitions(dt.date(2030, 5, 1), dt.date(2030, 5, 31)) == [
            "transfers_p203005"
        ]
        uow.commit()
    assert _charges_by_table(store) == {"transfers_p203005": 1}
    assert audit(store, LEDGER_CHECKS).ok


@pytest.fixture
def autumn(store: SqlStore, clock: FakeClock) -> SqlStore:
    """Three households settled from 30 October to 2 December, with November payments."""
    _live_from(store, clock, dt.date(2026, 10, 30), dt.date(2026, 11, 15))
    take_payment(store, clock, SETTINGS, TakePayment(A, "100", "bank", "NOV-1"))
    _more = dt.date(2026, 11, 16)
    for day in _days(_more, dt.date(2026, 12, 2)):
        clock.set(_at(day + dt.timedelta(days=1)))
        run_night(store, clock, POLICY, days=[day], judge=False)
    return store


def test_an_archived_month_reads_its_statement_from_the_file_and_the_audit_proves_the_books(
    autumn: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    before = account_statement(autumn, A, "2026-11")
    december_before = account_statement(autumn, A, "2026-12")
    assert any(x.transfer_id == "pay/bank/NOV-1" for x in before.lines)

    report = archive_month(autumn, clock, "2026-11", tmp_path)

    assert not report.already
    assert report.archived.transfers == 30 * len(IDS) + 1
    assert report.removed == report.archived.transfers
    nov = "day BETWEEN '2026-11-01' AND '2026-11-30'"
    assert scalar(autumn, f"SELECT count(*) FROM transfers WHERE {nov}") == 0
    after = account_statement(autumn, A, "2026-11")
    assert _lines(after) == _lines(before)
    assert (after.opening_balance_fen, after.closing_balance_fen) == (
        before.opening_balance_fen,
        before.closing_balance_fen,
    )
    assert _lines(account_statement(autumn, A, "2026-12")) == _lines(december_before)
    assert account_statement(autumn, A, "2026-10").closing_balance_fen == (
        before.opening_balance_fen
    )
    checks = {c.name: c for c in audit(autumn).checks}
    assert all(c.ok for c in checks.values()), [c for c in checks.values() if not c.ok]
    assert checks["archived_files_intact"].checked == 1

    # Again: nothing more to do, nothing changed.
    again = archive_month(autumn, clock, "2026-11", tmp_path)
    assert again.already and again.removed == 0 and again.archived == report.archived

    # A file that changed is named by the audit; a file not found is not checked.
    Path(report.archived.path).write_bytes(b"not the month")
    checks = {c.name: c for c in audit(autumn, LEDGER_CHECKS).checks}
    assert not checks["archived_files_intact"].ok
    assert "2026-11" in checks["archived_files_intact"].detail
    Path(report.archived.path).unlink()
    assert audit(autumn, LEDGER_CHECKS).ok
    with pytest.raises(NotFound, match="archive file"):
        account_statement(autumn, A, "2026-11")


def test_a_month_is_archived_only_once_it_has_ended_and_is_settled(
    autumn: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    with pytest.raises(Refused, match="has not ended"):
        archive_month(autumn, clock, "2026-12", folder)
    clock.set(_at(dt.date(2027, 1, 5)))
    with pytest.raises(Refused, match="not fully settled"):
        archive_month(autumn, clock, "2026-12", folder)
    assert not folder.exists()


def test_postgresql_can_keep_the_detached_month_as_a_table(
    autumn: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    if autumn.dialect != "postgresql":
        pytest.skip("partitions are PostgreSQL's")
    archive_month(autumn, clock, "2026-10", tmp_path, keep_table=True)
    assert "transfers_p202610" not in _partitions(autumn)
    # 29 October (the books' first day), 30 and 31.
    assert scalar(autumn, "SELECT count(*) FROM transfers_p202610") == 3 * len(IDS)
    assert audit(autumn, LEDGER_CHECKS).ok


# --- migration 0012 -------------------------------------------------------------------------


def test_migration_0012_lays_out_a_ledger_with_data_and_keeps_balances_and_statements(
    db_url: str, clock: FakeClock
) -> None:
    store = SqlStore(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0010")
    with store.unit_of_work() as uow:
        uow.ledger.ensure_system_accounts()
        uow.registry.ensure_offices(list(DEFAULT_OFFICES))
        uow.commit()
    add_accounts(store, [1, 2])
    for n, day in enumerate(_days(dt.date(2026, 10, 28), dt.date(2026, 11, 3))):
        for account_id in (1, 2):
            settle_day_by_hand(
                store,
                account_id,
                day,
                energy_wh=1_000 * (n + 1),
                charge_fen=56 * (n + 1),
                ytd_wh=1_000 * (n + 1) * (n + 2) // 2,
                ytd_charged_fen=56 * (n + 1) * (n + 2) // 2,
            )
    # A payment as the code of that time posted it (before transfer_keys existed).
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_fen, "
                "kind, account_id, day, channel, ref, created_at) VALUES ('pay/bank/OLD', "
                ":bank, 1, 5000, 'payment', 1, :day, 'bank', 'OLD', :at)"
            ),
            {
                "bank": CLEARING_IDS[Channel.BANK],
                "day": dt.date(2026, 10, 30),
                "at": dt.datetime(2026, 10, 30, 2, tzinfo=dt.UTC),
            },
        )
        conn.execute(
            text(
                "UPDATE ledger_accounts SET credits_posted_fen = credits_posted_fen + 5000 "
                "WHERE id = 1"
            )
        )
        conn.execute(
            text(
                "UPDATE ledger_accounts SET debits_posted_fen = debits_posted_fen + 5000 "
                "WHERE code = 'clearing:bank'"
            )
        )
    balances = "SELECT id, debits_posted_fen, credits_posted_fen FROM ledger_accounts ORDER BY id"
    before_balances = rows(store, balances)
    movements = (
        "SELECT day, id, CASE WHEN credit_account_id = 1 THEN amount_fen ELSE -amount_fen END "
        "FROM transfers WHERE account_id = 1 ORDER BY day, seq"
    )
    before = [(str(d), i, a) for d, i, a in rows(store, movements)]
    count = scalar(store, "SELECT count(*) FROM transfers")

    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")

    assert rows(store, balances) == before_balances
    assert scalar(store, "SELECT count(*) FROM transfers") == count
    statements = [account_statement(store, A, m) for m in ("2026-10", "2026-11")]
    assert [(str(x.day), x.transfer_id, x.amount_fen) for s in statements for x in s.lines] == (
        before
    )
    assert statements[0].opening_balance_fen == 0
    assert statements[1].closing_balance_fen == before_balances[0][2] - before_balances[0][1]
    failing = [c for c in audit(store, LEDGER_CHECKS).checks if not c.ok]
    assert not failing, failing
    if store.dialect == "postgresql":
        assert {"transfers_p202610", "transfers_p202611", "transfers_default"} <= _partitions(store)
        assert _charges_by_table(store) == {"transfers_p202610": 8, "transfers_p202611": 6}
        assert rows(store, "SELECT id FROM transfer_keys") == [("pay/bank/OLD",)]
    else:
        indexes = {r[1] for r in rows(store, "PRAGMA index_list('transfers')")}
        assert "ix_transfers_rare_account_id_seq" in indexes
        assert "ix_transfers_account_id_seq" not in indexes
    # The payment's id is still taken, in every month: a retry posts nothing new, and the same
    # id on another day (another partition) is refused, never posted twice.
    clock.set(_at(dt.date(2026, 10, 30)))
    receipt = take_payment(store, clock, SETTINGS, TakePayment(A, "50", "bank", "OLD"))
    assert receipt.already_recorded and receipt.transfer.id == "pay/bank/OLD"
    clock.set(_at(dt.date(2026, 12, 5)))
    assert take_payment(
        store, clock, SETTINGS, TakePayment(A, "50", "bank", "OLD")
    ).already_recorded
    dated_later = payment_transfer(
        PaymentRequest(1, 5000, Channel.BANK, "OLD", None), dt.date(2026, 12, 5)
    )
    with store.unit_of_work() as uow, pytest.raises(Conflict, match="pay/bank/OLD"):
        uow.ledger.post(dated_later, clock.now())
    assert rows(store, balances) == before_balances
    store.dispose()


def test_the_cli_archives_a_month_and_prints_its_statement_from_the_file(
    autumn: SqlStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GRIDPAY_NOW", "2026-12-03T10:00:00+08:00")
    folder = str(tmp_path / "archive")
    code, before, _ = cli(autumn, monkeypatch, capsys, "statement", A, "--month", "2026-11")
    assert code == 0 and "payment 100.00" in before
    code, out, err = cli(
        autumn, monkeypatch, capsys, "archive", "month", "2026-11", "--folder", folder, "--json"
    )
    assert code == 0, err
    done = json.loads(out)
    assert done["month"] == "2026-11" and done["removed_from_hot"] == done["transfers"]
    assert Path(done["path"]).is_file() and len(done["sha256"]) == 64
    code, after, _ = cli(autumn, monkeypatch, capsys, "statement", A, "--month", "2026-11")
    assert code == 0 and after == before
    code, out, _ = cli(autumn, monkeypatch, capsys, "audit")
    assert code == 0, out


def test_charges_posted_under_the_older_account_first_ids_are_still_read_per_account(
    store: SqlStore, clock: FakeClock
) -> None:
    add_accounts(store, [1])
    day = dt.date(2026, 11, 20)
    old = Transfer(
        id=f"charge/0000000001/{day.isoformat()}",  # the id's form before day-first ids
        debit_account_id=1,
        credit_account_id=REVENUE_ID,
        amount_fen=321,
        kind=TransferKind.CHARGE,
        account_id=1,
        day=day,
    )
    with store.unit_of_work() as uow:
        insert_usage_row(
            uow.conn, 1, day, energy_wh=5_000, charge_fen=321, ytd_wh=5_000, ytd_charged_fen=321
        )
        assert uow.ledger.post(old, clock.now())
        uow.commit()
    settle_day_by_hand(
        store, 1, day + dt.timedelta(days=1), energy_wh=1, charge_fen=7, ytd_wh=5_001,
        ytd_charged_fen=328,
    )  # fmt: skip
    november = account_statement(store, A, "2026-11")
    assert [(x.transfer_id, x.amount_fen) for x in november.lines] == [
        (old.id, -321),
        ("charge/2026-11-21/0000000001", -7),
    ]
    assert account_statement(store, A, "2026-12").opening_balance_fen == -328
    assert [t.id for t in account_show(store, clock, A).recent_transfers] == [
        "charge/2026-11-21/0000000001",
        old.id,
    ]
    assert audit(store, LEDGER_CHECKS).ok
