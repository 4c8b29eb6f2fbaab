"""The settlement's reader: a chunk's batches, each loaded and priced while the one before is
written.

A chunk of accounts is settled in batches through a two-stage pipeline. The reader, on a
connection of its own (``Store.reader()``), loads a batch's state and readings and prices it,
while the chunk's own connection writes the batch before it. The settlement starts the reader
on a chunk only once the chunk holds the settlement lock (SQLite: the chunk's transaction holds
the database's one write lock; PostgreSQL: the advisory lock that readings imports share), so
nothing the reader reads can change before the chunk commits: no other settlement, true-up or
readings import can commit meanwhile, and payments, which can, touch only balances and
transfers, never the state the kernel reads. The chunk's own writes cannot change what the
reader reads either: batches are disjoint account ranges, and a reader never sees uncommitted
rows anyway.

For a big day the reader is a process of its own rather than a thread. SQLite's driver lets go
of the GIL for every row it steps through, so a writer beside a busy reader thread waits for the
GIL once a row: on 550,000 accounts that cost the writes about 2 s (``docs/benchmarks.md``).

What a batch's pricing is belongs to the settlement: it starts the reader with a ``price``
function (``price(store, job, bounds) -> batch``), a module-level function so that a process can
be sent it (and imports its module while it starts, not on its first batch), and hands it jobs
that pickle.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import polars as pl

from gridpay import limits
from gridpay.ports.store import Store

Bounds = tuple[int, int]  # (first, last) account id of a batch
Job = TypeVar("Job")
Batch = TypeVar("Batch")


def batch_bounds(chunk: pl.Series, batch_accounts: int) -> list[Bounds]:
    """(first, last) account id of each batch of a chunk of sorted account ids.

    The first batch is read while nothing is written, so it is small, and the batches grow to
    ``batch_accounts``: each is read while the one before, half its size, is written.
    """
    bounds = []
    offset, size = 0, max(1, batch_accounts // limits.settle_first_batch_divisor)
    while offset < chunk.len():
        last = min(offset + size, chunk.len()) - 1
        bounds.append((int(chunk[offset]), int(chunk[last])))
        offset, size = last + 1, min(size * 2, batch_accounts)
    return bounds


class Reader(Generic[Job, Batch]):
    """Where a chunk's batches after its first are loaded and priced while the one before is
    written: a thread, or for a big day a process of its own.

    The process is started with ``spawn`` (a fork would copy the writer's threads and open
    connections) and takes about a second of the other core to import; until it is up, the
    thread reads. It reads on a connection of its own, as the thread does, so what it may read
    is the same (module doc). If it cannot start, the thread reads the whole day.
    """

    def __init__(
        self,
        price: Callable[[Store, Job, Bounds], Batch],
        thread: ThreadPoolExecutor,
        process: ProcessPoolExecutor | None,
    ) -> None:
        self._price = price
        self._thread = thread
        self._process = process
        self._started = process.submit(_started) if process is not None else None
        self._batches = {"thread": 0, "process": 0}

    @classmethod
    @contextmanager
    def start(
        cls, store: Store, price: Callable[[Store, Job, Bounds], Batch], process: bool
    ) -> Iterator[Reader[Job, Batch]]:
        """A reader that prices batches of ``store`` with ``price``, until the block ends; a
        process starts at once, so that it is up by the time the first chunk's second batch is
        due."""
        opener = store.opener() if process else None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="settle-reader") as thread:
            if opener is None:
                yield cls(price, thread, None)
                return
            with ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_reader_process,
                initargs=(opener, price),
            ) as pool:
                yield cls(price, thread, pool)

    def priced(
        self, store: Store, job: Job, bounds: Sequence[Bounds]
    ) -> Generator[Batch, None, None]:
        """``price(store, job, b)`` for each of ``bounds`` in order, each worked out on the
        reader while the caller works on those before.

        The reader runs up to ``limits.settle_batches_ahead`` batches ahead, so that a batch
        that takes it longer than usual does not keep the writer waiting. It starts on the
        second batch at once, while the first, smaller, is priced here. Close the generator
        (``contextlib.closing``) before the settlement lock is released: closing waits for the
        batches still on the reader, so that it never reads once the lock is gone.
        """
        pending: deque[Future[Batch]] = deque()
        ahead = 1  # the next batch to hand to the reader
        try:
            for i in range(len(bounds)):
                while ahead < len(bounds) and ahead <= i + limits.settle_batches_ahead:
                    pending.append(self._submit(store, job, bounds[ahead]))
                    ahead += 1
                yield self._price(store, job, bounds[0]) if i == 0 else pending.popleft().result()
        finally:
            for future in pending:
                if not future.cancel():
                    future.exception()

    def describe(self) -> str:
        """Which reader read how many batches, for the run's report."""
        parts = [f"{n} on the {where}" for where, n in self._batches.items() if n]
        if self._process is not None and self._started is None:
            parts.append("the process did not start")
        return ", ".join(parts) or "none (each chunk was one batch, read by the writer)"

    def _process_up(self) -> bool:
        if self._started is None or not self._started.done():
            return False
        if self._started.exception() is not None:
            self._started = None  # broken: the thread from now on
            return False
        return True

    def _submit(self, store: Store, job: Job, bounds: Bounds) -> Future[Batch]:
        if self._process is not None and self._process_up():
            self._batches["process"] += 1
            return self._process.submit(_price_in_reader_process, job, bounds)
        self._batches["thread"] += 1
        return self._thread.submit(self._price, store, job, bounds)


# --- inside a reader process -----------------------------------------------------------------

# In a reader process: its own connection to the database, and the pricing it does.
_READER_STORE: list[Store] = []
_READER_PRICE: list[Callable[[Store, Any, Bounds], Any]] = []


def _start_reader_process(
    opener: Callable[[], Store], price: Callable[[Store, Any, Bounds], Any]
) -> None:
    """A reader process's start: open the database and keep the pricing (whose module was
    imported to unpickle it); leave Ctrl-C to the settlement, which stops its reader itself;
    end with the settlement if that is killed.

    At its end the process leaves at once (``os._exit``, the last thing at exit): it holds
    nothing to flush, only a read-only connection, and tearing down Python's modules would keep
    the settlement waiting for it 0.2-0.3 s.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    atexit.register(os._exit, 0)
    parent = multiprocessing.parent_process()
    if parent is not None:
        # Killed outright, the settlement never tells the pool to stop, and the pool's queue
        # stays open in this process: without this the reader would wait on it for ever.
        threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    _READER_STORE.append(opener())
    _READER_PRICE.append(price)


def _end_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()
    os._exit(0)


def _price_in_reader_process(job: Any, bounds: Bounds) -> Any:
    """The pricing in a reader process, on the database it opened at its start."""
    return _READER_PRICE[0](_READER_STORE[0], job, bounds)


def _started() -> None:
    """Nothing: submitted first, so that the reader process starts at once."""
