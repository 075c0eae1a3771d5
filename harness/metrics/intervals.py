"""Confidence intervals across seeds that keep their coverage at 3 to 10+ seeds.

Why not the percentile bootstrap this module replaced: with 3 seeds a seed-level bootstrap
has 10 distinct resamples and spans about the range of the seeds: its "95%" interval for
the mean of 3 normal values covers ~75%. The crossed seed x item bootstrap called two
truly equal objectives "different" in 19% of simulated 3-seed comparisons when seed noise
dominates (6% at 8 seeds); tests/test_stat_calibration.py holds this module to 2-8%.

Method (one for every metric): a Student-t interval over the per-seed paired estimates.
For a comparison of X with a comparator, d_s = metric(X, seed s) - metric(comparator, s)
(ratios on the log scale: log len(ref, s)/len(X, s), log cost(B, s)/cost(X, s)). Each d_s
already carries its seed's training noise and the noise of its own answers on the finite
test set, so Var(mean d) is estimated by var(d_s) / n with n - 1 degrees of freedom, the
standard paired t-interval, valid at any n >= 2 for normal-ish d_s.

One term is added: every seed is scored on the *same* test items, so what is common to
all seeds on an item (an item that X gets right and the comparator wrong in every seed)
does not average out over seeds. Its share of the variance of the grand mean is the
item variance component of the seeds x items table D [S, N] (two-way crossed ANOVA
without replication, Cornfield-Tukey): (MS_items - MS_residual) / (S N), kept when
positive (the standard truncated estimator; 0 when the items show no common effect, as
for two equal objectives, and the interval is then exactly the paired t). The two parts
are scaled by their own t quantiles (n - 1 and N - 1 degrees of freedom) and added in
quadrature (``combined_multiplier``). For a ratio, D is the delta-method (linearised)
per-item contribution to the per-seed log ratio. Evaluation noise of that kind does not
shrink with more seeds: ``TStat.se_at`` keeps it fixed when projecting to more seeds.

Convergence statistics (steps to threshold, speedups) have one number per seed and no
per-item validation scores: plain t over seeds. A fixed model evaluated once (the warm
start, "base") has no seed noise: its interval is the item-only t over its N items.

Power: the minimum detectable effect of a paired t-test at n seeds, two-sided alpha 0.05,
80% power, is (t_{0.975, n-1} + t_{0.80, n-1}) x SE_n, SE_n = sqrt(var(d_s) / n + item
component) from the observed per-seed differences (``TStat.mde``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.optimize
import scipy.stats

ALPHA = 0.05
CONFIDENCE_LEVEL = 0.95  # = 1 - ALPHA
POWER = 0.80

#: How the analysis scale (where the t-interval is computed) maps to the reported metric.
#: All three are increasing, so an interval's ends map to the reported interval's ends.
#: identity: differences and means; ratio: speedup = exp(mean log ratio);
#: compression: 1 - exp(-mean log(len(ref) / len(X))) = 1 - geometric-mean length ratio.
Scale = Literal["identity", "ratio", "compression"]


def to_reported(x: float, scale: Scale) -> float:
    """Analysis scale -> the metric's units."""
    if scale == "identity":
        return float(x)
    if scale == "ratio":
        return float(math.exp(x)) if x < 700 else math.inf
    if scale == "compression":
        return float(1.0 - math.exp(-x)) if x > -700 else -math.inf
    raise ValueError(f"unknown scale {scale!r}")


def to_analysis(x: float, scale: Scale) -> float:
    """The metric's units -> analysis scale (infinite where the metric's range ends)."""
    if scale == "identity":
        return float(x)
    if scale == "ratio":
        return math.log(x) if x > 0 else -math.inf
    if scale == "compression":
        return -math.log(1.0 - x) if x < 1 else math.inf
    raise ValueError(f"unknown scale {scale!r}")


def _quantile(q: float | np.ndarray, df: float | np.ndarray) -> np.ndarray:
    """Student-t quantile; the normal one at infinite df."""
    df = np.asarray(df, dtype=float)
    if np.all(np.isfinite(df)):
        return np.asarray(scipy.stats.t.ppf(q, df))
    return np.where(np.isfinite(df), scipy.stats.t.ppf(q, np.where(np.isfinite(df), df, 1.0)),
                    scipy.stats.norm.ppf(q))


def combined_multiplier(q: float, seed_part: np.ndarray | float, item_part: np.ndarray | float,
                        seed_df: np.ndarray | float, item_df: np.ndarray | float) -> np.ndarray:
    """The SE multiplier of the q-quantile when the variance of the mean is seed_part
    (estimated with seed_df) + item_part (estimated with item_df): each component is scaled
    by its own t quantile and the two are added in quadrature,
    sqrt((t_{q,seed_df}^2 seed_part + t_{q,item_df}^2 item_part) / (seed_part + item_part)).

    With item_part 0 this is the paired t quantile exactly; with seed_part 0 the item-level
    t. Satterthwaite's single df was anti-conservative at 3 seeds (93% coverage in
    tests/test_stat_calibration.py's regime); this rule kept 95-97% at 3, 5 and 8 seeds."""
    a = np.asarray(seed_part, dtype=float)
    b = np.asarray(item_part, dtype=float)
    total = a + b
    ta = _quantile(q, np.maximum(np.asarray(seed_df, dtype=float), 1.0))
    if not np.any(b):  # no test-set part: the paired t itself
        return ta * np.ones_like(total)
    tb = _quantile(q, np.maximum(np.asarray(item_df, dtype=float), 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        mult = np.sqrt((ta ** 2 * a + tb ** 2 * b) / total)
    return np.where(total > 0, mult, ta)


@dataclass(frozen=True)
class TStat:
    """A mean effect on its analysis scale with its standard error in two components.

    loc: the mean over seeds of the per-seed estimates (analysis scale).
    seed_var: var(d_s) over seeds (ddof 1): the per-seed variance, shrinks as 1/n; it has
        n - 1 degrees of freedom.
    item_var: the shared test-set variance of the mean: does not shrink with seeds;
        estimated with item_df degrees of freedom.
    n: seeds (1 for a fixed model, whose only noise is item_var).
    """

    loc: float
    seed_var: float
    item_var: float
    n: int
    item_df: float = math.inf
    scale: Scale = "identity"

    @property
    def se(self) -> float:
        return self.se_at(self.n)

    def se_at(self, n_seeds: int) -> float:
        """The standard error this comparison would have at ``n_seeds`` seeds."""
        return math.sqrt(self.seed_var / n_seeds + self.item_var)

    @property
    def value(self) -> float:
        return to_reported(self.loc, self.scale)

    def multiplier(self, q: float, n_seeds: int | None = None) -> float:
        """SE multiplier of the q-quantile (q > 0.5) at ``n_seeds`` (default: measured)."""
        n = self.n if n_seeds is None else n_seeds
        return float(combined_multiplier(q, self.seed_var / n, self.item_var, n - 1, self.item_df))

    def interval(self, level: float = CONFIDENCE_LEVEL) -> tuple[float, float]:
        """Two-sided interval at ``level`` in the metric's units."""
        half = self.multiplier(0.5 + level / 2.0) * self.se
        return to_reported(self.loc - half, self.scale), to_reported(self.loc + half, self.scale)

    def _upper_tail(self, t_value: float) -> float:
        """P(statistic >= t_value) under the combined reference distribution: the 1 - q
        at which the q-quantile multiplier equals t_value, so that a p-value below a/2 is
        exactly an interval at level 1 - a that excludes the tested value."""
        if t_value <= 0:
            return 1.0 - self._upper_tail(-t_value) if t_value < 0 else 0.5
        seed_part = self.seed_var / self.n
        if seed_part == 0.0 or self.item_var == 0.0:  # one component: an exact Student t
            df = self.item_df if seed_part == 0.0 else self.n - 1
            return float(scipy.stats.norm.sf(t_value) if not math.isfinite(df) else scipy.stats.t.sf(t_value, df))
        hi_q = 1.0 - 1e-15
        if t_value >= self.multiplier(hi_q):
            return 1e-15
        q = scipy.optimize.brentq(lambda x: self.multiplier(x) - t_value, 0.5, hi_q, xtol=1e-14)
        return float(1.0 - q)

    def p_greater(self, x: float, *, inclusive: bool = False) -> float:
        """One-sided p-value of H0: effect <= x against "effect > x" (x in metric units).

        inclusive: with a zero-width interval, a value exactly at x counts as "at least x"
        (a closed end of a claimed range)."""
        gx = to_analysis(x, self.scale)
        if self.se == 0.0 or not math.isfinite(gx):
            return 0.0 if (self.loc > gx or (inclusive and self.loc == gx)) else 1.0
        return self._upper_tail((self.loc - gx) / self.se)

    def p_less(self, x: float, *, inclusive: bool = False) -> float:
        """One-sided p-value of H0: effect >= x against "effect < x" (x in metric units).

        inclusive: with a zero-width interval, a value exactly at x counts as "not above x"
        (an open end of a claimed range: a CI of [0, 0] lies outside (0, inf))."""
        gx = to_analysis(x, self.scale)
        if self.se == 0.0 or not math.isfinite(gx):
            return 0.0 if (self.loc < gx or (inclusive and self.loc == gx)) else 1.0
        return self._upper_tail((gx - self.loc) / self.se)

    def mde(self, n_seeds: int | None = None, alpha: float = ALPHA, power: float = POWER) -> float:
        """Minimum detectable effect (analysis scale, > 0) of the two-sided test at
        ``n_seeds`` (default: the seeds measured): (t_{1-a/2} + t_{power}) x SE_n, with the
        quantiles of ``multiplier`` (t_{., n-1} when the test set adds nothing)."""
        n = self.n if n_seeds is None else n_seeds
        if n < 2 and self.seed_var > 0:
            return math.inf
        return float((self.multiplier(1 - alpha / 2, n) + self.multiplier(power, n)) * self.se_at(n))

    def to_dict(self) -> dict[str, Any]:
        return {"loc": self.loc, "se": self.se, "seed_var": self.seed_var, "item_var": self.item_var,
                "n": self.n, "item_df": finite_or_none(self.item_df), "scale": self.scale}


@dataclass(frozen=True)
class CrossedComponents:
    """Vectorised parts of the crossed t (leading batch dims allowed). Arrays [...]."""

    loc: np.ndarray
    seed_var: np.ndarray  # var over seeds of the per-seed estimates, ddof 1
    item_var: np.ndarray  # shared test-set variance of the mean (>= 0)
    n_seeds: int
    item_df: float

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(self.seed_var / self.n_seeds + self.item_var)

    def interval(self, level: float = CONFIDENCE_LEVEL) -> tuple[np.ndarray, np.ndarray]:
        mult = combined_multiplier(0.5 + level / 2.0, self.seed_var / self.n_seeds, self.item_var,
                                   self.n_seeds - 1, self.item_df)
        return self.loc - mult * self.se, self.loc + mult * self.se


def crossed_components(table: np.ndarray, per_seed: np.ndarray | None = None) -> CrossedComponents:
    """The crossed paired t of a seeds x items table.

    table: [..., S, N] per-(seed, item) values whose row means are the per-seed estimates
    (scores, score differences, or linearised contributions of a ratio); S >= 2.
    per_seed: [..., S] the per-seed estimates if they are not the row means (a log ratio).
    Returns loc = mean of per_seed, seed_var = var(per_seed) and item_var =
    max(0, (MS_items - MS_resid) / (S N)) of the two-way table.
    """
    d = np.asarray(table, dtype=float)
    s, n = d.shape[-2], d.shape[-1]
    if s < 2:
        raise ValueError(f"a seed-level interval needs at least 2 seeds; got {s}")
    rows = d.mean(axis=-1) if per_seed is None else np.asarray(per_seed, dtype=float)
    loc = rows.mean(axis=-1)
    seed_var = rows.var(axis=-1, ddof=1)
    if n < 2:
        return CrossedComponents(loc, seed_var, np.zeros_like(loc), s, math.inf)
    col = d.mean(axis=-2)  # [..., N]
    ms_items = s * col.var(axis=-1, ddof=1)
    resid = d - d.mean(axis=-1)[..., :, None] - col[..., None, :] + d.mean(axis=(-2, -1))[..., None, None]
    ms_resid = (resid ** 2).sum(axis=(-2, -1)) / ((s - 1) * (n - 1))
    # The truncated (non-negative) ANOVA estimator: 0 when the items share no effect.
    item_var = np.maximum((ms_items - ms_resid) / (s * n), 0.0)
    return CrossedComponents(loc, seed_var, item_var, s, float(n - 1))


def crossed_t(table: np.ndarray, per_seed: np.ndarray | None = None, scale: Scale = "identity") -> TStat:
    """TStat of one seeds x items table [S, N] (see ``crossed_components``)."""
    c = crossed_components(table, per_seed)
    return TStat(float(c.loc), float(c.seed_var), float(c.item_var), c.n_seeds, c.item_df, scale)


def seed_t(per_seed: Sequence[float] | np.ndarray, scale: Scale = "identity") -> TStat:
    """Plain t over seeds of one number per seed (convergence costs, log speedups). [S], S >= 2."""
    values = np.asarray(per_seed, dtype=float)
    if values.size < 2:
        raise ValueError(f"a seed-level interval needs at least 2 seeds; got {values.size}")
    return TStat(float(values.mean()), float(values.var(ddof=1)), 0.0, int(values.size), math.inf, scale)


def item_t(values: Sequence[float] | np.ndarray, scale: Scale = "identity") -> TStat:
    """t over the N items of one fixed model (no seed noise: the warm start). values: [N]."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        raise ValueError("an item-level interval needs at least 2 items")
    return TStat(float(v.mean()), 0.0, float(v.var(ddof=1) / v.size), 1, float(v.size - 1), scale)


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (Holm 1979): valid under any dependence.

    Sort p ascending; adjusted p_(k) = max_{j <= k} min(1, (m - j + 1) p_(j)); a hypothesis
    is rejected at family-wise level alpha when its adjusted p < alpha.
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.maximum.accumulate(scaled)
    out = np.empty(m)
    out[order] = adjusted
    return [float(x) for x in out]


def seeds_to_detect(stat: TStat, distance: float, *, max_seeds: int, alpha: float = ALPHA,
                    power: float = POWER) -> int | None:
    """Fewest seeds (> stat.n, <= max_seeds) at which an effect ``distance`` (analysis
    scale) from the decisive boundary is detected with ``power``; None if none does, e.g.
    when the test set's own noise (which more seeds do not shrink) already exceeds it."""
    if not distance > 0:
        return None
    ns = np.arange(max(stat.n + 1, 2), max_seeds + 1)
    if ns.size == 0:
        return None
    seed_part = stat.seed_var / ns
    se = np.sqrt(seed_part + stat.item_var)
    mde = (combined_multiplier(1 - alpha / 2, seed_part, stat.item_var, ns - 1, stat.item_df)
           + combined_multiplier(power, seed_part, stat.item_var, ns - 1, stat.item_df)) * se
    hits = np.nonzero(mde <= distance)[0]
    return int(ns[hits[0]]) if hits.size else None


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% CI across seeds (None where undefined).

    bound: "lower" or "upper" when censored runs make the value (and CI) only a bound
    on the true quantity; note says why something is undefined or bounded; stat: the
    t statistic behind the CI (p-values, MDE), None without a CI.
    """

    value: float | None
    low: float | None = None
    high: float | None = None
    n_seeds: int = 0
    bound: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    stat: TStat | None = None

    @property
    def has_ci(self) -> bool:
        return self.low is not None and self.high is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": finite_or_none(self.value), "ci_low": finite_or_none(self.low),
            "ci_high": finite_or_none(self.high),
            "n_seeds": self.n_seeds, "bound": self.bound, "note": self.note,
        }
        if self.stat is not None:
            out["se"] = finite_or_none(self.stat.se)
            out["scale"] = self.stat.scale
        out.update(self.extra)
        return out


def finite_or_none(x: float | np.floating | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def estimate_from_stat(value: float | None, stat: TStat | None, n_seeds: int, note: str = "",
                       level: float = CONFIDENCE_LEVEL, **extra: Any) -> Estimate:
    """Wrap a point value and its t statistic as an Estimate with a ``level`` CI."""
    value = finite_or_none(value)
    if value is None or stat is None:
        return Estimate(value, n_seeds=n_seeds, note=note, extra=dict(extra))
    low, high = stat.interval(level)
    return Estimate(value, finite_or_none(low), finite_or_none(high), n_seeds, note=note,
                    extra=dict(extra), stat=stat)


def curve_band(values: np.ndarray, level: float = CONFIDENCE_LEVEL) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Mean and t band of curves. values: [S, T] (S seeds, T steps).

    Returns (mean [T], low [T] or None, high [T] or None); None with fewer than 2 seeds.
    """
    values = np.asarray(values, dtype=float)
    mean = values.mean(axis=0)
    s = values.shape[0]
    if s < 2:
        return mean, None, None
    half = scipy.stats.t.ppf(0.5 + level / 2.0, s - 1) * values.std(axis=0, ddof=1) / math.sqrt(s)
    return mean, mean - half, mean + half
