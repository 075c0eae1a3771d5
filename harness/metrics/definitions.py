"""The arena's metrics, each defined once (DESIGN.md, "Metrics").

Every function here is pure: arrays or per-step records in, numbers out. Nothing reads
files (harness/report does) and nothing imports the trainer or the rollout code.

Conventions
- Accuracies are fractions in [0, 1]; reports print them as percentage points.
- Lengths are completion tokens.
- A metric that is undefined is ``None`` (or NaN inside arrays), never a clipped or
  made-up number: a run that never reaches the convergence threshold is *censored*
  (``Convergence.reached is False``), and its last observed step is kept only as the
  censoring point, i.e. a lower bound on its true convergence time.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ConvergenceUnit = Literal["steps", "rollout_tokens", "wall_s"]
CONVERGENCE_UNITS: tuple[ConvergenceUnit, ...] = ("steps", "rollout_tokens", "wall_s")


def accuracy(scores: Sequence[float] | np.ndarray) -> float:
    """Mean verifier score. scores: [N] in {0, 1} (or partial credit in [0, 1])."""
    scores = np.asarray(scores, dtype=float)
    if scores.size == 0:
        raise ValueError("accuracy of an empty set of scores is undefined")
    return float(scores.mean())


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of Chen et al. 2021 (arXiv 2107.03374, eq. 1 and its numpy code).

    n samples of one problem, c of them correct: pass@k = 1 - C(n-c, k) / C(n, k),
    computed as a product so that large n does not overflow.
    """
    if not (0 <= c <= n) or k < 1:
        raise ValueError(f"pass@k needs 0 <= c <= n and k >= 1; got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least k samples per problem; got n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(correct_counts: Iterable[int], n: int, k: int) -> float:
    """pass@k averaged over problems, each with n samples and correct_counts[i] correct."""
    values = [pass_at_k(n, int(c), k) for c in correct_counts]
    if not values:
        raise ValueError("pass@k over an empty set of problems is undefined")
    return float(np.mean(values))


def mean_length(lengths: Sequence[float] | np.ndarray) -> float:
    """Mean response length in tokens. lengths: [N]."""
    lengths = np.asarray(lengths, dtype=float)
    if lengths.size == 0:
        raise ValueError("mean length of an empty set of responses is undefined")
    return float(lengths.mean())


def mean_length_correct(
    lengths: Sequence[float] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> float | None:
    """Mean length over correct responses (score-weighted); None when none is correct.

    lengths, scores: [N]. With 0/1 scores this is the plain mean over correct responses.
    """
    lengths = np.asarray(lengths, dtype=float)
    scores = np.asarray(scores, dtype=float)
    total = scores.sum()
    if total <= 0:
        return None
    return float((lengths * scores).sum() / total)


def compression(length: float, reference_length: float) -> float:
    """Compression of X vs a reference: 1 - len(X) / len(reference).

    Positive = X is shorter. Not clipped: a longer X gives a negative compression.
    """
    if reference_length <= 0:
        raise ValueError(f"compression needs a positive reference length; got {reference_length}")
    return 1.0 - length / reference_length


def accuracy_change(acc: float, reference_acc: float) -> float:
    """Accuracy of X minus the reference's, as a fraction (x100 for points)."""
    return acc - reference_acc


@dataclass(frozen=True)
class Convergence:
    """When one run's validation accuracy first reached the threshold.

    reached: False means censored: the run ended (at ``last_*``) below the threshold;
    then ``step``/``rollout_tokens``/``wall_s`` are None and the true convergence cost
    is only known to exceed the ``last_*`` values.
    """

    threshold: float
    reached: bool
    step: int | None
    rollout_tokens: float | None
    wall_s: float | None
    last_step: int
    last_rollout_tokens: float
    last_wall_s: float

    def cost(self, unit: ConvergenceUnit = "steps") -> tuple[float, bool]:
        """(cost, censored). When censored the cost is the censoring point (a lower bound)."""
        if unit not in CONVERGENCE_UNITS:
            raise ValueError(f"unknown convergence unit {unit!r}; use one of {CONVERGENCE_UNITS}")
        if self.reached:
            value = {"steps": self.step, "rollout_tokens": self.rollout_tokens, "wall_s": self.wall_s}[unit]
            return float(value), False  # type: ignore[arg-type]
        value = {"steps": self.last_step, "rollout_tokens": self.last_rollout_tokens,
                 "wall_s": self.last_wall_s}[unit]
        return float(value), True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; a quantity the metrics file did not record is None."""
        def clean(x: float | None) -> float | None:
            return None if x is None or math.isnan(x) else x

        return {
            "threshold": self.threshold, "reached": self.reached, "step": self.step,
            "rollout_tokens": clean(self.rollout_tokens), "wall_s": clean(self.wall_s),
            "last_step": self.last_step, "last_rollout_tokens": clean(self.last_rollout_tokens),
            "last_wall_s": clean(self.last_wall_s),
        }


def validation_curve(metrics_lines: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The validation lines of a run's metrics.jsonl (those with ``val_accuracy``), by step."""
    lines = [line for line in metrics_lines if line.get("val_accuracy") is not None]
    return sorted(lines, key=lambda line: int(line["step"]))


def final_val_accuracy(metrics_lines: Iterable[Mapping[str, Any]]) -> float | None:
    """val_accuracy of the last validation line; None when the run has none."""
    curve = validation_curve(metrics_lines)
    return float(curve[-1]["val_accuracy"]) if curve else None


def convergence(metrics_lines: Iterable[Mapping[str, Any]], threshold: float) -> Convergence | None:
    """First validation step with val_accuracy >= threshold (step 0 = the warm start counts).

    metrics_lines: a run's metrics.jsonl records ({"step", "val_accuracy", "rollout_tokens",
    "wall_s", ...}); only validation lines are read. Returns None if the run has no
    validation line at all.
    """
    curve = validation_curve(metrics_lines)
    if not curve:
        return None
    last = curve[-1]
    common = dict(
        threshold=float(threshold),
        last_step=int(last["step"]),
        last_rollout_tokens=float(last.get("rollout_tokens", math.nan)),
        last_wall_s=float(last.get("wall_s", math.nan)),
    )
    for line in curve:
        if float(line["val_accuracy"]) >= threshold:
            return Convergence(
                reached=True,
                step=int(line["step"]),
                rollout_tokens=float(line.get("rollout_tokens", math.nan)),
                wall_s=float(line.get("wall_s", math.nan)),
                **common,
            )
    return Convergence(reached=False, step=None, rollout_tokens=None, wall_s=None, **common)


def convergence_threshold(reference_final_accuracies: Sequence[float], frac: float = 0.95) -> float:
    """Default threshold: frac x the reference objective's mean final val accuracy."""
    if len(reference_final_accuracies) == 0:
        raise ValueError("the convergence threshold needs at least one reference run")
    return float(frac * np.mean(reference_final_accuracies))


def speedup(baseline_cost: float, cost: float) -> float | None:
    """Speedup of X vs a baseline: baseline's cost / X's cost (>1 = X converges faster).

    None when X's cost is 0 (the threshold was met before training: not measurable).
    "50% less convergence time" is a speedup of 2.0.
    """
    if cost <= 0:
        return None
    return float(baseline_cost / cost)
