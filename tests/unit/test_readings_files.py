"""Reading readings files (adapters.bulk_files): CSV and Parquet into text rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from gridpay.adapters.bulk_files import read_readings_file
from gridpay.domain import readings as rules
from gridpay.errors import InvalidInput, NotFound


def write(tmp_path: Path, text: str, name: str = "readings.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_csv_rows_keep_their_row_number_and_raw_text(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "meter_no,date,total_kwh\n202208310002,2026-11-27,1234.56\n202208310003,2026-11-27,7\n",
    )
    file = read_readings_file(path)
    assert file.source == "readings.csv"
    assert file.rows.schema == pl.Schema(rules.RAW_SCHEMA)
    assert file.rows.select("row_no", "raw", "meter_no", "total_kwh").rows() == [
        (1, "202208310002,2026-11-27,1234.56", "202208310002", "1234.56"),
        (2, "202208310003,2026-11-27,7", "202208310003", "7"),
    ]
    assert file.rows["sharp_kwh"].to_list() == [None, None]  # absent optional column


def test_csv_from_a_spreadsheet_with_bom_crlf_semicolons_and_quotes_reads_alike(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        '\ufeff"Meter_No";"Date";"Total_kWh";"Peak_kWh"\r\n"202208310002";2026-11-27; 12.5 ;3\r\n',
    )
    rows = read_readings_file(path).rows
    assert rows.select(*rules.REQUIRED_COLUMNS, "peak_kwh").rows() == [
        ("202208310002", "2026-11-27", "12.5", "3")
    ]


def test_blank_lines_are_skipped_and_row_numbers_stay_those_of_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "meter_no,date,total_kwh\n202208310002,2026-11-27,1\n\n202208310003,2026-11-27,2\n\n",
    )
    assert read_readings_file(path).rows["row_no"].to_list() == [1, 3]


def test_a_row_with_the_wrong_number_of_fields_is_kept_with_its_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "meter_no,date,total_kwh\n202208310002,2026-11-27,1,9\n202208310003\n202208310004,2026-11-27,3\n",
    )
    rows = read_readings_file(path).rows
    assert rows["row_error"].to_list() == [
        "the row has 4 field(s) where the header has 3",
        "the row has 1 field(s) where the header has 3",
        None,
    ]
    assert rows["raw"][1] == "202208310003"


def test_a_file_without_a_required_column_is_refused_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, "meter_no,day,total_kwh\n202208310002,2026-11-27,1\n")
    with pytest.raises(InvalidInput, match=r"lacks column\(s\) date \(found: meter_no, day"):
        read_readings_file(path)


def test_an_empty_file_is_refused_for_lack_of_a_header(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="has no header line"):
        read_readings_file(write(tmp_path, ""))


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        read_readings_file(tmp_path / "nope.csv")


def test_a_header_only_file_has_no_rows(tmp_path: Path) -> None:
    rows = read_readings_file(write(tmp_path, "meter_no,date,total_kwh\n")).rows
    assert rows.height == 0


def test_parquet_with_typed_columns_reads_as_the_same_text_as_csv(tmp_path: Path) -> None:
    path = tmp_path / "readings.parquet"
    pl.DataFrame(
        {
            "meter_no": [202208310002, 12345678],
            "date": [dt.date(2026, 11, 27), dt.date(2026, 11, 27)],
            "total_kwh": [1234.56, 0.1],
            "peak_kwh": [None, 0.05],
        }
    ).write_parquet(path)
    file = read_readings_file(path)
    assert file.source == "readings.parquet"
    assert file.rows.select("row_no", *rules.REQUIRED_COLUMNS, "peak_kwh").rows() == [
        (1, "202208310002", "2026-11-27", "1234.56", None),
        (2, "000012345678", "2026-11-27", "0.1", "0.05"),
    ]
    assert file.rows["raw"][0] == "202208310002,2026-11-27,1234.56,"


def test_parquet_is_recognised_by_its_content_whatever_the_name(tmp_path: Path) -> None:
    path = tmp_path / "readings.dat"
    pl.DataFrame(
        {"meter_no": ["202208310002"], "date": ["2026-11-27"], "total_kwh": ["5.5"]}
    ).write_parquet(path)
    assert read_readings_file(path).rows["total_kwh"].to_list() == ["5.5"]


def test_parquet_without_a_required_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "readings.parquet"
    pl.DataFrame({"meter_no": ["202208310002"], "date": ["2026-11-27"]}).write_parquet(path)
    with pytest.raises(InvalidInput, match=r"lacks column\(s\) total_kwh"):
        read_readings_file(path)


def test_a_broken_parquet_file_is_refused_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "readings.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(InvalidInput, match="cannot read readings file .* as Parquet"):
        read_readings_file(path)
