"""Head-ends: the simulated one (for tests, demos and benchmarks).

``SimulatedHeadEnd`` takes commands and reports their results after a latency, with configurable
rates of failure (an abnormal reply: the relay did not switch), loss (no answer at all, so the
dispatcher times the command out) and refusal at submission (the head-end is busy). It is driven
only by the instants passed in, never by the wall clock, so a simulated clock can run days in
seconds; and each submission's fate comes from (seed, correlation id, how many times that id was
submitted), so a seed gives the same outcomes whatever order commands are sent in.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from dataclasses import dataclass, field

from gridpay.domain.commands import CommandAction, CommandResult, supply_after
from gridpay.errors import DeliveryFailed, InvalidInput

RELAY_DID_NOT_SWITCH = "abnormal reply from the meter: the relay did not switch"


@dataclass(order=True)
class _Pending:
    due_at: dt.datetime
    seq: int
    correlation_id: str = field(compare=False)
    meter_id: int = field(compare=False)
    action: CommandAction = field(compare=False)
    ok: bool = field(compare=False)


class SimulatedHeadEnd:
    """A head-end and its meters in memory. Every meter starts switched on."""

    def __init__(
        self,
        name: str = "sim",
        seed: int = 0,
        latency_s: tuple[float, float] = (0.5, 5.0),
        failure_rate: float = 0.0,
        timeout_rate: float = 0.0,
        busy_rate: float = 0.0,
    ) -> None:
        low_s, high_s = latency_s
        if not 0 <= low_s <= high_s:
            raise InvalidInput(
                f"latency_s must be (min, max) with 0 <= min <= max, not {latency_s}"
            )
        for label, rate in (
            ("failure_rate", failure_rate),
            ("timeout_rate", timeout_rate),
            ("busy_rate", busy_rate),
        ):
            if not 0 <= rate <= 1:
                raise InvalidInput(f"{label} must be between 0 and 1, not {rate}")
        if failure_rate + timeout_rate > 1:
            raise InvalidInput("failure_rate + timeout_rate must not exceed 1")
        self._name = name
        self.seed = seed
        self.latency_s = (low_s, high_s)
        self.failure_rate = failure_rate
        self.timeout_rate = timeout_rate
        self.busy_rate = busy_rate
        self._pending: list[_Pending] = []
        self._submissions: dict[str, int] = {}
        self._switches: dict[int, str] = {}
        self._seq = 0
        self.submitted = 0  # commands taken (for tests and benchmarks)

    @property
    def name(self) -> str:
        return self._name

    def submit(self, correlation_id: str, meter_id: int, action: str, at: dt.datetime) -> None:
        """Take a command at ``at``; its result arrives after the latency (or never, if lost)."""
        assert at.tzinfo is not None
        command_action = CommandAction(action)
        n = self._submissions.get(correlation_id, 0) + 1
        self._submissions[correlation_id] = n
        rng = random.Random(f"{self.seed}/{correlation_id}/{n}")
        busy, latency, fate = rng.random(), rng.random(), rng.random()
        if busy < self.busy_rate:
            raise DeliveryFailed(f"head-end {self._name} is busy: command {correlation_id} refused")
        self.submitted += 1
        if fate < self.timeout_rate:
            return  # lost on the way: the meter never hears of it and nobody answers
        low_s, high_s = self.latency_s
        due_at = at + dt.timedelta(seconds=low_s + (high_s - low_s) * latency)
        ok = fate >= self.timeout_rate + self.failure_rate
        self._seq += 1
        heapq.heappush(
            self._pending,
            _Pending(due_at, self._seq, correlation_id, meter_id, command_action, ok),
        )

    def results(self, now: dt.datetime) -> list[CommandResult]:
        """Results due by ``now``, oldest first, each reported once; the meters switch here."""
        assert now.tzinfo is not None
        results = []
        while self._pending and self._pending[0].due_at <= now:
            p = heapq.heappop(self._pending)
            if p.ok:
                self._switches[p.meter_id] = supply_after(p.action)
            error = None if p.ok else RELAY_DID_NOT_SWITCH
            results.append(CommandResult(p.correlation_id, p.ok, p.due_at, error))
        return results

    def switch_of(self, meter_id: int) -> str:
        """The meter's relay as the meter itself has it: "on" or "off"."""
        return self._switches.get(meter_id, "on")

    def in_flight(self) -> int:
        """Commands taken whose result has not been reported yet (lost ones excluded)."""
        return len(self._pending)
