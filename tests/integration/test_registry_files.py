"""Reading account files: whatever is in a row becomes text to check; only unreadable files fail."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gridpay.adapters.account_files import read_accounts_csv
from gridpay.domain.registry import References, flag_file_duplicates, parse_rows
from gridpay.errors import InvalidInput

REFS = References(frozenset({"henan-residential-tiered"}), frozenset({1, 2}), dt.date(2026, 11, 28))
LINE = "0000000001,{name},direct,henan-residential-tiered,1,202208310001,2024-03-01"
HEADER = "account_no,name,supply_type,tariff,office,meter_no,installed_on"


def test_rows_are_text_numbered_as_a_spreadsheet_shows_them(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"{HEADER}\n{LINE.format(name='A')}\n{LINE.format(name='B')}\n")
    frame = read_accounts_csv(path)
    assert frame["row_no"].to_list() == [2, 3]
    assert frame["account_no"].to_list() == ["0000000001", "0000000001"]  # zeros kept


def test_header_names_are_trimmed_and_case_insensitive_and_a_bom_is_dropped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.csv"
    header = "\ufeff" + ", ".join(c.upper() for c in HEADER.split(","))
    path.write_text(f"{header}\n{LINE.format(name='A')}\n", encoding="utf-8")
    assert set(HEADER.split(",")) <= set(read_accounts_csv(path).columns)


def test_quoted_fields_may_hold_commas_and_chinese_text(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"{HEADER}\n{LINE.format(name=chr(34) + '张三, 李四' + chr(34))}\n")
    assert read_accounts_csv(path)["name"].to_list() == ["张三, 李四"]


def test_a_row_with_too_many_or_too_few_fields_is_a_bad_row_not_a_bad_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.csv"
    good = LINE.format(name="A")
    short = "0000000002,B,direct"
    long = (
        LINE.format(name="C")
        .replace("0000000001", "0000000003")
        .replace("202208310001", "202208310003")
    )
    path.write_text(f"{HEADER}\n{good}\n{short}\n{long},surplus\n")
    rows = flag_file_duplicates(parse_rows(read_accounts_csv(path).lazy(), REFS)).collect()
    problems = dict(zip(rows["row_no"], rows["problem"], strict=True))
    assert problems[2] is None
    assert "tariff is missing" in problems[3]
    assert "more fields than the header" in problems[4]


def test_a_header_only_file_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "\n")
    assert read_accounts_csv(path).height == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty: it needs a header row"),
        ("account_no,name\n1,张三\n".encode("gbk"), "not UTF-8 text"),
        (b"account_no,Account_No\n1,2\n", "header repeats column(s) account_no"),
    ],
)
def test_unreadable_files_are_refused_with_a_clear_reason(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message.replace("(", "\\(").replace(")", "\\)")):
        read_accounts_csv(path)


def test_a_missing_file_or_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        read_accounts_csv(tmp_path / "nope.csv")
    with pytest.raises(InvalidInput, match="no such file"):
        read_accounts_csv(tmp_path)
