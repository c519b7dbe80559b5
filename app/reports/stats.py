"""Report math that is not SQL: duration statistics, A/B significance, money rounding.

Pure functions over plain Python values, standard library only (DESIGN.md §1: report
math is pure and testable without a database). The semantics are DESIGN.md §5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Sequence

__all__ = [
    "HISTOGRAM_BOUNDS",
    "DurationStats",
    "Significance",
    "duration_stats",
    "histogram",
    "lift",
    "median",
    "percentile",
    "probability_to_beat",
    "round_cents",
    "significance",
    "two_proportion_z_test",
]

# Upper bounds (seconds) of the time-to-convert histogram: 1 min, 10 min, 1 h, 1 day,
# 1 week, 30 days; a final open bucket holds the rest.
HISTOGRAM_BOUNDS: tuple[int, ...] = (60, 600, 3600, 86400, 604800, 2592000)


@dataclass(frozen=True)
class DurationStats:
    """GraphQL DurationStats: the time between two funnel steps, in seconds."""

    count: int
    median_seconds: float
    mean_seconds: float
    p90_seconds: float
    # ((upToSeconds, people), ...): always len(HISTOGRAM_BOUNDS) + 1 buckets, the last
    # with upToSeconds None. A tuple so that the frozen dataclass stays hashable.
    histogram: tuple[tuple[float | None, int], ...]


@dataclass(frozen=True)
class Significance:
    """GraphQL Significance minus `baseline` (the resolver knows the baseline's value)."""

    lift: float
    z_score: float
    p_value: float
    probability_to_beat_baseline: float
    significant: bool


# ---------------------------------------------------------------- durations


def _sorted_nonempty(values: Sequence[float]) -> list[float]:
    if len(values) == 0:
        raise ValueError("statistic of an empty sequence")
    return sorted(float(v) for v in values)


def median(values: Sequence[float]) -> float:
    """The middle value; with an even count the mean of the two middle values."""
    s = _sorted_nonempty(values)
    n = len(s)
    mid = n // 2
    if n % 2:
        return s[mid]
    return (s[mid - 1] + s[mid]) / 2.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 ≤ q ≤ 100) by linear interpolation between closest ranks.

    Same as numpy.percentile(values, q) with its default method="linear": the virtual
    index is (n − 1)·q/100 and the result interpolates between the two neighbours. The
    interpolation is written the way numpy writes it (from the nearer end when the
    fraction is ≥ 0.5) so that results agree to the last bit, not just approximately.
    """
    if not 0.0 <= q <= 100.0 or math.isnan(q):
        raise ValueError(f"percentile q must be in [0, 100], got {q!r}")
    s = _sorted_nonempty(values)
    n = len(s)
    h = (q / 100.0) * (n - 1)
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    t = h - lo
    a, b = s[lo], s[hi]
    diff = b - a
    if t >= 0.5:
        return b - diff * (1.0 - t)
    return a + diff * t


def histogram(values: Sequence[float]) -> list[tuple[float | None, int]]:
    """Counts per bucket: [0, 60], (60, 600], …, (604800, 2592000], then (None, rest).

    Always all 7 buckets, empty ones with 0. A value ≤ 60 (negative ones too, which a
    funnel never produces) falls in the first bucket.
    """
    counts = [0] * (len(HISTOGRAM_BOUNDS) + 1)
    for v in values:
        for i, bound in enumerate(HISTOGRAM_BOUNDS):
            if v <= bound:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
    bounds: list[float | None] = [float(b) for b in HISTOGRAM_BOUNDS]
    bounds.append(None)
    return list(zip(bounds, counts))


def duration_stats(values: Sequence[float]) -> DurationStats | None:
    """All duration statistics of one funnel step; None when nobody reached it."""
    if len(values) == 0:
        return None
    floats = [float(v) for v in values]
    return DurationStats(
        count=len(floats),
        median_seconds=median(floats),
        # fsum: the correctly rounded sum, so the mean does not depend on input order.
        mean_seconds=math.fsum(floats) / len(floats),
        p90_seconds=percentile(floats, 90),
        histogram=tuple(histogram(floats)),
    )


# ---------------------------------------------------------------- significance


def lift(p: float, p0: float) -> float:
    """Relative change of rate p against the baseline rate p0; 0 when p0 is 0."""
    if p0 == 0:
        return 0.0
    return (p - p0) / p0


def two_proportion_z_test(x: int, n: int, x0: int, n0: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of x/n against the baseline x0/n0: (z, two-sided p).

    z > 0 when x/n is the higher rate. z = 0 and p = 1 when either sample is empty or
    the pooled rate is 0 or 1 (no variance: the test says nothing).
    """
    if n <= 0 or n0 <= 0:
        return 0.0, 1.0
    pooled = (x + x0) / (n + n0)
    if pooled <= 0.0 or pooled >= 1.0:
        return 0.0, 1.0
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n + 1.0 / n0))
    z = (x / n - x0 / n0) / se
    # Two-sided normal tail: P(|Z| ≥ |z|) = erfc(|z| / √2); erfc keeps precision in
    # the far tail where 1 − erf would round to 0.
    p = math.erfc(abs(z) / math.sqrt(2.0))
    return z, min(1.0, max(0.0, p))


# Largest number of terms of the exact sum; beyond it the skew-corrected normal
# approximation is used (see probability_to_beat).
_EXACT_MAX_TERMS = 1000


def _beta_beats_sum(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """P(Beta(a_b, b_b) > Beta(a_a, b_a)) exactly, as a sum of a_b terms (integer params).

    Evan Miller's closed form ("Formulas for Bayesian A/B testing"):
        Σ_{i=0}^{a_b−1} B(a_a+i, b_a+b_b) / ((b_b+i) · B(1+i, b_b) · B(a_a, b_a)).
    Term 0 simplifies to B(a_a, b_a+b_b) / B(a_a, b_a); the ratio of consecutive terms
    is (a_a+i)(b_b+i) / ((a_a+b_a+b_b+i)(1+i)). Terms are kept as logarithms (they
    underflow easily) and summed after scaling by the largest.
    """
    log_t = (
        math.lgamma(a_a + b_a)
        + math.lgamma(b_a + b_b)
        - math.lgamma(b_a)
        - math.lgamma(a_a + b_a + b_b)
    )
    logs = []
    for i in range(a_b):
        logs.append(log_t)
        log_t += math.log((a_a + i) * (b_b + i)) - math.log((a_a + b_a + b_b + i) * (1 + i))
    top = max(logs)
    return math.exp(top) * math.fsum(math.exp(v - top) for v in logs)


def _beta_cumulants(a: float, b: float) -> tuple[float, float, float]:
    """Mean, variance and third cumulant of Beta(a, b)."""
    s = a + b
    mean = a / s
    var = a * b / (s * s * (s + 1.0))
    skew = 2.0 * (b - a) * math.sqrt(s + 1.0) / ((s + 2.0) * math.sqrt(a * b))
    return mean, var, skew * var**1.5


def _beta_beats_edgeworth(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """P(Beta(a_b, b_b) > Beta(a_a, b_a)) by a normal approximation of the difference
    with a first-order Edgeworth (skewness) correction."""
    m_a, v_a, k_a = _beta_cumulants(a_a, b_a)
    m_b, v_b, k_b = _beta_cumulants(a_b, b_b)
    sd = math.sqrt(v_a + v_b)
    gamma = (k_b - k_a) / sd**3  # skewness of D = B − A
    w = -(m_b - m_a) / sd  # P(D > 0) = 1 − F_std(w)
    phi = math.exp(-0.5 * w * w) / math.sqrt(2.0 * math.pi)
    cdf = 0.5 * math.erfc(-w / math.sqrt(2.0)) - phi * gamma / 6.0 * (w * w - 1.0)
    return 1.0 - cdf


def probability_to_beat(x: int, n: int, x0: int, n0: int) -> float:
    """P(p > p0) with p ~ Beta(1+x, 1+n−x), p0 ~ Beta(1+x0, 1+n0−x0) (uniform priors).

    Method. The exact closed form is a sum with as many terms as one chosen parameter,
    and by symmetry (swap the two sides: P = 1 − P(p0 > p); reflect p → 1 − p, which
    swaps α and β) it can be taken over any of the four parameters, so its cost is
    min(1+x, 1+n−x, 1+x0, 1+n0−x0) terms. When that minimum is ≤ 1000 (≈ 1 ms) the
    exact sum is used. Otherwise both Betas have every parameter > 1000 and are nearly
    normal: the difference is approximated by a normal with the exact mean and variance,
    corrected for skewness (first Edgeworth term). The plain normal approximation errs
    by up to ≈ 0.13/√m (m the smallest parameter: 0.004 at m = 1000, too close to the
    0.005 budget); with the skewness term the error is ≈ 0.07/m, below 1e-4 here.
    Checked in tests/reports/test_stats.py against numerical integration and Monte
    Carlo. Cost is O(1) for millions of people.
    """
    if not (0 <= x <= n and 0 <= x0 <= n0):
        raise ValueError(f"need 0 ≤ x ≤ n and 0 ≤ x0 ≤ n0, got {x}/{n} and {x0}/{n0}")
    a_b, b_b = 1 + x, 1 + n - x  # this segment
    a_a, b_a = 1 + x0, 1 + n0 - x0  # baseline
    smallest = min(a_a, b_a, a_b, b_b)
    if smallest > _EXACT_MAX_TERMS:
        p = _beta_beats_edgeworth(a_a, b_a, a_b, b_b)
    elif smallest == a_b:
        p = _beta_beats_sum(a_a, b_a, a_b, b_b)
    elif smallest == a_a:
        p = 1.0 - _beta_beats_sum(a_b, b_b, a_a, b_a)
    elif smallest == b_a:
        # p > p0  ⇔  1 − p0 > 1 − p, with 1 − p ~ Beta(b, a).
        p = _beta_beats_sum(b_b, a_b, b_a, a_a)
    else:
        p = 1.0 - _beta_beats_sum(b_a, a_a, b_b, a_b)
    return min(1.0, max(0.0, p))


def significance(x: int, n: int, x0: int, n0: int) -> Significance:
    """Compare x converted out of n against the baseline's x0 out of n0."""
    p = x / n if n else 0.0
    p0 = x0 / n0 if n0 else 0.0
    z, p_value = two_proportion_z_test(x, n, x0, n0)
    return Significance(
        lift=lift(p, p0),
        z_score=z,
        p_value=p_value,
        probability_to_beat_baseline=probability_to_beat(x, n, x0, n0),
        significant=p_value < 0.05,
    )


# ---------------------------------------------------------------- money


def round_cents(d: Decimal) -> Decimal:
    """Round to 2 decimal places, halves away from zero (ROUND_HALF_UP; PostgreSQL's
    round(numeric, 2) does the same). Exact for any size: the context precision is
    raised to fit the number, so quantize never fails or rounds twice."""
    if not d.is_finite():
        raise ValueError(f"cannot round {d!r} to cents")
    with localcontext() as ctx:
        ctx.prec = max(28, d.adjusted() + 4)
        return d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
