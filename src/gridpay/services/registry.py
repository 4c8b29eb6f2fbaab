"""Registry use cases: import accounts, add one, replace a meter, list accounts.

Import and add are the same use case (``register``) over many rows or one: check every row
(``domain.registry``), write the new ones in one transaction, and report the rest by row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from gridpay import limits
from gridpay.domain.registry import (
    COLUMNS,
    EXTRA_FIELDS_COLUMN,
    REQUIRED_COLUMNS,
    BillingMode,
    Meter,
    References,
    ReplaceMeter,
    RowStatus,
    account_no_from_id,
    check_against_registered,
    check_meter_use,
    flag_file_duplicates,
    meter_id_from_no,
    missing_columns,
    new_accounts,
    new_meters,
    parse_rows,
    plan_meter_replacement,
    replacement_already_recorded,
    undecided_ids,
)
from gridpay.errors import Conflict, InvalidInput, NotFound
from gridpay.ports import Clock, Progress, Store
from gridpay.services.progress import NullProgress

# Rows per insert statement batch inside the one transaction: it only sets how often the progress
# bar moves (the whole file still commits or rolls back as one).
INSERT_CHUNK_ROWS = 25_000
LIST_LIMIT_DEFAULT = 50


@dataclass(frozen=True)
class RowProblem:
    row_no: int
    account_no: str | None
    meter_no: str | None
    kind: str  # invalid | duplicate | conflict | repeat
    problem: str


@dataclass(frozen=True)
class ImportReport:
    source: str
    rows: int
    added: int
    unchanged: int  # already registered with the same data
    repeated: int  # exact copies of an earlier row of the file
    rejected: int
    billing_mode_defaulted: int  # added rows that had no billing_mode (so postpaid)
    ignored_columns: tuple[str, ...]
    problems: tuple[RowProblem, ...]  # rejected and repeated rows, by row, the first N

    @property
    def problems_not_shown(self) -> int:
        return self.rejected + self.repeated - len(self.problems)


@dataclass(frozen=True)
class MeterReplaced:
    account_no: str
    removed_meter_no: str
    installed_meter_no: str
    day: dt.date
    already_recorded: bool  # a retry of a replacement already stored: nothing changed


@dataclass(frozen=True)
class AccountListing:
    total: int  # accounts matching the filter
    accounts: list[dict[str, Any]]


def import_accounts(
    store: Store,
    clock: Clock,
    raw: pl.DataFrame,
    source: str,
    progress: Progress | None = None,
) -> ImportReport:
    """Register the rows of an accounts file (text columns + ``row_no``), in one transaction."""
    missing = missing_columns(raw.columns)
    if missing:
        raise InvalidInput(
            f"{source} lacks column(s) {', '.join(missing)} "
            f"(required: {', '.join(REQUIRED_COLUMNS)})"
        )
    return _register(store, clock, raw, source, progress or NullProgress())


def add_account(store: Store, clock: Clock, fields: Mapping[str, str | None]) -> RowStatus:
    """Register one account and its meter (the fields of an import row, as text).

    Returns NEW, or UNCHANGED if it is already registered exactly so; raises ``InvalidInput``
    for a bad field and ``Conflict`` if it clashes with what is registered.
    """
    unknown = sorted(set(fields) - set(COLUMNS))
    assert not unknown, unknown
    raw = pl.DataFrame(
        {"row_no": [1], **{k: [v] for k, v in fields.items()}},
        schema={"row_no": pl.Int64, **{k: pl.String for k in fields}},
    )
    report = import_accounts(store, clock, raw, "account")
    if report.added:
        return RowStatus.NEW
    if report.unchanged:
        return RowStatus.UNCHANGED
    (problem,) = report.problems
    if problem.kind == "conflict":
        raise Conflict(problem.problem)
    raise InvalidInput(problem.problem)


def _register(
    store: Store, clock: Clock, raw: pl.DataFrame, source: str, progress: Progress
) -> ImportReport:
    progress.start(f"accounts from {source}", total=raw.height)
    try:
        with store.unit_of_work() as uow:
            uow.registry.lock_for_registration()
            refs = References(
                tariff_codes=frozenset(uow.registry.tariff_codes()),
                office_ids=frozenset(uow.registry.offices()),
                today=clock.today(),
            )
            # Collected between steps on purpose: chained, Polars evaluates the parsing twice
            # (once per branch of the duplicate check), which doubles the time on a big file.
            parsed = parse_rows(raw.lazy(), refs).collect()
            rows = flag_file_duplicates(parsed.lazy()).collect()
            accounts_db, meters_db = uow.registry.registered(*undecided_ids(rows))
            rows = check_against_registered(
                rows.lazy(), accounts_db.lazy(), meters_db.lazy()
            ).collect()
            accounts = new_accounts(rows, clock.now())
            meters = new_meters(rows)
            progress.advance(rows.height - accounts.height)
            with uow.registry.bulk_registration(accounts.height):
                for start in range(0, accounts.height, INSERT_CHUNK_ROWS):
                    chunk = accounts.slice(start, INSERT_CHUNK_ROWS)
                    # Accounts first: meters and ledger accounts refer to them.
                    uow.registry.insert_accounts(chunk)
                    uow.registry.insert_meters(meters.slice(start, INSERT_CHUNK_ROWS))
                    progress.advance(chunk.height)
            # A prepaid row is an agreement from the day the file is imported: no day before
            # it is charged, and the policy's grace for a new agreement applies (docs).
            prepaid = accounts.filter(pl.col("billing_mode") == BillingMode.PREPAID.value)
            uow.enrolment.add_imported_enrolments(prepaid, clock.today(), clock.now())
            uow.commit()
    finally:
        progress.finish()
    return _report(rows, raw.columns, source)


def _report(rows: pl.DataFrame, columns: list[str], source: str) -> ImportReport:
    counts = rows["status"].value_counts()
    count = dict(zip(counts["status"], counts["count"], strict=True))
    listed = (
        rows.filter(pl.col("problem").is_not_null())
        .sort("row_no")
        .head(limits.import_errors_reported_max)
        .select("row_no", "account_no", "meter_no", "problem_kind", "problem")
    )
    known = {*COLUMNS, EXTRA_FIELDS_COLUMN, "row_no"}
    return ImportReport(
        source=source,
        rows=rows.height,
        added=count.get(RowStatus.NEW.value, 0),
        unchanged=count.get(RowStatus.UNCHANGED.value, 0),
        repeated=count.get(RowStatus.REPEAT.value, 0),
        rejected=count.get(RowStatus.REJECTED.value, 0),
        billing_mode_defaulted=rows.filter(
            (pl.col("status") == RowStatus.NEW.value) & pl.col("billing_mode_defaulted")
        ).height,
        ignored_columns=tuple(c for c in columns if c not in known),
        problems=tuple(RowProblem(*r) for r in listed.iter_rows()),
    )


def replace_meter(store: Store, clock: Clock, cmd: ReplaceMeter) -> MeterReplaced:
    """Take the account's meter out of service on ``cmd.day`` and install the new one."""
    account_no = account_no_from_id(cmd.account_id)
    new_id = meter_id_from_no(cmd.new_meter_no)
    with store.unit_of_work() as uow:
        uow.registry.lock_for_registration()
        if uow.registry.account(cmd.account_id) is None:
            raise NotFound(f"account {account_no} is not registered")
        meters = [_meter(row) for row in uow.registry.meters_of(cmd.account_id)]
        if replacement_already_recorded(cmd, meters):
            removed = next(m for m in meters if m.removed_on == cmd.day)
            return MeterReplaced(account_no, removed.meter_no, cmd.new_meter_no, cmd.day, True)
        elsewhere = uow.registry.meter(new_id)
        if elsewhere is not None and elsewhere["account_id"] != cmd.account_id:
            owner = account_no_from_id(_int(elsewhere["account_id"]))
            raise Conflict(f"meter {cmd.new_meter_no} is already registered to account {owner}")
        plan = plan_meter_replacement(cmd, meters, clock.today())
        use = uow.registry.meter_use(cmd.account_id, plan.removed.id, cmd.day)
        check_meter_use(plan, use)
        assert plan.removed.final_wh is not None
        assert plan.removed.removed_on is not None
        removed_now = uow.registry.remove_meter(
            plan.removed.id, plan.removed.removed_on, plan.removed.final_wh
        )
        assert removed_now, "meter in service changed under the registration lock"
        uow.registry.insert_meters(_meter_frame(plan.installed))
        uow.commit()
    return MeterReplaced(account_no, plan.removed.meter_no, plan.installed.meter_no, cmd.day, False)


def _int(value: object) -> int:
    assert isinstance(value, int), value
    return value


def _meter(row: Mapping[str, Any]) -> Meter:
    return Meter(
        id=int(row["id"]),
        meter_no=str(row["meter_no"]),
        account_id=int(row["account_id"]),
        has_tou=bool(row["has_tou"]),
        has_switch=bool(row["has_switch"]),
        breaker_a=int(row["breaker_a"]),
        installed_on=row["installed_on"],
        initial_wh=int(row["initial_wh"]),
        removed_on=row["removed_on"],
        final_wh=None if row["final_wh"] is None else int(row["final_wh"]),
    )


def _meter_frame(meter: Meter) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [meter.id],
            "meter_no": [meter.meter_no],
            "account_id": [meter.account_id],
            "has_tou": [meter.has_tou],
            "has_switch": [meter.has_switch],
            "breaker_a": [meter.breaker_a],
            "installed_on": [meter.installed_on],
            "initial_wh": [meter.initial_wh],
        },
        schema={
            "id": pl.Int64,
            "meter_no": pl.String,
            "account_id": pl.Int64,
            "has_tou": pl.Boolean,
            "has_switch": pl.Boolean,
            "breaker_a": pl.Int64,
            "installed_on": pl.Date,
            "initial_wh": pl.Int64,
        },
    )


def list_accounts(
    store: Store, office_id: int | None = None, limit: int = LIST_LIMIT_DEFAULT
) -> AccountListing:
    if not 1 <= limit <= limits.page_rows_max:
        raise InvalidInput(f"limit must be from 1 to {limits.page_rows_max}")
    with store.unit_of_work() as uow:
        if office_id is not None and office_id not in uow.registry.offices():
            raise NotFound(f"office {office_id} is not a service office")
        total = uow.registry.count_accounts(office_id)
        rows = uow.registry.list_accounts(office_id, limit)
    return AccountListing(total=total, accounts=rows)
