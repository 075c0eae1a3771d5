"""Bootstrap CIs: calibrated on synthetic data, paired, deterministic, honest about bounds."""
from __future__ import annotations

import numpy as np
import pytest

from harness.metrics import (
    BenchmarkAggregate,
    Convergence,
    RunEval,
    SeedItemBootstrap,
    convergence_cost,
    convergence_speedup,
    paired_seeds,
    percentile_interval,
    seed_bootstrap_interval,
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def test_crossed_bootstrap_ci_covers_true_accuracy_at_about_95_percent() -> None:
    """Cheap calibration: 200 synthetic comparisons with known truth (seeds x items crossed,
    item difficulty shared by all seeds). Expected ~0.97 (the scheme is mildly conservative);
    a seed-only bootstrap would sit near 0.65 here, a nested one near 0.85-0.9."""
    rng = np.random.default_rng(7)
    mu, seed_sd, item_sd = 0.2, 0.15, 1.5
    draws = rng.standard_normal((400_000, 2))
    truth = _sigmoid(mu + seed_sd * draws[:, 0] + item_sd * draws[:, 1]).mean()
    n_seeds, n_items, trials, covered = 4, 150, 200, 0
    for t in range(trials):
        seed_effect = rng.normal(0, seed_sd, n_seeds)
        item_effect = rng.normal(0, item_sd, n_items)
        p = _sigmoid(mu + seed_effect[:, None] + item_effect[None, :])
        scores = (rng.random((n_seeds, n_items)) < p).astype(float)
        boot = SeedItemBootstrap({f"s{s}": scores[s] for s in range(n_seeds)},
                                 n_resamples=600, seed=t, key="coverage")
        _, replicates = boot.per_seed([f"s{s}" for s in range(n_seeds)])
        low, high = percentile_interval(replicates.mean(axis=1))
        covered += low <= truth <= high
    assert 0.90 <= covered / trials <= 0.995


def _runs(rng: np.random.Generator, n_items: int = 300) -> dict[tuple[str, int], RunEval]:
    runs = {("base", 0): RunEval((rng.random(n_items) < 0.4).astype(float), np.full(n_items, 50.0))}
    for objective, p, length in [("grpo", 0.5, 40.0), ("hmpo", 0.5, 30.0), ("tepo", 0.55, 40.0)]:
        for seed in range(3):
            scores = (rng.random(n_items) < p).astype(float)
            runs[(objective, seed)] = RunEval(scores, rng.normal(length, 5, n_items))
    return runs


def test_bootstrap_is_deterministic_and_a_figure_ignores_other_objectives() -> None:
    runs = _runs(np.random.default_rng(0))
    a = BenchmarkAggregate(runs, n_resamples=2000, seed=0, key="eval/math")
    b = BenchmarkAggregate(runs, n_resamples=2000, seed=0, key="eval/math")
    fewer = {k: v for k, v in runs.items() if k[0] != "tepo"}
    c = BenchmarkAggregate(fewer, n_resamples=2000, seed=0, key="eval/math")
    assert a.accuracy_change("hmpo", "grpo") == b.accuracy_change("hmpo", "grpo")
    assert a.compression("hmpo", "grpo") == c.compression("hmpo", "grpo")
    other_seed = BenchmarkAggregate(runs, n_resamples=2000, seed=1, key="eval/math")
    assert other_seed.accuracy("grpo").low != a.accuracy("grpo").low


def test_paired_difference_of_identical_answers_has_zero_width_ci() -> None:
    """Paired by seed and by item: X that answers exactly like the comparator has a
    difference of exactly 0 in every resample (an unpaired CI would be ~±8 points)."""
    rng = np.random.default_rng(1)
    runs = _runs(rng)
    for seed in range(3):
        runs[("copy", seed)] = RunEval(runs[("grpo", seed)].scores.copy(), runs[("grpo", seed)].lengths * 0.8)
    agg = BenchmarkAggregate(runs, n_resamples=2000, seed=0, key="eval/math")
    change = agg.accuracy_change("copy", "grpo")
    assert (change.value, change.low, change.high) == (0.0, 0.0, 0.0)
    comp = agg.compression("copy", "grpo")
    assert comp.value == pytest.approx(0.2) and comp.low == pytest.approx(0.2) and comp.high == pytest.approx(0.2)


def test_base_model_is_compared_with_every_seed() -> None:
    assert paired_seeds([0, 1, 2], [0], fixed_comparator=True) == [(0, 0), (1, 0), (2, 0)]
    assert paired_seeds([0, 1, 2], [1, 2, 3]) == [(1, 1), (2, 2)]
    agg = BenchmarkAggregate(_runs(np.random.default_rng(2)), n_resamples=500, seed=0, key="m")
    gain = agg.accuracy_change("grpo", "base")
    assert gain.n_seeds == 3 and gain.low < gain.value < gain.high


def test_seed_bootstrap_needs_two_seeds_and_uses_scipy_percentile() -> None:
    assert seed_bootstrap_interval([np.array([3.0])], lambda x, axis: x.mean(axis=axis), key="k") is None
    low, high = seed_bootstrap_interval([np.array([1.0, 2.0, 3.0, 4.0])],
                                        lambda x, axis: x.mean(axis=axis), key="k", n_resamples=2000)
    assert 1.0 <= low < 2.5 < high <= 4.0


def _conv(step: int | None, last: int = 60) -> Convergence:
    reached = step is not None
    return Convergence(0.5, reached, step, float(step * 100) if reached else None,
                       float(step) if reached else None, last, last * 100.0, float(last))


def test_speedup_with_censored_runs_is_a_bound_never_a_number() -> None:
    fast = {0: _conv(20), 1: _conv(20), 2: _conv(30)}
    slow = {0: _conv(40), 1: _conv(40), 2: _conv(60)}
    never = {0: _conv(None), 1: _conv(None), 2: _conv(None)}
    exact = convergence_speedup(fast, slow, key="s", n_resamples=500)
    assert exact.value == pytest.approx(140 / 70) and exact.bound is None
    upper = convergence_speedup(never, slow, key="s", n_resamples=500)
    assert upper.bound == "upper"  # the objective never got there: true speedup is smaller
    lower = convergence_speedup(fast, never, key="s", n_resamples=500)
    assert lower.bound == "lower"
    both = convergence_speedup(never, never, key="s", n_resamples=500)
    assert both.value is None and "not measurable" in both.note
    cost = convergence_cost(never, key="c", n_resamples=500)
    assert cost.value is None and cost.bound == "lower" and "not reached" in cost.note
