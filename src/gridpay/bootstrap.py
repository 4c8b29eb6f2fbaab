"""The composition root: the one place where adapters are chosen and wired to services."""

from __future__ import annotations

from dataclasses import dataclass

from gridpay.adapters.clock import SystemClock
from gridpay.adapters.sql.store import SqlStore
from gridpay.config import Settings, load_settings
from gridpay.ports import Clock


@dataclass
class App:
    settings: Settings
    store: SqlStore
    clock: Clock

    def close(self) -> None:
        self.store.dispose()


def build(
    settings: Settings | None = None,
    *,
    db: str | None = None,
    clock: Clock | None = None,
) -> App:
    settings = settings or load_settings(db=db)
    return App(
        settings=settings,
        store=SqlStore(settings.database_url),
        clock=clock or SystemClock(settings.time_zone),
    )
