"""`harness report`: outputs from result files, missing files named, MLflow only displays."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml

from harness.report import cli
from harness.report.synthetic import SyntheticObjective, synthetic_config, write_synthetic_results

REPO = Path(__file__).resolve().parent.parent
CLAIMS = str(REPO / "config" / "claims.yaml")

OBJECTIVES = {
    "grpo": SyntheticObjective(accuracy=0.50, length=40, converge_step=40, seed_offsets=(0.0, 0.02, -0.01)),
    "dapo": SyntheticObjective(accuracy=0.52, length=42, converge_step=30),
    "hmpo": SyntheticObjective(accuracy=0.49, length=30, converge_step=None),
    "tepo": SyntheticObjective(accuracy=0.50, length=44, converge_step=20, noise=0.05),
}


def _setup(tmp_path: Path, objectives: dict[str, SyntheticObjective] = OBJECTIVES,
           benchmarks: tuple[str, ...] = ("math",), config_objectives: list[str] | None = None,
           calibration: dict[str, str] | None = None) -> tuple[Path, Path]:
    results = tmp_path / "results"
    for benchmark in benchmarks:
        write_synthetic_results(results, objectives, benchmark=benchmark, n_items=300)
    cfg = synthetic_config(config_objectives or list(objectives), benchmarks=benchmarks, claims=CLAIMS,
                           calibration=calibration)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    return config, results


def _run(config: Path, results: Path, *extra: str) -> int:
    return cli.main(["--config", str(config), "--results", str(results), *extra])


def test_report_writes_leaderboard_audit_plots_and_summary_from_json(tmp_path: Path) -> None:
    config, results = _setup(tmp_path, benchmarks=("math", "math_hard"))
    assert _run(config, results, "--no-mlflow") == 0
    md = (results / "leaderboard.md").read_text()
    assert "## Benchmark: math\n" in md and "## Benchmark: math_hard\n" in md  # one table each
    assert "base (warm start)" in md and "Speedup vs grpo" in md and "Speedup vs dapo" in md
    assert "not reached (0/3)" in md  # hmpo never converges: censored, not a number
    html = (results / "leaderboard.html").read_text()
    summary = json.loads((results / "summary.json").read_text())
    grpo = next(r for r in summary["benchmarks"]["math"]["rows"] if r["objective"] == "grpo")
    acc = f"{grpo['accuracy']['value'] * 100:.1f} [{grpo['accuracy']['ci_low'] * 100:.1f}, {grpo['accuracy']['ci_high'] * 100:.1f}]"
    assert acc in md and acc in html  # md, html and JSON show the same figure
    hmpo = next(r for r in summary["benchmarks"]["math"]["rows"] if r["objective"] == "hmpo")
    assert 0.2 < hmpo["compression_vs_reference"]["value"] < 0.3
    assert hmpo["accuracy_change_vs_reference"] is not None  # accuracy change beside compression
    assert summary["convergence"]["objectives"]["hmpo"]["steps"]["value"] is None
    for plot in ("val_accuracy.png", "val_length.png", "train_response_length.png",
                 "val_accuracy_vs_rollout_tokens.png", "frontier_math.png", "frontier_math_hard.png"):
        assert (results / "plots" / plot).stat().st_size > 1000, plot
    audit = (results / "audit.md").read_text()
    assert "tepo_convergence_vs_grpo" in audit and "not measured" in audit
    assert not (results / "mlflow.db").exists()


def test_missing_results_are_reported_with_the_missing_file_named(tmp_path: Path) -> None:
    config, results = _setup(tmp_path, config_objectives=["grpo", "dapo", "hmpo", "tepo", "eapo"])
    (results / "eval" / "dapo" / "seed1" / "math.json").unlink()
    assert _run(config, results, "--no-mlflow") == 0
    md = (results / "leaderboard.md").read_text()
    assert "| eapo | 0 | missing `results/eval/eapo/seed0/math.json` (+2 more)" in md
    assert "`results/eval/dapo/seed1/math.json`" in md  # partial: named in a note and the list
    assert "`results/runs/eapo/seed2/metrics.jsonl`" in md
    summary = json.loads((results / "summary.json").read_text())
    dapo = next(r for r in summary["benchmarks"]["math"]["rows"] if r["objective"] == "dapo")
    assert dapo["status"] == "partial" and dapo["seeds"] == [0, 2]


def test_unusable_inputs_exit_2_naming_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config, results = _setup(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "seeds": "0,1"}))
    assert _run(bad, results, "--no-mlflow") == 2
    assert f"{bad}: key 'seeds'" in capsys.readouterr().err
    metrics = results / "runs" / "grpo" / "seed0" / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + "{not json\n")
    assert _run(config, results, "--no-mlflow") == 2
    assert f"{metrics}:62: not valid JSON" in capsys.readouterr().err
    metrics.write_text("".join(metrics.read_text().splitlines(keepends=True)[:-1]))
    evaluation = results / "eval" / "dapo" / "seed0" / "math.json"
    data = json.loads(evaluation.read_text())
    data["items"][0]["id"] = "some-other-item"
    evaluation.write_text(json.dumps(data))
    assert _run(config, results, "--no-mlflow") == 2
    assert "every checkpoint must be evaluated on the same test items" in capsys.readouterr().err


def test_mlflow_failure_keeps_the_files_and_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    import harness.report.tracking as tracking

    def unreachable(*args, **kwargs):
        raise ConnectionError("tracking server unreachable")

    monkeypatch.setattr(tracking, "log_comparison", unreachable)
    config, results = _setup(tmp_path)
    assert _run(config, results) == 0
    assert "WARNING: MLflow logging failed" in capsys.readouterr().err
    for name in ("leaderboard.md", "leaderboard.html", "audit.md", "summary.json"):
        assert (results / name).stat().st_size > 0


def test_report_rebuilt_from_json_without_mlflow_db_is_identical_and_runs_never_duplicate(tmp_path: Path) -> None:
    """The only test that touches MLflow (a new sqlite db takes ~7 s)."""
    config, results = _setup(tmp_path)
    assert _run(config, results) == 0
    assert _run(config, results) == 0  # the rerun replaces the experiment's runs
    with sqlite3.connect(results / "mlflow.db") as db:
        names = sorted(n for (n,) in db.execute("SELECT name FROM runs WHERE lifecycle_stage = 'active'"))
        n_step_metrics = db.execute(
            "SELECT COUNT(*) FROM metrics WHERE key = 'val/accuracy'").fetchone()[0]
        params = dict(db.execute("SELECT key, value FROM params WHERE run_uuid = "
                                 "(SELECT run_uuid FROM runs WHERE name = 'grpo/seed0')").fetchall())
    expected = sorted([f"{o}/seed{s}" for o in OBJECTIVES for s in range(3)] + ["base/seed0", "summary"])
    assert names == expected
    assert n_step_metrics == len(OBJECTIVES) * 3 * 7  # steps 0, 10, ..., 60 per run, once each
    assert params["config.train.lr"] == "2e-05" and params["hp.eps"] == "0.2"
    artifacts = {p.name for p in (results / "mlruns").rglob("*") if p.is_file()}
    assert {"leaderboard.md", "leaderboard.html", "audit.md", "summary.json", "val_accuracy.png"} <= artifacts

    before = {n: (results / n).read_text() for n in ("leaderboard.md", "leaderboard.html", "audit.md", "summary.json")}
    (results / "mlflow.db").unlink()
    shutil.rmtree(results / "mlruns")
    assert _run(config, results, "--no-mlflow") == 0
    after = {n: (results / n).read_text() for n in before}
    assert after == before


def test_frontier_labels_of_crowded_points_do_not_overlap() -> None:
    from harness.report.plots import label_offsets

    points = [(100.0, 100.0), (101.0, 100.0), (102.0, 101.0), (300.0, 100.0)]
    sizes = [(40.0, 10.0)] * 4
    offsets = label_offsets(points, sizes)
    boxes = [(x + dx, y + dy, x + dx + w, y + dy + h) for (x, y), (dx, dy), (w, h) in zip(points, offsets, sizes)]
    for i in range(len(boxes)):
        for j in range(i):
            a, b = boxes[i], boxes[j]
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (i, j)
    assert offsets[0] == offsets[3] == (6.0, 4.0)  # a label with room stays where it was


def test_a_pretrained_base_without_warm_start_is_named_so(tmp_path: Path) -> None:
    config, results = _setup(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**cfg, "warmstart": {"steps": 0}}))
    assert _run(config, results, "--no-mlflow") == 0
    md = (results / "leaderboard.md").read_text()
    assert "| base (pretrained, no warm start) | 1 |" in md and "base (warm start)" not in md


def test_a_threshold_every_run_meets_at_step_0_is_reported_as_not_measurable(tmp_path: Path) -> None:
    config, results = _setup(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg.setdefault("report", {})["convergence_threshold"] = 0.0
    config.write_text(yaml.safe_dump(cfg))
    assert _run(config, results, "--no-mlflow") == 0
    md = (results / "leaderboard.md").read_text()
    assert "**Not measurable here:** every run of every objective is at the threshold already at step 0" in md
    # the default threshold (0.95 x grpo's final accuracy) lies above the start: no such line
    config2, results2 = _setup(tmp_path / "b")
    assert _run(config2, results2, "--no-mlflow") == 0
    assert "Not measurable here" not in (results2 / "leaderboard.md").read_text()


# -- calibration: the run's own controls ------------------------------------------------

CONTROLS = {"null_control": "grpo_aa", "positive_control": "grpo_lenpen"}
HEALTHY = {
    **OBJECTIVES,
    # the reference again with its own sampling noise (A/A), and with a length penalty
    "grpo_aa": SyntheticObjective(accuracy=0.50, length=40, converge_step=40, seed_offsets=(0.01, 0.0, 0.01),
                                  noise=0.05),
    "grpo_lenpen": SyntheticObjective(accuracy=0.50, length=30, converge_step=40, noise=0.05),
}


def _top(text: str) -> str:
    """What a reader sees first: the lines before the first table."""
    return text.split("\n|")[0].split("<table>")[0]


def test_calibration_json_reports_the_controls_and_they_are_not_ranked(tmp_path: Path) -> None:
    config, results = _setup(tmp_path, HEALTHY, calibration=CONTROLS)
    assert _run(config, results, "--no-mlflow") == 0
    cal = json.loads((results / "calibration.json").read_text())
    assert {"aa", "positive", "mde", "rl_gain"} <= set(cal)
    for metric in ("accuracy_change", "compression"):
        entry = cal["aa"][metric]
        assert entry["reads"] == "no difference" and entry["ci"][0] <= 0 <= entry["ci"][1]
        assert set(entry) >= {"mean", "ci"}
    assert cal["aa"]["convergence_speedup"]["reads"] in ("no difference", "not measured")
    positive = cal["positive"]
    assert positive["detected"] is True and positive["compression"]["ci"][0] > 0
    assert 0.2 < positive["compression"]["mean"] < 0.3
    assert cal["passed"] is True and cal["warnings"] == []
    assert cal["mde"]["math"]["accuracy_change"]["up"] > 0 and "validation" in cal["mde"]
    gain = cal["rl_gain"]["math"]
    assert gain["ci"][0] <= gain["mean"] <= gain["ci"][1] and gain["mean"] > 0  # 50% vs the base's 40%
    md = (results / "leaderboard.md").read_text()
    assert "## Calibration" in md and "WARNING" not in md
    assert "Minimum detectable effect vs grpo at 3 seeds" in md
    table_rows = [line for line in md.splitlines() if line.startswith("| grpo_")]
    assert table_rows == [], "controls must not be ranked"
    summary = json.loads((results / "summary.json").read_text())
    assert all(r["objective"] not in CONTROLS.values() for r in summary["benchmarks"]["math"]["rows"])
    assert all(r["objective"] not in CONTROLS.values() for r in summary["audit"])
    assert "Calibration" in (results / "leaderboard.html").read_text()


def test_a_failed_control_is_a_warning_on_top_of_leaderboard_and_audit(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    broken = {**HEALTHY,
              "grpo_aa": SyntheticObjective(accuracy=0.60, length=40, converge_step=40, noise=0.05),
              "grpo_lenpen": SyntheticObjective(accuracy=0.50, length=40, converge_step=40, noise=0.05)}
    config, results = _setup(tmp_path, broken, calibration=CONTROLS)
    assert _run(config, results, "--no-mlflow") == 0
    cal = json.loads((results / "calibration.json").read_text())
    assert cal["aa"]["accuracy_change"]["reads"] == "difference" and cal["positive"]["detected"] is False
    assert cal["passed"] is False
    for name in ("leaderboard.md", "audit.md", "leaderboard.html"):
        top = _top((results / name).read_text())
        assert "A/A control FAILED" in top and "Positive control NOT DETECTED" in top, name
    assert "WARNING: A/A control FAILED" in capsys.readouterr().err


def test_without_a_calibration_block_the_report_says_it_was_not_run(tmp_path: Path) -> None:
    config, results = _setup(tmp_path)
    assert _run(config, results, "--no-mlflow") == 0
    cal = json.loads((results / "calibration.json").read_text())
    assert cal["configured"] is False and cal["aa"] == {} and cal["mde"]["math"]["accuracy_change"]
    for name in ("leaderboard.md", "audit.md"):
        assert "Calibration was not run" in _top((results / name).read_text()), name


def test_a_control_that_is_not_an_objective_entry_is_a_config_error(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    config, results = _setup(tmp_path, calibration={"null_control": "grpo_aa"})
    assert _run(config, results, "--no-mlflow") == 2
    assert "key 'calibration.null_control'" in capsys.readouterr().err


def test_leaderboard_mde_is_the_paired_t_power_formula_of_the_observed_differences(tmp_path: Path) -> None:
    """One objective vs the reference: the printed MDE is (t_0.975,n-1 + t_0.80,n-1) x SE
    of that comparison (seed part only here: the two differ by independent flips)."""
    import math

    import numpy as np
    import scipy.stats

    from harness.report.build import Comparison, mde_summary
    from harness.report.results import load_results
    from harness.report.settings import ReportSettings

    objectives = {"grpo": SyntheticObjective(noise=0.1), "dapo": SyntheticObjective(noise=0.1)}
    results = write_synthetic_results(tmp_path / "results", objectives, seeds=[0, 1, 2, 3], n_items=200)
    settings = ReportSettings.from_config(synthetic_config(list(objectives), seeds=[0, 1, 2, 3]))
    comparison = Comparison(settings, load_results(results, settings.objectives, settings.seeds, settings.benchmarks))
    stat = comparison.aggregates["math"].accuracy_change("dapo", "grpo").stat
    d = np.array([json.loads((results / "eval" / "dapo" / f"seed{s}" / "math.json").read_text())["accuracy"]
                  - json.loads((results / "eval" / "grpo" / f"seed{s}" / "math.json").read_text())["accuracy"]
                  for s in range(4)])
    assert stat.item_var == 0.0  # independent flips share nothing across seeds on an item
    factor = scipy.stats.t.ppf(0.975, 3) + scipy.stats.t.ppf(0.8, 3)
    se = d.std(ddof=1) / math.sqrt(4)
    mde = mde_summary(comparison)["math"]["accuracy_change"]
    assert mde["up"] == pytest.approx(factor * se) and mde["down"] == pytest.approx(-factor * se)
    assert mde["n_seeds"] == 4


def test_each_objectives_own_mde_is_its_own_paired_spread_and_the_pooled_one_averages_variances(tmp_path: Path) -> None:
    """A steady and an erratic objective vs the reference: each one's MDE comes from its own
    per-seed differences, and the pooled MDE from the mean of the two variances (so the
    erratic one raises it for both); the leaderboard lists the objectives' own figures."""
    import math

    import numpy as np
    import scipy.stats

    from harness.report.build import Comparison, mde_summary
    from harness.report.results import load_results
    from harness.report.settings import ReportSettings

    objectives = {"grpo": SyntheticObjective(noise=0.1), "dapo": SyntheticObjective(noise=0.1),
                  "hmpo": SyntheticObjective(noise=0.1)}
    seeds = [0, 1, 2, 3, 4]
    results = write_synthetic_results(tmp_path / "results", objectives, seeds=seeds, n_items=200)
    settings = ReportSettings.from_config(synthetic_config(list(objectives), seeds=seeds))
    comparison = Comparison(settings, load_results(results, settings.objectives, settings.seeds, settings.benchmarks))

    def acc(o: str, s: int) -> float:
        return json.loads((results / "eval" / o / f"seed{s}" / "math.json").read_text())["accuracy"]

    factor = scipy.stats.t.ppf(0.975, 4) + scipy.stats.t.ppf(0.8, 4)
    var = {o: np.var([acc(o, s) - acc("grpo", s) for s in seeds], ddof=1) for o in ("dapo", "hmpo")}
    mde = mde_summary(comparison)["math"]
    for o in ("dapo", "hmpo"):
        # rel 1%: the crossed SE adds a test-set term, here ~0.1% of the seed term
        assert mde["by_objective"][o]["accuracy_change"]["up"] == pytest.approx(factor * math.sqrt(var[o] / 5), rel=0.01)
        assert mde["by_objective"][o]["compression"]["up"] is not None
    pooled = factor * math.sqrt((var["dapo"] + var["hmpo"]) / 2 / 5)
    assert mde["accuracy_change"]["up"] == pytest.approx(pooled, rel=0.01)
    assert var["dapo"] != pytest.approx(var["hmpo"], rel=0.05)  # the inputs do tell the two apart
    from harness.report.render import mde_paragraph

    summary = {"mde": mde_summary(comparison), "seeds": seeds, "settings": {"reference_objective": "grpo"}}
    text = mde_paragraph(summary, "math")
    own = mde["by_objective"]["hmpo"]["accuracy_change"]["up"] * 100
    assert f"hmpo ±{own:.1f} pts" in text


def _set_mechanism(results: Path, objective: str, keys: list[str], values: dict[int, list[float]],
                   beta: float = 0.0) -> None:
    """Give every seed's run of ``objective`` mechanism keys and per-step values (values[seed][step - 1])."""
    for seed, per_step in values.items():
        run = results / "runs" / objective / f"seed{seed}"
        lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        for line in lines:
            if line["step"] > 0:
                line.update({k: per_step[line["step"] - 1] for k in keys})
        (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        info = json.loads((run / "run.json").read_text())
        info.update({"mechanism": keys, "hyperparams": {**info["hyperparams"], "beta": beta}})
        (run / "run.json").write_text(json.dumps(info))


def test_leaderboard_says_whether_each_mechanism_acted(tmp_path: Path) -> None:
    config, results = _setup(tmp_path)
    steps = len([x for x in (results / "runs" / "tepo" / "seed0" / "metrics.jsonl").read_text().splitlines()]) - 1
    # tepo: its mask fired on every 4th step of seeds 0 and 1, never on seed 2 -> 2/3 seeds
    fired = [0.1 if (i + 1) % 4 == 0 else 0.0 for i in range(steps)]
    _set_mechanism(results, "tepo", ["kl_mask_frac"], {0: fired, 1: fired, 2: [0.0] * steps}, beta=0.04)
    # dapo: never a penalty, never a dropped group -> inactive on every seed
    _set_mechanism(results, "dapo", ["overlong_frac", "groups_dropped"], {s: [0.0] * steps for s in range(3)})
    _set_mechanism(results, "grpo", [], {s: [0.0] * steps for s in range(3)})
    assert _run(config, results, "--no-mlflow") == 0
    mech = json.loads((results / "summary.json").read_text())["mechanisms"]
    expected_share = 2 * (steps // 4) / (3 * steps)  # fired steps over all logged steps, pooled over seeds
    assert mech["tepo"]["status"] == "partly active" and mech["tepo"]["seeds_active"] == 2
    assert abs(mech["tepo"]["active_steps"] - expected_share) < 1e-12
    assert abs(mech["tepo"]["means"]["kl_mask_frac"] - 0.1 * expected_share) < 1e-12
    assert mech["tepo"]["beta"] == 0.04
    assert mech["dapo"]["status"] == "inactive" and mech["grpo"]["status"] == "always"
    md = (results / "leaderboard.md").read_text()
    assert "**Mechanism never acted:** dapo." in md
    assert f"{expected_share:.0%} of steps, 2/3 seeds" in md and "## Mechanism activity (training)" in md
    tepo_row = next(line for line in md.splitlines() if line.startswith("| tepo | 0.04 |"))
    assert "kl_mask_frac" in tepo_row


def test_mlflow_keeps_each_runs_integrity_record_as_an_artifact(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    config, results = _setup(tmp_path)
    record = results / "runs" / "grpo" / "seed0" / "integrity.jsonl"
    record.write_text(json.dumps({"step": 1, "flags": 0}) + "\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert _run(config, results, "--tracking-uri", uri) == 0
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              "tags.`arena.objective` = 'grpo' and tags.`arena.seed` = '0'")
    assert len(runs) == 1
    names = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert {"run.json", "integrity.jsonl"} <= names, names
