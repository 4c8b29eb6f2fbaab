"""Registry use cases: import accounts, add one, replace a meter, list accounts.

Import and add are the same use case (``register``) over many rows or one: check every row
(``domain.registry``), write the new ones in one transaction, and report the rest by row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import polars as pl

from gridpay import limits
from gridpay.domain.registry import (
    COLUMNS,
    EXTRA_FIELDS_COLUMN,
    REQUIRED_COLUMNS,
    Account,
    AccountLine,
    BillingMode,
    References,
    ReplaceMeter,
    RowStatus,
    account_no_from_id,
    check_against_registered,
    check_meter_use,
    flag_file_duplicates,
    meter_frame,
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
from gridpay.ports.clock import Clock, Progress
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.progress import NullProgress

# The duplicate and stored-data checks compare rows by account and meter number (window
# expressions over strings). Polars' streaming engine panics on them when the parsed rows come
# in several chunks (a file with both clean and rejected rows); the in-memory engine is correct
# on any file, and these frames are one file's rows, which fit in memory anyway.
GROUPED_CHECKS_ENGINE: Final = "in-memory"


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
    # Added prepaid rows without monthly billing's opening position: their agreements are
    # flagged (``explain`` says so) and priced from the meter's first reading until staff enter
    # it (``enrol --opening-kwh`` or the enrolment drive's file).
    prepaid_without_position: int
    ignored_columns: tuple[str, ...]
    problems: tuple[RowProblem, ...]  # rejected and repeated rows, by row, the first N


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
    accounts: list[AccountLine]


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
            rows = flag_file_duplicates(parsed.lazy()).collect(engine=GROUPED_CHECKS_ENGINE)
            accounts_db, meters_db = uow.registry.registered(*undecided_ids(rows))
            rows = check_against_registered(
                rows.lazy(), accounts_db.lazy(), meters_db.lazy()
            ).collect(engine=GROUPED_CHECKS_ENGINE)
            accounts = new_accounts(rows, clock.now())
            meters = new_meters(rows)
            progress.advance(rows.height - accounts.height)
            with uow.registry.bulk_registration(accounts.height):
                for start in range(0, accounts.height, limits.registry_insert_batch_rows):
                    chunk = accounts.slice(start, limits.registry_insert_batch_rows)
                    # Accounts first: meters and ledger accounts refer to them.
                    uow.registry.insert_accounts(chunk)
                    uow.registry.insert_meters(
                        meters.slice(start, limits.registry_insert_batch_rows)
                    )
                    progress.advance(chunk.height)
            # A prepaid row is an agreement from the day the file is imported: no day before
            # it is charged, and the policy's grace for a new agreement applies (docs).
            prepaid = accounts.filter(pl.col("billing_mode") == BillingMode.PREPAID.value).join(
                rows.select("id", "opening_wh", "opening_ytd_wh").unique("id"),
                on="id",
                how="left",
                validate="1:1",
            )
            # Rows without an opening position are flagged ``missing`` on their agreement (explain
            # says so), with no staff task each: a district's file would flood the queue.
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
        prepaid_without_position=rows.filter(
            (pl.col("status") == RowStatus.NEW.value)
            & (pl.col("billing_mode") == BillingMode.PREPAID.value)
            & pl.col("opening_wh").is_null()
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
        meters = uow.registry.meters_of(cmd.account_id)
        if replacement_already_recorded(cmd, meters):
            removed = next(m for m in meters if m.removed_on == cmd.day)
            return MeterReplaced(account_no, removed.meter_no, cmd.new_meter_no, cmd.day, True)
        elsewhere = uow.registry.meter(new_id)
        if elsewhere is not None and elsewhere.account_id != cmd.account_id:
            owner = account_no_from_id(elsewhere.account_id)
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
        uow.registry.insert_meters(meter_frame([plan.installed]))
        uow.commit()
    return MeterReplaced(account_no, plan.removed.meter_no, plan.installed.meter_no, cmd.day, False)


def existing_account(uow: UnitOfWork, account_id: int) -> Account:
    """The account, or ``NotFound`` for a clerk."""
    account = uow.registry.account(account_id)
    if account is None:
        raise NotFound(f"account {account_no_from_id(account_id)} does not exist")
    return account


def list_accounts(
    store: Store, office_id: int | None = None, limit: int = limits.account_list_rows_default
) -> AccountListing:
    if not 1 <= limit <= limits.page_rows_max:
        raise InvalidInput(f"limit must be from 1 to {limits.page_rows_max}")
    with store.unit_of_work() as uow:
        if office_id is not None and office_id not in uow.registry.offices():
            raise NotFound(f"office {office_id} is not a service office")
        total = uow.registry.count_accounts(office_id)
        rows = uow.registry.list_accounts(office_id, limit)
    return AccountListing(total=total, accounts=rows)
