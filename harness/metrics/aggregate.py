"""Across-seed aggregates with 95% t-intervals, paired by seed (and item) when comparing.

The per-run definitions live in ``definitions``; the interval method in ``intervals``
(module docstring: why a t-interval over per-seed paired estimates, and the shared
test-set term). Point estimates are the definitions applied to the observed data; the
CI comes from the t statistic of the same per-seed quantities on the analysis scale.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.metrics.definitions import (
    Convergence,
    ConvergenceUnit,
    compression_over_seeds,
    speedup_over_seeds,
)
from harness.metrics.intervals import (
    Estimate,
    crossed_t,
    estimate_from_stat,
    item_t,
    seed_t,
)

BASE_OBJECTIVE = "base"


@dataclass(frozen=True)
class RunEval:
    """One checkpoint's per-item results on one benchmark, in the benchmark's item order.

    scores: [N] verifier scores; lengths: [N] completion tokens.
    """

    scores: np.ndarray
    lengths: np.ndarray


def paired_seeds(
    seeds: Sequence[int], comparator_seeds: Sequence[int], *, fixed_comparator: bool = False
) -> list[tuple[int, int]]:
    """(seed of X, seed of comparator) pairs.

    Paired by seed: the seeds both have. A fixed comparator (the warm-start model,
    evaluated once as seed 0) is compared with every seed of X.
    """
    comparator_seeds = sorted(comparator_seeds)
    if fixed_comparator:
        if len(comparator_seeds) != 1:
            raise ValueError(f"a fixed comparator has exactly one evaluation; got seeds {comparator_seeds}")
        return [(s, comparator_seeds[0]) for s in sorted(seeds)]
    return [(s, s) for s in sorted(set(seeds) & set(comparator_seeds))]


ONE_SEED_NOTE = "one seed: no CI (seed-to-seed variation cannot be estimated)"


class BenchmarkAggregate:
    """Accuracy, length, compression and accuracy-change estimates for one benchmark.

    runs: (objective, seed) -> RunEval, all on the same item order. Every interval is the
    crossed paired t of ``harness.metrics.intervals`` over a seeds x items table [S, N].
    The warm start ("base", one evaluation) is a fixed model: its own figures get an
    item-only interval, and a comparison with it pairs every seed of X with it.
    """

    def __init__(self, runs: Mapping[tuple[str, int], RunEval]) -> None:
        self.runs = dict(runs)

    def seeds(self, objective: str) -> list[int]:
        return sorted(s for (o, s) in self.runs if o == objective)

    def _table(self, objective: str, seeds: Sequence[int], quantity: str) -> np.ndarray:
        """[S, N] of scores or lengths, one row per seed in the order given."""
        return np.stack([getattr(self.runs[(objective, s)], quantity) for s in seeds]).astype(float)

    def _mean_of(self, objective: str, table: np.ndarray) -> Estimate:
        """Mean over seeds of the per-seed row means of table [S, N]."""
        n = table.shape[0]
        value = float(table.mean(axis=1).mean())
        if objective == BASE_OBJECTIVE and n == 1:
            return estimate_from_stat(value, item_t(table[0]), 1, note="a fixed model: test-set noise only")
        if n < 2:
            return estimate_from_stat(value, None, n, note=ONE_SEED_NOTE)
        return estimate_from_stat(value, crossed_t(table), n)

    # -- one objective -------------------------------------------------------------

    def accuracy(self, objective: str) -> Estimate:
        return self._mean_of(objective, self._table(objective, self.seeds(objective), "scores"))

    def mean_length(self, objective: str) -> Estimate:
        return self._mean_of(objective, self._table(objective, self.seeds(objective), "lengths"))

    def mean_length_correct(self, objective: str) -> Estimate:
        """Mean over seeds of each seed's mean length over its correct responses.

        Interval: the per-seed value m_s = sum(l x) / sum(x) linearised per item as
        m_s + x_si (l_si - m_s) / mean(x_s), whose row means are m_s (delta method)."""
        seeds = self.seeds(objective)
        scores = self._table(objective, seeds, "scores")
        lengths = self._table(objective, seeds, "lengths")
        correct = scores.mean(axis=1)
        if np.any(correct <= 0):
            return Estimate(None, n_seeds=len(seeds), note="a seed has no correct response")
        per_seed = (scores * lengths).mean(axis=1) / correct
        linearised = per_seed[:, None] + scores * (lengths - per_seed[:, None]) / correct[:, None]
        return self._mean_of(objective, linearised)

    # -- paired comparisons --------------------------------------------------------

    def _pairs(self, objective: str, comparator: str) -> list[tuple[int, int]]:
        return paired_seeds(self.seeds(objective), self.seeds(comparator),
                            fixed_comparator=comparator == BASE_OBJECTIVE)

    def accuracy_change(self, objective: str, comparator: str) -> Estimate:
        """mean_s [acc(X, s) - acc(comparator, s)], paired by seed and by item (fraction)."""
        pairs = self._pairs(objective, comparator)
        if not pairs:
            return Estimate(None, note=f"no seed shared by {objective} and {comparator}")
        diff = (self._table(objective, [a for a, _ in pairs], "scores")
                - self._table(comparator, [b for _, b in pairs], "scores"))  # [S, N]
        value = float(diff.mean())
        if len(pairs) < 2:
            return estimate_from_stat(value, None, 1, note=ONE_SEED_NOTE, seed_pairs=pairs)
        return estimate_from_stat(value, crossed_t(diff), len(pairs), seed_pairs=pairs)

    def compression(self, objective: str, comparator: str) -> Estimate:
        """1 - geometric mean over paired seeds of len(X, s) / len(comparator, s).

        Interval on the log scale: per-seed r_s = log(len(comparator, s) / len(X, s)); the
        item table is its delta-method linearisation r_s + l_c,si / len(c, s) - l_x,si / len(X, s).
        """
        pairs = self._pairs(objective, comparator)
        if not pairs:
            return Estimate(None, note=f"no seed shared by {objective} and {comparator}")
        lx = self._table(objective, [a for a, _ in pairs], "lengths")
        lc = self._table(comparator, [b for _, b in pairs], "lengths")
        mx, mc = lx.mean(axis=1), lc.mean(axis=1)
        if np.any(mc <= 0) or np.any(mx <= 0):
            return Estimate(None, n_seeds=len(pairs), note="a zero mean length: compression undefined")
        value = compression_over_seeds(mx, mc)
        if len(pairs) < 2:
            return estimate_from_stat(value, None, 1, note=ONE_SEED_NOTE, seed_pairs=pairs)
        per_seed = np.log(mc / mx)
        linearised = per_seed[:, None] + lc / mc[:, None] - lx / mx[:, None]
        return estimate_from_stat(value, crossed_t(linearised, per_seed, scale="compression"),
                                  len(pairs), seed_pairs=pairs)


# -- training-curve aggregates (one number per seed) ---------------------------------


def seed_mean(values: Mapping[int, float]) -> Estimate:
    """Mean over seeds of a per-seed scalar, with a t-interval over seeds."""
    arr = np.array([values[s] for s in sorted(values)], dtype=float)
    if arr.size == 0:
        return Estimate(None, note="no seeds")
    if arr.size < 2:
        return Estimate(float(arr.mean()), n_seeds=1, note=ONE_SEED_NOTE)
    return estimate_from_stat(float(arr.mean()), seed_t(arr), int(arr.size))


def convergence_cost(runs: Mapping[int, Convergence], unit: ConvergenceUnit = "steps") -> Estimate:
    """Geometric mean over seeds of the cost (steps, rollout tokens or seconds) to reach the
    threshold, with a t-interval on the log scale: a cost is positive and skewed (one seed
    slowed by a busy machine), and an arithmetic t-interval then reached below 0 seconds.
    The ratio of two objectives' geometric means over paired seeds is their speedup.
    A cost of 0 in some seed (the threshold met at step 0) leaves no log: the arithmetic
    mean and interval, said so in the note.

    Censored seeds enter with their censoring point and the result is marked as a lower
    bound ("not reached" in k of S seeds). If no seed reached it, value is None.
    """
    seeds = sorted(runs)
    if not seeds:
        return Estimate(None, note="no runs")
    costs = {s: runs[s].cost(unit) for s in seeds}
    n_censored = sum(censored for _, censored in costs.values())
    reached = len(seeds) - n_censored
    extra = {"reached": reached, "seeds": seeds, "unit": unit}
    if reached == 0:
        last = float(np.mean([c for c, _ in costs.values()]))
        return Estimate(None, n_seeds=len(seeds), bound="lower",
                        note=f"not reached in any of {len(seeds)} seeds (runs ended at {unit} {last:g})",
                        extra={**extra, "censored_at": last})
    values = np.array([c for c, _ in costs.values()], dtype=float)
    if np.all(values > 0) and values.size >= 2:
        stat = seed_t(np.log(values), scale="ratio")
        est = estimate_from_stat(stat.value, stat, int(values.size))
    else:
        est = seed_mean({s: c for s, (c, _) in costs.items()})
        if values.size >= 2:
            est = Estimate(est.value, est.low, est.high, est.n_seeds, note="a cost of 0 in some seed: arithmetic mean",
                           stat=est.stat)
    if n_censored:
        return Estimate(est.value, est.low, est.high, len(seeds), bound="lower",
                        note=f"not reached in {n_censored} of {len(seeds)} seeds: a lower bound",
                        extra=extra, stat=est.stat)
    return Estimate(est.value, est.low, est.high, len(seeds), note=est.note, extra=extra, stat=est.stat)


def convergence_speedup(
    runs: Mapping[int, Convergence], baseline_runs: Mapping[int, Convergence],
    unit: ConvergenceUnit = "steps",
) -> Estimate:
    """Speedup of X vs a baseline: geometric mean over paired seeds of cost(B, s) / cost(X, s).

    >1 means X reaches the threshold sooner. Interval: t over the per-seed log ratios.
    Censoring turns the estimate into a bound: a censored run enters at its censoring
    point, below its true cost, so X censored -> an upper bound; baseline censored -> a
    lower bound; both -> undefined.
    """
    seeds = sorted(set(runs) & set(baseline_runs))
    if not seeds:
        return Estimate(None, note="no seed shared with the baseline")
    x = [runs[s].cost(unit) for s in seeds]
    b = [baseline_runs[s].cost(unit) for s in seeds]
    x_cens = any(c for _, c in x)
    b_cens = any(c for _, c in b)
    extra = {"unit": unit, "seeds": seeds}
    if x_cens and b_cens:
        return Estimate(None, n_seeds=len(seeds), extra=extra,
                        note="both never reached the threshold in some seed: not measurable")
    xa = np.array([c for c, _ in x], dtype=float)
    ba = np.array([c for c, _ in b], dtype=float)
    if np.any(xa <= 0) or np.any(ba <= 0):
        return Estimate(None, n_seeds=len(seeds), extra=extra,
                        note="threshold already met at step 0 in some seed: speed not measurable")
    bound = "upper" if x_cens else ("lower" if b_cens else None)
    note = {"upper": "the objective never reached the threshold in some seed: an upper bound",
            "lower": "the baseline never reached the threshold in some seed: a lower bound",
            None: ""}[bound]
    value = speedup_over_seeds(ba, xa)
    if len(seeds) < 2:
        return Estimate(value, n_seeds=1, bound=bound, note=note or ONE_SEED_NOTE, extra=extra)
    est = estimate_from_stat(value, seed_t(np.log(ba / xa), scale="ratio"), len(seeds), note=note, **extra)
    return Estimate(est.value, est.low, est.high, est.n_seeds, bound=bound, note=note, extra=extra,
                    stat=est.stat)
