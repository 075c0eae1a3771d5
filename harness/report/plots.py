"""Plots of a comparison: learning curves with 95% CI bands and the accuracy-vs-length frontier.

Curves are read from the runs' metrics.jsonl (through ``Comparison``); the frontier from
the summary dict. Bands are 95% t-intervals over seeds of the mean curve, step by step
(harness.metrics.curve_band); a single seed gets no band. Calibration controls are not
drawn (they appear in the calibration section only).
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
import numpy as np  # noqa: E402

from harness.io import atomic_write_bytes  # noqa: E402
from harness.metrics import curve_band  # noqa: E402

if TYPE_CHECKING:
    from harness.report.build import Comparison


BASE_COLOR = "#666666"  # the warm start, and anything that is not a ranked objective


def objective_colors(objectives: Sequence[str]) -> dict[str, str]:
    """One colour per objective, by its position in the comparison's objective list, shared by
    every figure and the HTML leaderboard (harness/report/page.py): tab10, or tab20 beyond 10."""
    cmap = plt.get_cmap("tab10" if len(objectives) <= 10 else "tab20")
    return {o: to_hex(cmap(i % cmap.N)) for i, o in enumerate(objectives)}


def _color(objectives: list[str], objective: str) -> str:
    return objective_colors(objectives).get(objective, BASE_COLOR)


def _save(fig: plt.Figure, path: Path) -> None:
    """Save atomically through the one atomic-write helper, like every other result file."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _curves(comparison: "Comparison", objective: str, key: str, x_key: str = "step",
            validation: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """(x [T], values [S, T]) over the steps every seed of the objective logged ``key``.

    x is the mean over seeds of x_key at those steps (the step itself, or e.g. the
    cumulative rollout tokens, which differ slightly between seeds).
    """
    per_seed: list[dict[int, tuple[float, float]]] = []
    for (o, _seed), run in sorted(comparison.loaded.runs.items()):
        if o != objective:
            continue
        points = {}
        for line in run.metrics:
            if line.get(key) is None or (validation and line.get("val_accuracy") is None):
                continue
            x = line.get(x_key)
            if x is None:
                continue
            points[int(line["step"])] = (float(x), float(line[key]))
        if points:
            per_seed.append(points)
    if not per_seed:
        return None
    steps = sorted(set.intersection(*(set(p) for p in per_seed)))
    if not steps:
        return None
    xs = np.array([[p[s][0] for s in steps] for p in per_seed]).mean(axis=0)
    values = np.array([[p[s][1] for s in steps] for p in per_seed])
    return xs, values


def _curve_plot(comparison: "Comparison", path: Path, key: str, ylabel: str, title: str, *,
                x_key: str = "step", xlabel: str = "training step", scale: float = 1.0,
                validation: bool = True, threshold: float | None = None) -> bool:
    objectives = comparison.objectives
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    drawn = False
    for objective in objectives:
        curves = _curves(comparison, objective, key, x_key, validation)
        if curves is None:
            continue
        xs, values = curves
        mean, low, high = curve_band(values)
        color = _color(objectives, objective)
        ax.plot(xs, mean * scale, color=color, label=f"{objective} ({values.shape[0]} seeds)", lw=1.6)
        if low is not None and high is not None:
            ax.fill_between(xs, low * scale, high * scale, color=color, alpha=0.18, lw=0)
        drawn = True
    if threshold is not None and drawn:
        ax.axhline(threshold * scale, color="0.3", ls="--", lw=1,
                   label=f"convergence threshold ({threshold * scale:.1f})")
    if not drawn:
        plt.close(fig)
        return False
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title + " (mean over seeds, 95% t band)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    _save(fig, path)
    return True


def _frontier_plot(summary: Mapping[str, Any], benchmark: str, path: Path) -> bool:
    bench = summary["benchmarks"][benchmark]
    objectives = list(summary["objectives"])
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    points = [(r["objective"], r) for r in bench["rows"] if r.get("status") != "missing"]
    if bench.get("base"):
        points.insert(0, ("base", bench["base"]))
    drawn = False
    xy: list[tuple[float, float]] = []
    labels: list[str] = []
    for name, row in points:
        acc, length = row.get("accuracy") or {}, row.get("mean_length") or {}
        if acc.get("value") is None or length.get("value") is None:
            continue

        def err(e: Mapping[str, Any], scale: float) -> list[list[float]] | None:
            if e.get("ci_low") is None:
                return None
            return [[(e["value"] - e["ci_low"]) * scale], [(e["ci_high"] - e["value"]) * scale]]

        color = _color(objectives, name)
        ax.errorbar([length["value"]], [acc["value"] * 100], xerr=err(length, 1.0), yerr=err(acc, 100.0),
                    fmt="s" if name == "base" else "o", color=color, capsize=3, ms=6)
        xy.append((length["value"], acc["value"] * 100))
        labels.append(name)
        drawn = True
    if not drawn:
        plt.close(fig)
        return False
    _place_labels(ax, labels, xy)
    front = pareto_front(xy)
    if len(front) > 1:
        ax.plot(*zip(*front), color="0.5", ls=":", lw=1, label="frontier (no point shorter and more accurate)")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("mean response length (tokens)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{benchmark}: accuracy vs length (95% CIs); up-left is better")
    ax.grid(alpha=0.3)
    _save(fig, path)
    return True


def label_offsets(points_px: list[tuple[float, float]], sizes_px: list[tuple[float, float]],
                  base: tuple[float, float] = (6.0, 4.0), step: float = 11.0) -> list[tuple[float, float]]:
    """Offsets (in pixels) that keep each label's box off the boxes placed before it.

    points_px: the labelled points in display pixels; sizes_px: each label's (width, height).
    Each label starts at ``base`` from its point and moves down, then up, in ``step`` pixel
    increments until its box overlaps no earlier box (at most 8 tries each way).
    """
    placed: list[tuple[float, float, float, float]] = []
    offsets: list[tuple[float, float]] = []
    for (x, y), (w, h) in zip(points_px, sizes_px):
        candidates = [base] + [(base[0], base[1] + sign * k * step) for k in range(1, 9) for sign in (-1, 1)]
        chosen = candidates[0]
        for dx, dy in candidates:
            box = (x + dx, y + dy, x + dx + w, y + dy + h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                chosen = (dx, dy)
                break
        offsets.append(chosen)
        placed.append((x + chosen[0], y + chosen[1], x + chosen[0] + w, y + chosen[1] + h))
    return offsets


def _place_labels(ax: Any, names: list[str], xy: list[tuple[float, float]]) -> None:
    """Annotate each point with its name, with labels pushed apart where points crowd."""
    fig = ax.figure
    fig.canvas.draw()  # fixes the axes limits, so data -> pixel transforms hold
    pts = [tuple(ax.transData.transform(p)) for p in xy]
    px_per_pt = fig.dpi / 72.0
    sizes = [(len(n) * 5.0 * px_per_pt, 8.0 * px_per_pt) for n in names]  # fontsize 8 text, approx.
    for name, p, (dx, dy) in zip(names, xy, label_offsets(pts, sizes, base=(6 * px_per_pt, 4 * px_per_pt),
                                                          step=10 * px_per_pt)):
        moved = abs(dy - 4 * px_per_pt) > 1e-6
        ax.annotate(name, p, textcoords="offset points", xytext=(dx / px_per_pt, dy / px_per_pt), fontsize=8,
                    arrowprops=dict(arrowstyle="-", color="0.6", lw=0.5) if moved else None)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(length, accuracy) points not dominated by a shorter-or-equal, more-accurate one, by length."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or y > front[-1][1]:
            front.append((x, y))
    return front


def write_plots(comparison: "Comparison", summary: Mapping[str, Any], plots_dir: Path) -> list[str]:
    """Write every plot that has data; returns their paths relative to the results dir."""
    written: list[str] = []
    threshold = comparison.threshold
    specs = [
        ("val_accuracy.png", dict(key="val_accuracy", ylabel="validation accuracy (%)", scale=100.0,
                                  title="Validation accuracy", threshold=threshold)),
        ("val_accuracy_vs_rollout_tokens.png",
         dict(key="val_accuracy", ylabel="validation accuracy (%)", scale=100.0, x_key="rollout_tokens",
              xlabel="rollout tokens generated", title="Sample efficiency", threshold=threshold)),
        ("val_length.png", dict(key="val_length", ylabel="validation response length (tokens)",
                                title="Validation response length")),
        ("train_response_length.png", dict(key="response_length", ylabel="rollout response length (tokens)",
                                           title="Training response length", validation=False)),
    ]
    for name, kwargs in specs:
        if _curve_plot(comparison, plots_dir / name, **kwargs):  # type: ignore[arg-type]
            written.append(f"plots/{name}")
    for benchmark in summary["benchmarks"]:
        name = f"frontier_{benchmark}.png"
        if _frontier_plot(summary, benchmark, plots_dir / name):
            written.append(f"plots/{name}")
    return written
