"""SqlCreditRepo's reads for the credit policy (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from gridpay.adapters.sql.store import SqlStore

D = dt.date(2026, 10, 5)


def _usage(store: SqlStore, rows: list[tuple[int, dt.date, bool]]) -> None:
    """Settled days (account_id, day, estimated), the columns the reads look at."""
    with store.unit_of_work() as uow:
        assert uow.conn is not None
        for account_id, day, estimated in rows:
            uow.conn.exec_driver_sql(
                "INSERT INTO daily_usage (day, account_id, meter_id, tariff_code, estimated, "
                "reading_wh, last_real_wh, energy_wh, charge_fen, ytd_wh, ytd_cost_nyuan, "
                "ytd_charged_fen, window_energy_wh, window_charge_fen, window_days) "
                f"VALUES ('{day.isoformat()}', {account_id}, {account_id}, 't', "
                f"{'TRUE' if estimated else 'FALSE'}, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)"
            )
        uow.commit()


def test_estimated_since_looks_from_each_accounts_own_first_day(store: SqlStore) -> None:
    day = dt.timedelta(days=1)
    _usage(
        store,
        [
            (1, D, True),  # on its first day
            (2, D - day, True),  # the day before its first day only
            (2, D, False),
            (3, D + 5 * day, True),  # well after
            (5, D, True),  # not asked about
        ],
    )
    first_days = {1: D, 2: D, 3: D - 4 * day, 4: D - 9 * day}
    with store.unit_of_work() as uow:
        assert uow.credit.estimated_since(first_days) == {1, 3}
        assert uow.credit.estimated_since({2: D - day}) == {2}
        assert uow.credit.estimated_since({}) == set()


def test_latest_decisions_gives_each_accounts_newest_since_an_instant(store: SqlStore) -> None:
    t0 = dt.datetime(2026, 10, 5, 0, 0, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    rows = [
        (1, t0 - hour, "notice"),  # before: not looked at
        (1, t0 + hour, "hold"),
        (1, t0 + 2 * hour, "warn"),  # account 1's newest
        (2, t0 + hour, "hold"),
        (2, t0 + hour, "cut"),  # the same instant, stored later: the newest
        (3, t0 - hour, "hold"),  # nothing since
        (4, t0, "hold"),  # exactly at the instant
    ]
    decisions = pl.DataFrame(
        [
            {
                "key": f"k{i}",
                "account_id": a,
                "at": at,
                "action": action,
                "reason_code": f"code_{action}",
                "reason": "test",
            }
            for i, (a, at, action) in enumerate(rows)
        ],
        schema_overrides={"at": pl.Datetime("us", "UTC")},
    )
    with store.unit_of_work() as uow:
        uow.credit.add_decisions(decisions)
        uow.commit()
    with store.unit_of_work() as uow:
        latest = uow.credit.latest_decisions([4, 3, 2, 1, 9], t0)
    assert [(d.account_id, d.at, d.action, d.reason_code) for d in latest] == [
        (1, t0 + 2 * hour, "warn", "code_warn"),
        (2, t0 + hour, "cut", "code_cut"),
        (4, t0, "hold", "code_hold"),
    ]
    for d in latest:  # as decisions() shows them
        with store.unit_of_work() as uow:
            newest = uow.credit.decisions(d.account_id, 1).row(0, named=True)
        assert (newest["at"], newest["action"]) == (d.at, d.action)
