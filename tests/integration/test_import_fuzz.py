"""Fuzzing both importers with messy files on SQLite and PostgreSQL at once.

Each example is one generated file: rows built clean or spoilt on purpose (NUL and other control
characters, bidi overrides, digits of other scripts, blanks, impossible dates, fields too many or
too few) and account, meter and reading keys drawn from a small pool so duplicates are common.
The file is imported into every engine. Properties: nothing raises; every row is counted once;
every spoilt row is refused and named by its row number; every clean row whose keys no other row
shares lands; and the engines give the same report and store the same rows.

Each example uses account and meter numbers of its own, so the stores (one per engine, shared by
the examples) never make an earlier example's rows matter to a later one.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridpay.adapters.account_files import read_accounts_csv
from gridpay.adapters.bulk_files import read_readings_file
from gridpay.adapters.sql.store import SqlStore
from gridpay.adapters.tariff_files import shipped_tariffs
from gridpay.config import DEFAULT_OFFICES
from gridpay.services import readings, registry
from gridpay.services.setup import initialize
from tests.conftest import IN_CI, PG_URL, _fresh_pg_schema
from tests.fakes import FakeClock, NullProgress
from tests.integration.test_readings_import import add_meters, rows_of

EXAMPLES = 25
ROWS_MAX = 12
KEYS_PER_FILE = 6  # account (or meter) numbers of one file: few, so they repeat
_example_numbers = itertools.count(1)

# Values that make a row bad whatever the rest holds.
NASTY = ["\x00", "\x1b[2J", "\u202e", "\x85", "\u2028", "\x7f", "\t"]
OTHER_DIGITS = "\u0661\u0662\u0663"  # Arabic-Indic: digits to a regex's \d, not to int()


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[list[SqlStore]]:
    """An initialised SQLite store and, where configured, a PostgreSQL one."""
    clock = FakeClock()
    opened = [SqlStore(f"sqlite:///{tmp_path / 'fuzz.db'}")]
    with _pg_url() as pg_url:
        if pg_url is not None:
            opened.append(SqlStore(pg_url))
        for s in opened:
            initialize(s, clock, DEFAULT_OFFICES, shipped_tariffs())
        try:
            yield opened
        finally:
            for s in opened:
                s.dispose()


def _pg_url() -> _MaybePg:
    return _MaybePg()


class _MaybePg:
    """A fresh PostgreSQL schema if one is configured (CI must have one), else None."""

    def __enter__(self) -> str | None:
        if not PG_URL:
            if IN_CI:
                pytest.fail("CI=true but GRIDPAY_TEST_PG_URL is not set")
            self._schema = None
            return None
        self._schema = _fresh_pg_schema(PG_URL)
        return self._schema.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._schema is not None:
            self._schema.__exit__(None, None, None)


# --- accounts files ----------------------------------------------------------------------------

ACCOUNT_COLUMNS = (
    "account_no,name,phone,language,supply_type,tariff,office,billing_mode,"
    "meter_no,has_tou,has_switch,installed_on,breaker_a,initial_kwh"
)
ACCOUNT_SPOILERS: dict[str, list[str]] = {
    "account_no": ["", "123", "00000000x1", f"000000{OTHER_DIGITS}1", *NASTY],
    "name": ["", " ", "a,b", *(f"Li{c}Na" for c in NASTY)],
    "phone": ["13x", "1" * 40, *(f"139{c}1" for c in NASTY)],
    "office": ["99", "x", "1\x00"],
    "meter_no": ["12", "", f"20220831{OTHER_DIGITS}0", "2022083100\u202e1"],
    "installed_on": ["2024-13-01", "0000-01-01", "2999-01-01", "2024-02-30", "24-1-1"],
    "initial_kwh": ["-1", "1234567", "1e3", "NaN", "\x00"],
    "breaker_a": ["0", "99999", "6O"],
    "language": ["fr", "zh\x00"],
}


@dataclass(frozen=True)
class AccountRow:
    account: int  # index into the file's numbers
    meter: int
    spoilt: tuple[str, str] | None  # (column, value) that makes the row bad
    short: bool  # only the first six fields: required ones missing
    name: str


account_rows = st.builds(
    AccountRow,
    account=st.integers(0, KEYS_PER_FILE - 1),
    meter=st.integers(0, KEYS_PER_FILE - 1),
    spoilt=st.none()
    | st.sampled_from(sorted(ACCOUNT_SPOILERS)).flatmap(
        lambda c: st.tuples(st.just(c), st.sampled_from(ACCOUNT_SPOILERS[c]))
    ),
    short=st.just(False),  # set from ``short_rows``
    name=st.text(
        st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=8,
    ).filter(lambda s: s.strip() and "," not in s and '"' not in s),
)


def _account_line(row: AccountRow, base: int) -> str:
    fields = {
        "account_no": f"{base + row.account:010d}",
        "name": row.name,
        "phone": "13900000001",
        "language": "en",
        "supply_type": "direct",
        "tariff": "henan-residential-tiered",
        "office": "3",
        "billing_mode": "prepaid",
        "meter_no": f"{base + row.meter:012d}",
        "has_tou": "false",
        "has_switch": "true",
        "installed_on": "2024-03-01",
        "breaker_a": "60",
        "initial_kwh": "12.5",
    }
    if row.spoilt is not None:
        column, value = row.spoilt
        fields[column] = value
    values = list(fields.values())
    return ",".join(values[:6] if row.short else values)


@given(
    rows=st.lists(account_rows, min_size=1, max_size=ROWS_MAX),
    short_rows=st.sets(st.integers(0, ROWS_MAX - 1), max_size=2),
)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_accounts_import_never_crashes_names_bad_rows_and_engines_agree(
    stores: list[SqlStore], tmp_path: Path, rows: list[AccountRow], short_rows: set[int]
) -> None:
    rows = [
        AccountRow(r.account, r.meter, r.spoilt, i in short_rows, r.name)
        for i, r in enumerate(rows)
    ]
    base = next(_example_numbers) * 100
    path = tmp_path / f"accounts-{base}.csv"
    lines = [_account_line(r, base) for r in rows]
    path.write_bytes("\n".join([ACCOUNT_COLUMNS, *lines, ""]).encode("utf-8"))
    clock = FakeClock()
    reports = []
    for s in stores:
        raw = read_accounts_csv(path)
        reports.append(registry.import_accounts(s, clock, raw, path.name, NullProgress()))
    first = reports[0]
    assert first.rows == len(rows)
    assert first.added + first.unchanged + first.repeated + first.rejected == first.rows
    named = {p.row_no: p for p in first.problems}
    accounts_n = [r.account for r in rows]
    meters_n = [r.meter for r in rows]
    for i, row in enumerate(rows):
        row_no = i + 2
        if row.spoilt is not None or row.short:
            assert named[row_no].kind in ("invalid", "duplicate"), (row, named.get(row_no))
        elif accounts_n.count(row.account) == 1 and meters_n.count(row.meter) == 1:
            assert row_no not in named, (row, named[row_no])
            assert _registered(stores[0], base + row.account) == row.name.strip()
    for other, s in zip(reports[1:], stores[1:], strict=True):
        assert other == first
        for row in rows:
            assert _registered(s, base + row.account) == _registered(stores[0], base + row.account)


def _registered(store: SqlStore, account_id: int) -> str | None:
    with store.unit_of_work() as uow:
        account = uow.registry.account(account_id)
    return None if account is None else account.name


# --- readings files ----------------------------------------------------------------------------

READING_SPOILERS: dict[str, list[str]] = {
    "meter_no": ["", "12", f"20220831{OTHER_DIGITS}0", "999999999999", *NASTY],
    "date": ["2026-13-01", "0000-01-01", "2999-01-01", "2026-02-30", "", *NASTY],
    "total_kwh": ["", "-1", "1e3", "NaN", "1" * 20, "0.0001", *(f"5{c}5" for c in NASTY)],
    "peak_kwh": ["x", "99999", "\x00"],
}
DAYS = [dt.date(2026, 11, d) for d in (24, 25, 26, 27)]  # the fake clock's today is 11-28


@dataclass(frozen=True)
class ReadingRow:
    meter: int
    day: int
    total_kwh: int
    spoilt: tuple[str, str] | None
    extra_field: bool


reading_rows = st.builds(
    ReadingRow,
    meter=st.integers(0, 3),
    day=st.integers(0, len(DAYS) - 1),
    total_kwh=st.integers(100, 110),
    spoilt=st.none()
    | st.sampled_from(sorted(READING_SPOILERS)).flatmap(
        lambda c: st.tuples(st.just(c), st.sampled_from(READING_SPOILERS[c]))
    ),
    extra_field=st.just(False),  # set from ``extra``
)


def _reading_line(row: ReadingRow, meter_base: int) -> str:
    fields = {
        "meter_no": f"{meter_base + row.meter:012d}",
        "date": DAYS[row.day].isoformat(),
        "total_kwh": str(row.total_kwh),
        "peak_kwh": "",
    }
    if row.spoilt is not None:
        column, value = row.spoilt
        fields[column] = value
    return ",".join([*fields.values(), *(["x"] if row.extra_field else [])])


@given(
    rows=st.lists(reading_rows, min_size=1, max_size=ROWS_MAX),
    extra=st.sets(st.integers(0, ROWS_MAX - 1), max_size=2),
)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_readings_import_never_crashes_names_bad_rows_and_engines_agree(
    stores: list[SqlStore], tmp_path: Path, rows: list[ReadingRow], extra: set[int]
) -> None:
    rows = [
        ReadingRow(r.meter, r.day, r.total_kwh, r.spoilt, i in extra) for i, r in enumerate(rows)
    ]
    meter_base = 300_000_000_000 + next(_example_numbers) * 10
    meters = [meter_base + i for i in range(4)]
    path = tmp_path / f"readings-{meter_base}.csv"
    lines = [_reading_line(r, meter_base) for r in rows]
    path.write_bytes("\n".join(["meter_no,date,total_kwh,peak_kwh", *lines, ""]).encode())
    clock = FakeClock()
    reports, kept = [], []
    for s in stores:
        add_meters(s, meters)
        file = read_readings_file(path)
        reports.append(readings.import_readings(s, clock, file.rows, file.source, NullProgress()))
        kept.append(_kept(s, path.name, meters))
    first = reports[0]
    assert first.rows_read == len(rows)
    assert first.stored + first.duplicates + first.quarantined == len(rows)
    stored, quarantined = kept[0]
    quarantined_rows = {row_no for row_no, _, _ in quarantined}
    keys = [(r.meter, r.day) for r in rows]
    for i, row in enumerate(rows):
        row_no = i + 1
        if row.spoilt is not None or row.extra_field:
            assert row_no in quarantined_rows, row
        elif keys.count((row.meter, row.day)) == 1:
            assert (meter_base + row.meter, DAYS[row.day].isoformat(), row.total_kwh * 1000) in (
                stored
            )
    for other, other_kept in zip(reports[1:], kept[1:], strict=True):
        assert _comparable(other) == _comparable(first)
        assert other_kept == kept[0]


def _comparable(report: readings.ImportReport) -> object:
    return (report.stored, report.duplicates, report.quarantined_by_reason, report.rejected)


def _kept(
    store: SqlStore, source: str, meters: list[int]
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    ids = ", ".join(str(m) for m in meters)
    stored = rows_of(
        store,
        "SELECT meter_id, CAST(day AS TEXT), total_wh FROM readings "
        f"WHERE meter_id IN ({ids}) ORDER BY meter_id, day",
    )
    quarantined = rows_of(
        store,
        "SELECT row_no, reason_code, reason FROM reading_quarantine "
        f"WHERE source = '{source}' ORDER BY row_no",
    )
    return [tuple(r) for r in stored], [tuple(r) for r in quarantined]
