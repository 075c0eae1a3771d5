"""How often a comparison can measure a convergence speedup, and whether its interval covers.

A convergence speedup is measured from noisy validation curves: each run's cost is the
first validation step from which its (smoothed) accuracy stays above a threshold set from
the reference's final accuracy (harness.metrics.definitions). Whether that works depends on
the world: validation noise, how much seeds differ in where they plateau, how far the run
is from its plateau. This module simulates that pipeline, with the report's own functions,
on curves shaped like a run's:

    acc_s(t) = start + gain_s x (1 - exp(-t / tau_s)) + e_{s,t},
    gain_s ~ N(gain, gain_sd),  log tau_s ~ N(log tau, tau_log_sd),  e ~ N(0, noise_sd)

for the reference (tau) and an objective that is ``speed`` times faster (tau / speed):
for this family the ratio of the times to reach any fraction of the gain is exactly
``speed``, so the truth is known whatever threshold is chosen. ``fit_curve_world`` reads
the parameters from a run's reference curves; ``speedup_power`` reports, over simulated
comparisons, how often the speedup is measurable (no censored run), the coverage of its
interval when it is, and how often an equal objective (speed 1) is called different.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from harness.metrics.aggregate import convergence_speedup
from harness.metrics.definitions import (
    Convergence,
    convergence,
    convergence_threshold,
    final_val_accuracy,
    validation_curve,
)


@dataclass(frozen=True)
class CurveWorld:
    """Validation curves of a comparison (see the module docstring); steps and val_every in
    training steps, accuracies as fractions; n_val: validation items (for the threshold's
    floor of 3 SE above the start)."""

    start: float
    gain: float
    tau: float
    gain_sd: float
    tau_log_sd: float
    noise_sd: float
    steps: int
    val_every: int
    n_val: int | None = None

    def runs(self, rng: np.random.Generator, n_seeds: int, speed: float = 1.0) -> list[list[dict[str, Any]]]:
        """``n_seeds`` runs' validation lines ({"step", "val_accuracy"}), step 0 = start exactly."""
        steps = np.arange(0, self.steps + 1, self.val_every)
        out = []
        for _ in range(n_seeds):
            gain = self.gain + self.gain_sd * rng.standard_normal()
            tau = self.tau / speed * math.exp(self.tau_log_sd * rng.standard_normal())
            acc = self.start + gain * (1.0 - np.exp(-steps / tau)) + self.noise_sd * rng.standard_normal(steps.size)
            acc[0] = self.start
            out.append([{"step": int(t), "val_accuracy": float(a)} for t, a in zip(steps, acc)])
        return out


def _exp_fit(steps: np.ndarray, curves: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Least squares of curves[s, t] - start = g_s (1 - exp(-t / tau)) with one tau for all
    runs (grid over log tau) and one g per run. Returns (tau, mean g, g per run)."""
    start = curves[:, :1]
    y = curves - start
    best: tuple[float, float, np.ndarray] | None = None
    best_sse = math.inf
    for tau in np.exp(np.linspace(math.log(max(steps[1], 1.0)), math.log(50.0 * steps[-1]), 400)):
        basis = 1.0 - np.exp(-steps / tau)
        g = y @ basis / float(basis @ basis)
        sse = float(((y - g[:, None] * basis) ** 2).sum())
        if sse < best_sse:
            best_sse, best = sse, (float(tau), float(g.mean()), g)
    assert best is not None
    return best


def fit_curve_world(curves: Sequence[Sequence[Mapping[str, Any]]], n_val: int | None = None,
                    tau_log_sd: float = 0.1) -> CurveWorld:
    """A CurveWorld read from a run's reference validation curves (one metrics list per seed,
    the same validation steps in each): tau and the mean gain from one exponential fitted to
    all seeds, noise_sd from the residuals (degrees of freedom: readings - seeds - 1),
    gain_sd from the spread of each seed's own gain under that tau less the part its
    readings' noise explains. tau_log_sd is not identifiable from runs that stop before
    their plateau (a slower seed looks like a lower gain, already in gain_sd); it is an
    input (0.1: seeds reach a level ~10% apart in time on top of that)."""
    lines = [validation_curve(c) for c in curves]
    if len(lines) < 2 or any(len(c) < 4 for c in lines):
        raise ValueError("fitting a curve world needs >= 2 runs with >= 4 validations each")
    steps = np.array([float(x["step"]) for x in lines[0]])
    if any([float(x["step"]) for x in c] != list(steps) for c in lines):
        raise ValueError("the runs were validated at different steps")
    acc = np.array([[float(x["val_accuracy"]) for x in c] for c in lines])
    tau, gain, g = _exp_fit(steps, acc)
    basis = 1.0 - np.exp(-steps / tau)
    fitted = acc[:, :1] + g[:, None] * basis
    dof = acc[:, 1:].size - len(lines) - 1
    noise = math.sqrt(float(((acc[:, 1:] - fitted[:, 1:]) ** 2).sum()) / max(dof, 1))
    # each seed's fitted gain carries its readings' noise (variance noise^2 / |basis|^2):
    # what is left is the seeds' own spread
    gain_var = float(np.var(g, ddof=1)) - noise ** 2 / float(basis @ basis)
    return CurveWorld(start=float(acc[:, 0].mean()), gain=gain, tau=tau, gain_sd=math.sqrt(max(gain_var, 0.0)),
                      tau_log_sd=tau_log_sd, noise_sd=noise, steps=int(steps[-1]),
                      val_every=int(steps[1] - steps[0]), n_val=n_val)


@dataclass(frozen=True)
class SpeedupPower:
    """Over ``trials`` simulated comparisons: measurable = share with a two-sided interval
    (no censored run); covered = share of those whose interval holds the true speed;
    different = share of those whose interval excludes 1, faster = share whose interval lies
    above 1; bounded = share where one side was censored (a one-sided bound); geo_mean =
    geometric mean of the measured speedups."""

    speed: float
    n_seeds: int
    frac: float
    window: int
    trials: int
    measurable: float
    covered: float | None
    different: float | None
    faster: float | None
    bounded: float
    geo_mean: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def speedup_power(world: CurveWorld, *, speed: float, n_seeds: int, frac: float, window: int,
                  trials: int = 400, seed: int = 0, level: float = 0.95) -> SpeedupPower:
    """Simulate ``trials`` comparisons of an objective ``speed`` times faster than the
    reference, ``n_seeds`` paired seeds each, through the report's threshold (start + frac x
    (reference's smoothed final - start), floored 3 SE above the start), crossing (smoothed
    over ``window`` validations, staying crossed) and paired t-interval on log speedups."""
    rng = np.random.default_rng(seed)
    measured, covered, different, faster, bounded = [], 0, 0, 0, 0
    for _ in range(trials):
        ref, obj = world.runs(rng, n_seeds), world.runs(rng, n_seeds, speed)
        finals = [final_val_accuracy(r, window) for r in ref]
        info = convergence_threshold([world.start], [f for f in finals if f is not None], frac, world.n_val)
        conv_ref: dict[int, Convergence] = {}
        conv_obj: dict[int, Convergence] = {}
        for s in range(n_seeds):
            a, b = convergence(ref[s], info.value, window), convergence(obj[s], info.value, window)
            assert a is not None and b is not None
            conv_ref[s], conv_obj[s] = a, b
        est = convergence_speedup(conv_obj, conv_ref, "steps")
        if est.bound is not None:
            bounded += 1
            continue
        if est.value is None or est.stat is None:
            continue
        low, high = est.stat.interval(level)
        measured.append(est.value)
        covered += low <= speed <= high
        different += not (low <= 1.0 <= high)
        faster += low > 1.0
    n = len(measured)
    return SpeedupPower(speed=speed, n_seeds=n_seeds, frac=frac, window=window, trials=trials,
                        measurable=n / trials, covered=covered / n if n else None,
                        different=different / n if n else None, faster=faster / n if n else None,
                        bounded=bounded / trials,
                        geo_mean=float(np.exp(np.mean(np.log(measured)))) if n else None)
