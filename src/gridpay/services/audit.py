"""Use case: prove the books. ``gridpay audit`` runs every check and fails naming the accounts.

The report is a list of named checks. A check is any function ``(uow) -> CheckResult``; the
standard ones are in ``CHECKS``, in order, and a new rule (such as "each charge matches its
readings and tariff") is added by appending its function there. All checks of one audit read
one consistent snapshot of the database (``uow.audit.begin_snapshot``).

Re-pricing settled days with the settlement kernel costs about as much as settling them, so the
audit re-prices the last settled day by default and more on request (``days``; None for all).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from gridpay import limits
from gridpay.config import NOMINAL_VOLTAGE_V
from gridpay.domain.ledger import SYSTEM_ACCOUNTS, SYSTEM_LEDGER_BASE
from gridpay.domain.payments import format_account_no
from gridpay.errors import AuditFailed, InvalidInput
from gridpay.ports.clock import Progress
from gridpay.ports.store import Store, UnitOfWork
from gridpay.services.progress import NullProgress
from gridpay.services.settlement import reprice_in

_SYSTEM_CODES = {ledger_id: code for ledger_id, code, _kind in SYSTEM_ACCOUNTS}


@dataclass(frozen=True)
class CheckResult:
    name: str  # stable, for scripts: "cached_balances_match_transfers"
    description: str  # the rule, for people
    ok: bool
    checked: int  # what the rule was checked over (see ``checked_what``)
    checked_what: str  # "ledger accounts", "usage rows", ...
    failed: int  # how many accounts break it (0 when ok)
    accounts: tuple[str, ...] = ()  # the first offending account numbers (or system codes)
    detail: str = ""
    seconds: float = 0.0


AuditCheck = Callable[[UnitOfWork], CheckResult]


@dataclass(frozen=True)
class AuditReport:
    checks: tuple[CheckResult, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed_checks(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def raise_if_failed(self) -> None:
        if self.ok:
            return
        parts = []
        for check in self.failed_checks:
            named = f": {', '.join(check.accounts)}" if check.accounts else ""
            more = " ..." if check.failed > len(check.accounts) and check.accounts else ""
            detail = f" ({check.detail})" if check.detail else ""
            parts.append(f"{check.name} — {check.failed} failing{named}{more}{detail}")
        raise AuditFailed("audit failed: " + "; ".join(parts))


def audit(
    store: Store,
    checks: Sequence[AuditCheck] | None = None,
    *,
    days: int | None = 1,
    progress: Progress | None = None,
    nominal_voltage_v: int = NOMINAL_VOLTAGE_V,
) -> AuditReport:
    """Run ``checks`` over one snapshot; never writes.

    Default checks: ``LEDGER_CHECKS``, ``SETTLEMENT_CHECKS``, then re-pricing the last ``days``
    settled days (all of them if None), with ``progress`` over the days. Re-pricing must use
    the ``nominal_voltage_v`` the settlement used (the setting of that name): the voltage bounds
    a plausible day's energy, so another one quarantines or accepts other readings.
    """
    if days is not None and days < 1:
        raise InvalidInput(f"days must be 1 or more (got {days})")
    if checks is None:
        checks = (
            *LEDGER_CHECKS,
            *SETTLEMENT_CHECKS,
            repricing_check(days, progress or NullProgress(), nominal_voltage_v),
        )
    started = time.perf_counter()
    results = []
    with store.unit_of_work() as uow:
        uow.audit.begin_snapshot()
        for check in checks:
            check_started = time.perf_counter()
            result = check(uow)
            results.append(replace(result, seconds=time.perf_counter() - check_started))
    return AuditReport(checks=tuple(results), seconds=time.perf_counter() - started)


# --- the checks --------------------------------------------------------------------------


def transfers_balanced(uow: UnitOfWork) -> CheckResult:
    failed, ids = uow.audit.unknown_ledger_account_failures(limits.audit_accounts_named_max)
    return _result(
        "transfers_balanced",
        "every transfer debits and credits an existing ledger account, so Σ debits = Σ credits "
        "over all transfers",
        uow.audit.totals().transfers,
        "transfers",
        failed,
        ids,
        "unknown ledger accounts" if failed else "",
    )


def cached_totals_balanced(uow: UnitOfWork) -> CheckResult:
    totals = uow.audit.totals()
    sums = {
        "transfers": totals.transfers_fen,
        "cached debits": totals.debits_posted_fen,
        "cached credits": totals.credits_posted_fen,
    }
    ok = len(set(sums.values())) == 1
    return CheckResult(
        name="cached_totals_balanced",
        description="Σ cached debits = Σ cached credits = Σ transfer amounts",
        ok=ok,
        checked=totals.ledger_accounts,
        checked_what="ledger accounts",
        failed=0 if ok else 1,
        detail="" if ok else "; ".join(f"Σ {k} {v} fen" for k, v in sums.items()),
    )


def cached_balances_match_transfers(uow: UnitOfWork) -> CheckResult:
    failed, ids = uow.audit.cached_balance_failures(limits.audit_accounts_named_max)
    return _result(
        "cached_balances_match_transfers",
        "each ledger account's cached debits and credits equal the sums of its transfers",
        uow.audit.totals().ledger_accounts,
        "ledger accounts",
        failed,
        ids,
    )


def customer_transfers_name_their_account(uow: UnitOfWork) -> CheckResult:
    failed, ids = uow.audit.untagged_customer_transfer_failures(limits.audit_accounts_named_max)
    return _result(
        "customer_transfers_name_their_account",
        "every transfer moving a customer's balance carries that account's id (so statements, "
        "which read by account, see all of them)",
        uow.audit.totals().transfers,
        "transfers",
        failed,
        ids,
    )


def usage_rows_match_charges(uow: UnitOfWork) -> CheckResult:
    failed, ids = uow.audit.usage_charge_failures(limits.audit_accounts_named_max)
    return _result(
        "usage_rows_match_charges",
        "each settled day's charge_fen equals its charge/credit transfers (with any true-ups), "
        "and no charge/credit transfer lacks its settled day",
        uow.audit.totals().usage_rows,
        "usage rows",
        failed,
        ids,
    )


def charge_transfers_well_formed(uow: UnitOfWork) -> CheckResult:
    failed, ids = uow.audit.malformed_charge_failures(limits.audit_accounts_named_max)
    return _result(
        "charge_transfers_well_formed",
        "each charge moves customer -> revenue and each credit revenue -> customer, under its "
        "deterministic id (charge/…, credit/… or trueup/… of its account and day)",
        uow.audit.totals().charge_transfers,
        "charge/credit transfers",
        failed,
        ids,
    )


def ytd_charged_is_cumulative(uow: UnitOfWork) -> CheckResult:
    failed, ids = uow.audit.ytd_charged_failures(limits.audit_accounts_named_max)
    return _result(
        "ytd_charged_is_cumulative",
        "each usage row's ytd_charged_fen = the previous row's (same account and year) + the "
        "day's charge_fen; a year's first row starts again from its own charge",
        uow.audit.totals().usage_rows,
        "usage rows",
        failed,
        ids,
    )


def no_charge_outside_an_agreement(uow: UnitOfWork) -> CheckResult:
    failed, ids = uow.audit.charges_outside_agreement_failures(limits.audit_accounts_named_max)
    return _result(
        "no_charge_outside_an_agreement",
        "revenue keeps no charge for a day outside the account's smart-payment agreements "
        "(before it began, after the day it ended, or on an account that is not direct supply); "
        "a charge found there is undone by its reversal, never edited",
        uow.audit.totals().charge_transfers,
        "charge/credit transfers",
        failed,
        ids,
    )


def only_direct_supply_is_prepaid(uow: UnitOfWork) -> CheckResult:
    failed, ids = uow.audit.prepaid_not_direct_failures(limits.audit_accounts_named_max)
    return _result(
        "only_direct_supply_is_prepaid",
        "no account that is not direct supply is prepaid or has an agreement in force (the "
        "company can neither read nor switch its meter)",
        uow.audit.totals().accounts,
        "accounts",
        failed,
        ids,
    )


def accounts_that_left_are_settled_up(uow: UnitOfWork) -> CheckResult:
    failed, ids = uow.audit.left_not_settled_up_failures(limits.audit_accounts_named_max)
    return _result(
        "accounts_that_left_are_settled_up",
        "an account whose agreement was closed out has a prepaid balance of zero: what was left "
        "went to refunds payable, what was owed to the receivables handed to monthly billing",
        uow.audit.totals().accounts,
        "accounts",
        failed,
        ids,
    )


def charges_match_readings_and_tariff(
    uow: UnitOfWork,
    days: int | None = 1,
    progress: Progress | None = None,
    nominal_voltage_v: int = NOMINAL_VOLTAGE_V,
) -> CheckResult:
    """Re-price the last ``days`` settled days (all if None) with the settlement kernel, at
    the settlement's ``nominal_voltage_v``, and compare with what is stored.

    Each day is re-priced in one set-based pass over all of its accounts (``reprice_in``), and
    costs about as much as settling it; ``progress`` moves once per day.
    """
    progress = progress or NullProgress()
    settled = sorted(uow.audit.settled_days(days))
    failed: set[int] = set()
    bad_days: list[dt.date] = []
    rows = 0
    progress.start("re-pricing settled days", total=len(settled))
    try:
        for day in settled:
            result = reprice_in(uow, day, nominal_voltage_v=nominal_voltage_v)
            rows += result.rows_checked
            failed.update(result.mismatched_account_ids)
            if result.mismatched_account_ids:
                bad_days.append(day)
            progress.advance(1)
    finally:
        progress.finish()
    return _result(
        "charges_match_readings_and_tariff",
        f"the usage rows of the {_days_phrase(days)} (energy, estimate, charge, "
        "year-to-date) are what their readings and tariff give",
        rows,
        _usage_rows_of(settled),
        len(failed),
        sorted(failed)[: limits.audit_accounts_named_max],
        _days_detail(bad_days),
    )


def days_fully_settled(uow: UnitOfWork) -> CheckResult:
    """A day some run began to settle and none finished is half settled: the accounts of its
    unfinished chunks were never charged for it."""
    checked, unfinished = uow.audit.unfinished_run_days()
    named = [
        f"{u.day} (run {u.run_id} {u.status} after {u.accounts:,} accounts)"
        for u in unfinished[: limits.audit_days_named_max]
    ]
    hidden = len(unfinished) - len(named)
    detail = ""
    if unfinished:
        more = f" and {hidden} more" if hidden > 0 else ""
        detail = (
            f"half settled: {', '.join(named)}{more}; settle each again "
            "(gridpay settle --date DAY) to finish it"
        )
    return CheckResult(
        name="days_fully_settled",
        description="every day a settlement run began was finished by a run (none died, was "
        "killed or is still running part way)",
        ok=not unfinished,
        checked=checked,
        checked_what="days with a settlement run",
        failed=len(unfinished),
        detail=detail,
    )


def repricing_check(
    days: int | None, progress: Progress, nominal_voltage_v: int = NOMINAL_VOLTAGE_V
) -> AuditCheck:
    """``charges_match_readings_and_tariff`` over the last ``days`` settled days."""

    def check(uow: UnitOfWork) -> CheckResult:
        return charges_match_readings_and_tariff(uow, days, progress, nominal_voltage_v)

    return check


def _days_phrase(days: int | None) -> str:
    if days is None:
        return "settled days"
    return "last settled day" if days == 1 else f"last {days} settled days"


def _usage_rows_of(settled: Sequence[dt.date]) -> str:
    if not settled:
        return "usage rows (none settled)"
    if len(settled) == 1:
        return f"usage rows of {settled[0]}"
    return f"usage rows of {len(settled)} days, {settled[0]} to {settled[-1]}"


def archived_files_intact(uow: UnitOfWork) -> CheckResult:
    """Each archived month's file, where it is found, has the checksum recorded for it."""
    months = uow.archive.archived_months()
    bad, missing = [], []
    for month in months:
        sha256 = uow.archive.file_sha256(month.path)
        if sha256 is None:
            missing.append(f"{month.month:%Y-%m}")
        elif sha256 != month.sha256:
            bad.append(f"{month.month:%Y-%m}")
    named = limits.audit_days_named_max
    detail = "; ".join(
        filter(
            None,
            [
                f"checksum differs: {', '.join(bad[:named])}" if bad else "",
                f"not found here (not checked): {', '.join(missing[:named])}" if missing else "",
            ],
        )
    )
    return CheckResult(
        name="archived_files_intact",
        description="each archived month's Parquet file found has the sha256 recorded for it",
        ok=not bad,
        checked=len(months) - len(missing),
        checked_what="archive files",
        failed=len(bad),
        detail=detail,
    )


def _days_detail(bad_days: Sequence[dt.date]) -> str:
    if not bad_days:
        return ""
    named = ", ".join(str(d) for d in bad_days[: limits.audit_days_named_max])
    hidden = len(bad_days) - limits.audit_days_named_max
    more = f" and {hidden} more" if hidden > 0 else ""
    return f"on {named}{more}"


# The ledger's own invariants (they hold for any books, however the usage rows were made)...
LEDGER_CHECKS: tuple[AuditCheck, ...] = (
    transfers_balanced,
    cached_totals_balanced,
    cached_balances_match_transfers,
    customer_transfers_name_their_account,
    usage_rows_match_charges,
    charge_transfers_well_formed,
    ytd_charged_is_cumulative,
    no_charge_outside_an_agreement,
    only_direct_supply_is_prepaid,
    accounts_that_left_are_settled_up,
    archived_files_intact,
)
# ...the settlement's own bookkeeping...
SETTLEMENT_CHECKS: tuple[AuditCheck, ...] = (days_fully_settled,)
# ...and every check, including re-pricing the last settled day with the settlement kernel
# (what ``audit`` runs by default; ``audit(days=N)`` re-prices more days).
CHECKS: tuple[AuditCheck, ...] = (
    *LEDGER_CHECKS,
    *SETTLEMENT_CHECKS,
    charges_match_readings_and_tariff,
)


def _result(
    name: str,
    description: str,
    checked: int,
    checked_what: str,
    failed: int,
    ledger_ids: list[int],
    detail: str = "",
) -> CheckResult:
    return CheckResult(
        name=name,
        description=description,
        ok=failed == 0,
        checked=checked,
        checked_what=checked_what,
        failed=failed,
        accounts=tuple(ledger_account_name(i) for i in ledger_ids),
        detail=detail,
    )


def ledger_account_name(ledger_id: int) -> str:
    """A customer's account number, a system account's code, or the bare id if neither."""
    if 0 <= ledger_id < SYSTEM_LEDGER_BASE:
        return format_account_no(ledger_id)
    return _SYSTEM_CODES.get(ledger_id, f"ledger:{ledger_id}")
