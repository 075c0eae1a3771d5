"""The integrity monitor in MLflow (issue 19): per run, the flagged samples as a table
artifact, the per-step integrity metrics, and the run's integrity verdict; a rerun of the
report replaces the table instead of doubling it and adds no run.

A local sqlite store in tmp_path; the expected table rows and metric values are the ones
this test writes into the run's files, not read back from the report."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.io import atomic_write_jsonl, read_jsonl
from harness.report import cli, tracking
from harness.report.synthetic import SyntheticObjective, synthetic_config, write_synthetic_results

STEPS = 12
FLAGGED_STEPS = (4, 9)  # a rewarded restatement at these steps: one standing alarm on dapo seed 0


def _sample(step: int) -> dict:
    return {"step": step, "detector": "restatement", "reason": f"restates the prompt (step {step})",
            "item_id": f"math-v1-{step}+4", "prompt": f"Q: {step}+4=?\n", "completion": f"A: {step}+4\n",
            "reference": str(step + 4), "reward": 1.0}


def _disagreement(step: int) -> dict:
    return {"step": step, "detector": "second_opinion", "reason": "math-verify: not equivalent",
            "item_id": "math-v1-2*3", "prompt": "Q: 2*3=?\n", "completion": "A: 5\n", "reference": "6",
            "reward": 1.0, "second_opinion": 0.0}


def _row(step: int) -> dict:
    flagged = int(step in FLAGGED_STEPS)
    counts = dict.fromkeys(("restatement", "several_answers", "copied_from_prompt", "at_length_cap",
                            "degenerate_repetition", "empty_reasoning"), 0)
    counts["restatement"] = flagged
    samples = [_sample(step)] if flagged else []
    samples += [_disagreement(step)] if step == 7 else []
    return {"step": step, "completions": 64, "rewarded": 30, "counts": counts, "flagged": flagged,
            "second_opinion": {"judged": 8, "disagree": int(step == 7), "abstain": 0, "rewarded": 4, "unrewarded": 4,
                               "judge": "math-verify"},
            "token_entropy": 1.0, "monitor_s": 0.01, "samples": samples}


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    objectives = {"grpo": SyntheticObjective(accuracy=0.5, length=40, converge_step=None),
                  "dapo": SyntheticObjective(accuracy=0.52, length=42, converge_step=None)}
    results = write_synthetic_results(tmp_path / "results", objectives, seeds=(0, 1), n_items=100, steps=STEPS)
    run = results / "runs" / "dapo" / "seed0"
    atomic_write_jsonl(run / "integrity.jsonl", [_row(s) for s in range(1, STEPS + 1)])
    # the loop puts the monitor's per-step metrics on the metrics.jsonl row (harness/train/loop.py)
    metrics = read_jsonl(run / "metrics.jsonl")
    for line in metrics:
        if line["step"] > 0:
            line["integrity_flags"] = int(line["step"] in FLAGGED_STEPS)
            line["integrity_second_opinion_disagree"] = int(line["step"] == 7)
    atomic_write_jsonl(run / "metrics.jsonl", metrics)
    atomic_write_jsonl(results / "runs" / "grpo" / "seed0" / "integrity.jsonl", [
        {**_row(s), "counts": dict.fromkeys(_row(s)["counts"], 0), "flagged": 0, "samples": [],
         "second_opinion": {**_row(s)["second_opinion"], "disagree": 0}} for s in range(1, STEPS + 1)])
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(synthetic_config(list(objectives))))
    return config, results


def _run_of(client, objective: str, seed: int):  # noqa: ANN001, ANN202
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              f"tags.`arena.objective` = '{objective}' and tags.`arena.seed` = '{seed}'")
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return runs[0]


def test_flagged_samples_are_a_table_and_integrity_metrics_are_per_step(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    config, results = _setup(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # MlflowClient.load_table searches the default store
    assert cli.main(["--config", str(config), "--results", str(results), "--tracking-uri", uri]) == 0
    client = MlflowClient(uri)
    dapo = _run_of(client, "dapo", 0)
    run_id = dapo.info.run_id
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"integrity.jsonl", tracking.INTEGRITY_SAMPLES_TABLE} <= names, names

    expected = [_sample(4), _disagreement(7), _sample(9)]  # file order: by step
    table = client.load_table(dapo.info.experiment_id, tracking.INTEGRITY_SAMPLES_TABLE, run_ids=[run_id])
    assert list(table["step"]) == [s["step"] for s in expected]
    assert list(table["detector"]) == [s["detector"] for s in expected]
    assert list(table["completion"]) == [s["completion"] for s in expected]
    assert list(table["prompt"]) == [s["prompt"] for s in expected]
    assert list(table["reward"]) == [1.0, 1.0, 1.0]
    assert table["second_opinion"].tolist()[1] == 0.0 and table["second_opinion"].isna().tolist() == [True, False, True]

    flags = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "train/integrity_flags"))
    assert flags == [(s, float(s in FLAGGED_STEPS)) for s in range(1, STEPS + 1)]
    history = client.get_metric_history(run_id, "train/integrity_second_opinion_disagree")
    disagree = sorted((m.step, m.value) for m in history)
    assert disagree == [(s, float(s == 7)) for s in range(1, STEPS + 1)]

    # the report's verdict on the run: one rewarded restatement is an alarm (a verifier hole)
    assert dapo.data.tags[tracking.INTEGRITY_TAG] == "1 flag: restatement"
    assert dapo.data.metrics["integrity/flags"] == 1.0
    assert dapo.data.metrics["integrity/alarms/restatement"] == 1.0
    assert dapo.data.metrics["integrity/alarms/second_opinion"] == 0.0  # 1 disagreement is under the alarm's count

    grpo = _run_of(client, "grpo", 0)
    assert grpo.data.tags[tracking.INTEGRITY_TAG] == "clean" and grpo.data.metrics["integrity/flags"] == 0.0
    assert tracking.INTEGRITY_SAMPLES_TABLE not in {a.path for a in client.list_artifacts(grpo.info.run_id)}
    unmonitored = _run_of(client, "grpo", 1)
    assert tracking.INTEGRITY_TAG not in unmonitored.data.tags
    assert "integrity.jsonl" not in {a.path for a in client.list_artifacts(unmonitored.info.run_id)}

    # a rerun replaces the table (log_table alone would append) and keeps the same runs
    assert cli.main(["--config", str(config), "--results", str(results), "--tracking-uri", uri]) == 0
    again = _run_of(client, "dapo", 0)
    assert again.info.run_id == run_id
    table = client.load_table(dapo.info.experiment_id, tracking.INTEGRITY_SAMPLES_TABLE, run_ids=[run_id])
    assert len(table) == len(expected)
    assert len(client.get_metric_history(run_id, "train/integrity_flags")) == STEPS
