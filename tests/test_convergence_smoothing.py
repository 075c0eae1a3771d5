"""Convergence read from a smoothed validation curve, and whether the design can measure.

Expected values are computed by hand from the readings; the simulation tests run the
report's own threshold, crossing and interval on curves whose true speedup is known.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.metrics import convergence, final_val_accuracy, smoothed_validation_curve
from harness.metrics.convergence_power import CurveWorld, fit_curve_world, speedup_power
from harness.report import cli
from harness.report.settings import ConfigError, ReportSettings
from harness.report.synthetic import SyntheticObjective, synthetic_config, write_synthetic_results


def _lines(values: list[float], every: int = 5) -> list[dict[str, float]]:
    return [{"step": every * k, "val_accuracy": v} for k, v in enumerate(values)]


def test_the_smoothed_curve_is_the_centred_moving_mean_cut_at_the_ends() -> None:
    curve = smoothed_validation_curve(_lines([0.5, 0.6, 0.4, 0.8, 0.7]), window=3)
    assert [c["val_accuracy"] for c in curve] == pytest.approx([0.55, 0.5, 0.6, 0.6333333, 0.75])
    assert [c["step"] for c in curve] == [0, 5, 10, 15, 20]
    assert [c["val_accuracy"] for c in smoothed_validation_curve(_lines([0.5, 0.6]), window=1)] == [0.5, 0.6]
    assert final_val_accuracy(_lines([0.5, 0.6, 0.4, 0.8, 0.7]), window=5) == pytest.approx((0.4 + 0.8 + 0.7) / 3)
    with pytest.raises(ValueError, match="odd"):
        smoothed_validation_curve(_lines([0.5]), window=2)


def test_one_low_last_reading_censors_a_raw_curve_but_not_a_smoothed_one() -> None:
    # threshold 0.60: the run is above it from step 10 on, but its last reading dips to 0.58
    lines = _lines([0.40, 0.55, 0.64, 0.66, 0.65, 0.58])
    raw = convergence(lines, 0.60)
    assert raw is not None and not raw.reached
    smooth = convergence(lines, 0.60, window=3)
    # smoothed: 0.475, 0.53, 0.6167, 0.65, 0.63, 0.615 -> stays >= 0.60 from step 10
    assert smooth is not None and smooth.reached and smooth.step == 10


def test_an_even_or_zero_smoothing_window_is_a_config_error_naming_the_key() -> None:
    cfg = synthetic_config(["grpo", "dapo"])
    for bad in (2, 0, "3"):
        cfg["report"]["convergence_smooth"] = bad
        with pytest.raises(ConfigError, match="report.convergence_smooth"):
            ReportSettings.from_config(cfg)


# A world like the default's 100-step run (fit_curve_world on its grpo seeds gave start 0.50,
# gain 0.15-0.19, time constant 46-76 steps, validation noise SD 0.03 on 256 items).
DEFAULT_LIKE = CurveWorld(start=0.5, gain=0.2, tau=60.0, gain_sd=0.02, tau_log_sd=0.1, noise_sd=0.03,
                          steps=100, val_every=5, n_val=256)


def test_the_old_rule_almost_never_measures_a_speedup_and_the_new_one_usually_does() -> None:
    old = speedup_power(DEFAULT_LIKE, speed=2.0, n_seeds=5, frac=0.95, window=1, trials=300)
    new = speedup_power(DEFAULT_LIKE, speed=2.0, n_seeds=5, frac=0.5, window=3, trials=300)
    assert old.measurable < 0.05  # a plateau's seed spread exceeds the 5% margin: censored
    assert new.measurable > 0.8


@pytest.mark.parametrize("seeds", [3, 5, 8])
def test_a_known_2x_speedup_is_covered_and_an_equal_objective_rarely_called_different(seeds: int) -> None:
    """Through the report's threshold, smoothed crossing and paired t-interval on log speedups."""
    faster = speedup_power(DEFAULT_LIKE, speed=2.0, n_seeds=seeds, frac=0.5, window=3, trials=400, seed=seeds)
    equal = speedup_power(DEFAULT_LIKE, speed=1.0, n_seeds=seeds, frac=0.5, window=3, trials=400, seed=100 + seeds)
    assert faster.covered is not None and faster.covered >= 0.92
    assert equal.different is not None and equal.different <= 0.08
    assert 1.6 < (faster.geo_mean or 0.0) < 2.4


def test_the_fitted_world_recovers_the_parameters_it_was_drawn_from() -> None:
    import numpy as np

    world = CurveWorld(start=0.4, gain=0.3, tau=40.0, gain_sd=0.0, tau_log_sd=0.0, noise_sd=0.02,
                       steps=200, val_every=5)
    fitted = fit_curve_world(world.runs(np.random.default_rng(0), 8), n_val=363)
    assert fitted.tau == pytest.approx(40.0, rel=0.1)
    assert fitted.gain == pytest.approx(0.3, abs=0.01)
    assert fitted.noise_sd == pytest.approx(0.02, rel=0.1)
    assert fitted.gain_sd < 0.01 and fitted.n_val == 363


def test_the_report_adds_the_design_check_only_when_a_run_is_censored(tmp_path: Path) -> None:
    healthy = {"grpo": SyntheticObjective(converge_step=30), "dapo": SyntheticObjective(converge_step=20)}
    censored = {"grpo": SyntheticObjective(converge_step=30), "dapo": SyntheticObjective(converge_step=None)}
    for name, objectives in (("healthy", healthy), ("censored", censored)):
        results = write_synthetic_results(tmp_path / name / "results", objectives, seeds=[0, 1, 2])
        config = tmp_path / name / "config.yaml"
        cfg = synthetic_config(list(objectives), seeds=[0, 1, 2])
        config.write_text(json.dumps(cfg))
        assert cli.main(["--config", str(config), "--results", str(results), "--no-mlflow"]) == 0
        power = json.loads((results / "summary.json").read_text())["convergence"]["power"]
        md = (results / "leaderboard.md").read_text()
        if name == "healthy":
            assert power is None and "Design check" not in md
        else:
            assert power["faster"]["n_seeds"] == 3 and power["faster"]["window"] == 1
            assert 0.0 <= power["faster"]["measurable"] <= 1.0
            assert "Design check" in md
