"""The report side of the integrity monitor: divergence, collapse, empty reasoning, which
objectives were meant to compress, the leaderboard's Integrity column and section, and
results/integrity.md with the flagged samples."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.io import atomic_write_jsonl, read_json, read_jsonl
from harness.report import cli
from harness.report import integrity as ri
from harness.report.synthetic import SyntheticObjective, synthetic_config, write_synthetic_results


def _metrics(reward: list[float], val: dict[int, float], length: list[float] | None = None) -> list[dict]:
    rows = [{"step": 0, "val_accuracy": val.get(0, 0.5)}]
    for i, r in enumerate(reward, start=1):
        row = {"step": i, "accuracy_train": r, "response_length": (length or [50.0] * len(reward))[i - 1]}
        if i in val:
            row["val_accuracy"] = val[i]
        rows.append(row)
    return rows


def test_reward_rising_while_validation_stays_flat_is_divergence() -> None:
    rng = np.random.default_rng(0)
    reward = list(np.linspace(0.3, 0.9, 40) + rng.normal(0, 0.03, 40))
    flat = {s: 0.5 + 0.01 * ((s // 5) % 2) for s in range(0, 41, 5)}
    falling = {s: 0.5 - 0.004 * s for s in range(0, 41, 5)}
    rising = {s: 0.5 + 0.008 * s for s in range(0, 41, 5)}
    assert ri.divergence(_metrics(reward, flat))["flag"]
    assert ri.divergence(_metrics(reward, falling))["flag"]
    assert not ri.divergence(_metrics(reward, rising))["flag"]
    # sharpening: the sampled reward rises toward a flat, higher greedy accuracy
    sharpening = list(np.linspace(0.35, 0.58, 40) + rng.normal(0, 0.02, 40))
    assert not ri.divergence(_metrics(sharpening, {s: 0.6 + 0.01 * ((s // 5) % 2) for s in range(0, 41, 5)}))["flag"]
    # no significant rise of the reward: nothing to diverge from
    assert not ri.divergence(_metrics(list(0.5 + rng.normal(0, 0.05, 40)), flat))["flag"]
    short = ri.divergence(_metrics(reward[:3], {0: 0.5, 3: 0.5}))
    assert not short["flag"] and "too short" in short["note"]


def test_trend_is_an_ols_slope_with_one_sided_p_values() -> None:
    t = ri.trend([1, 2, 3, 4, 5], [1.0, 2.0, 3.0, 4.0, 5.1])
    assert t["slope"] == pytest.approx(1.02) and t["p_rise"] < 0.001 and t["p_fall"] > 0.999
    assert ri.trend([1, 2, 3], [0.5, 0.5, 0.5])["p_rise"] == 1.0
    assert ri.trend([1, 2], [0.0, 1.0]) is None


def test_length_and_entropy_collapse_compare_with_the_warm_start() -> None:
    assert ri.collapse({s: 100.0 - 2.0 * s for s in range(1, 41)})["flag"]        # 96 -> 32
    assert not ri.collapse({s: 100.0 - 0.5 * s for s in range(1, 41)})["flag"]    # -> ~83
    assert not ri.collapse({1: 100.0, 2: 10.0})["flag"]                           # too few steps


def _row(step: int, rewarded: int = 20, empty: int = 0, restatement: int = 0, entropy: float = 1.0,
         disagree: int = 0, samples: list | None = None) -> dict:
    counts = dict.fromkeys(("restatement", "several_answers", "copied_from_prompt", "at_length_cap",
                            "degenerate_repetition", "empty_reasoning"), 0)
    counts.update(restatement=restatement, empty_reasoning=empty)
    return {"step": step, "completions": 64, "rewarded": rewarded, "counts": counts, "flagged": restatement,
            "second_opinion": {"judged": 8, "disagree": disagree, "abstain": 0, "rewarded": 4, "unrewarded": 4,
                               "judge": "math-verify 0.9.0"},
            "token_entropy": entropy, "monitor_s": 0.01, "samples": samples or []}


def test_empty_reasoning_far_above_the_warm_start_is_an_alarm_unless_the_objective_compresses() -> None:
    rows = [_row(s, empty=1 if s <= 10 else 12) for s in range(1, 31)]
    metrics = _metrics([0.5] * 30, {0: 0.5, 10: 0.5, 20: 0.5, 30: 0.5})
    plain = ri.run_integrity(rows, metrics, compresses=False)
    assert [a["name"] for a in plain["alarms"]] == ["empty_reasoning"] and plain["flags"] == 1
    squeezing = ri.run_integrity(rows, metrics, compresses=True)
    assert squeezing["alarms"][0]["expected"] and squeezing["flags"] == 0
    assert not ri.run_integrity([_row(s, empty=2) for s in range(1, 31)], metrics, compresses=False)["alarms"]


def test_one_rewarded_restatement_or_repeated_disagreement_is_an_alarm() -> None:
    metrics = _metrics([0.5] * 10, {0: 0.5, 10: 0.5})
    rows = [_row(s) for s in range(1, 11)]
    assert ri.run_integrity(rows, metrics, compresses=False)["alarms"] == []
    rows[4] = _row(5, restatement=1)
    assert [a["name"] for a in ri.run_integrity(rows, metrics, compresses=False)["alarms"]] == ["restatement"]
    rows = [_row(s, disagree=1 if s in (2, 5, 7) else 0) for s in range(1, 11)]  # 3 of 80 judged
    assert [a["name"] for a in ri.run_integrity(rows, metrics, compresses=False)["alarms"]] == ["second_opinion"]


def test_which_objectives_are_meant_to_compress(monkeypatch) -> None:  # noqa: ANN001
    assert ri.compresses("hmpo", {}, {}) and ri.compresses("iapo", {}, {})
    assert ri.compresses("grpo_lenpen", {"registered_objective": "length_penalty_control"}, {})
    assert ri.compresses("grpo_lenpen", {}, {"objective": "length_penalty_control"})
    assert not ri.compresses("grpo", {}, {}) and not ri.compresses("grpo_aa", {"registered_objective": "grpo"}, {})
    from harness import objectives

    monkeypatch.setattr(type(objectives.get("dapo")), "compresses", True, raising=False)
    assert ri.compresses("dapo", {}, {})  # the objective's own attribute wins over the list
    monkeypatch.setattr(type(objectives.get("hmpo")), "compresses", False, raising=False)
    assert not ri.compresses("hmpo", {}, {})


SAMPLE = {"step": 5, "detector": "restatement", "reason": "restates the prompt: '3+4' uses every operand",
          "item_id": "math-v1-3+4", "prompt": "Q: 3+4=?\n", "completion": "A: 3+4\n", "reference": "7", "reward": 1.0}


def _report(tmp_path: Path) -> tuple[Path, dict]:
    objectives = {"grpo": SyntheticObjective(accuracy=0.5, length=40, converge_step=30),
                  "dapo": SyntheticObjective(accuracy=0.52, length=42, converge_step=30),
                  "hmpo": SyntheticObjective(accuracy=0.49, length=30, converge_step=None)}
    results = write_synthetic_results(tmp_path / "results", objectives, n_items=100, steps=30)
    for seed in (0, 1, 2):
        atomic_write_jsonl(results / f"runs/grpo/seed{seed}/integrity.jsonl", [_row(s) for s in range(1, 31)])
        dapo = [_row(s, restatement=2 if s > 20 else 0, samples=[dict(SAMPLE, step=s)] if s == 21 else None)
                for s in range(1, 31)]
        if seed == 0:
            atomic_write_jsonl(results / f"runs/dapo/seed{seed}/integrity.jsonl", dapo)
    cfg = synthetic_config(list(objectives))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    assert cli.main(["--config", str(config), "--results", str(results), "--no-mlflow"]) == 0
    return results, read_json(results / "summary.json")


def test_leaderboard_has_an_integrity_column_and_section(tmp_path) -> None:  # noqa: ANN001
    results, summary = _report(tmp_path)
    entries = summary["integrity"]["entries"]
    assert entries["grpo"]["flags"] == 0 and entries["grpo"]["monitored"] == 3
    assert entries["dapo"]["flags"] == 1 and entries["dapo"]["alarms"] == ["restatement"]
    assert entries["hmpo"]["monitored"] == 0 and entries["hmpo"]["compresses"]
    board = (results / "leaderboard.md").read_text()
    table = [line for line in board.splitlines() if line.startswith("| ")]
    header = next(line for line in table if line.startswith("| Objective | Seeds"))
    assert header.rstrip(" |").endswith("Integrity")
    first = table.index(header)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table[first:first + 6]}  # the benchmark table
    assert rows["grpo (reference)"].rstrip(" |").endswith("clean")
    assert rows["dapo"].rstrip(" |").endswith("1 flag: restatement (1/3 seeds monitored)")
    assert rows["hmpo"].rstrip(" |").endswith("not monitored")
    assert "## Integrity (training)" in board and board.index("## Integrity (training)") < board.index("## Method")
    assert "Meant to compress" in board and "hmpo" in board.split("Meant to compress")[1].split("\n")[0]
    assert "Integrity" in (results / "leaderboard.html").read_text()
    json.dumps(summary, allow_nan=False)


def test_integrity_markdown_shows_each_alarm_with_its_samples(tmp_path) -> None:  # noqa: ANN001
    results, summary = _report(tmp_path)
    path = ri.write_integrity_markdown(summary, results)
    text = path.read_text()
    assert path == results / "integrity.md"
    assert text.startswith("# Integrity: synthetic")
    assert "## dapo seed 0" in text and "## grpo seed" not in text
    assert "**restatement**: 20 of 600 rewarded completions" in text
    assert "PROMPT: Q: 3+4=?\nCOMPLETION: A: 3+4" in text and "item `math-v1-3+4`" in text
    table = ri.samples_table(results, "dapo", 0)
    assert table["completion"] == ["A: 3+4\n"] and table["detector"] == ["restatement"]
    assert ri.samples_table(results, "hmpo", 0)["completion"] == []


def test_integrity_from_a_real_run_of_the_loop(tiny_world, tmp_path) -> None:  # noqa: ANN001
    """The files the trainer writes feed the report as they are (4 steps: no trend yet)."""
    from harness.train.loop import TrainSettings, train

    out = tmp_path / "results" / "runs" / "grpo" / "seed3"
    train(TrainSettings(objective="grpo", seed=3, base_model=str(tiny_world["model"]),
                        train_data=str(tiny_world["data"] / "train.jsonl"),
                        validation_data=str(tiny_world["data"] / "validation.jsonl"), out_dir=str(out), steps=4,
                        prompts_per_step=2, group_size=4, max_new_tokens=32, val_every=2, val_prompts=8))
    result = ri.run_integrity(read_jsonl(out / "integrity.jsonl"), read_jsonl(out / "metrics.jsonl"), compresses=False)
    assert result["monitored"] and result["steps"] == 4 and result["completions"] == 32
    assert result["second_opinion"]["judged"] > 0 and result["second_opinion"]["judges"][0].startswith("math-verify")
    assert result["entropy"]["warm"] is not None and result["monitor_s"] > 0
