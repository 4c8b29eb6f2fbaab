"""The import-time reading rules (domain.readings), on small frames, without a database."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from gridpay.domain import readings as rules

TODAY = dt.date(2026, 11, 28)
DAY = dt.date(2026, 11, 27)
METER = "202208310002"
ACCOUNT = 4_100_000_001


def raw_rows(*rows: dict[str, str | None]) -> pl.DataFrame:
    """Text rows as the file adapters give them (row numbers from 1)."""
    records = [
        {
            "row_no": i,
            "raw": ",".join(str(v) for v in row.values()),
            "row_error": row.get("row_error"),
            **{c: row.get(c) for c in rules.FILE_COLUMNS},
        }
        for i, row in enumerate(rows, start=1)
    ]
    return pl.DataFrame(records, schema=rules.RAW_SCHEMA)


def row(**fields: str | None) -> dict[str, str | None]:
    return {"meter_no": METER, "date": DAY.isoformat(), "total_kwh": "1234.56", **fields}


def meters(
    installed_on: dt.date = dt.date(2025, 1, 1), removed_on: dt.date | None = None
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "meter_id": [int(METER)],
            "account_id": [ACCOUNT],
            "installed_on": [installed_on],
            "removed_on": [removed_on],
        },
        schema=rules.METER_SCHEMA,
    )


def stored(total_wh: int, **registers_wh: int) -> pl.DataFrame:
    values = {c: registers_wh.get(c.removesuffix("_wh")) for c in rules.VALUE_COLUMNS}
    values["total_wh"] = total_wh
    return pl.DataFrame(
        [{"day": DAY, "meter_id": int(METER), **values}], schema=rules.READING_SCHEMA
    )


NO_STORED = pl.DataFrame(schema=rules.READING_SCHEMA)


def run_all(
    frame: pl.DataFrame, known: pl.DataFrame | None = None, kept: pl.DataFrame = NO_STORED
) -> pl.DataFrame:
    checked = rules.check_rows(rules.parse_rows(frame), TODAY)
    checked = rules.check_meters(checked, meters() if known is None else known)
    return rules.classify(checked, kept)


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "energy_wh"),
    [
        ("1234.56", 1_234_560),
        ("1234.567", 1_234_567),
        ("0", 0),
        (" 7 ", 7_000),
        ("007.500", 7_500),
        ("12.3400", 12_340),  # trailing zeros beyond three decimals say nothing more
        (".5", 500),
        ("+5", 5_000),
        ("999999999999.999", 999_999_999_999_999),
    ],
)
def test_kwh_text_becomes_exact_wh(text: str, energy_wh: int) -> None:
    parsed = rules.parse_rows(raw_rows(row(total_kwh=text)))
    assert parsed["reason_code"].to_list() == [None]
    assert parsed["total_wh"].to_list() == [energy_wh]


def test_a_good_row_gives_meter_id_day_and_registers_in_wh() -> None:
    parsed = rules.parse_rows(
        raw_rows(
            row(sharp_kwh="1.5", peak_kwh="2", flat_kwh="3.25", valley_kwh=""),
        )
    )
    got = parsed.row(0, named=True)
    assert got["meter_id"] == 202208310002
    assert got["day"] == DAY
    assert (got["sharp_wh"], got["peak_wh"], got["flat_wh"]) == (1_500, 2_000, 3_250)
    assert got["valley_wh"] is None  # an empty register is absent, not zero
    assert got["reason"] is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"meter_no": None}, "meter_no is missing"),
        ({"meter_no": "20220831000"}, "meter_no '20220831000' is not a 12-digit meter number"),
        ({"meter_no": "2022083100AB"}, "meter_no '2022083100AB' is not a 12-digit meter number"),
        ({"date": ""}, "date is missing"),
        ({"date": "2026-02-30"}, "date '2026-02-30' is not a date of the form YYYY-MM-DD"),
        ({"date": "27/11/2026"}, "date '27/11/2026' is not a date of the form YYYY-MM-DD"),
        ({"total_kwh": ""}, "total_kwh is missing"),
        ({"total_kwh": "abc"}, "total_kwh 'abc' is not a number of kWh (like 1234.56)"),
        ({"total_kwh": "1e3"}, "total_kwh '1e3' is not a number of kWh (like 1234.56)"),
        ({"total_kwh": "１２"}, "total_kwh '１２' is not a number of kWh (like 1234.56)"),
        ({"total_kwh": "-5.00"}, "total_kwh '-5.00' is negative"),
        ({"total_kwh": "1.2345"}, "total_kwh '1.2345' has more than 3 decimals"),
        ({"total_kwh": "1000000000000"}, "total_kwh '1000000000000' is too large"),
        ({"peak_kwh": "12,5"}, "peak_kwh '12,5' is not a number of kWh (like 1234.56)"),
        ({"valley_kwh": "-1"}, "valley_kwh '-1' is negative"),
        ({"row_error": "the row has 4 field(s) where the header has 3"}, "the row has 4 field(s)"),
    ],
)
def test_malformed_row_is_rejected_naming_column_and_value(
    fields: dict[str, str | None], reason: str
) -> None:
    parsed = rules.parse_rows(raw_rows(row(**fields)))
    assert parsed["reason_code"].to_list() == ["malformed"]
    assert parsed["reason"][0].startswith(reason)


def test_the_first_problem_of_a_row_is_the_one_reported() -> None:
    parsed = rules.parse_rows(raw_rows(row(meter_no="x", total_kwh="-1")))
    assert parsed["reason"].to_list() == ["meter_no 'x' is not a 12-digit meter number"]


def test_values_that_did_parse_are_kept_on_a_malformed_row() -> None:
    parsed = rules.parse_rows(raw_rows(row(total_kwh="lots")))
    assert parsed["day"].to_list() == [DAY]
    assert parsed["meter_no"].to_list() == [METER]


# --- rules on the row alone ----------------------------------------------------------------------


def test_reading_for_today_passes_and_for_tomorrow_is_a_future_date() -> None:
    tomorrow = TODAY + dt.timedelta(days=1)
    checked = rules.check_rows(
        rules.parse_rows(raw_rows(row(date=TODAY.isoformat()), row(date=tomorrow.isoformat()))),
        TODAY,
    )
    assert checked["reason_code"].to_list() == [None, "future_date"]
    assert checked["reason"][1] == "date 2026-11-29 is in the future (today is 2026-11-28)"


def test_registers_up_to_the_total_pass_and_above_it_are_rejected() -> None:
    checked = rules.check_rows(
        rules.parse_rows(
            raw_rows(
                row(total_kwh="100", sharp_kwh="10", peak_kwh="40", flat_kwh="30", valley_kwh="20"),
                row(total_kwh="100", peak_kwh="60", valley_kwh="40.001"),
                row(total_kwh="100"),
            )
        ),
        TODAY,
    )
    assert checked["reason_code"].to_list() == [None, "registers_exceed_total", None]
    assert checked["reason"][1] == (
        "the time-of-use registers add up to 100.001 kWh, more than the total register 100.000 kWh"
    )


# --- the registry --------------------------------------------------------------------------------


def test_unknown_meter_is_rejected_and_a_known_one_gets_its_account() -> None:
    other = "202208319999"
    checked = rules.check_meters(rules.parse_rows(raw_rows(row(), row(meter_no=other))), meters())
    assert checked["reason_code"].to_list() == [None, "unknown_meter"]
    assert checked["reason"][1] == f"meter {other} is not registered"
    assert checked["account_id"].to_list() == [ACCOUNT, None]


def test_reading_from_the_installation_day_passes_and_before_it_is_rejected() -> None:
    installed_on = DAY
    checked = rules.check_meters(
        rules.parse_rows(raw_rows(row(), row(date="2026-11-26"))), meters(installed_on)
    )
    assert checked["reason_code"].to_list() == [None, "meter_not_installed"]
    assert checked["reason"][1] == (
        f"reading for 2026-11-26 is from before meter {METER} was installed (on 2026-11-27)"
    )


def test_reading_of_the_removal_day_passes_and_after_it_is_rejected() -> None:
    removed_on = dt.date(2026, 11, 26)
    checked = rules.check_meters(
        rules.parse_rows(raw_rows(row(date="2026-11-26"), row())),
        meters(removed_on=removed_on),
    )
    assert checked["reason_code"].to_list() == [None, "meter_removed"]
    assert checked["reason"][1] == (
        f"reading for 2026-11-27 is from after meter {METER} was removed (on 2026-11-26)"
    )


# --- one raw reading per meter and day ------------------------------------------------------------


def test_a_new_reading_is_new() -> None:
    assert run_all(raw_rows(row()))["outcome"].to_list() == ["new"]


def test_the_same_reading_twice_in_a_file_is_stored_once() -> None:
    checked = run_all(raw_rows(row(), row()))
    assert checked["outcome"].to_list() == ["new", "duplicate"]
    assert checked["reason_code"].to_list() == [None, None]


def test_another_total_for_the_same_meter_and_day_in_a_file_conflicts_with_the_first() -> None:
    checked = run_all(raw_rows(row(), row(total_kwh="1300")))
    assert checked["outcome"].to_list() == ["new", "rejected"]
    assert checked["reason_code"].to_list() == [None, "conflicting_reading"]
    assert checked["reason"][1] == (
        f"row 1 of this file already gave meter {METER} 1234.560 kWh on 2026-11-27; "
        "this row gives 1300.000 kWh"
    )


def test_a_reading_equal_to_the_stored_one_is_a_duplicate() -> None:
    checked = run_all(raw_rows(row()), kept=stored(1_234_560))
    assert checked["outcome"].to_list() == ["duplicate"]


def test_a_reading_different_from_the_stored_one_conflicts_and_the_stored_one_stays() -> None:
    checked = run_all(raw_rows(row(total_kwh="1234.57"), row()), kept=stored(1_234_560))
    assert checked["outcome"].to_list() == ["rejected", "duplicate"]
    assert checked["reason"][0] == (
        f"meter {METER} already has 1234.560 kWh for 2026-11-27; this row gives 1234.570 kWh; "
        "the stored one stays"
    )


def test_same_total_with_other_registers_than_stored_is_a_conflict() -> None:
    checked = run_all(raw_rows(row(peak_kwh="10")), kept=stored(1_234_560, peak=9_000))
    assert checked["reason_code"].to_list() == ["conflicting_reading"]
    assert "other time-of-use registers" in checked["reason"][0]


def test_rows_rejected_for_other_reasons_do_not_take_part_in_duplicate_checks() -> None:
    checked = run_all(raw_rows(row(total_kwh="x"), row(total_kwh="1300")))
    assert checked["outcome"].to_list() == ["rejected", "new"]
    assert checked["reason_code"].to_list() == ["malformed", None]


# --- days settled on an estimate -----------------------------------------------------------------


def test_a_new_reading_for_a_day_settled_on_an_estimate_needs_a_trueup() -> None:
    new = pl.DataFrame({"day": [DAY, DAY], "account_id": [ACCOUNT, ACCOUNT + 1]})
    settled = pl.DataFrame(
        {"day": [DAY, DAY], "account_id": [ACCOUNT, ACCOUNT + 1], "estimated": [True, False]},
        schema=rules.SETTLED_SCHEMA,
    )
    needed = rules.trueups_needed(new, settled)
    assert needed.rows() == [(ACCOUNT, DAY)]


def test_two_meters_of_one_account_on_one_estimated_day_queue_one_trueup() -> None:
    new = pl.DataFrame({"day": [DAY, DAY], "account_id": [ACCOUNT, ACCOUNT]})
    settled = pl.DataFrame(
        {"day": [DAY], "account_id": [ACCOUNT], "estimated": [True]},
        schema=rules.SETTLED_SCHEMA,
    )
    assert rules.trueups_needed(new, settled).rows() == [(ACCOUNT, DAY)]


def test_every_row_of_a_big_file_is_parsed_exactly() -> None:
    n = 200_000
    frame = pl.DataFrame(
        {
            "row_no": pl.int_range(1, n + 1, eager=True),
            "meter_no": (pl.int_range(0, n, eager=True) + 202_200_000_000).cast(pl.String),
        }
    ).select(
        "row_no",
        pl.lit("").alias("raw"),
        pl.lit(None, pl.String).alias("row_error"),
        "meter_no",
        pl.lit(DAY.isoformat()).alias("date"),
        pl.lit("12.5").alias("total_kwh"),
        *(pl.lit(None, pl.String).alias(c) for c in rules.REGISTER_COLUMNS),
    )
    checked = rules.check_rows(rules.parse_rows(frame), TODAY)
    assert checked["reason_code"].null_count() == n
    assert checked["total_wh"].sum() == n * 12_500


def test_register_with_more_digits_than_a_meter_has_is_rejected() -> None:
    checked = rules.check_rows(
        rules.parse_rows(
            raw_rows(
                row(total_kwh="999999.999"),
                row(total_kwh="999999999999"),
                row(total_kwh="1000000"),
                row(total_kwh="1200", peak_kwh="1000000"),
            )
        ),
        TODAY,
    )
    assert checked["reason_code"].to_list() == [
        None,
        "register_too_large",
        "register_too_large",
        "register_too_large",
    ]
    assert checked["reason"][1] == (
        "999999999999.000 kWh has more than 6 whole digits: no meter register reaches it"
    )
