"""The group commit's queue: requests that arrive while a batch runs go together in the next."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from gridpay.services.group_commit import GroupCommit


def test_requests_queued_during_a_batch_are_joined_and_each_gets_its_own_answer() -> None:
    batches: list[list[int]] = []
    first_running = threading.Event()
    release_first = threading.Event()

    def run_batch(requests: Sequence[int]) -> list[str | Exception]:
        batches.append(list(requests))
        if len(batches) == 1:
            first_running.set()
            release_first.wait(10)
        return [ValueError(f"odd {r}") if r % 2 else f"ok {r}" for r in requests]

    async def main() -> list[str | BaseException]:
        group = GroupCommit(run_batch, batch_max=4)
        first = asyncio.ensure_future(group.submit(0))
        while not first_running.is_set():
            await asyncio.sleep(0.001)
        rest = [asyncio.ensure_future(group.submit(i)) for i in range(1, 7)]
        await asyncio.sleep(0.01)
        release_first.set()
        answers = await asyncio.gather(first, *rest, return_exceptions=True)
        assert (group.batches, group.requests) == (3, 7)
        return answers

    answers = asyncio.run(main())
    assert batches == [[0], [1, 2, 3, 4], [5, 6]]  # at most batch_max, in arrival order
    assert answers[0::2] == ["ok 0", "ok 2", "ok 4", "ok 6"]
    assert [str(a) for a in answers[1::2]] == ["odd 1", "odd 3", "odd 5"]


def test_a_batch_that_fails_as_a_whole_fails_each_request_and_the_next_batch_runs() -> None:
    calls: list[list[int]] = []

    def run_batch(requests: Sequence[int]) -> list[int | Exception]:
        calls.append(list(requests))
        if len(calls) == 1:
            raise ConnectionError("the commit failed")
        return list(requests)

    async def main() -> None:
        group: GroupCommit[int, int] = GroupCommit(run_batch, batch_max=8)
        answers = await asyncio.gather(group.submit(1), group.submit(2), return_exceptions=True)
        assert [type(a) for a in answers] == [ConnectionError, ConnectionError]
        assert await group.submit(3) == 3

    asyncio.run(main())


def test_a_batch_needs_room_for_one_request() -> None:
    with pytest.raises(AssertionError):
        GroupCommit(lambda requests: list(requests), batch_max=0)
