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
        raise ValueError(f"pass@k needs at least k samples per problem; got n={n} < k={k}")
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


def compression_over_seeds(lengths: Sequence[float] | np.ndarray,
                           reference_lengths: Sequence[float] | np.ndarray) -> float:
    """Compression across paired seeds: 1 - geometric mean over s of len(X, s) / len(ref, s).

    lengths, reference_lengths: [S] per-seed mean lengths, paired by position. The
    geometric mean (a mean of log ratios) is what the interval is computed on; for one
    seed it is ``compression`` itself.
    """
    x = np.asarray(lengths, dtype=float)
    r = np.asarray(reference_lengths, dtype=float)
    if x.shape != r.shape or x.size == 0:
        raise ValueError(f"compression needs paired per-seed lengths; got shapes {x.shape} and {r.shape}")
    if np.any(r <= 0) or np.any(x <= 0):
        raise ValueError("compression needs positive mean lengths")
    return float(1.0 - np.exp(np.mean(np.log(x / r))))


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


def smoothed_validation_curve(metrics_lines: Iterable[Mapping[str, Any]], window: int = 1) -> list[dict[str, Any]]:
    """The validation lines with val_accuracy replaced by its centred moving mean over
    ``window`` validations (odd; 1 = as measured), the window cut at the run's ends.

    At the ends the window is one-sided: the last point is the mean of the last
    (window + 1) / 2 readings, which lags a still-rising curve by (window - 1) / 4
    validation intervals; that is the price of a last point whose noise does not decide
    whether a run is censored. One validation reading has a binomial SE of ~2-3 points in
    the default world, as large as the margin between a plateau and a threshold near it.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"the smoothing window must be an odd number of validations >= 1; got {window}")
    curve = validation_curve(metrics_lines)
    if window == 1:
        return [dict(line) for line in curve]
    values = np.array([float(line["val_accuracy"]) for line in curve])
    half = window // 2
    out = []
    for j, line in enumerate(curve):
        lo, hi = max(0, j - half), min(len(curve), j + half + 1)
        out.append(dict(line) | {"val_accuracy": float(values[lo:hi].mean())})
    return out


def final_val_accuracy(metrics_lines: Iterable[Mapping[str, Any]], window: int = 1) -> float | None:
    """val_accuracy of the last validation line (smoothed over ``window`` validations, see
    smoothed_validation_curve); None when the run has none."""
    curve = smoothed_validation_curve(metrics_lines, window)
    return float(curve[-1]["val_accuracy"]) if curve else None


def start_val_accuracy(metrics_lines: Iterable[Mapping[str, Any]]) -> float | None:
    """val_accuracy of the first validation line (step 0: the warm start); None if none."""
    curve = validation_curve(metrics_lines)
    return float(curve[0]["val_accuracy"]) if curve else None


def convergence(metrics_lines: Iterable[Mapping[str, Any]], threshold: float, window: int = 1) -> Convergence | None:
    """The first validation step from which val_accuracy stays >= threshold to the run's end.

    window: read the curve smoothed over this many validations (smoothed_validation_curve);
    1 = every reading as measured.

    A crossing must *stay* crossed: a run that touches the threshold once and falls back
    below it (validation noise around the threshold) has not converged there; its cost is
    the start of its final run of validations at or above the threshold. A run whose last
    validation is below the threshold is censored. Step 0 (the warm start) counts.
    metrics_lines: a run's metrics.jsonl records ({"step", "val_accuracy", "rollout_tokens",
    "wall_s", ...}); only validation lines are read. Returns None without any validation line.
    """
    curve = smoothed_validation_curve(metrics_lines, window)
    if not curve:
        return None
    last = curve[-1]
    common = dict(
        threshold=float(threshold),
        last_step=int(last["step"]),
        last_rollout_tokens=float(last.get("rollout_tokens", math.nan)),
        last_wall_s=float(last.get("wall_s", math.nan)),
    )
    first_of_final_run: Mapping[str, Any] | None = None
    for line in curve:
        if float(line["val_accuracy"]) >= threshold:
            first_of_final_run = first_of_final_run or line
        else:
            first_of_final_run = None
    if first_of_final_run is None:
        return Convergence(reached=False, step=None, rollout_tokens=None, wall_s=None, **common)
    return Convergence(
        reached=True,
        step=int(first_of_final_run["step"]),
        rollout_tokens=float(first_of_final_run.get("rollout_tokens", math.nan)),
        wall_s=float(first_of_final_run.get("wall_s", math.nan)),
        **common,
    )


#: The late window of a validation curve: steps from this fraction of the run to its end.
LATE_FROM_FRAC = 0.5


def trend(steps: Sequence[float], values: Sequence[float]) -> dict[str, Any] | None:
    """OLS slope of ``values`` over ``steps`` with its one-sided p-values (scipy linregress);
    None with fewer than 3 points. ``rise``: slope x the span of steps."""
    if len(steps) < 3 or len(set(steps)) < 2:
        return None
    from scipy import stats

    x, y = np.asarray(steps, float), np.asarray(values, float)
    span = float(x.max() - x.min())
    if np.ptp(y) == 0:
        return {"slope": 0.0, "rise": 0.0, "p_rise": 1.0, "p_fall": 1.0, "n": len(x)}
    fit = stats.linregress(x, y)
    p = float(fit.pvalue) if math.isfinite(fit.pvalue) else 1.0
    slope = float(fit.slope)
    return {"slope": slope, "rise": slope * span, "n": len(x),
            "p_rise": p / 2 if slope > 0 else 1 - p / 2, "p_fall": p / 2 if slope < 0 else 1 - p / 2}


def late_validation_trend(metrics_lines: Iterable[Mapping[str, Any]],
                          from_frac: float = LATE_FROM_FRAC) -> dict[str, Any] | None:
    """``trend`` of val_accuracy over the run's late validations (those at step >=
    from_frac x the last validation step), with the window's ``from_step`` and ``to_step``:
    ``slope`` per step, ``rise`` = slope x the window's span.

    A run that has converged has a late slope near 0; a positive one means the run was
    still improving when it stopped, so a threshold at a fraction of its final gain lands late. None with
    fewer than 3 late validation lines (a slope of 2 points has no noise estimate).
    """
    curve = validation_curve(metrics_lines)
    if not curve:
        return None
    last = int(curve[-1]["step"])
    late = [(int(line["step"]), float(line["val_accuracy"])) for line in curve if int(line["step"]) >= from_frac * last]
    fit = trend([step for step, _ in late], [acc for _, acc in late])
    if fit is None:
        return None
    return {**fit, "from_step": late[0][0], "to_step": late[-1][0]}


def late_validation_slope(metrics_lines: Iterable[Mapping[str, Any]], from_frac: float = LATE_FROM_FRAC) -> float | None:
    """The late validation trend's slope (accuracy per step); see ``late_validation_trend``."""
    fit = late_validation_trend(metrics_lines, from_frac)
    return fit["slope"] if fit is not None else None


#: The threshold must clear the start by this many standard errors of the validation
#: estimate, so that validation noise alone rarely "converges" a run that has not moved.
THRESHOLD_MIN_SE = 3.0


@dataclass(frozen=True)
class ConvergenceThreshold:
    """The convergence threshold of a comparison and how it was set.

    value = max(start + frac x (reference_final - start), start + min_se x se):
    frac of the way from the common start (step-0 validation accuracy) to the reference
    objective's mean final validation accuracy, and at least ``min_se`` binomial standard
    errors of the validation estimate (se = sqrt(start (1 - start) / n_val)) above the start.
    margin_se: (value - start) / se, None when n_val is unknown.
    """

    value: float
    start: float
    reference_final: float | None
    frac: float | None  # None: an absolute threshold set in the config
    n_val: int | None
    se: float | None
    floored: bool  # the min_se floor, not frac, set the value

    @property
    def margin_se(self) -> float | None:
        return (self.value - self.start) / self.se if self.se else None

    @property
    def reference_gain_se(self) -> float | None:
        """The reference's own gain over the start, in validation standard errors."""
        if self.se and self.reference_final is not None:
            return (self.reference_final - self.start) / self.se
        return None


def validation_se(accuracy: float, n_val: int) -> float:
    """Binomial standard error of a validation accuracy measured on n_val items."""
    if n_val < 1:
        raise ValueError(f"n_val must be >= 1; got {n_val}")
    return math.sqrt(max(accuracy * (1.0 - accuracy), 0.0) / n_val)


def convergence_threshold(start_accuracies: Sequence[float], reference_final_accuracies: Sequence[float],
                          frac: float = 0.95, n_val: int | None = None,
                          min_se: float = THRESHOLD_MIN_SE) -> ConvergenceThreshold:
    """Default threshold: start + frac x (reference final - start), floored at start + min_se SE.

    start_accuracies: [R] step-0 validation accuracies of the runs (one warm start: equal);
    reference_final_accuracies: [S] the reference objective's final validation accuracies.
    Measured from the start rather than as frac x final: the old rule (0.95 x final) sat
    one binomial SE above a start that RL had improved by 5 points, inside validation noise.
    """
    if len(start_accuracies) == 0 or len(reference_final_accuracies) == 0:
        raise ValueError("the convergence threshold needs the start and at least one reference run")
    start = float(np.mean(start_accuracies))
    final = float(np.mean(reference_final_accuracies))
    by_frac = start + frac * (final - start)
    se = validation_se(start, n_val) if n_val else None
    floor = start + min_se * se if se is not None else -math.inf
    return ConvergenceThreshold(value=float(max(by_frac, floor)), start=start, reference_final=final,
                                frac=frac, n_val=n_val, se=se, floored=floor > by_frac)


def speedup(baseline_cost: float, cost: float) -> float | None:
    """Speedup of X vs a baseline: baseline's cost / X's cost (>1 = X converges faster).

    None when X's cost is 0 (the threshold was met before training: not measurable).
    "50% less convergence time" is a speedup of 2.0.
    """
    if cost <= 0:
        return None
    return float(baseline_cost / cost)


def speedup_over_seeds(baseline_costs: Sequence[float] | np.ndarray,
                       costs: Sequence[float] | np.ndarray) -> float:
    """Speedup across paired seeds: the geometric mean over s of cost(B, s) / cost(X, s).

    baseline_costs, costs: [S] per-seed costs (steps, rollout tokens or seconds), paired by
    position, all > 0. A ratio averages on the log scale: speedups of 2x and 0.5x average
    to 1x, not 1.25x; the t-interval is computed on the same per-seed logs.
    """
    b = np.asarray(baseline_costs, dtype=float)
    x = np.asarray(costs, dtype=float)
    if b.shape != x.shape or b.size == 0:
        raise ValueError(f"speedup needs paired per-seed costs; got shapes {b.shape} and {x.shape}")
    if np.any(b <= 0) or np.any(x <= 0):
        raise ValueError("speedup needs positive costs (a threshold met at step 0 is not measurable)")
    return float(np.exp(np.mean(np.log(b / x))))
