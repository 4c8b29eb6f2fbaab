"""Create or upgrade a database: schema, system ledger accounts, offices, shipped tariffs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gridpay.domain.tariff import Tariff
from gridpay.ports.clock import Clock
from gridpay.ports.store import Store


@dataclass(frozen=True)
class InitReport:
    offices: int
    tariffs_added: list[str]


def initialize(
    store: Store,
    clock: Clock,
    office_names: Sequence[str],
    tariffs: Sequence[tuple[Tariff, str]],
) -> InitReport:
    store.migrate()
    with store.unit_of_work() as uow:
        uow.ledger.ensure_system_accounts()
        uow.registry.ensure_offices(list(office_names))
        added = [
            f"{t.code}@{t.effective_from}"
            for t, text in tariffs
            if uow.registry.save_tariff(t, text, clock.now())
        ]
        offices = len(uow.registry.offices())
        uow.commit()
    return InitReport(offices=offices, tariffs_added=added)


def load_tariff(store: Store, clock: Clock, tariff: Tariff, text: str) -> bool:
    with store.unit_of_work() as uow:
        added = uow.registry.save_tariff(tariff, text, clock.now())
        uow.commit()
    return added
