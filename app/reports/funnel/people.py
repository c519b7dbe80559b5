"""peopleList of a funnel: FunnelPeople, every person's chain compactly
(cached with the report), and its pages (PeoplePage), ordered by (time, id)."""
from __future__ import annotations

import uuid
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from ..periods import periods_overlapping
from .spec import StepStatus

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


@dataclass
class PeoplePage:
    """One page of peopleList: (person id, time they reached the step — for
    DROPPED the previous step) in order; `end` is the cursor key of the last."""

    people: list[tuple[uuid.UUID, datetime]]
    total: int
    has_next: bool
    end: tuple[int, uuid.UUID] | None


@dataclass
class FunnelPeople:
    """Every person who entered, compactly (it is cached with the report):
    person i has id ids[16i:16i+16], level levels[i], reached step k at
    times[i*steps + k] (µs since the epoch; 0 when not reached), and is in the
    segment of value values[segments[i]] (values[0] is None: the null segment,
    and everyone when the report is not segmented)."""

    steps: int
    ids: bytes = b""
    levels: bytes = b""
    times: array = field(default_factory=lambda: array("q"))
    segments: array = field(default_factory=lambda: array("h"))
    values: list = field(default_factory=lambda: [None])
    # Sorted (time, id) keys per (segment, step, status), built on first use; not pickled.
    _orders: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_orders"] = {}
        return state

    def __len__(self) -> int:
        return len(self.levels)

    def person_id(self, i: int) -> uuid.UUID:
        return uuid.UUID(bytes=self.ids[16 * i : 16 * i + 16])

    def segment_number(self, value: str | None) -> int | None:
        """The number of the segment of this value here (None: nobody in it)."""
        try:
            return self.values.index(value)
        except ValueError:
            return None

    def _keys(self, segment: int | None, step: int, status: StepStatus) -> list[tuple[int, bytes]]:
        key = (segment, step, status)
        keys = self._orders.get(key)
        if keys is None:
            n, levels, times, ids, segs = self.steps, self.levels, self.times, self.ids, self.segments
            if status is StepStatus.REACHED:
                members: Iterable[int] = (i for i in range(len(levels)) if levels[i] > step)
                at = step
            elif step == 0:
                members, at = (), 0
            else:
                members = (i for i in range(len(levels)) if levels[i] == step)
                at = step - 1
            if segment is not None:
                members = (i for i in members if segs[i] == segment)
            keys = sorted((times[i * n + at], ids[16 * i : 16 * i + 16]) for i in members)
            self._orders[key] = keys
        return keys

    def trend(self, from_: datetime, to: datetime, interval: Any) -> list[tuple[datetime, int, int]]:
        """FunnelReport.trend: per period overlapping [from_, to) (empty ones
        too), (start, entered, converted): the people whose chain's t_0 is in
        the period and those of them who reached the last step."""
        bounds = periods_overlapping(from_, to, interval)
        key = ("trend", from_, to, str(interval))
        cached = self._orders.get(key)
        if cached is not None:
            return cached
        starts = [int((b[0] - EPOCH) / timedelta(microseconds=1)) for b in bounds]
        entered = [0] * len(bounds)
        converted = [0] * len(bounds)
        n, times, levels = self.steps, self.times, self.levels
        for i in range(len(levels)):
            at = bisect_right(starts, times[i * n]) - 1
            if 0 <= at < len(bounds):
                entered[at] += 1
                if levels[i] >= n:
                    converted[at] += 1
        out = [(b[0], e, c) for b, e, c in zip(bounds, entered, converted)]
        self._orders[key] = out
        return out

    def page(
        self,
        step: int,
        status: StepStatus,
        first: int,
        after: tuple[int, uuid.UUID] | None = None,
        segment: int | None = None,
    ) -> PeoplePage:
        """peopleList of step `step` (of segment number `segment` here, or
        overall), ordered by (time, id), starting after the key `after`."""
        if not 0 <= step < self.steps:
            raise ValueError(f"no step {step}")
        keys = self._keys(segment, step, StepStatus(status))
        start = 0 if after is None else bisect_right(keys, (after[0], after[1].bytes))
        chunk = keys[start : start + first]
        people = [(uuid.UUID(bytes=b), _from_micros(t)) for t, b in chunk]
        end = (chunk[-1][0], uuid.UUID(bytes=chunk[-1][1])) if chunk else None
        return PeoplePage(people=people, total=len(keys), has_next=start + first < len(keys), end=end)

