"""Ports: what the services need from the world, as Protocols.

The SQL store implements the repositories over one transaction (``UnitOfWork``); tests may use
fakes. Bulk repositories speak Polars frames, because the daily batch is set-based.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Protocol, Self

import polars as pl

from gridpay.domain.calendar import DayKind
from gridpay.domain.commands import CommandResult
from gridpay.domain.credit_policy import CreditPolicy
from gridpay.domain.ledger import Transfer
from gridpay.domain.registry import MeterUse
from gridpay.domain.tariff import Tariff

# A bulk write worked out by a repository ahead of the transaction it goes into, and handed
# back to a repository of the same store to carry out. Opaque to the services; it pickles, so
# another process may prepare it (the settlement's reader).
PreparedWrite = Any


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """An aware datetime in UTC."""
        ...

    def today(self) -> dt.date:
        """Today's date in the utility's time zone (Asia/Shanghai by default)."""
        ...


class Progress(Protocol):
    """Progress on long work: entry points show a bar, tests ignore it."""

    def start(self, description: str, total: int | None) -> None: ...

    def advance(self, steps: int) -> None: ...

    def finish(self) -> None: ...


class RegistryRepo(Protocol):
    """Offices, tariffs, accounts and meters. Frames follow the table's column names."""

    def offices(self) -> dict[int, str]: ...

    def ensure_offices(self, names: list[str]) -> None:
        """Create offices 1..N with these names where missing (existing ones are kept)."""
        ...

    def tariffs(self) -> list[Tariff]: ...

    def tariff_codes(self) -> set[str]: ...

    def save_tariff(self, tariff: Tariff, spec_toml: str, loaded_at: dt.datetime) -> bool:
        """Store a tariff version; False if that (code, effective_from) is already stored."""
        ...

    def account_ids_existing(self, account_ids: pl.Series) -> pl.Series: ...

    def meter_ids_existing(self, meter_ids: pl.Series) -> pl.Series: ...

    def lock_for_registration(self) -> None:
        """Until commit, other registrations (imports, meter replacements) wait for this one."""
        ...

    def registered(
        self, account_ids: pl.Series, meter_ids: pl.Series
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Stored accounts and meters among these ids (``domain.registry.REGISTERED_*``)."""
        ...

    def insert_accounts(self, accounts: pl.DataFrame) -> int:
        """Insert accounts (ids known to be new) and each one's customer ledger account."""
        ...

    def insert_meters(self, meters: pl.DataFrame) -> int: ...

    def bulk_registration(self, new_accounts: int) -> AbstractContextManager[None]:
        """Wraps the inserts of one registration; may make a big one faster (the database's
        checks then run once at the end, still inside the unit of work)."""
        ...

    def account(self, account_id: int) -> dict[str, object] | None: ...

    def meter(self, meter_id: int) -> dict[str, object] | None: ...

    def meters_of(self, account_id: int) -> list[dict[str, object]]:
        """The account's meters, past and present, oldest first."""
        ...

    def meter_use(self, account_id: int, meter_id: int, day: dt.date) -> MeterUse:
        """What stored readings and settlements say about a meter around ``day``."""
        ...

    def remove_meter(self, meter_id: int, removed_on: dt.date, final_wh: int) -> bool:
        """Take a meter out of service; False if it was not in service."""
        ...

    def count_accounts(self, office_id: int | None = None) -> int: ...

    def list_accounts(self, office_id: int | None, limit: int) -> list[dict[str, object]]:
        """account_no, name, office_id, supply_type, billing_mode, tariff_code and meter_no (of
        the meter in service), in account order."""
        ...


class LedgerRepo(Protocol):
    def ensure_system_accounts(self) -> None: ...

    def get_transfer(self, transfer_id: str) -> Transfer | None: ...

    def post(self, transfer: Transfer, created_at: dt.datetime) -> bool:
        """Post one transfer and move both cached balances; False if that id is already posted."""
        ...

    def post_many(self, transfers: pl.DataFrame) -> int:
        """Bulk post (ids known to be new) with relative balance updates."""
        ...

    def prepare_postings(self, transfers: pl.DataFrame) -> PreparedWrite:
        """``post_many`` worked out ahead, outside any transaction (a reader may do it)."""
        ...

    def post_prepared(self, prepared: PreparedWrite) -> int:
        """Carry out a ``prepare_postings`` of a repository of the same store."""
        ...

    def customer_balances(self) -> pl.DataFrame: ...

    def balance_fen(self, ledger_account_id: int) -> int: ...

    def lock_ledger_accounts(self, ledger_account_ids: Sequence[int]) -> None:
        """Hold these accounts' rows until commit, taken in ascending id order.

        A single posting may then read a balance and act on it (a refund up to the balance)
        without another posting changing it in between, and two postings touching the same pair
        of accounts in opposite directions (a payment and a reversal) cannot deadlock.
        """
        ...


class ReadingsRepo(Protocol):
    """Raw readings (one per meter and day, append-only) and the quarantine of rejected rows.

    Frames follow ``domain.readings``: ``READING_SCHEMA`` for readings, ``METER_SCHEMA`` for
    meters, ``SETTLED_SCHEMA`` for settled days.
    """

    def meters_for(
        self, meter_ids: pl.Series, first_day: dt.date, last_day: dt.date
    ) -> pl.DataFrame:
        """The registered meters among ``meter_ids`` (unknown ones are absent). Their
        installed_on / removed_on are null where the meter was in service all of
        [first_day, last_day]."""
        ...

    def stored_readings(self, keys: pl.DataFrame) -> pl.DataFrame:
        """Stored readings for the (day, meter_id) pairs in ``keys``."""
        ...

    def settled_days(self, keys: pl.DataFrame) -> pl.DataFrame:
        """Settled (day, account_id, estimated) for the (day, account_id) pairs in ``keys``."""
        ...

    def pending_trueups_for(self, days: pl.Series) -> pl.DataFrame:
        """(account_id, day) already queued for a true-up on any of ``days``."""
        ...

    def quarantined_rows_of(self, source: str) -> pl.DataFrame:
        """(row_no, raw, reason_code) already quarantined from a file of this name."""
        ...

    def insert_readings(self, readings: pl.DataFrame, source: str, received_at: dt.datetime) -> int:
        """Append raw readings known to be new for their (day, meter). Returns rows stored."""
        ...

    def add_pending_trueups(self, keys: pl.DataFrame, created_at: dt.datetime) -> int:
        """Queue (account_id, day) pairs, known not to be queued yet, for the true-up."""
        ...

    def quarantine(self, rows: pl.DataFrame, source: str, received_at: dt.datetime) -> int:
        """Keep rejected rows: row_no, raw, meter_no, day, total_wh, reason_code, reason."""
        ...

    def quarantine_rows(self, day: dt.date | None, limit: int) -> pl.DataFrame:
        """Quarantined rows for people, newest import first."""
        ...

    def readings_for_day(self, day: dt.date) -> pl.DataFrame:
        """Every raw reading of ``day``: day, meter_id, total_wh, <register>_wh (Int64)."""
        ...


class SettlementRepo(Protocol):
    def start_run(self, day: dt.date, started_at: dt.datetime) -> int: ...

    def add_to_run(self, run_id: int, totals: dict[str, int]) -> None: ...

    def finish_run(
        self, run_id: int, status: str, finished_at: dt.datetime, seconds: float
    ) -> dict[str, Any]: ...

    def runs(self, limit: int) -> list[dict[str, Any]]: ...

    def prepaid_account_count(self) -> int: ...

    def prepaid_account_ids(self) -> pl.Series: ...

    def readings_for_day(self, day: dt.date) -> pl.DataFrame: ...

    def readings_for_meters(self, meter_ids: list[int], day: dt.date) -> pl.DataFrame: ...

    def load_input(self, day: dt.date, lo: int, hi: int) -> pl.DataFrame:
        """``load_state`` with today's readings attached: the kernel's whole input."""
        ...

    def load_state(
        self,
        day: dt.date,
        lo: int,
        hi: int,
        only: list[int] | None = None,
        include_settled: bool = False,
    ) -> pl.DataFrame: ...

    def save_usage(self, usage: pl.DataFrame, run_id: int | None) -> int:
        """Insert usage rows; raises ``Conflict`` if another run settled any of them."""
        ...

    def prepare_usage(self, usage: pl.DataFrame, run_id: int | None) -> PreparedWrite:
        """``save_usage`` worked out ahead, outside any transaction (a reader may do it)."""
        ...

    def save_prepared_usage(self, prepared: PreparedWrite) -> int:
        """Carry out a ``prepare_usage`` of a repository of the same store (``Conflict`` as
        ``save_usage``)."""
        ...

    def quarantine_readings(self, rows: pl.DataFrame, source: str, at: dt.datetime) -> int: ...

    def usage_rows(self, account_ids: list[int], first: dt.date, last: dt.date) -> pl.DataFrame: ...

    def usage_for_day(self, day: dt.date) -> pl.DataFrame: ...

    def delete_usage(self, day: dt.date, account_ids: list[int]) -> None: ...

    def last_settled(self) -> dt.date | None: ...

    def pending_trueups(self) -> pl.DataFrame: ...

    def clear_trueups(self, account_ids: list[int]) -> None: ...


class QueriesRepo(Protocol):
    """Read-only views for people: account summaries, statements. All per account, on indexes.

    A transfer's amount in these frames is signed from the customer's side: + credits the
    prepaid balance (a payment), - debits it (a charge, a refund).
    """

    def usage_between(self, account_id: int, first_day: dt.date, last_day: dt.date) -> pl.DataFrame:
        """Settled days, oldest first: day, energy_wh, charge_fen, ytd_wh, ytd_charged_fen,
        estimated, tariff_code."""
        ...

    def latest_usage(self, account_id: int, first_day: dt.date, last_day: dt.date) -> pl.DataFrame:
        """The newest settled day in the range (zero or one row, columns as ``usage_between``)."""
        ...

    def recent_transfers(self, account_id: int, limit: int) -> pl.DataFrame:
        """The account's newest transfers, newest first: seq, id, kind, day, amount_fen (signed),
        channel, ref, office_id, reverses_id, note, created_at."""
        ...

    def transfers_between(
        self, account_id: int, first_day: dt.date, last_day: dt.date
    ) -> pl.DataFrame:
        """Transfers dated in the range, by day then posting order (columns as above)."""
        ...

    def net_before(self, account_id: int, day: dt.date) -> int:
        """The balance made by the account's transfers dated before ``day``."""
        ...


class AuditRepo(Protocol):
    """Set-based consistency checks over the whole ledger (GROUP BY and joins, no row loops).

    Each ``*_failures`` method returns ``(failed, ids)``: how many distinct ledger accounts fail
    the rule, and the first ``limit`` of their ids in ascending order.
    """

    def begin_snapshot(self) -> None:
        """Make the rest of this unit of work read one consistent snapshot, without blocking
        writers. Call first."""
        ...

    def totals(self) -> dict[str, int]:
        """transfers, transfers_fen, ledger_accounts, debits_posted_fen, credits_posted_fen,
        usage_rows, charge_transfers."""
        ...

    def unknown_ledger_account_failures(self, limit: int) -> tuple[int, list[int]]:
        """Ledger account ids that transfers debit or credit but that do not exist."""
        ...

    def cached_balance_failures(self, limit: int) -> tuple[int, list[int]]:
        """Ledger accounts whose cached debits or credits differ from the sums of transfers."""
        ...

    def untagged_customer_transfer_failures(self, limit: int) -> tuple[int, list[int]]:
        """Customer ledger accounts moved by a transfer whose account_id is not that account."""
        ...

    def usage_charge_failures(self, limit: int) -> tuple[int, list[int]]:
        """Accounts with a settled day whose net charge transfers differ from the usage row's
        charge_fen, or with charge/credit transfers for a day that has no usage row."""
        ...

    def malformed_charge_failures(self, limit: int) -> tuple[int, list[int]]:
        """Accounts with a charge/credit transfer whose id or sides break the settlement rule."""
        ...

    def charges_outside_agreement_failures(self, limit: int) -> tuple[int, list[int]]:
        """Accounts with a day outside every agreement of theirs on which revenue kept a
        charge (charges, credits, true-ups and their reversals do not net to zero)."""
        ...

    def prepaid_not_direct_failures(self, limit: int) -> tuple[int, list[int]]:
        """Accounts prepaid, or with an agreement in force, whose supply is not direct."""
        ...

    def settled_days(self, limit: int | None) -> list[dt.date]:
        """The last ``limit`` days (all if None) that have usage rows, newest first."""
        ...

    def ytd_charged_failures(self, limit: int) -> tuple[int, list[int]]:
        """Accounts whose usage row's ytd_charged_fen is not the previous row's (same year)
        plus the day's charge_fen, or not the day's charge_fen on a year's first row."""
        ...


# --- the smart-payment lifecycle ------------------------------------------------------------


class HolidayCalendar(Protocol):
    """The statutory calendar: which days are holidays and which weekends are worked."""

    def day_kind(self, day: dt.date) -> DayKind:
        """``DayKind.UNKNOWN`` for a year with no published schedule (never raises)."""
        ...


class SmsGateway(Protocol):
    """Sends one text message; raises ``errors.DeliveryFailed`` when the gateway refuses."""

    def send(self, phone: str, body: str, dedupe_key: str) -> None: ...


class HeadEnd(Protocol):
    """The meter head-end: takes commands now, reports their results later."""

    @property
    def name(self) -> str: ...

    def submit(self, correlation_id: str, meter_id: int, action: str, at: dt.datetime) -> None:
        """Hand a command over; raises ``errors.DeliveryFailed`` if the head-end refuses it."""
        ...

    def results(self, now: dt.datetime) -> list[CommandResult]:
        """Results that have arrived by ``now`` and were not reported before."""
        ...


class EnrolmentRepo(Protocol):
    """Smart-payment agreements, notification contacts and protected customers.

    An agreement row is a dict of the ``enrolments`` table's columns (id, account_id,
    enrolled_on, enrolled_at, channel, office_id, left_on, left_at).
    """

    def open_enrolment(self, account_id: int) -> dict[str, Any] | None:
        """The agreement in force, if any."""
        ...

    def latest_enrolment(self, account_id: int) -> dict[str, Any] | None:
        """The newest agreement, in force or ended (None if the account never enrolled)."""
        ...

    def add_enrolment(
        self, account_id: int, day: dt.date, at: dt.datetime, channel: str, office_id: int | None
    ) -> int | None:
        """The new agreement's id; None (nothing written) if one is already in force."""
        ...

    def close_enrolment(self, account_id: int, day: dt.date, at: dt.datetime) -> bool:
        """End the agreement in force; False if there was none (e.g. a concurrent leave)."""
        ...

    def first_settled_day(self, account_id: int) -> dt.date | None:
        """The account's first day with a usage row (None: never settled)."""
        ...

    def add_imported_enrolments(self, accounts: pl.DataFrame, day: dt.date, at: dt.datetime) -> int:
        """Agreements from ``day`` for newly registered prepaid accounts (id, office_id),
        channel ``import``; rows added."""
        ...

    def set_billing_mode(self, account_id: int, billing_mode: str) -> None: ...

    def add_contact(
        self,
        account_id: int,
        phone: str,
        role: str,
        language: str,
        name: str | None,
        at: dt.datetime,
    ) -> bool:
        """False if this phone is already a contact of the account."""
        ...

    def contacts(self, account_id: int) -> list[dict[str, Any]]:
        """phone, role, language, name, added_at; customer first, then by when added."""
        ...

    def set_protection(
        self, account_id: int, reason: str | None, note: str | None, at: dt.datetime
    ) -> None:
        """Flag (or, with ``reason=None``, unflag) a protected customer."""
        ...

    def protection(self, account_id: int) -> dict[str, Any] | None:
        """reason, note, noted_at; None if the customer is not protected."""
        ...

    def supply(self, account_id: int) -> tuple[str, int]:
        """(supply as the meter last confirmed it, credit cycle); ('on', 0) with no state yet."""
        ...

    def report(self, first_day: dt.date, last_day: dt.date) -> pl.DataFrame:
        """Per office and day of the drive, then overall: ``domain.enrolment.PROGRESS_SCHEMA``."""
        ...

    def first_enrolled_on(self) -> dt.date | None:
        """The day the first agreement on record was signed (the drive's first day, by default)."""
        ...


class CreditRepo(Protocol):
    """The credit policy's state per account, its decisions, and the staff queue.

    Frames follow ``domain.credit_policy`` (``INPUT_SCHEMA``, ``STATE_SCHEMA``,
    ``DECISION_SCHEMA``, ``TASK_SCHEMA``).
    """

    def ensure_states(self, account_ids: Sequence[int], at: dt.datetime) -> int:
        """Give these accounts a credit state where they have none (normal, cycle 0, on)."""
        ...

    def screen(
        self, day: dt.date | None, policy: CreditPolicy, *, in_debt_only: bool = False
    ) -> pl.DataFrame:
        """Prepaid accounts that may be near a threshold (a superset, filtered set-based):
        account_id, balance_fen, window_charge_fen, window_days (of ``day``'s usage row),
        state, cycle. ``in_debt_only``: only accounts not in the normal state."""
        ...

    def lock_states(self, account_ids: Sequence[int]) -> None:
        """Hold these accounts' credit states until commit, in id order."""
        ...

    def policy_inputs(self, day: dt.date | None, account_ids: Sequence[int]) -> pl.DataFrame:
        """``INPUT_SCHEMA`` rows for these prepaid accounts (``estimated_recent`` null)."""
        ...

    def estimated_since(self, first_days: Mapping[int, dt.date]) -> set[int]:
        """The accounts among ``first_days`` (account_id -> day) with a day settled on an
        estimate on or after their own first day."""
        ...

    def recipients(self, account_ids: Sequence[int]) -> pl.DataFrame:
        """account_id, phone, language, role (customer | trusted), account_no, name."""
        ...

    def save_states(self, states: pl.DataFrame) -> int:
        """Upsert whole ``STATE_SCHEMA`` rows (under ``lock_states``)."""
        ...

    def add_decisions(self, decisions: pl.DataFrame) -> int:
        """Append decisions whose key is new; returns rows added."""
        ...

    def add_staff_tasks(self, tasks: pl.DataFrame) -> int:
        """Append staff tasks (key, account_id, kind, reason, created_at) whose key is new."""
        ...

    def confirm_supply(self, account_id: int, supply: str, at: dt.datetime) -> None:
        """The meter confirmed supply ``on`` or ``off``: the state follows."""
        ...

    def state_of(self, account_id: int) -> dict[str, Any] | None: ...

    def decisions(self, account_id: int, limit: int) -> pl.DataFrame:
        """Newest first: at, action, reason_code, reason."""
        ...

    def latest_decisions(
        self, account_ids: Sequence[int], since: dt.datetime
    ) -> list[dict[str, Any]]:
        """Each account's newest decision if made at or after ``since`` (account_id, at,
        action, reason_code), by account."""
        ...

    def staff_tasks(self, open_only: bool, limit: int) -> pl.DataFrame: ...

    def state_counts(self) -> dict[str, int]: ...


class OutboxRepo(Protocol):
    """Messages written in the same transaction as the change that causes them."""

    def add(self, messages: pl.DataFrame) -> int:
        """Append messages (dedupe_key, account_id, phone, language, kind, body, created_at);
        a dedupe key already present is skipped. Returns rows added."""
        ...

    def due(self, now: dt.datetime, limit: int) -> list[dict[str, Any]]:
        """Pending messages whose next attempt is due, oldest first (a worker's batch, as rows:
        the columns of ``list``)."""
        ...

    def mark_sent(self, message_ids: Sequence[int], at: dt.datetime) -> int:
        """The gateway took these messages; returns how many were still pending (the others
        are left as they are)."""
        ...

    def mark_attempt_failed(
        self, message_id: int, error: str, next_attempt_at: dt.datetime | None
    ) -> None:
        """Count a failed attempt; ``next_attempt_at=None`` gives up (status failed)."""
        ...

    def list(
        self, account_id: int | None, status: str | None, kind: str | None, limit: int
    ) -> pl.DataFrame: ...


class CommandsRepo(Protocol):
    """Remote disconnect / reconnect commands and their states (``domain.commands``).

    Commands (frames, or rows as dicts for the dispatcher's small batches) have the table's
    columns: id, correlation_id, account_id, meter_id, action, priority, state, attempts,
    created_at, next_attempt_at, sent_at, finished_at, head_end, last_error (instants aware,
    UTC). The methods that pick commands to work on
    (``due``, ``sent_before``, ``get``) hold them until commit on PostgreSQL, skipping those
    another dispatcher holds; SQLite has one writer anyway.
    """

    def enqueue(self, commands: pl.DataFrame) -> int:
        """Append commands (correlation_id, account_id, meter_id, action, priority, created_at)
        as queued; a correlation id already present is skipped. Returns rows added."""
        ...

    def cancel_queued(self, account_id: int, action: str, at: dt.datetime) -> int:
        """Cancel the account's queued (not yet sent, or waiting for a retry) commands of this
        action; commands already sent are left alone. Returns how many were cancelled."""
        ...

    def anything_to_do(self, now: dt.datetime, deadline: dt.datetime) -> bool:
        """Whether ``due(now, ...)`` or ``sent_before(deadline, ...)`` would find a command
        (a cheap look before a dispatch pass; nothing is held)."""
        ...

    def due(self, now: dt.datetime, limit: int) -> list[dict[str, Any]]:
        """Queued commands whose next attempt is due (or unset), by priority then age."""
        ...

    def sent_before(self, deadline: dt.datetime, limit: int) -> list[dict[str, Any]]:
        """Commands sent before ``deadline`` and still unanswered (to time out), oldest first."""
        ...

    def get(self, correlation_id: str) -> dict[str, Any] | None:
        """One command's row (to decide what its result means), or None if unknown."""
        ...

    def mark_sent(self, command_id: int, at: dt.datetime, head_end: str) -> None:
        """A queued command was handed to ``head_end``: sent, one more attempt."""
        ...

    def finish(
        self, correlation_id: str, state: str, at: dt.datetime, error: str | None
    ) -> dict[str, Any] | None:
        """Move a sent command to a final state; the command's row, or None if unknown or
        already final (a late or repeated result). An acknowledgement is also taken for a
        command waiting for a retry: an earlier attempt did reach the meter."""
        ...

    def retry_later(self, command_id: int, next_attempt_at: dt.datetime, error: str) -> None:
        """A sent command failed or timed out: queued again, not before ``next_attempt_at``."""
        ...

    def postpone(self, command_id: int, next_attempt_at: dt.datetime) -> None:
        """A queued command may not go out yet (a cut outside its window): not before then."""
        ...

    def list(self, account_id: int | None, state: str | None, limit: int) -> pl.DataFrame:
        """Commands, newest first."""
        ...


class UnitOfWork(Protocol):
    @property
    def registry(self) -> RegistryRepo: ...

    @property
    def ledger(self) -> LedgerRepo: ...

    @property
    def readings(self) -> ReadingsRepo: ...

    @property
    def settlement(self) -> SettlementRepo: ...

    @property
    def queries(self) -> QueriesRepo: ...

    @property
    def audit(self) -> AuditRepo: ...

    @property
    def enrolment(self) -> EnrolmentRepo: ...

    @property
    def credit(self) -> CreditRepo: ...

    @property
    def outbox(self) -> OutboxRepo: ...

    @property
    def commands(self) -> CommandsRepo: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def lock_settlement(self, *, shared: bool) -> None:
        """Serialize with settlement chunks: exclusive for a chunk, shared for an import."""
        ...

    def defer_checkpoint(self) -> None:
        """Leave this transaction's log for a later ``Store.checkpoint`` (a big write)."""
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class Store(Protocol):
    """A database: hands out units of work (one transaction each)."""

    @property
    def dialect(self) -> str: ...

    def unit_of_work(self) -> UnitOfWork: ...

    def reader(self) -> UnitOfWork:
        """A unit of work that only reads, beside the writers (never committed)."""
        ...

    def migrate(self) -> None: ...

    def let_other_writers_in(self) -> None:
        """Called between long write transactions (settlement chunks)."""
        ...

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database, beside any writer (may be a no-op)."""
        ...

    def opener(self) -> Callable[[], Store] | None:
        """A picklable function that opens this same database again in another process (a
        settlement's reader), or None when it cannot be reached from another process."""
        ...


class TariffSource(Protocol):
    def shipped(self) -> Sequence[tuple[Tariff, str]]: ...
