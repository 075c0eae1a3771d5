"""Calibration of the intervals and the audit by simulation, in the default run's regime.

Regime (issue 17, the default 3-seed run): per-seed accuracy varies by ~3.3 points beyond
the binomial noise of the test set, and 37% of items change correctness between two runs
of one objective (item churn); ~400 test items, accuracy ~45%. Model: item i of run
(objective, seed) is correct when mu + a_run + z_i + e_run,i > 0 with a_run ~ N(0, 0.115)
(seed-level shift), z_i ~ N(0, 0.8) (item difficulty, shared by every run) and
e ~ N(0, 1) (run x item churn). ``test_the_simulated_regime_is_the_default_runs`` checks
these figures on the draws themselves.

The crossed percentile bootstrap the report used before called two equal objectives
"different" in 6.5% (3 seeds) and 2.5% (8 seeds) of 400 simulated comparisons in this
regime, and in 18.8% and 5.8% with a larger seed share (SEED_DOMINATED); the t-interval
must stay within [2%, 8%] in both regimes at 3 and at 8 seeds, and cover a known
difference at >= 92%. Everything is vectorised over trials: each test runs in seconds.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from harness.metrics import BenchmarkAggregate, Estimate, RunEval, crossed_components, seed_t
from harness.metrics.intervals import CrossedComponents
from harness.report.audit import apply_holm, decide

MU, SEED_SD, ITEM_SD, N_ITEMS = -0.12, 0.115, 0.8, 400
SEED_DOMINATED = 0.25  # a larger seed share (per-seed SD ~7.6 points), where a 3-seed bootstrap fails worst


def draw_scores(rng: np.random.Generator, trials: int, seeds: int, *, shift: float = 0.0,
                effect_sd: float = 0.0, seed_sd: float = SEED_SD) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) 0/1 scores [trials, seeds, items] of two objectives on shared items.

    B = A's model plus a mean shift on the latent scale and an item-specific effect
    b_i ~ N(0, effect_sd) (helps some items, hurts others), the same in every seed."""
    z = rng.normal(0, ITEM_SD, (trials, 1, N_ITEMS))
    b = rng.normal(0, effect_sd, (trials, 1, N_ITEMS)) if effect_sd else 0.0

    def run(extra: float | np.ndarray) -> np.ndarray:
        a = rng.normal(0, seed_sd, (trials, seeds, 1))
        return (MU + extra + a + z + rng.standard_normal((trials, seeds, N_ITEMS)) > 0).astype(float)

    return run(0.0), run(shift + b)


def true_accuracy_change(shift: float, effect_sd: float) -> float:
    """Population accuracy of B minus A: P(latent > 0) with every variance term added."""
    base = 1 + ITEM_SD ** 2 + SEED_SD ** 2
    return float(norm.cdf((MU + shift) / np.sqrt(base + effect_sd ** 2)) - norm.cdf(MU / np.sqrt(base)))


def rejects_zero(c: CrossedComponents) -> np.ndarray:
    low, high = c.interval()
    return (low > 0) | (high < 0)


def test_the_simulated_regime_is_the_default_runs() -> None:
    rng = np.random.default_rng(0)
    a, _ = draw_scores(rng, 200, 2)
    accuracy = a.mean(axis=-1)  # [trials, seeds]
    binomial_var = np.mean(accuracy * (1 - accuracy)) / N_ITEMS  # upper bound of the churn part
    churn = np.mean(a[:, 0] != a[:, 1])
    seed_sd = np.sqrt(np.var(accuracy[:, 0] - accuracy[:, 1]) / 2)  # per-seed SD within a trial
    assert 0.33 <= churn <= 0.41
    assert 0.40 <= accuracy.mean() <= 0.50
    assert 0.030 <= seed_sd <= 0.050 and seed_sd ** 2 > binomial_var  # seed share beyond items


@pytest.mark.parametrize("seeds", [3, 8])
@pytest.mark.parametrize("seed_sd", [SEED_SD, SEED_DOMINATED])
def test_two_equal_objectives_are_called_different_about_5_percent_of_the_time(seeds: int, seed_sd: float) -> None:
    rng = np.random.default_rng(100 + seeds + int(1000 * seed_sd))
    a, b = draw_scores(rng, 4000, seeds, seed_sd=seed_sd)
    fpr = rejects_zero(crossed_components(b - a)).mean()
    assert 0.02 <= fpr <= 0.08, fpr


@pytest.mark.parametrize("seeds", [3, 8])
def test_two_equal_objectives_show_no_compression_about_95_percent_of_the_time(seeds: int) -> None:
    """Lengths: log-normal per item with a shared item effect and a per-run shift."""
    rng = np.random.default_rng(200 + seeds)
    trials = 4000
    item = rng.normal(0, 0.4, (trials, 1, N_ITEMS))

    def lengths() -> np.ndarray:
        run = rng.normal(0, 0.05, (trials, seeds, 1))
        return np.exp(3.7 + item + run + rng.normal(0, 0.3, (trials, seeds, N_ITEMS)))

    lx, lc = lengths(), lengths()
    mx, mc = lx.mean(axis=-1), lc.mean(axis=-1)
    per_seed = np.log(mc / mx)
    linearised = per_seed[..., None] + lc / mc[..., None] - lx / mx[..., None]
    fpr = rejects_zero(crossed_components(linearised, per_seed)).mean()
    assert 0.02 <= fpr <= 0.08, fpr


@pytest.mark.parametrize("seeds", [3, 8])
@pytest.mark.parametrize("shift,effect_sd", [(0.15, 0.0), (0.15, 0.5), (0.0, 0.8)])
def test_a_known_accuracy_difference_is_covered_at_least_92_percent(seeds: int, shift: float,
                                                                    effect_sd: float) -> None:
    """Including item-specific effects that are the same in every seed: the shared test-set
    term is what keeps these covered."""
    rng = np.random.default_rng(300 + seeds + int(100 * effect_sd))
    a, b = draw_scores(rng, 3000, seeds, shift=shift, effect_sd=effect_sd)
    truth = true_accuracy_change(shift, effect_sd)
    low, high = crossed_components(b - a).interval()
    coverage = np.mean((low <= truth) & (truth <= high))
    # 92% is the acceptance floor; 93.5% is nominal 95% less 4 SEs of 3000 trials, and
    # catches a seed-only t (92.3% at 8 seeds with item effects of SD 0.8)
    assert coverage >= 0.935, coverage


def test_a_known_speedup_is_covered_at_least_92_percent() -> None:
    """Per-seed convergence costs log-normal around 40 and 20 steps: truth 2x."""
    rng = np.random.default_rng(400)
    covered = 0
    trials = 2000
    for _ in range(trials):
        x = 20 * np.exp(rng.normal(0, 0.4, 3))
        b = 40 * np.exp(rng.normal(0, 0.4, 3))
        low, high = seed_t(np.log(b / x), scale="ratio").interval()
        covered += low <= 2.0 <= high
    assert covered / trials >= 0.92


def test_the_report_uses_the_simulated_interval() -> None:
    """BenchmarkAggregate (what the report runs) gives the intervals simulated above."""
    rng = np.random.default_rng(500)
    a, b = draw_scores(rng, 5, 3, shift=0.1, effect_sd=0.5)
    lengths = np.full(N_ITEMS, 40.0)
    for t in range(5):
        runs = {("a", s): RunEval(a[t, s], lengths) for s in range(3)}
        runs.update({("b", s): RunEval(b[t, s], lengths) for s in range(3)})
        est = BenchmarkAggregate(runs).accuracy_change("b", "a")
        low, high = crossed_components(b[t] - a[t]).interval()
        assert (est.low, est.high) == pytest.approx((float(low), float(high)), rel=1e-12)


def test_holm_keeps_the_chance_of_any_false_verdict_near_5_percent() -> None:
    """Eight direction-only claims ("X beats Y") where every X equals its Y, 3 seeds each:
    without a correction some claim is "supported" in ~18% of audits (1 - 0.975^8); with
    Holm, <= 5% (600 audits: the 18% and 2.5% expectations sit 6 and 4 SEs from the bounds)."""
    rng = np.random.default_rng(600)
    audits, claims = 600, 8
    any_raw = any_holm = 0
    for _ in range(audits):
        decisions = []
        for d in rng.normal(0, 0.04, (claims, 3)):
            stat = seed_t(d)
            low, high = stat.interval()
            decisions.append(decide(Estimate(stat.value, low, high, 3, stat=stat), null=0.0))
        any_raw += any(d.verdict == "supported" for d in decisions)
        any_holm += any(d.verdict == "supported" for d in apply_holm(decisions))
    assert any_raw / audits > 0.10
    assert any_holm / audits <= 0.05
