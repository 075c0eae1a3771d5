"""t-intervals over seeds: exact paired t, the shared test-set term, p-values, MDE, Holm.

Expected values are computed here independently (scipy.stats.t directly, explicit loops
for the ANOVA), not by calling the code under test twice.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from harness.metrics import (
    BenchmarkAggregate,
    Convergence,
    RunEval,
    TStat,
    compression_over_seeds,
    convergence_cost,
    convergence_speedup,
    crossed_t,
    curve_band,
    holm_adjust,
    item_t,
    paired_seeds,
    seed_t,
    seeds_to_detect,
    speedup_over_seeds,
)


def test_seed_t_is_the_textbook_student_t_interval() -> None:
    d = np.array([0.031, -0.012, 0.054, 0.008])
    lo, hi = seed_t(d).interval()
    expect = scipy.stats.t.interval(0.95, df=3, loc=d.mean(), scale=d.std(ddof=1) / 2)
    assert (lo, hi) == pytest.approx(expect, rel=1e-12)


def test_crossed_t_equals_the_paired_t_when_items_share_no_effect() -> None:
    """A table whose columns carry no common effect (each item's difference averages to
    exactly the grand mean) has item component 0: the interval is the paired t over seeds."""
    rng = np.random.default_rng(0)
    seed_effect = np.array([0.02, -0.03, 0.05])
    noise = rng.normal(0, 0.3, (3, 200))
    noise -= noise.mean(axis=0, keepdims=True)  # no column effect at all
    table = seed_effect[:, None] + noise
    stat = crossed_t(table)
    assert stat.item_var == 0.0
    rows = table.mean(axis=1)
    expect = scipy.stats.t.interval(0.95, df=2, loc=rows.mean(), scale=rows.std(ddof=1) / math.sqrt(3))
    assert stat.interval() == pytest.approx(expect, rel=1e-10)


def test_item_component_is_the_two_way_anova_estimate() -> None:
    """(MS_items - MS_resid) / (S N), with the mean squares summed by hand."""
    rng = np.random.default_rng(1)
    s, n = 4, 30
    table = rng.normal(0, 1, (s, n)) + rng.normal(0, 1.5, n)[None, :]
    grand = sum(table[i, j] for i in range(s) for j in range(n)) / (s * n)
    col = [sum(table[i, j] for i in range(s)) / s for j in range(n)]
    row = [sum(table[i, j] for j in range(n)) / n for i in range(s)]
    ms_items = s * sum((c - grand) ** 2 for c in col) / (n - 1)
    ms_resid = sum((table[i, j] - row[i] - col[j] + grand) ** 2
                   for i in range(s) for j in range(n)) / ((s - 1) * (n - 1))
    stat = crossed_t(table)
    assert stat.item_var == pytest.approx((ms_items - ms_resid) / (s * n), rel=1e-10)
    assert stat.seed_var == pytest.approx(np.var(row, ddof=1), rel=1e-10)
    # the shared item term widens the interval beyond the paired t over seeds
    lo, hi = stat.interval()
    t_only = scipy.stats.t.ppf(0.975, s - 1) * math.sqrt(stat.seed_var / s)
    assert hi - lo > 2 * t_only * 0.99


def test_p_values_are_the_interval_inverted() -> None:
    """p_greater(lower CI end) = p_less(upper end) = 0.025: a p below 0.05 (x2 one-sided)
    is exactly a 95% CI that excludes the value, also with a test-set component."""
    for stat in (TStat(0.02, 0.004, 0.0, 3), TStat(0.02, 0.004, 0.0005, 3, 399.0),
                 TStat(0.5, 0.09, 0.0, 5, scale="ratio")):
        lo, hi = stat.interval()
        assert stat.p_greater(lo) == pytest.approx(0.025, abs=1e-9)
        assert stat.p_less(hi) == pytest.approx(0.025, abs=1e-9)
        assert stat.p_greater(stat.value) == pytest.approx(0.5)


def test_mde_is_the_paired_t_power_formula_and_has_80_percent_power() -> None:
    sd, n = 0.05, 5
    stat = TStat(0.0, sd ** 2, 0.0, n)
    expect = (scipy.stats.t.ppf(0.975, n - 1) + scipy.stats.t.ppf(0.8, n - 1)) * sd / math.sqrt(n)
    assert stat.mde() == pytest.approx(expect, rel=1e-12)
    # Power, simulated: a true effect of that size is detected in ~80% of 4000 paired t-tests
    # (the formula is the usual approximation that ignores the far tail; exact power ~0.78-0.8).
    rng = np.random.default_rng(2)
    d = rng.normal(expect, sd, (4000, n))
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(n))
    power = np.mean(np.abs(t) > scipy.stats.t.ppf(0.975, n - 1))
    assert 0.74 <= power <= 0.84


def test_seeds_to_detect_shrinks_the_seed_part_only() -> None:
    stat = TStat(0.0, 0.0025, 0.0, 3)
    needed = seeds_to_detect(stat, 0.03, max_seeds=100)
    assert needed is not None and stat.mde(needed) <= 0.03 < stat.mde(needed - 1)
    # test-set noise larger than the distance: no number of seeds settles it
    noisy = TStat(0.0, 0.0025, 0.03 ** 2, 3, 399.0)
    assert seeds_to_detect(noisy, 0.03, max_seeds=100) is None


def test_holm_matches_the_step_down_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max
    assert holm_adjust(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjust([]) == []


def _runs(rng: np.random.Generator, n_items: int = 300) -> dict[tuple[str, int], RunEval]:
    runs = {("base", 0): RunEval((rng.random(n_items) < 0.4).astype(float), np.full(n_items, 50.0))}
    for objective, p, length in [("grpo", 0.5, 40.0), ("hmpo", 0.5, 30.0), ("tepo", 0.55, 40.0)]:
        for seed in range(3):
            scores = (rng.random(n_items) < p).astype(float)
            runs[(objective, seed)] = RunEval(scores, rng.normal(length, 5, n_items))
    return runs


def test_paired_difference_of_identical_answers_has_zero_width_ci() -> None:
    """Paired by seed and by item: X that answers exactly like the comparator has a
    difference of exactly 0 in every seed (an unpaired CI would be ~+-8 points)."""
    runs = _runs(np.random.default_rng(1))
    for seed in range(3):
        runs[("copy", seed)] = RunEval(runs[("grpo", seed)].scores.copy(), runs[("grpo", seed)].lengths * 0.8)
    agg = BenchmarkAggregate(runs)
    change = agg.accuracy_change("copy", "grpo")
    assert (change.value, change.low, change.high) == (0.0, 0.0, 0.0)
    comp = agg.compression("copy", "grpo")
    assert comp.value == pytest.approx(0.2) and comp.low == pytest.approx(0.2) and comp.high == pytest.approx(0.2)


def test_compression_is_one_minus_the_geometric_mean_length_ratio() -> None:
    runs = _runs(np.random.default_rng(3))
    agg = BenchmarkAggregate(runs)
    mx = np.array([runs[("hmpo", s)].lengths.mean() for s in range(3)])
    mc = np.array([runs[("grpo", s)].lengths.mean() for s in range(3)])
    comp = agg.compression("hmpo", "grpo")
    assert comp.value == pytest.approx(1 - np.exp(np.mean(np.log(mx / mc))), rel=1e-12)
    assert comp.value == pytest.approx(compression_over_seeds(mx, mc))
    assert comp.low < comp.value < comp.high and 0.2 < comp.low and comp.high < 0.3


def test_base_is_a_fixed_model_compared_with_every_seed() -> None:
    assert paired_seeds([0, 1, 2], [0], fixed_comparator=True) == [(0, 0), (1, 0), (2, 0)]
    assert paired_seeds([0, 1, 2], [1, 2, 3]) == [(1, 1), (2, 2)]
    runs = _runs(np.random.default_rng(2))
    agg = BenchmarkAggregate(runs)
    gain = agg.accuracy_change("grpo", "base")
    assert gain.n_seeds == 3 and gain.low < gain.value < gain.high
    base = agg.accuracy("base")  # one model, one evaluation: the item-level t
    scores = runs[("base", 0)].scores
    expect = scipy.stats.t.interval(0.95, len(scores) - 1, scores.mean(), scores.std(ddof=1) / math.sqrt(len(scores)))
    assert (base.low, base.high) == pytest.approx(expect, rel=1e-9)
    assert item_t(scores).n == 1


def test_one_seed_gets_no_interval_rather_than_an_item_only_one() -> None:
    runs = {k: v for k, v in _runs(np.random.default_rng(4)).items() if k[1] == 0}
    agg = BenchmarkAggregate(runs)
    acc = agg.accuracy("grpo")
    assert acc.value is not None and not acc.has_ci and "one seed" in acc.note


def _conv(step: int | None, last: int = 60) -> Convergence:
    reached = step is not None
    return Convergence(0.5, reached, step, float(step * 100) if reached else None,
                       float(step) if reached else None, last, last * 100.0, float(last))


def test_speedup_is_a_geometric_mean_with_a_t_interval_on_log_ratios() -> None:
    """The issue's example: TEPO crossing at 40/10/20 vs GRPO's 50/30/50 gives a t-interval
    on the log ratio of [0.67x, 6.6x], not a decided 1.86x."""
    tepo = {0: _conv(40), 1: _conv(10), 2: _conv(20)}
    grpo = {0: _conv(50), 1: _conv(30), 2: _conv(50)}
    est = convergence_speedup(tepo, grpo)
    logs = np.log([50 / 40, 30 / 10, 50 / 20])
    assert est.value == pytest.approx(np.exp(logs.mean())) == speedup_over_seeds([50, 30, 50], [40, 10, 20])
    lo, hi = scipy.stats.t.interval(0.95, 2, logs.mean(), logs.std(ddof=1) / math.sqrt(3))
    assert (est.low, est.high) == pytest.approx((math.exp(lo), math.exp(hi)), rel=1e-10)
    assert round(est.low, 2) == 0.67 and round(est.high, 1) == 6.6


def test_speedup_with_censored_runs_is_a_bound_never_a_number() -> None:
    fast = {0: _conv(20), 1: _conv(20), 2: _conv(30)}
    slow = {0: _conv(40), 1: _conv(40), 2: _conv(60)}
    never = {0: _conv(None), 1: _conv(None), 2: _conv(None)}
    exact = convergence_speedup(fast, slow)
    assert exact.value == pytest.approx(2.0) and exact.bound is None
    upper = convergence_speedup(never, slow)
    assert upper.bound == "upper"  # the objective never got there: true speedup is smaller
    lower = convergence_speedup(fast, never)
    assert lower.bound == "lower"
    both = convergence_speedup(never, never)
    assert both.value is None and "not measurable" in both.note
    cost = convergence_cost(never)
    assert cost.value is None and cost.bound == "lower" and "not reached" in cost.note


def test_a_convergence_cost_is_a_geometric_mean_with_a_positive_log_t_interval() -> None:
    """Steps 20, 40, 80: geometric mean 40, interval exp(mean log +- t_0.975,2 x SD/sqrt 3).
    Seconds 100, 120, 1000 (one seed on a busy machine): the arithmetic t-interval reaches
    below 0 (what the leaderboard printed); the log one stays positive."""
    runs = {0: _conv(20), 1: _conv(40), 2: _conv(80)}
    cost = convergence_cost(runs, "steps")
    logs = np.log([20.0, 40.0, 80.0])
    half = scipy.stats.t.ppf(0.975, 2) * logs.std(ddof=1) / math.sqrt(3)
    assert cost.value == pytest.approx(40.0)
    assert (cost.low, cost.high) == pytest.approx((40.0 * math.exp(-half), 40.0 * math.exp(half)))
    slow = {0: _conv(100, last=2000), 1: _conv(120, last=2000), 2: _conv(1000, last=2000)}
    seconds = [100.0, 120.0, 1000.0]
    arithmetic_low = np.mean(seconds) - scipy.stats.t.ppf(0.975, 2) * np.std(seconds, ddof=1) / math.sqrt(3)
    assert arithmetic_low < 0
    wall = convergence_cost(slow, "wall_s")
    assert wall.low is not None and wall.low > 0 and wall.value == pytest.approx(np.exp(np.log(seconds).mean()))
    at_start = convergence_cost({0: _conv(0), 1: _conv(10), 2: _conv(20)}, "steps")
    assert at_start.value == pytest.approx(10.0) and "arithmetic" in at_start.note


def test_curve_band_is_a_t_band_per_step_and_absent_for_one_seed() -> None:
    values = np.array([[0.1, 0.3], [0.2, 0.5], [0.3, 0.4]])
    mean, low, high = curve_band(values)
    half = scipy.stats.t.ppf(0.975, 2) * values.std(axis=0, ddof=1) / math.sqrt(3)
    assert np.allclose(low, mean - half) and np.allclose(high, mean + half)
    assert curve_band(values[:1])[1] is None
