"""A bulk write worked out ahead of the transaction it goes into."""

from __future__ import annotations

from typing import Protocol


class PreparedWrite(Protocol):
    """A bulk write a repository worked out outside any transaction, handed back to a repository
    of the same store to carry out. Opaque to the services beyond its size; it pickles, so
    another process may prepare it (the settlement's reader)."""

    @property
    def rows(self) -> int:
        """How many rows the write inserts."""
        ...
