"""Migration 0011: settle-ups posted before it are found by their ids and listed for hand-over."""

from __future__ import annotations

import datetime as dt

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from gridpay.adapters.sql.store import MIGRATIONS_DIR, SqlStore
from gridpay.config import DEFAULT_OFFICES
from gridpay.domain.ledger import REFUNDS_ID, customer_ledger_id
from gridpay.services.leaving import handover_rows
from tests.helpers_accounts import add_accounts

LEFT_ON = dt.date(2026, 12, 5)
CLOSED_AT = dt.datetime(2026, 12, 5, 18, tzinfo=dt.UTC)  # 02:00 on 6 December in Shanghai
SETTLED_UP_AT = dt.datetime(2026, 12, 8, 17, tzinfo=dt.UTC)  # 01:00 on 9 December


def test_settle_ups_posted_before_the_migration_are_recorded_and_handed_over(
    db_url: str,
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
    add_accounts(store, [1], billing_mode="postpaid")
    with store.engine.begin() as conn:
        enrolment_id = conn.execute(
            text(
                "INSERT INTO enrolments (account_id, enrolled_on, enrolled_at, channel, office_id,"
                " left_on, left_at) VALUES (1, '2026-12-01', :at, 'office', 1, :l, :at) "
                "RETURNING id"
            ),
            {"at": CLOSED_AT, "l": LEFT_ON},
        ).scalar_one()
        # Closed out with 30.00 yuan refunded, then settled up with 2.50 more.
        conn.execute(
            text(
                "INSERT INTO leavings (enrolment_id, account_id, enrolled_on, left_on, asked_at,"
                " closed_at, closing_wh, closing_estimated, ytd_wh, balance_fen) VALUES "
                "(:e, 1, '2026-12-01', :l, :at, :at, 1000000, true, 500000, 3250)"
            ),
            {"e": enrolment_id, "l": LEFT_ON, "at": CLOSED_AT},
        )
        conn.execute(
            text(
                "INSERT INTO daily_usage (day, account_id, meter_id, tariff_code, estimated, "
                "reading_wh, last_real_day, last_real_wh, energy_wh, charge_fen, ytd_wh, "
                "ytd_cost_nyuan, ytd_charged_fen, window_energy_wh, window_charge_fen, "
                "window_days, starts_run) VALUES (:l, 1, 202208310001, "
                "'henan-residential-tiered', false, 1004000, :l, 1004000, 4000, 224, 504000, 0, "
                "0, 0, 0, 0, true)"
            ),
            {"l": LEFT_ON},
        )
        ref = f"leave-0000000001-{enrolment_id}"
        for suffix, amount_fen, at in (("", 3000, CLOSED_AT), ("-1", 250, SETTLED_UP_AT)):
            conn.execute(
                text(
                    "INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_fen,"
                    " kind, account_id, day, ref, created_at) VALUES "
                    "(:id, :c, :r, :a, 'refund', 1, :l, :ref, :at)"
                ),
                {
                    "id": f"refund/{ref}{suffix}",
                    "c": customer_ledger_id(1),
                    "r": REFUNDS_ID,
                    "a": amount_fen,
                    "l": LEFT_ON,
                    "ref": ref + suffix,
                    "at": at,
                },
            )

    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")

    rows = handover_rows(store, LEFT_ON, LEFT_ON)
    assert [(r.entry.value, r.refunded_fen, r.refund_ref) for r in rows] == [
        ("close_out", 3000, ref),
        ("settle_up", 250, f"{ref}-1"),
    ]
    assert rows[1].entry_day == dt.date(2026, 12, 9)  # the business day in Shanghai
    assert (rows[1].closing_wh, rows[1].closing_estimated) == (1_004_000, False)
    store.engine.dispose()
