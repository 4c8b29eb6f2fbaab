"""Progress for services called without anyone watching (tests, the API, child processes)."""

from __future__ import annotations


class NullProgress:
    def start(self, description: str, total: int | None) -> None:
        pass

    def advance(self, steps: int) -> None:
        pass

    def finish(self) -> None:
        pass
