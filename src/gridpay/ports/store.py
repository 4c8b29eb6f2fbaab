"""A database and its units of work: one transaction each, holding every repository."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from gridpay.ports.account_changes import AccountChangesRepo
from gridpay.ports.archive import ArchiveRepo
from gridpay.ports.audit import AuditRepo
from gridpay.ports.commands import CommandsRepo
from gridpay.ports.console import ConsoleRepo
from gridpay.ports.credit import CreditRepo
from gridpay.ports.enrolment import EnrolmentRepo
from gridpay.ports.household import HouseholdRepo
from gridpay.ports.housekeeping import HousekeepingRepo
from gridpay.ports.leaving import LeavingRepo
from gridpay.ports.ledger import LedgerRepo
from gridpay.ports.outbox import OutboxRepo
from gridpay.ports.partners import PartnersRepo
from gridpay.ports.payments_online import WalletOrdersRepo
from gridpay.ports.queries import QueriesRepo
from gridpay.ports.readings import ReadingsRepo
from gridpay.ports.registry import RegistryRepo
from gridpay.ports.settlement import SettlementRepo
from gridpay.ports.staff import AuditLogRepo, StaffRepo


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
    def leaving(self) -> LeavingRepo: ...

    @property
    def credit(self) -> CreditRepo: ...

    @property
    def outbox(self) -> OutboxRepo: ...

    @property
    def commands(self) -> CommandsRepo: ...

    @property
    def account_changes(self) -> AccountChangesRepo: ...

    @property
    def archive(self) -> ArchiveRepo: ...

    @property
    def staff(self) -> StaffRepo: ...

    @property
    def audit_log(self) -> AuditLogRepo: ...

    @property
    def console(self) -> ConsoleRepo: ...

    @property
    def household(self) -> HouseholdRepo: ...

    @property
    def partners(self) -> PartnersRepo: ...

    @property
    def wallet(self) -> WalletOrdersRepo: ...

    @property
    def housekeeping(self) -> HousekeepingRepo: ...

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
