"""Registration rows: every field's rule, duplicates in a file, and clashes with stored data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from gridpay.domain.registry import (
    EXTRA_FIELDS_COLUMN,
    REGISTERED_ACCOUNT_SCHEMA,
    REGISTERED_METER_SCHEMA,
    References,
    RowStatus,
    check_against_registered,
    flag_file_duplicates,
    missing_columns,
    new_accounts,
    new_meters,
    parse_rows,
)

REFS = References(
    tariff_codes=frozenset({"henan-residential-tiered", "henan-residential-shared"}),
    office_ids=frozenset(range(1, 7)),
    today=dt.date(2026, 11, 28),
)

GOOD: dict[str, str | None] = {
    "account_no": "0000000042",
    "name": "张三",
    "phone": "13800000042",
    "language": "zh",
    "supply_type": "direct",
    "tariff": "henan-residential-tiered",
    "office": "3",
    "billing_mode": "prepaid",
    "meter_no": "002022083100",
    "has_tou": "false",
    "has_switch": "true",
    "installed_on": "2024-03-01",
    "breaker_a": "60",
    "initial_kwh": "1234.56",
}


def raw_rows(*rows: dict[str, Any]) -> pl.LazyFrame:
    columns = sorted({k for r in rows for k in r})
    data = {c: [r.get(c) for r in rows] for c in columns}
    data["row_no"] = list(range(2, len(rows) + 2))
    return pl.LazyFrame(data, schema={**{c: pl.String for c in columns}, "row_no": pl.Int64})


def parse(*rows: dict[str, Any]) -> pl.DataFrame:
    return parse_rows(raw_rows(*rows), REFS).collect().sort("row_no")


def decide(*rows: dict[str, Any]) -> pl.DataFrame:
    return flag_file_duplicates(parse_rows(raw_rows(*rows), REFS)).collect().sort("row_no")


def problem_of(**changes: str | None) -> str:
    row = parse({**GOOD, **changes}).row(0, named=True)
    assert row["problem"] is not None, row
    return str(row["problem"])


def test_a_good_row_is_typed_with_ids_from_the_numbers_and_energy_in_wh() -> None:
    row = parse(GOOD).row(0, named=True)
    assert row["problem"] is None
    assert row["id"] == 42
    assert row["account_no"] == "0000000042"
    assert row["meter_id"] == 2022083100
    assert row["meter_no"] == "002022083100"
    assert row["office_id"] == 3
    assert row["tariff_code"] == "henan-residential-tiered"
    assert row["installed_on"] == dt.date(2024, 3, 1)
    assert row["initial_wh"] == 1_234_560
    assert row["has_tou"] is False
    assert row["has_switch"] is True
    assert row["billing_mode_defaulted"] is False


def test_blank_optional_fields_take_their_defaults_and_billing_mode_defaults_to_postpaid() -> None:
    optional = ("phone", "language", "billing_mode", "has_tou", "has_switch", "breaker_a")
    row = parse({**GOOD, **dict.fromkeys(optional, "  "), "initial_kwh": None}).row(0, named=True)
    assert row["problem"] is None
    assert row["phone"] is None
    assert row["language"] == "zh"
    assert row["billing_mode"] == "postpaid"
    assert row["billing_mode_defaulted"] is True
    assert row["has_tou"] is False
    assert row["has_switch"] is True
    assert row["breaker_a"] == 60
    assert row["initial_wh"] == 0


def test_optional_columns_may_be_absent_from_the_file() -> None:
    required = ("account_no", "name", "supply_type", "tariff", "office", "meter_no")
    row = parse({k: GOOD[k] for k in (*required, "installed_on")}).row(0, named=True)
    assert row["problem"] is None
    assert row["billing_mode"] == "postpaid"


def test_missing_required_columns_are_named() -> None:
    assert missing_columns(["account_no", "name"]) == [
        "supply_type",
        "tariff",
        "office",
        "meter_no",
        "installed_on",
    ]


def test_values_are_trimmed_and_case_insensitive_where_they_are_codes() -> None:
    row = parse(
        {
            **GOOD,
            "account_no": " 0000000042 ",
            "language": "EN",
            "supply_type": "Non-Direct",
            "billing_mode": "POSTPAID",  # a non-direct account cannot be prepaid
            "has_tou": "TRUE",
            "has_switch": "0",
        }
    ).row(0, named=True)
    assert row["problem"] is None
    assert row["account_no"] == "0000000042"
    assert (row["language"], row["supply_type"], row["billing_mode"]) == (
        "en",
        "non_direct",
        "postpaid",
    )
    assert (row["has_tou"], row["has_switch"]) == (True, False)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"account_no": "42"}, "account_no '42' is not 10 digits"),
        ({"account_no": "00000000AB"}, "account_no '00000000AB' is not 10 digits"),
        ({"account_no": None}, "account_no '' is not 10 digits"),
        ({"meter_no": "1234567890123"}, "meter_no '1234567890123' is not 12 digits"),
        ({"name": " "}, "name is missing"),
        ({"name": "x" * 201}, "name is longer than 200 characters"),
        ({"phone": "call me"}, "phone 'call me' is not a phone number"),
        ({"language": "fr"}, "language 'fr' is not zh or en"),
        ({"supply_type": None}, "supply_type is missing"),
        ({"supply_type": "shared"}, "supply_type 'shared' is not direct or non_direct"),
        ({"tariff": "henan-gold"}, "tariff 'henan-gold' is not a known tariff code"),
        ({"tariff": None}, "tariff is missing"),
        ({"office": "7"}, "office '7' is not a service office"),
        ({"office": "three"}, "office 'three' is not a service office"),
        ({"billing_mode": "credit"}, "billing_mode 'credit' is not prepaid or postpaid"),
        ({"has_tou": "maybe"}, "has_tou 'maybe' is not true or false"),
        ({"has_switch": "y"}, "has_switch 'y' is not true or false"),
        ({"installed_on": "2024-02-30"}, "installed_on '2024-02-30' is not a date"),
        ({"installed_on": "01/03/2024"}, "installed_on '01/03/2024' is not a date"),
        ({"installed_on": None}, "installed_on '' is not a date"),
        ({"installed_on": "2026-11-29"}, "installed_on 2026-11-29 is in the future"),
        ({"breaker_a": "0"}, "breaker_a '0' is not a whole number of amperes"),
        ({"breaker_a": "63.5"}, "breaker_a '63.5' is not a whole number of amperes"),
        ({"initial_kwh": "-1"}, "initial_kwh '-1' is not a meter reading"),
        ({"initial_kwh": "1.2345"}, "initial_kwh '1.2345' is not a meter reading"),
        ({"initial_kwh": "1234567"}, "initial_kwh '1234567' is not a meter reading"),
    ],
)
def test_each_rule_names_the_field_and_the_bad_value(
    changes: dict[str, str | None], expected: str
) -> None:
    assert expected in problem_of(**changes)


def test_a_row_with_more_fields_than_the_header_is_reported() -> None:
    assert "more fields than the header" in problem_of(**{EXTRA_FIELDS_COLUMN: "surplus"})


def test_every_problem_of_a_row_is_listed_in_column_order() -> None:
    problem = problem_of(account_no="1", office="9", installed_on="soon")
    assert problem == (
        "account_no '1' is not 10 digits; office '9' is not a service office; "
        "installed_on 'soon' is not a date like 2026-06-01"
    )


def test_bad_rows_do_not_stop_good_rows() -> None:
    frame = decide(GOOD, {**GOOD, "account_no": "x", "meter_no": "000000000001"})
    assert frame["status"].to_list() == [None, RowStatus.REJECTED.value]
    assert frame["problem_kind"].to_list() == [None, "invalid"]


# --- duplicates within one file ----------------------------------------------------------------


def test_an_exact_copy_of_a_row_is_a_repeat_and_the_first_is_used() -> None:
    frame = decide(GOOD, {**GOOD, "name": " 张三 "})
    assert frame["status"].to_list() == [None, RowStatus.REPEAT.value]
    assert frame["problem"][1] == "repeats row 2 exactly (that row is used)"


def test_an_account_on_two_rows_with_different_data_rejects_both() -> None:
    frame = decide(GOOD, {**GOOD, "name": "李四"}, {**GOOD, "account_no": "0000000043"})
    assert frame["status"].to_list()[:2] == [RowStatus.REJECTED.value] * 2
    assert frame["problem_kind"].to_list()[:2] == ["duplicate", "duplicate"]
    assert (
        "account_no 0000000042 is on 2 rows of this file with different data (first on row 2)"
        in (frame["problem"][1])
    )


def test_a_meter_on_two_accounts_in_one_file_rejects_both() -> None:
    frame = decide(GOOD, {**GOOD, "account_no": "0000000043"})
    assert frame["status"].to_list() == [RowStatus.REJECTED.value] * 2
    assert "meter_no 002022083100 is on 2 rows" in frame["problem"][0]


def test_rows_without_a_readable_number_are_not_duplicates_of_each_other() -> None:
    bad = {**GOOD, "account_no": "x", "meter_no": "y"}
    frame = decide(bad, {**bad, "name": "other"})
    assert frame["problem_kind"].to_list() == ["invalid", "invalid"]


# --- against what is already registered --------------------------------------------------------


def registered(
    accounts: list[dict[str, Any]], meters: list[dict[str, Any]]
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    return (
        pl.LazyFrame(accounts, schema=REGISTERED_ACCOUNT_SCHEMA),
        pl.LazyFrame(meters, schema=REGISTERED_METER_SCHEMA),
    )


STORED_ACCOUNT = {
    "id": 42,
    "account_no": "0000000042",
    "name": "张三",
    "phone": "13800000042",
    "language": "zh",
    "supply_type": "direct",
    "tariff_code": "henan-residential-tiered",
    "office_id": 3,
    "billing_mode": "prepaid",
}
STORED_METER = {
    "id": 2022083100,
    "meter_no": "002022083100",
    "account_id": 42,
    "has_tou": False,
    "has_switch": True,
    "breaker_a": 60,
    "installed_on": dt.date(2024, 3, 1),
    "removed_on": None,
    "initial_wh": 1_234_560,
    "final_wh": None,
}


def against(
    row: dict[str, Any], accounts: list[dict[str, Any]], meters: list[dict[str, Any]]
) -> dict[str, Any]:
    stored_accounts, stored_meters = registered(accounts, meters)
    rows = flag_file_duplicates(parse_rows(raw_rows(row), REFS))
    return (
        check_against_registered(rows, stored_accounts, stored_meters).collect().row(0, named=True)
    )


def test_a_row_identical_to_the_database_is_unchanged() -> None:
    row = against(GOOD, [STORED_ACCOUNT], [STORED_METER])
    assert row["status"] == RowStatus.UNCHANGED.value
    assert row["problem"] is None


def test_a_row_new_to_the_database_is_new() -> None:
    assert against(GOOD, [], [])["status"] == RowStatus.NEW.value


def test_an_account_stored_with_other_data_is_a_conflict_naming_the_fields() -> None:
    row = against({**GOOD, "name": "李四", "office": "4"}, [STORED_ACCOUNT], [STORED_METER])
    assert row["status"] == RowStatus.REJECTED.value
    assert row["problem_kind"] == "conflict"
    assert row["problem"] == (
        "account_no 0000000042 is already registered with a different name, office_id"
    )


def test_a_meter_stored_with_other_data_is_a_conflict_naming_the_fields() -> None:
    row = against({**GOOD, "has_tou": "true"}, [STORED_ACCOUNT], [STORED_METER])
    assert row["problem"] == "meter_no 002022083100 is already registered with a different has_tou"


def test_a_meter_registered_to_another_account_is_a_conflict() -> None:
    row = against({**GOOD, "account_no": "0000000043"}, [], [STORED_METER])
    assert row["problem"] == "meter_no 002022083100 is already registered to account 0000000042"


def test_a_registered_account_with_a_new_meter_points_to_meter_replacement() -> None:
    row = against({**GOOD, "meter_no": "000000000007"}, [STORED_ACCOUNT], [STORED_METER])
    assert row["problem_kind"] == "conflict"
    assert "already registered with another meter" in row["problem"]
    assert "gridpay meters replace" in row["problem"]


def test_a_removed_meter_still_matches_its_import_row() -> None:
    removed = {**STORED_METER, "removed_on": dt.date(2026, 6, 1), "final_wh": 2_000_000}
    assert against(GOOD, [STORED_ACCOUNT], [removed])["status"] == RowStatus.UNCHANGED.value


def test_new_rows_become_account_and_meter_rows_in_account_order() -> None:
    second = {**GOOD, "account_no": "0000000007", "meter_no": "000000000007"}
    rows = flag_file_duplicates(parse_rows(raw_rows(GOOD, second), REFS))
    stored_accounts, stored_meters = registered([], [])
    decided = check_against_registered(rows, stored_accounts, stored_meters).collect()
    created_at = dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC)
    accounts = new_accounts(decided, created_at)
    meters = new_meters(decided)
    assert accounts["id"].to_list() == [7, 42]
    assert accounts.columns == [
        "id",
        "account_no",
        "name",
        "phone",
        "language",
        "supply_type",
        "tariff_code",
        "office_id",
        "billing_mode",
        "created_at",
    ]
    assert meters["account_id"].to_list() == [7, 42]
    assert meters["id"].to_list() == [7, 2022083100]
    assert meters.row(1, named=True)["initial_wh"] == 1_234_560
