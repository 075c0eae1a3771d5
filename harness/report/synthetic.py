"""Synthetic result files in the exact layout the training and evaluation jobs write.

For tests of the report and audit (verdicts on known effects) and for trying the
report without training anything::

    write_synthetic_results(tmp / "results", {
        "grpo": SyntheticObjective(accuracy=0.50, length=40, converge_step=40),
        "tepo": SyntheticObjective(accuracy=0.50, length=40, converge_step=20),
    }, seeds=[0, 1, 2])

Scores are deterministic given the shared item order: item i is correct for a run when
its item draw u_i < accuracy (+ the seed's offset), so two objectives with the same
accuracy get identical scores (a zero paired difference); ``noise`` > 0 adds
independent per-(seed, item) flips for effects that should come out inconclusive.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.io import atomic_write_json, atomic_write_text
from harness.metrics import BASE_OBJECTIVE


@dataclass(frozen=True)
class SyntheticObjective:
    """accuracy: final test accuracy; length: mean completion tokens; converge_step:
    first validation step at or above the run's plateau (None: never converges, the
    curve stays at the start value); seed_offsets: per-seed accuracy shifts."""

    accuracy: float = 0.5
    length: float = 40.0
    converge_step: int | None = 40
    seed_offsets: Sequence[float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    noise: float = 0.0
    length_sd: float = 4.0


def write_synthetic_results(
    results: str | Path,
    objectives: Mapping[str, SyntheticObjective],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    benchmark: str = "math",
    n_items: int = 500,
    steps: int = 60,
    val_every: int = 10,
    start_val_accuracy: float = 0.30,
    val_prompts: int = 363,
    plateau_val_accuracy: float = 0.50,
    base: SyntheticObjective | None = SyntheticObjective(accuracy=0.40, length=50.0, converge_step=None),
    model: Mapping[str, Any] | None = None,
    rng_seed: int = 0,
) -> Path:
    """Write runs/ and eval/ for every objective x seed (and eval/base/seed0)."""
    root = Path(results)
    model = dict(model or {"name": "synthetic-tiny", "params": 870_000})
    rng = np.random.default_rng(rng_seed)
    u = rng.random(n_items)  # shared item "difficulty" draw
    ids = [f"{benchmark}-{i:05d}" for i in range(n_items)]

    def write_eval(objective: str, seed: int, spec: SyntheticObjective, offset: float, steps_done: int) -> None:
        local = np.random.default_rng([rng_seed, seed, sum(map(ord, objective))])
        scores = (u < spec.accuracy + offset).astype(float)
        if spec.noise > 0:
            flip = local.random(n_items) < spec.noise
            scores[flip] = 1.0 - scores[flip]
        lengths = np.maximum(1.0, np.round(spec.length + spec.length_sd * local.standard_normal(n_items)))
        correct = scores.sum()
        atomic_write_json(root / "eval" / objective / f"seed{seed}" / f"{benchmark}.json", {
            "objective": objective, "seed": seed, "benchmark": benchmark, "domain": "math",
            "checkpoint": f"runs/{objective}/seed{seed}/final", "n": n_items,
            "accuracy": float(scores.mean()), "mean_length": float(lengths.mean()),
            "mean_length_correct": float((lengths * scores).sum() / correct) if correct else None,
            "items": [{"id": ids[i], "score": float(scores[i]), "status": "ok", "length": int(lengths[i])}
                      for i in range(n_items)],
            "decoding": {"temperature": 0.0, "max_new_tokens": 160}, "model": model, "steps": steps_done,
        })

    if base is not None:
        write_eval(BASE_OBJECTIVE, 0, base, 0.0, 0)
    for objective, spec in objectives.items():
        for k, seed in enumerate(seeds):
            offset = spec.seed_offsets[k % len(spec.seed_offsets)]
            write_eval(objective, seed, spec, offset, steps)
            lines: list[dict[str, Any]] = [{"step": 0, "val_accuracy": start_val_accuracy,
                                            "val_length": 50.0, "rollout_tokens": 0, "wall_s": 0.0}]
            tokens = 0
            for step in range(1, steps + 1):
                tokens += int(64 * spec.length)
                line: dict[str, Any] = {
                    "step": step, "loss": 0.0, "reward_mean": spec.accuracy, "accuracy_train": spec.accuracy,
                    "response_length": spec.length, "rollout_tokens": tokens, "wall_s": 1.5 * step,
                }
                if step % val_every == 0:
                    reached = spec.converge_step is not None and step >= spec.converge_step
                    line["val_accuracy"] = plateau_val_accuracy + offset if reached else start_val_accuracy
                    line["val_length"] = spec.length
                lines.append(line)
            run = root / "runs" / objective / f"seed{seed}"
            atomic_write_text(run / "metrics.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
            atomic_write_json(run / "run.json", {
                "objective": objective, "seed": seed, "hyperparams": {"eps": 0.2},
                "config": {"train": {"steps": steps, "lr": 2e-5, "val_every": val_every,
                                     "val_prompts": val_prompts}},
                "steps": steps, "wall_s": 1.5 * steps, "rollout_tokens": tokens, "model": model,
            })
    return root


def synthetic_config(objectives: Sequence[str], *, seeds: Sequence[int] = (0, 1, 2),
                     benchmarks: Sequence[str] = ("math",), claims: str | None = None,
                     comparison: str = "synthetic",
                     calibration: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A comparison config for the synthetic results; ``calibration`` names the control
    entries ({"null_control": ..., "positive_control": ...}), which must be in ``objectives``."""
    cfg: dict[str, Any] = {
        "comparison": comparison,
        "objectives": {o: {} for o in objectives},
        "seeds": list(seeds),
        "benchmarks": list(benchmarks),
        "train": {"suite": "math", "val_prompts": 363},
        "report": {"reference_objective": "grpo", "baseline_objectives": ["grpo", "dapo"],
                   "convergence_threshold_frac": 0.95,
                   # step-function curves (start, then the plateau): read as measured
                   "convergence_smooth": 1},
    }
    if claims:
        cfg["claims"] = claims
    if calibration:
        cfg["calibration"] = dict(calibration)
    return cfg
