"""The funnel's input (DESIGN.md §5 Funnel): FunnelSpec and its steps,
segment and exclusions, normalised and validated (BadInput naming the field),
and cache_key(), the normalised input as a stable string."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum

import orjson

from ...errors import BadInput
from ...storage.filters import PropertyFilter, validate_filter
from ..population import Population
from ..population import normalised as population_key

MAX_STEPS = 20
MAX_NAME_LENGTH = 255
MAX_KEY_LENGTH = 255
MAX_SEGMENT_LIMIT = 100
MAX_WINDOW_SECONDS = 2**31 - 1  # GraphQL Int
MAX_BASELINE_LENGTH = 10_000
MAX_EXCLUSIONS = 20


class StepStatus(str, Enum):
    REACHED = "REACHED"
    DROPPED = "DROPPED"


def _utc(t: datetime, field: str) -> datetime:
    if not isinstance(t, datetime):
        raise BadInput(field, "a date and time is needed")
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _text_ok(value: object, max_length: int, *, empty: bool = False) -> bool:
    """A string PostgreSQL can hold (no NUL) of 1 (0 when empty is allowed) to
    max_length characters."""
    return (
        isinstance(value, str)
        and (empty or bool(value))
        and len(value) <= max_length
        and "\x00" not in value
    )


@dataclass(frozen=True, eq=False)
class FunnelStepSpec:
    """One step: an event name and property filters that must all pass.

    Equality and hash go by the normalised filters (a filter value may be a JSON
    list, which is not hashable; the order of the filters does not matter)."""

    event: str
    where: tuple[PropertyFilter, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "where", tuple(self.where or ()))

    def normalised(self) -> tuple[str, tuple[tuple, ...]]:
        return self.event, tuple(sorted(f.normalised() for f in self.where))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FunnelStepSpec) and self.normalised() == other.normalised()

    def __hash__(self) -> int:
        return hash(self.normalised())


@dataclass(frozen=True, eq=False)
class ExclusionSpec:
    """exclusions[i]: an event (name and filters) that, between the chain's
    afterStep and beforeStep, takes the person out of the report (DESIGN.md §5,
    "Funnel: exclusions, ..."). Equality and hash by the normalised filters."""

    event: str
    after_step: int
    before_step: int
    where: tuple[PropertyFilter, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "where", tuple(self.where or ()))

    def normalised(self) -> tuple:
        return self.event, tuple(sorted(f.normalised() for f in self.where)), self.after_step, self.before_step

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExclusionSpec) and self.normalised() == other.normalised()

    def __hash__(self) -> int:
        return hash(self.normalised())


@dataclass(frozen=True)
class SegmentSpec:
    """segmentBy: exactly one of person_property and first_step_property."""

    person_property: str | None = None
    first_step_property: str | None = None
    limit: int = 10
    baseline: str | None = None

    @property
    def key(self) -> str:
        return self.person_property if self.person_property is not None else self.first_step_property  # type: ignore[return-value]


@dataclass(frozen=True)
class FunnelSpec:
    """The normalised, validated funnel input; hashable, `cache_key()` for the cache."""

    steps: tuple[FunnelStepSpec, ...]
    from_: datetime
    to: datetime
    window_seconds: int | None = None
    segment_by: SegmentSpec | None = None
    exclusions: tuple[ExclusionSpec, ...] = ()
    hold_constant: str | None = None
    people: Population | None = None

    def __post_init__(self) -> None:
        steps = tuple(self.steps or ())
        object.__setattr__(self, "steps", steps)
        if not 1 <= len(steps) <= MAX_STEPS:
            raise BadInput("input.steps", f"a funnel has 1 to {MAX_STEPS} steps (got {len(steps)})")
        for i, step in enumerate(steps):
            if not isinstance(step, FunnelStepSpec):
                raise BadInput(f"input.steps[{i}]", "not a funnel step")
            if not _text_ok(step.event, MAX_NAME_LENGTH):
                raise BadInput(f"input.steps[{i}].event", f"an event name is 1-{MAX_NAME_LENGTH} characters")
            for j, f in enumerate(step.where):
                validate_filter(f"input.steps[{i}].where[{j}]", f)
        object.__setattr__(self, "from_", _utc(self.from_, "input.from"))
        object.__setattr__(self, "to", _utc(self.to, "input.to"))
        if self.to < self.from_:
            # from = to is an empty range (nobody enters), as in cohort and revenue.
            raise BadInput("input.to", "the range [from, to) ends before it starts")
        w = self.window_seconds
        if w is not None and (isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= MAX_WINDOW_SECONDS):
            raise BadInput(
                "input.conversionWindowSeconds",
                f"a conversion window is 1 to {MAX_WINDOW_SECONDS} seconds, or null for none (got {w})",
            )
        seg = self.segment_by
        if seg is not None:
            if (seg.person_property is None) == (seg.first_step_property is None):
                raise BadInput("input.segmentBy", "give exactly one of personProperty and firstStepProperty")
            name = "personProperty" if seg.person_property is not None else "firstStepProperty"
            if not _text_ok(seg.key, MAX_KEY_LENGTH):
                raise BadInput(f"input.segmentBy.{name}", f"a property key is 1-{MAX_KEY_LENGTH} characters")
            if isinstance(seg.limit, bool) or not isinstance(seg.limit, int) or not 1 <= seg.limit <= MAX_SEGMENT_LIMIT:
                raise BadInput("input.segmentBy.limit", f"between 1 and {MAX_SEGMENT_LIMIT} segments (got {seg.limit})")
            if seg.baseline is not None and not _text_ok(seg.baseline, MAX_BASELINE_LENGTH, empty=True):
                raise BadInput("input.segmentBy.baseline", f"a segment value: text of at most {MAX_BASELINE_LENGTH} characters")
        exclusions = tuple(self.exclusions or ())
        object.__setattr__(self, "exclusions", exclusions)
        if len(exclusions) > MAX_EXCLUSIONS:
            raise BadInput("input.exclusions", f"at most {MAX_EXCLUSIONS} exclusions (got {len(exclusions)})")
        last = len(steps) - 1
        for i, x in enumerate(exclusions):
            at = f"input.exclusions[{i}]"
            if not isinstance(x, ExclusionSpec):
                raise BadInput(at, "not a funnel exclusion")
            if not _text_ok(x.event, MAX_NAME_LENGTH):
                raise BadInput(f"{at}.event", f"an event name is 1-{MAX_NAME_LENGTH} characters")
            for j, f in enumerate(x.where):
                validate_filter(f"{at}.where[{j}]", f)
            rule = f"0 ≤ afterStep < beforeStep ≤ {last}, the last step"
            if isinstance(x.after_step, bool) or not isinstance(x.after_step, int) or not 0 <= x.after_step < last:
                raise BadInput(f"{at}.afterStep", f"{rule} (got afterStep {x.after_step})")
            if (isinstance(x.before_step, bool) or not isinstance(x.before_step, int)
                    or not x.after_step < x.before_step <= last):
                raise BadInput(f"{at}.beforeStep", f"{rule} (got beforeStep {x.before_step})")
        if self.hold_constant is not None and not _text_ok(self.hold_constant, MAX_KEY_LENGTH):
            raise BadInput("input.holdConstant", f"a property key is 1-{MAX_KEY_LENGTH} characters")
        if self.people is not None:
            if not isinstance(self.people, Population):
                raise BadInput("input.people", "not a people filter")
            if self.people.is_everyone:  # `people: {}` filters nothing: the report of everyone
                object.__setattr__(self, "people", None)

    @property
    def has_options(self) -> bool:
        """Exclusions, holdConstant or a population (they enter the cache key)."""
        return self.walks_options or self.people is not None

    @property
    def walks_options(self) -> bool:
        """Exclusions or holdConstant: the chains are then walked by
        whodid_funnel_chain_options (db/migrations/0008_funnel_options.sql).
        A population alone keeps the chains' shape (set-based or walked)."""
        return bool(self.exclusions) or self.hold_constant is not None

    @property
    def earliest_start_suffices(self) -> bool:
        """True when the earliest start is provably the person's best, so that the
        walk can stop after it: no window, and either no `where` filter or all step
        names distinct (docs/reports.md, "Funnel", has the argument)."""
        if self.window_seconds is not None or self.hold_constant is not None:
            return False
        names = [s.event for s in self.steps]
        return len(set(names)) == len(names) or not any(s.where for s in self.steps)

    @property
    def one_step_per_event(self) -> bool:
        """True when no event can match two steps (all step names differ): each
        step's events are then their own stream and the chains are set-based."""
        names = [s.event for s in self.steps]
        return len(set(names)) == len(names)

    def cache_key(self) -> str:
        """The normalised input as a stable string (equal for equal reports)."""
        seg = self.segment_by
        return orjson.dumps(
            [
                "funnel",
                [[s.event, [list(f) for f in s.normalised()[1]]] for s in self.steps],
                self.from_.isoformat(),
                self.to.isoformat(),
                self.window_seconds,
                None
                if seg is None
                else [
                    "person" if seg.person_property is not None else "firstStep",
                    seg.key,
                    seg.limit,
                    seg.baseline,
                ],
            ]
            # The options only when given: the key of a funnel without them is
            # the key it had before they existed (cached entries stay valid).
            + ([] if not self.has_options else [{
                "exclusions": [list(x.normalised()[:1]) + [[list(f) for f in x.normalised()[1]]]
                               + list(x.normalised()[2:]) for x in self.exclusions],
                "holdConstant": self.hold_constant,
                "people": population_key(self.people),
            }])
        ).decode()
