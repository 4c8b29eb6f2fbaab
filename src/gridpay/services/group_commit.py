"""Group commit: requests arriving together in one process are carried out in one transaction.

A commit costs a log flush (PostgreSQL fsyncs its WAL on every commit) and a turn of the
write lock, and the rows every payment of a channel touches (its clearing account, the
partner's day total) stay locked until it. One commit for the requests that came in while
the previous batch ran makes that cost once per batch instead of once per request.

One writer task per event loop takes whatever is queued (at most ``batch_max``) and runs
``run_batch`` on it in a thread; each request awaits its own outcome. There is no waiting for
a batch to fill: alone, a request goes at once; under load, the queue fills while the
previous batch runs. ``run_batch`` owns the rules and the transaction (``partners.pay_many``):
it answers every request, each refusal kept to its own request; an exception out of it (the
commit failed) fails the whole batch, since nothing of it was written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

Request = TypeVar("Request")
Answer = TypeVar("Answer")

RunBatch = Callable[[Sequence[Request]], Sequence[Answer | Exception]]
Item = TypeVar("Item")


def each_in_savepoint(
    savepoint: Callable[[], AbstractContextManager[object]],
    items: Iterable[Item],
    run_one: Callable[[Item], Answer | Exception],
) -> list[Answer | Exception]:
    """Each item's answer or exception (raised, or returned as its refusal), in order, each
    run in a savepoint of its own inside the caller's transaction: one that raises leaves
    nothing of itself and takes nothing from the others (the caller commits them together)."""
    outcomes: list[Answer | Exception] = []
    for item in items:
        try:
            with savepoint():
                outcomes.append(run_one(item))
        except Exception as exc:  # noqa: BLE001 (its savepoint is undone; the others go on)
            outcomes.append(exc)
    return outcomes


class GroupCommit(Generic[Request, Answer]):
    def __init__(self, run_batch: RunBatch[Request, Answer], batch_max: int) -> None:
        assert batch_max >= 1, batch_max
        self._run_batch = run_batch
        self.batch_max = batch_max
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[Request, asyncio.Future[Answer]]] | None = None
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0  # batches run, and the requests in them: what grouping achieved
        self.requests = 0

    async def submit(self, request: Request) -> Answer:
        """The request's answer, once the batch it joined is committed (or its refusal)."""
        queue = self._queue_of(asyncio.get_running_loop())
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        queue.put_nowait((request, future))
        return await future

    def _queue_of(
        self, loop: asyncio.AbstractEventLoop
    ) -> asyncio.Queue[tuple[Request, asyncio.Future[Answer]]]:
        # A writer per event loop: a test client or a restarted server brings a new loop.
        if (
            self._loop is not loop
            or self._queue is None
            or self._writer is None
            or self._writer.done()
        ):
            self._loop = loop
            self._queue = asyncio.Queue()
            self._writer = loop.create_task(self._write(self._queue))
        return self._queue

    async def _write(self, queue: asyncio.Queue[tuple[Request, asyncio.Future[Answer]]]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < self.batch_max and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                outcomes = await asyncio.to_thread(self._run_batch, [r for r, _ in batch])
            except Exception as exc:  # nothing of the batch was written: each request fails
                outcomes = [exc] * len(batch)
            assert len(outcomes) == len(batch), (len(outcomes), len(batch))
            self.batches += 1
            self.requests += len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # the client went away; its payment stands
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
