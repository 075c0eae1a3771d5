"""Across-seed aggregates with 95% bootstrap CIs, paired by seed when comparing.

The per-run definitions live in ``definitions``; the resampling in ``bootstrap``. This
module combines them: point estimates are the definitions applied to the observed data
(means over seeds of per-seed values, or ratios of those means), and CIs come from
recomputing the same formula on every bootstrap replicate.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.metrics.bootstrap import (
    DEFAULT_RESAMPLES,
    Estimate,
    SeedItemBootstrap,
    estimate_from_replicates,
    seed_bootstrap_interval,
)
from harness.metrics.definitions import Convergence, ConvergenceUnit

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


class BenchmarkAggregate:
    """Accuracy, length, compression and accuracy-change estimates for one benchmark.

    runs: (objective, seed) -> RunEval, all on the same item order. One crossed
    seed x item bootstrap is drawn for the whole benchmark (see harness.metrics.bootstrap).
    """

    QUANTITIES = ("score", "length", "score_x_length")

    def __init__(
        self,
        runs: Mapping[tuple[str, int], RunEval],
        *,
        n_resamples: int = DEFAULT_RESAMPLES,
        seed: int = 0,
        key: str,
    ) -> None:
        self.runs = dict(runs)
        columns: dict[str, np.ndarray] = {}
        for (objective, s), run in self.runs.items():
            columns[self._col(objective, s, "score")] = run.scores
            columns[self._col(objective, s, "length")] = run.lengths
            columns[self._col(objective, s, "score_x_length")] = run.scores * run.lengths
        self.bootstrap = SeedItemBootstrap(columns, n_resamples=n_resamples, seed=seed, key=key)

    @staticmethod
    def _col(objective: str, seed: int, quantity: str) -> str:
        return f"{objective}/seed{seed}/{quantity}"

    def seeds(self, objective: str) -> list[int]:
        return sorted(s for (o, s) in self.runs if o == objective)

    def _per_seed(self, objective: str, seeds: Sequence[int], quantity: str) -> tuple[np.ndarray, np.ndarray]:
        return self.bootstrap.per_seed([self._col(objective, s, quantity) for s in seeds])

    # -- one objective -------------------------------------------------------------

    def accuracy(self, objective: str) -> Estimate:
        seeds = self.seeds(objective)
        point, boot = self._per_seed(objective, seeds, "score")
        return estimate_from_replicates(point.mean(), boot.mean(axis=1), len(seeds))

    def mean_length(self, objective: str) -> Estimate:
        seeds = self.seeds(objective)
        point, boot = self._per_seed(objective, seeds, "length")
        return estimate_from_replicates(point.mean(), boot.mean(axis=1), len(seeds))

    def mean_length_correct(self, objective: str) -> Estimate:
        """Mean over seeds of each seed's mean length over its correct responses."""
        seeds = self.seeds(objective)
        p_score, b_score = self._per_seed(objective, seeds, "score")
        p_sl, b_sl = self._per_seed(objective, seeds, "score_x_length")
        if np.any(p_score <= 0):
            return Estimate(None, n_seeds=len(seeds), note="a seed has no correct response")
        with np.errstate(divide="ignore", invalid="ignore"):
            boot = (b_sl / b_score).mean(axis=1)
        return estimate_from_replicates((p_sl / p_score).mean(), boot, len(seeds))

    # -- paired comparisons --------------------------------------------------------

    def _paired(self, objective: str, comparator: str, quantity: str):
        pairs = paired_seeds(self.seeds(objective), self.seeds(comparator),
                             fixed_comparator=comparator == BASE_OBJECTIVE)
        if not pairs:
            return None
        x = self._per_seed(objective, [a for a, _ in pairs], quantity)
        c = self._per_seed(comparator, [b for _, b in pairs], quantity)
        return pairs, x, c

    def accuracy_change(self, objective: str, comparator: str) -> Estimate:
        """mean_s [acc(X, s) - acc(comparator, s)], paired by seed and by item (fraction)."""
        paired = self._paired(objective, comparator, "score")
        if paired is None:
            return Estimate(None, note=f"no seed shared by {objective} and {comparator}")
        pairs, (px, bx), (pc, bc) = paired
        return estimate_from_replicates(
            (px - pc).mean(), (bx - bc).mean(axis=1), len(pairs), seed_pairs=pairs
        )

    def compression(self, objective: str, comparator: str) -> Estimate:
        """1 - mean_s len(X, s) / mean_s len(comparator, s) over paired seeds."""
        paired = self._paired(objective, comparator, "length")
        if paired is None:
            return Estimate(None, note=f"no seed shared by {objective} and {comparator}")
        pairs, (px, bx), (pc, bc) = paired
        if pc.mean() <= 0:
            return Estimate(None, n_seeds=len(pairs), note=f"{comparator} has zero mean length")
        with np.errstate(divide="ignore", invalid="ignore"):
            boot = 1.0 - bx.mean(axis=1) / bc.mean(axis=1)
        return estimate_from_replicates(1.0 - px.mean() / pc.mean(), boot, len(pairs), seed_pairs=pairs)


# -- training-curve aggregates (seed noise only) -------------------------------------


def seed_mean(values: Mapping[int, float], *, n_resamples: int = DEFAULT_RESAMPLES,
              seed: int = 0, key: str) -> Estimate:
    """Mean over seeds of a per-seed scalar, with a seed-bootstrap CI."""
    arr = np.array([values[s] for s in sorted(values)], dtype=float)
    if arr.size == 0:
        return Estimate(None, note="no seeds")
    ci = seed_bootstrap_interval([arr], lambda x, axis: x.mean(axis=axis),
                                 n_resamples=n_resamples, seed=seed, key=key, paired=False)
    low, high = (float(ci[0]), float(ci[1])) if ci else (None, None)
    return Estimate(float(arr.mean()), low, high, n_seeds=int(arr.size),
                    note="" if ci else "one seed: no CI")


def convergence_cost(
    runs: Mapping[int, Convergence], unit: ConvergenceUnit = "steps", *,
    n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0, key: str,
) -> Estimate:
    """Mean over seeds of the cost (steps, rollout tokens or seconds) to reach the threshold.

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
    est = seed_mean({s: c for s, (c, _) in costs.items()}, n_resamples=n_resamples, seed=seed, key=key)
    if n_censored:
        return Estimate(est.value, est.low, est.high, len(seeds), bound="lower",
                        note=f"not reached in {n_censored} of {len(seeds)} seeds: a lower bound",
                        extra=extra)
    return Estimate(est.value, est.low, est.high, len(seeds), note=est.note, extra=extra)


def convergence_speedup(
    runs: Mapping[int, Convergence], baseline_runs: Mapping[int, Convergence],
    unit: ConvergenceUnit = "steps", *,
    n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0, key: str,
) -> Estimate:
    """Speedup of X vs a baseline: mean_s cost(B, s) / mean_s cost(X, s), paired by seed.

    >1 means X reaches the threshold sooner. Censoring turns the estimate into a bound:
    X censored (true cost larger) -> an upper bound; baseline censored -> a lower bound;
    both -> undefined.
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
    if xa.mean() <= 0 or ba.mean() <= 0:
        return Estimate(None, n_seeds=len(seeds), extra=extra,
                        note="threshold already met at step 0: speed not measurable")
    bound = "upper" if x_cens else ("lower" if b_cens else None)
    note = {"upper": "the objective never reached the threshold in some seed: an upper bound",
            "lower": "the baseline never reached the threshold in some seed: a lower bound",
            None: ""}[bound]

    def ratio(xs: np.ndarray, bs: np.ndarray, axis: int) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return bs.mean(axis=axis) / xs.mean(axis=axis)

    ci = seed_bootstrap_interval([xa, ba], ratio, n_resamples=n_resamples, seed=seed, key=key)
    if ci is not None and not (np.isfinite(ci[0]) and np.isfinite(ci[1])):
        ci = None
    if ci is None and not note:
        note = "one seed: no CI" if len(seeds) < 2 else "CI undefined"
    return Estimate(float(ba.mean() / xa.mean()),
                    float(ci[0]) if ci else None, float(ci[1]) if ci else None,
                    len(seeds), bound=bound, note=note, extra=extra)


def curve_band(
    values: np.ndarray, *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0, key: str
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Mean and 95% seed-bootstrap band of curves. values: [S, T] (S seeds, T steps).

    Returns (mean [T], low [T] or None, high [T] or None); None with fewer than 2 seeds.
    """
    values = np.asarray(values, dtype=float)
    mean = values.mean(axis=0)
    ci = seed_bootstrap_interval([values], lambda x, axis: x.mean(axis=axis),
                                 n_resamples=n_resamples, seed=seed, key=key, paired=False)
    if ci is None:
        return mean, None, None
    return mean, ci[0], ci[1]
