"""The metric definitions of harness.metrics: each checked against its plain meaning."""
from __future__ import annotations

import ast
import itertools
from pathlib import Path

import numpy as np
import pytest

from harness.metrics import (
    Convergence,
    accuracy,
    compression,
    compression_over_seeds,
    convergence,
    convergence_threshold,
    final_val_accuracy,
    mean_length,
    mean_length_correct,
    mean_pass_at_k,
    pass_at_k,
    speedup,
    speedup_over_seeds,
    start_val_accuracy,
)

REPO = Path(__file__).resolve().parent.parent


def test_pass_at_k_matches_brute_force_over_all_k_subsets() -> None:
    """pass@k = P(a random k-subset of the n samples holds a correct one), enumerated."""
    for n in range(1, 9):
        for c in range(n + 1):
            samples = [1] * c + [0] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(range(n), k))
                brute = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
                assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12), (n, c, k)


def test_pass_at_k_is_stable_for_large_n_and_rejects_impossible_counts() -> None:
    assert pass_at_k(1000, 1, 1) == pytest.approx(0.001)
    assert 0.0 < pass_at_k(10_000, 3, 100) < 1.0
    assert mean_pass_at_k([0, 5, 10], n=10, k=1) == pytest.approx(0.5)
    for bad in [(5, 6, 1), (5, 2, 0), (5, 2, 6)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)


def test_accuracy_and_lengths_follow_their_definitions() -> None:
    scores = np.array([1, 0, 1, 1.0])
    lengths = np.array([10, 40, 20, 30.0])
    assert accuracy(scores) == 0.75
    assert mean_length(lengths) == 25.0
    assert mean_length_correct(lengths, scores) == 20.0
    assert mean_length_correct(lengths, np.zeros(4)) is None  # undefined, not 0
    with pytest.raises(ValueError):
        accuracy([])


def test_compression_is_one_minus_length_ratio_and_never_clipped() -> None:
    assert compression(30, 40) == pytest.approx(0.25)
    assert compression(60, 40) == pytest.approx(-0.5)  # longer: negative, kept as is
    with pytest.raises(ValueError):
        compression(10, 0)


def _curve(vals: list[float], every: int = 10) -> list[dict]:
    lines = [{"step": 0, "val_accuracy": vals[0], "rollout_tokens": 0, "wall_s": 0.0}]
    for i, v in enumerate(vals[1:], start=1):
        step = i * every
        lines.append({"step": step - 1, "loss": 0.1, "rollout_tokens": 100 * (step - 1), "wall_s": 2.0 * (step - 1)})
        lines.append({"step": step, "val_accuracy": v, "rollout_tokens": 100 * step, "wall_s": 2.0 * step})
    return lines


def test_convergence_is_where_the_curve_crosses_and_stays_above_the_threshold() -> None:
    conv = convergence(_curve([0.3, 0.4, 0.5, 0.45, 0.6]), threshold=0.5)
    assert conv is not None and conv.reached
    # touched at step 20, fell back at 30: converged only from step 40 on
    assert (conv.step, conv.rollout_tokens, conv.wall_s) == (40, 4000.0, 80.0)
    assert conv.cost("rollout_tokens") == (4000.0, False)
    steady = convergence(_curve([0.3, 0.5, 0.55, 0.6]), threshold=0.5)
    assert steady is not None and steady.step == 10


def test_a_run_that_crossed_early_and_ended_below_is_censored() -> None:
    """The issue's TGC seed 1: 41.9% at step 10, above a 41.5% threshold, then below to the end."""
    conv = convergence(_curve([0.388, 0.419, 0.40, 0.41, 0.405, 0.41, 0.412]), threshold=0.415)
    assert conv is not None and not conv.reached and conv.cost("steps") == (60.0, True)


def test_convergence_never_reached_is_censored_not_made_up() -> None:
    conv = convergence(_curve([0.3, 0.4, 0.45]), threshold=0.5)
    assert conv is not None and not conv.reached
    assert conv.step is None and conv.rollout_tokens is None and conv.wall_s is None
    assert conv.cost("steps") == (20.0, True)  # the censoring point, flagged as censored
    assert conv.to_dict()["reached"] is False
    assert convergence([{"step": 1, "loss": 0.0}], 0.5) is None  # no validation at all


def test_convergence_handles_any_validation_interval() -> None:
    for every in (1, 3, 7):
        conv = convergence(_curve([0.3, 0.4, 0.6, 0.6], every=every), threshold=0.5)
        assert conv is not None and conv.step == 2 * every


def test_threshold_is_a_fraction_of_the_way_from_start_to_reference_final() -> None:
    runs = [_curve([0.3, 0.5]), _curve([0.3, 0.7])]
    finals = [final_val_accuracy(r) for r in runs]
    assert finals == [0.5, 0.7] and [start_val_accuracy(r) for r in runs] == [0.3, 0.3]
    t = convergence_threshold([0.3, 0.3], finals, 0.95, n_val=1000)
    assert t.value == pytest.approx(0.3 + 0.95 * (0.6 - 0.3)) and not t.floored
    assert t.margin_se == pytest.approx((t.value - 0.3) / np.sqrt(0.3 * 0.7 / 1000))


def test_threshold_sits_at_least_3_validation_standard_errors_above_the_start() -> None:
    """The issue's default run: start 38.8%, GRPO final 43.7% on 363 items. The old rule
    (0.95 x final = 41.5%) sat one SE above the start; the new one is floored at 3 SE."""
    se = np.sqrt(0.388 * 0.612 / 363)
    assert (0.95 * 0.437 - 0.388) / se == pytest.approx(1.05, abs=0.05)  # the old rule's margin
    t = convergence_threshold([0.388], [0.437], 0.95, n_val=363)
    assert t.floored and t.value == pytest.approx(0.388 + 3 * se) and t.margin_se == pytest.approx(3.0)
    assert t.reference_final < t.value  # GRPO's own gain is within validation noise here
    unknown = convergence_threshold([0.388], [0.437], 0.95)  # items unknown: no floor, no margin
    assert unknown.margin_se is None and unknown.value == pytest.approx(0.388 + 0.95 * 0.049)


def test_aggregates_of_ratios_are_geometric_means_over_seeds() -> None:
    assert speedup_over_seeds([40, 40], [20, 80]) == pytest.approx(1.0)  # 2x and 0.5x
    assert compression_over_seeds([30, 30], [40, 40]) == pytest.approx(compression(30, 40))
    assert compression_over_seeds([20, 45], [40, 45]) == pytest.approx(1 - np.sqrt(0.5))
    with pytest.raises(ValueError):
        speedup_over_seeds([40], [0])


def test_speedup_is_baseline_cost_over_objective_cost() -> None:
    assert speedup(40, 20) == 2.0  # "50% less convergence time"
    assert speedup(40, 0) is None  # threshold met before training: not measurable
    assert isinstance(Convergence(0.5, True, 1, 1.0, 1.0, 1, 1.0, 1.0).cost()[0], float)


def _imported_modules(package: Path) -> set[str]:
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["harness/metrics", "harness/report"])
def test_metrics_and_report_never_import_train_or_rollout(package: str) -> None:
    imported = _imported_modules(REPO / package)
    bad = sorted(m for m in imported if m.startswith(("harness.train", "harness.rollout", "torch")))
    assert not bad, f"{package} imports {bad}: it must only read result files"
