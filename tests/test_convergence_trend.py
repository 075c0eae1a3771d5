"""Is the reference still rising when the run stops? (late validation slope, the report's
"had not converged" warning and the audit's reason for an undecided convergence claim)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.metrics import late_validation_slope
from harness.report import cli
from harness.report.synthetic import SyntheticObjective, synthetic_config, write_synthetic_results

REPO = Path(__file__).resolve().parent.parent
CLAIMS = str(REPO / "config" / "claims.yaml")


def _lines(points: list[tuple[int, float]]) -> list[dict[str, float]]:
    # training lines without validation in between must be ignored
    out: list[dict[str, float]] = []
    for step, acc in points:
        out.append({"step": step + 1, "loss": 0.0})
        out.append({"step": step, "val_accuracy": acc})
    return out


def test_late_slope_is_the_least_squares_slope_of_the_late_half() -> None:
    # late half of a run validated up to step 60: steps 30, 40, 50, 60 (step 20 is out)
    # x = 30..60 (mean 45, dx -15 -5 5 15), y = .30 .50 .50 .70 (mean .5, dy -.2 0 0 .2):
    # sum dx dy = 3 + 0 + 0 + 3 = 6, sum dx^2 = 500 -> 0.012 per step
    points = [(0, 0.1), (10, 0.9), (20, 0.9), (30, 0.30), (40, 0.50), (50, 0.50), (60, 0.70)]
    assert late_validation_slope(_lines(points)) == pytest.approx(0.012)
    # a flat late half has slope 0 whatever came before
    flat = [(0, 0.1), (10, 0.2), (20, 0.4), (30, 0.5), (40, 0.5), (50, 0.5), (60, 0.5)]
    assert late_validation_slope(_lines(flat)) == pytest.approx(0.0)
    # the window is a parameter: from step 40 on, .5 .5 .7 (dx -10 0 10, dy -.0667 -.0667 .1333) -> 0.01
    assert late_validation_slope(_lines(points), from_frac=40 / 60) == pytest.approx(0.01)


def test_late_slope_needs_three_late_validations() -> None:
    assert late_validation_slope(_lines([(0, 0.1), (10, 0.2), (20, 0.3)])) is None  # late: 10, 20
    assert late_validation_slope([]) is None
    assert late_validation_slope([{"step": 3, "loss": 1.0}]) is None


def _rising_reference(results: Path, seeds: list[int], steps: int = 60, val_every: int = 10) -> None:
    """Rewrite grpo's validation lines as a line from 0.30 to 0.50 + a per-seed bump at its
    end: still rising at the run's end, and some seeds end below 0.95 of the mean gain."""
    ends = {0: 0.46, 1: 0.50, 2: 0.54}
    for seed in seeds:
        path = results / "runs" / "grpo" / f"seed{seed}" / "metrics.jsonl"
        lines = [json.loads(x) for x in path.read_text().splitlines()]
        for line in lines:
            if "val_accuracy" in line:
                line["val_accuracy"] = 0.30 + (ends[seed] - 0.30) * line["step"] / steps
        path.write_text("".join(json.dumps(x) + "\n" for x in lines))


def _setup(tmp_path: Path, rising: bool) -> tuple[Path, Path]:
    results = tmp_path / "results"
    objectives = {
        "grpo": SyntheticObjective(accuracy=0.50, length=40, converge_step=40, seed_offsets=(0.0, 0.02, 0.01)),
        "dapo": SyntheticObjective(accuracy=0.52, length=42, converge_step=30),
        "tepo": SyntheticObjective(accuracy=0.50, length=44, converge_step=20),
    }
    write_synthetic_results(results, objectives, n_items=300)
    if rising:
        _rising_reference(results, [0, 1, 2])
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(synthetic_config(list(objectives), claims=CLAIMS)))
    assert cli.main(["--config", str(config), "--results", str(results), "--no-mlflow"]) == 0
    return config, results


def test_a_reference_still_rising_at_the_end_is_reported_as_too_short(tmp_path: Path) -> None:
    _, results = _setup(tmp_path, rising=True)
    summary = json.loads((results / "summary.json").read_text())
    trend = summary["convergence"]["reference_trend"]
    # per seed: late gain = (end - 0.30) / 60 x (60 - 30) = (end - 0.30) / 2: 0.08, 0.10, 0.12
    assert trend["late_gain"] == pytest.approx(0.10)
    assert trend["from_step"] == 30 and trend["to_step"] == 60 and trend["n_seeds"] == 3
    assert trend["ci"][0] > 0 and trend["still_rising"] is True
    # threshold 0.30 + 0.95 x 0.20 = 0.49: seed 0 ends at 0.46, below it
    assert trend["censored_seeds"] == 1 and trend["too_short"] is True
    md = (results / "leaderboard.md").read_text()
    assert "**The reference had not converged when the run stopped:** grpo's validation accuracy changed by +10.0 pts" in md
    assert "below the threshold at the end of 1 of its 3 seeds" in md
    audit = (results / "audit.md").read_text()
    convergence_rows = [line for line in audit.splitlines() if line.startswith("| tepo_convergence_vs_grpo")]
    assert convergence_rows and "too short to measure convergence" in convergence_rows[0]


def test_a_reference_that_crossed_in_every_seed_is_not_called_too_short(tmp_path: Path) -> None:
    # The synthetic reference jumps to its plateau at step 40, inside the late window: its
    # late slope is positive, but it crossed the threshold in every seed, so it converged.
    _, results = _setup(tmp_path, rising=False)
    trend = json.loads((results / "summary.json").read_text())["convergence"]["reference_trend"]
    assert trend["censored_seeds"] == 0 and trend["too_short"] is False
    md = (results / "leaderboard.md").read_text()
    assert "had not converged" not in md
    assert "Late trend: grpo's validation accuracy changed by" in md
    assert "too short to measure convergence" not in (results / "audit.md").read_text()
