"""From result files to the summary: every number the leaderboard and audit show.

``Comparison`` holds the loaded results of one comparison and computes, with the
definitions of harness.metrics, the convergence of every run and one crossed
seed x item bootstrap per benchmark. ``build_summary`` turns it into a plain,
JSON-serialisable dict (results/summary.json); the renderers read only that dict, so
the leaderboard can always be rebuilt from JSON alone.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from harness.metrics import (
    BASE_OBJECTIVE,
    CONFIDENCE_LEVEL,
    BenchmarkAggregate,
    Convergence,
    Estimate,
    convergence,
    convergence_cost,
    convergence_speedup,
    convergence_threshold,
    final_val_accuracy,
)
from harness.report.audit import ClaimsFile, audit_claims
from harness.report.results import LoadedResults
from harness.report.settings import ReportSettings

UNITS = ("steps", "rollout_tokens", "wall_s")


class Comparison:
    """Loaded results of one comparison plus the derived per-run and per-benchmark data."""

    def __init__(self, settings: ReportSettings, loaded: LoadedResults) -> None:
        self.settings = settings
        self.loaded = loaded
        self.objectives = list(settings.objectives)
        self.boot = dict(n_resamples=settings.bootstrap_resamples, seed=settings.bootstrap_seed)
        self.threshold, self.threshold_source = self._threshold()
        self.convergence: dict[str, dict[int, Convergence]] = {}
        if self.threshold is not None:
            for (objective, seed), run in sorted(loaded.runs.items()):
                conv = convergence(run.metrics, self.threshold)
                if conv is not None:
                    self.convergence.setdefault(objective, {})[seed] = conv
        self.aggregates: dict[str, BenchmarkAggregate | None] = {}
        for benchmark in settings.benchmarks:
            records = loaded.evals.get(benchmark, {})
            runs = {key: rec.run_eval for key, rec in records.items()}
            self.aggregates[benchmark] = (
                BenchmarkAggregate(runs, key=f"eval/{benchmark}", **self.boot) if runs else None
            )

    # -- convergence ------------------------------------------------------------------

    def _threshold(self) -> tuple[float | None, str]:
        s = self.settings
        if s.convergence_threshold is not None:
            return s.convergence_threshold, "set in the config (report.convergence_threshold)"
        finals = [
            acc for (objective, _), run in sorted(self.loaded.runs.items())
            if objective == s.reference_objective and (acc := final_val_accuracy(run.metrics)) is not None
        ]
        if not finals:
            return None, (f"undefined: the reference objective '{s.reference_objective}' has no "
                          "validation results")
        value = convergence_threshold(finals, s.convergence_threshold_frac)
        return value, (f"{s.convergence_threshold_frac:g} x the mean final validation accuracy of "
                       f"{s.reference_objective} ({sum(finals) / len(finals):.4f} over {len(finals)} seeds)")

    def convergence_estimates(self, objective: str) -> dict[str, Any]:
        runs = self.convergence.get(objective, {})
        out: dict[str, Any] = {
            "per_seed": {str(s): c.to_dict() for s, c in sorted(runs.items())},
            "reached": sum(c.reached for c in runs.values()),
            "seeds": sorted(runs),
        }
        for unit in UNITS:
            out[unit] = convergence_cost(runs, unit, key=f"convergence/{objective}/{unit}",
                                         **self.boot).to_dict() if runs else None
        out["speedup"] = {}
        for baseline in self.settings.baseline_objectives:
            base_runs = self.convergence.get(baseline)
            if baseline == objective or not runs or not base_runs:
                continue
            out["speedup"][baseline] = {
                unit: convergence_speedup(runs, base_runs, unit,
                                          key=f"speedup/{objective}/{baseline}/{unit}",
                                          **self.boot).to_dict()
                for unit in UNITS
            }
        return out

    def val_interval(self) -> int | None:
        """Smallest gap between validation steps: the resolution of steps-to-threshold."""
        gaps = set()
        for run in self.loaded.runs.values():
            steps = [int(line["step"]) for line in run.metrics if line.get("val_accuracy") is not None]
            gaps |= {b - a for a, b in zip(steps, steps[1:]) if b > a}
        return min(gaps) if gaps else None

    # -- effects for the audit ------------------------------------------------------

    def absent_reason(self, objective: str, comparator: str, benchmark: str) -> str | None:
        """Why a claim cannot be measured here (None if it can)."""
        for name in (objective, comparator):
            if name != BASE_OBJECTIVE and name not in self.settings.objectives:
                return f"objective '{name}' is not in comparison '{self.settings.comparison}'"
        if benchmark == "validation":
            if self.threshold is None:
                return f"convergence threshold {self.threshold_source}"
            for name in (objective, comparator):
                if not self.convergence.get(name):
                    files = [m.to_dict(self.loaded.root)["path"] for m in self.loaded.missing_for(name)
                             if m.what == "training metrics"]
                    return f"no training results for '{name}'" + (f" (missing {', '.join(files)})" if files else "")
            return None
        agg = self.aggregates.get(benchmark)
        for name in (objective, comparator):
            if agg is None or not agg.seeds(name):
                files = [m.to_dict(self.loaded.root)["path"] for m in self.loaded.missing_for(name)
                         if m.what == f"{benchmark} evaluation"]
                return f"no {benchmark} results for '{name}'" + (f" (missing {', '.join(files)})" if files else "")
        return None

    def effect(self, metric: str, objective: str, comparator: str, benchmark: str,
               unit: str | None = None) -> tuple[Estimate, dict[str, Any]]:
        """The paired effect of objective vs comparator and the scale it was measured at."""
        if metric in ("convergence_speedup", "sample_efficiency"):
            unit = unit or ("steps" if metric == "convergence_speedup" else "rollout_tokens")
            est = convergence_speedup(self.convergence[objective], self.convergence[comparator], unit,  # type: ignore[arg-type]
                                      key=f"speedup/{objective}/{comparator}/{unit}", **self.boot)
            seeds = est.extra.get("seeds", [])
            return est, self.run_scale([objective, comparator], seeds, "validation split (training task)")
        agg = self.aggregates[benchmark]
        assert agg is not None
        if metric == "accuracy_change":
            est = agg.accuracy_change(objective, comparator)
        elif metric == "compression":
            est = agg.compression(objective, comparator)
        else:
            raise ValueError(f"unknown metric {metric!r}")
        seeds = sorted({a for a, _ in est.extra.get("seed_pairs", [])})
        return est, self.eval_scale(benchmark, [objective, comparator], seeds)

    # -- scale ------------------------------------------------------------------------

    def eval_scale(self, benchmark: str, objectives: Sequence[str], seeds: Sequence[int]) -> dict[str, Any]:
        records = [rec for (o, s), rec in self.loaded.evals.get(benchmark, {}).items()
                   if o in objectives and o != BASE_OBJECTIVE]
        models = {(r.model.get("name"), r.model.get("params")) for r in records}
        steps = sorted({r.steps for r in records if r.steps is not None})
        n_items = len(records[0].ids) if records else None
        return _scale(models, steps, seeds, benchmark, n_items)

    def run_scale(self, objectives: Sequence[str], seeds: Sequence[int], benchmark: str) -> dict[str, Any]:
        runs = [run for (o, s), run in self.loaded.runs.items() if o in objectives]
        models = {((r.info.get("model") or {}).get("name"), (r.info.get("model") or {}).get("params"))
                  for r in runs}
        steps = sorted({int(r.info["steps"]) for r in runs if r.info.get("steps") is not None})
        return _scale(models, steps, seeds, benchmark, None)


def _scale(models: set[tuple[Any, Any]], steps: list[int], seeds: Sequence[int], benchmark: str,
           n_items: int | None) -> dict[str, Any]:
    models_list = sorted(models, key=lambda m: (str(m[0]), str(m[1])))
    name = ", ".join(str(m[0]) for m in models_list) if models_list else None
    params = [m[1] for m in models_list if isinstance(m[1], (int, float))]
    return {
        "model": name,
        "params": max(params) if params else None,
        "steps": steps,
        "seeds": list(seeds),
        "benchmark": benchmark,
        "n_items": n_items,
    }


def _est(e: Estimate | None) -> dict[str, Any] | None:
    return e.to_dict() if e is not None else None


def benchmark_rows(comparison: Comparison, benchmark: str) -> dict[str, Any]:
    s = comparison.settings
    agg = comparison.aggregates.get(benchmark)
    records = comparison.loaded.evals.get(benchmark, {})
    reference = s.reference_objective
    any_record = next(iter(records.values()), None)
    out: dict[str, Any] = {
        "domain": any_record.data.get("domain") if any_record else None,
        "n_items": len(any_record.ids) if any_record else None,
        "base": None,
        "rows": [],
        "scale": comparison.eval_scale(benchmark, comparison.objectives, s.seeds),
    }
    has_base = agg is not None and bool(agg.seeds(BASE_OBJECTIVE))
    if has_base:
        assert agg is not None
        out["base"] = {
            "objective": BASE_OBJECTIVE,
            "label": s.base_label,
            "accuracy": _est(agg.accuracy(BASE_OBJECTIVE)),
            "mean_length": _est(agg.mean_length(BASE_OBJECTIVE)),
            "mean_length_correct": _est(agg.mean_length_correct(BASE_OBJECTIVE)),
            "model": records[(BASE_OBJECTIVE, 0)].model,
        }
    has_reference = agg is not None and bool(agg.seeds(reference))
    for objective in comparison.objectives:
        missing = [m.to_dict(comparison.loaded.root) for m in comparison.loaded.missing_for(objective)
                   if m.what == f"{benchmark} evaluation"]
        seeds = agg.seeds(objective) if agg is not None else []
        row: dict[str, Any] = {"objective": objective, "seeds": seeds, "missing": missing}
        if not seeds:
            row["status"] = "missing"
            out["rows"].append(row)
            continue
        assert agg is not None
        row["status"] = "partial" if missing else "ok"
        row["accuracy"] = _est(agg.accuracy(objective))
        row["gain_vs_base"] = _est(agg.accuracy_change(objective, BASE_OBJECTIVE)) if has_base else None
        row["mean_length"] = _est(agg.mean_length(objective))
        row["mean_length_correct"] = _est(agg.mean_length_correct(objective))
        if has_reference and objective != reference:
            row["compression_vs_reference"] = _est(agg.compression(objective, reference))
            row["accuracy_change_vs_reference"] = _est(agg.accuracy_change(objective, reference))
        else:
            row["compression_vs_reference"] = None
            row["accuracy_change_vs_reference"] = None
        steps = sorted({records[(objective, sd)].steps for sd in seeds if records[(objective, sd)].steps is not None})
        row["steps"] = steps
        row["model"] = records[(objective, seeds[0])].model
        out["rows"].append(row)
    return out


def build_summary(comparison: Comparison, claims: ClaimsFile | None) -> dict[str, Any]:
    """Everything the leaderboard, plots and audit show, as a JSON-ready dict."""
    s = comparison.settings
    root = comparison.loaded.root
    summary: dict[str, Any] = {
        "comparison": s.comparison,
        "config": str(s.config_path) if s.config_path else None,
        "settings": {**s.as_dict(), "confidence_level": CONFIDENCE_LEVEL},
        "objectives": comparison.objectives,
        "seeds": s.seeds,
        "benchmarks": {b: benchmark_rows(comparison, b) for b in s.benchmarks},
        "convergence": {
            "threshold": comparison.threshold,
            "threshold_source": comparison.threshold_source,
            "val_interval": comparison.val_interval(),
            "objectives": {o: comparison.convergence_estimates(o) for o in comparison.objectives},
        },
        "missing": [m.to_dict(root) for m in comparison.loaded.missing],
        "audit": [row.to_dict() for row in audit_claims(claims, comparison)] if claims else [],
        "claims_file": str(claims.path) if claims and claims.path else None,
    }
    # A JSON round trip: tuples become lists and the renderers see exactly what
    # summary.json holds.
    return json.loads(json.dumps(summary, allow_nan=False))

