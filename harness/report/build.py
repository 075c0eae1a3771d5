"""From result files to the summary: every number the leaderboard and audit show.

``Comparison`` holds the loaded results of one comparison and computes, with the
definitions of harness.metrics, the convergence of every run and the per-benchmark
aggregates (t-intervals over seeds, harness/metrics/intervals.py). ``build_summary``
turns it into a plain, JSON-serialisable dict (results/summary.json, and the
calibration part also as results/calibration.json); the renderers read only that dict,
so the leaderboard can always be rebuilt from JSON alone.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np


from harness.metrics import (
    ALPHA,
    BASE_OBJECTIVE,
    CONFIDENCE_LEVEL,
    POWER,
    THRESHOLD_MIN_SE,
    BenchmarkAggregate,
    Convergence,
    ConvergenceThreshold,
    Estimate,
    TStat,
    convergence,
    convergence_cost,
    convergence_speedup,
    convergence_threshold,
    final_val_accuracy,
    late_validation_trend,
    seed_t,
    start_val_accuracy,
    validation_se,
)
from harness.metrics.convergence_power import fit_curve_world, speedup_power
from harness.metrics.intervals import finite_or_none, to_reported
from harness.report.audit import ClaimsFile, audit_claims
from harness.report.integrity import integrity_summary
from harness.report.results import LoadedResults
from harness.report.settings import ReportSettings

UNITS = ("steps", "rollout_tokens", "wall_s")


class Comparison:
    """Loaded results of one comparison plus the derived per-run and per-benchmark data.

    ``objectives`` are the ranked ones (leaderboard rows, audit); the calibration
    controls are loaded and measured too, but appear only in the calibration section.
    """

    def __init__(self, settings: ReportSettings, loaded: LoadedResults) -> None:
        self.settings = settings
        self.loaded = loaded
        self.objectives = settings.ranked_objectives
        self.threshold_info, self.threshold_source = self._threshold()
        self.threshold = self.threshold_info.value if self.threshold_info else None
        self.convergence: dict[str, dict[int, Convergence]] = {}
        if self.threshold is not None:
            for (objective, seed), run in sorted(loaded.runs.items()):
                conv = convergence(run.metrics, self.threshold, settings.convergence_smooth)
                if conv is not None:
                    self.convergence.setdefault(objective, {})[seed] = conv
        self.aggregates: dict[str, BenchmarkAggregate | None] = {}
        for benchmark in settings.benchmarks:
            records = loaded.evals.get(benchmark, {})
            runs = {key: rec.run_eval for key, rec in records.items()}
            self.aggregates[benchmark] = BenchmarkAggregate(runs) if runs else None

    # -- convergence ------------------------------------------------------------------

    def validation_items(self) -> int | None:
        """Items per validation check: `val_n` on a validation line, else the run's
        `val_prompts` (run.json), else the config's train.val_prompts; None if unknown."""
        found: set[int] = set()
        for run in self.loaded.runs.values():
            n = next((line.get("val_n") for line in run.metrics if line.get("val_n") is not None), None)
            config = run.info.get("config") or {}
            n = n or config.get("val_prompts") or (config.get("train") or {}).get("val_prompts")
            if isinstance(n, int) and n > 0:
                found.add(n)
        if found:
            return min(found)
        return self.settings.val_items

    def _threshold(self) -> tuple[ConvergenceThreshold | None, str]:
        s = self.settings
        starts = [acc for run in self.loaded.runs.values() if (acc := start_val_accuracy(run.metrics)) is not None]
        n_val = self.validation_items()
        if s.convergence_threshold is not None:
            if not starts:
                return None, "undefined: no run has validation results"
            start = sum(starts) / len(starts)
            se = validation_se(start, n_val) if n_val else None
            info = ConvergenceThreshold(s.convergence_threshold, start, None, None, n_val, se, False)
            return info, "set in the config (report.convergence_threshold)"
        finals = [
            acc for (objective, _), run in sorted(self.loaded.runs.items())
            if objective == s.reference_objective
            and (acc := final_val_accuracy(run.metrics, s.convergence_smooth)) is not None
        ]
        if not finals or not starts:
            return None, (f"undefined: the reference objective '{s.reference_objective}' has no "
                          "validation results")
        info = convergence_threshold(starts, finals, s.convergence_threshold_frac, n_val)
        smoothed = (f", each the mean of its last {s.convergence_smooth // 2 + 1} validations"
                    if s.convergence_smooth > 1 else "")
        source = (f"start {info.start:.4f} + {s.convergence_threshold_frac:g} x ({s.reference_objective}'s "
                  f"mean final validation accuracy {info.reference_final:.4f} over {len(finals)} seeds{smoothed} "
                  f"- start)")
        if info.floored:
            source += (f", raised to the floor of {THRESHOLD_MIN_SE:g} validation standard errors "
                       "above the start")
        return info, source

    def convergence_estimates(self, objective: str) -> dict[str, Any]:
        runs = self.convergence.get(objective, {})
        out: dict[str, Any] = {
            "per_seed": {str(s): c.to_dict() for s, c in sorted(runs.items())},
            "reached": sum(c.reached for c in runs.values()),
            "seeds": sorted(runs),
        }
        for unit in UNITS:
            out[unit] = convergence_cost(runs, unit).to_dict() if runs else None
        out["speedup"] = {}
        for baseline in self.settings.baseline_objectives:
            base_runs = self.convergence.get(baseline)
            if baseline == objective or not runs or not base_runs:
                continue
            out["speedup"][baseline] = {unit: convergence_speedup(runs, base_runs, unit).to_dict()
                                        for unit in UNITS}
        return out

    def reference_trend(self) -> dict[str, Any] | None:
        """The reference's late validation trend (see ``reference_trend``)."""
        return reference_trend(self)

    def convergence_power(self) -> dict[str, Any] | None:
        """What this run's convergence design can measure (harness.metrics.convergence_power)."""
        return convergence_power(self)

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
            est = convergence_speedup(self.convergence[objective], self.convergence[comparator], unit)  # type: ignore[arg-type]
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
        "decoding": any_record.data.get("decoding") if any_record else None,
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


def pooled_mde(stats: Sequence[TStat], n_seeds: int) -> dict[str, Any] | None:
    """Minimum detectable effect at ``n_seeds`` (80% power, two-sided alpha 0.05) from the
    observed paired differences: per-seed and test-set variances averaged over the
    comparisons ``stats`` (each objective vs the reference), then
    (t_{0.975} + t_{0.80}) x sqrt(seed_var / n + item_var), t with n - 1 df for the seed
    part. In the metric's units: the smallest effect either way from "no effect"."""
    stats = [st for st in stats if st is not None]
    if not stats or n_seeds < 2:
        return None
    pooled = TStat(0.0, sum(st.seed_var for st in stats) / len(stats),
                   sum(st.item_var for st in stats) / len(stats), n_seeds,
                   min(st.item_df for st in stats), stats[0].scale)
    m = pooled.mde()
    return {"up": finite_or_none(to_reported(m, pooled.scale)),
            "down": finite_or_none(to_reported(-m, pooled.scale)), "n_seeds": n_seeds,
            "comparisons": len(stats), "power": POWER, "alpha": ALPHA}


def mde_summary(comparison: Comparison) -> dict[str, Any]:
    """Per benchmark: the MDE of accuracy change and compression vs the reference at the
    run's seeds, pooled over the objectives and, under "by_objective", each objective's own;
    "validation": that of the convergence speedup (steps)."""
    s = comparison.settings
    reference = s.reference_objective
    others = [o for o in s.objectives if o != reference]
    n = len(s.seeds)
    out: dict[str, Any] = {}
    for benchmark in s.benchmarks:
        agg = comparison.aggregates.get(benchmark)
        if agg is None or not agg.seeds(reference):
            out[benchmark] = {"accuracy_change": None, "compression": None}
            continue
        present = [o for o in others if agg.seeds(o)]
        acc = {o: agg.accuracy_change(o, reference).stat for o in present}
        comp = {o: agg.compression(o, reference).stat for o in present}
        out[benchmark] = {
            "accuracy_change": pooled_mde(list(acc.values()), n),
            "compression": pooled_mde(list(comp.values()), n),
            # Each comparison's own MDE: the pooled one averages the seed variances, so one
            # erratic entry (a length that drifts differently in every seed) sets it for all.
            "by_objective": {o: {"accuracy_change": pooled_mde([acc[o]], n),
                                 "compression": pooled_mde([comp[o]], n)} for o in present},
        }
    ref_runs = comparison.convergence.get(reference)
    speedups = []
    for o in others:
        runs = comparison.convergence.get(o)
        if runs and ref_runs:
            est = convergence_speedup(runs, ref_runs, "steps")
            if est.bound is None and est.stat is not None:
                speedups.append(est.stat)
    speed = pooled_mde(speedups, n)
    if speed is not None:
        speed["basis"] = f"paired log speedups vs {reference}"
    else:
        # No uncensored comparison with the reference (e.g. the reference itself ends below
        # the threshold): the seed variance of log(cost) of the objectives that reached it
        # in every seed, doubled for a difference of two independent runs.
        variances = []
        for o in s.objectives:
            runs = comparison.convergence.get(o) or {}
            costs = [c.cost("steps") for c in runs.values()]
            if len(costs) >= 2 and all(not censored and cost > 0 for cost, censored in costs):
                variances.append(float(np.var(np.log([cost for cost, _ in costs]), ddof=1)))
        if variances:
            speed = pooled_mde([TStat(0.0, 2 * sum(variances) / len(variances), 0.0, n, scale="ratio")], n)
            if speed is not None:
                speed["basis"] = (f"2 x the seed variance of log steps-to-threshold of {len(variances)} "
                                  "objective(s) that reached it in every seed")
    out["validation"] = {"convergence_speedup": speed}
    return out


def _ci_entry(est: Estimate | None, level: float = CONFIDENCE_LEVEL) -> dict[str, Any]:
    """{"mean", "ci", "ci_level", "n_seeds", "note"} of an estimate, the CI at ``level``."""
    if est is None or est.value is None:
        return {"mean": None, "ci": None, "ci_level": level, "n_seeds": est.n_seeds if est else 0,
                "note": (est.note if est else "") or "not measurable"}
    ci = [finite_or_none(x) for x in est.stat.interval(level)] if est.stat is not None else None
    return {"mean": est.value, "ci": ci, "ci_level": level, "n_seeds": est.n_seeds, "bound": est.bound,
            "note": est.note}


def _primary(entries: dict[str, dict[str, Any]], benchmark: str) -> dict[str, Any]:
    """A metric entry: the primary benchmark's figures, with every benchmark's beside them."""
    return {**entries[benchmark], "benchmark": benchmark, "by_benchmark": entries}


def calibration_summary(comparison: Comparison) -> dict[str, Any]:
    """The run's own controls (results/calibration.json).

    aa: the A/A control (the reference trained again, another seed stream) minus the
    reference on every metric, each with a simultaneous (Bonferroni, 1 - 0.05/m over the
    m A/A checks) CI that must cover "no effect": it "reads no difference". Checking m
    metrics at 95% each would raise a false alarm in ~1 - 0.95^m of healthy runs.
    positive: the positive control's compression and accuracy change vs the reference;
    detected when its compression 95% CI lies above 0 on the training task's benchmarks.
    mde: per benchmark, as in the leaderboard. rl_gain: the reference's accuracy gain over
    the warm start. A failed or incomplete control adds a warning (shown on top of the
    leaderboard and audit); no calibration block adds a visible note.
    """
    s = comparison.settings
    reference = s.reference_objective
    mde = mde_summary(comparison)
    rl_gain = {}
    for benchmark in s.benchmarks:
        agg = comparison.aggregates.get(benchmark)
        gain = (agg.accuracy_change(reference, BASE_OBJECTIVE)
                if agg is not None and agg.seeds(reference) and agg.seeds(BASE_OBJECTIVE) else None)
        rl_gain[benchmark] = _ci_entry(gain)
    out: dict[str, Any] = {"configured": bool(s.calibration), "reference": reference, "mde": mde,
                           "rl_gain": rl_gain, "aa": {}, "positive": {}, "warnings": [], "notes": [],
                           "passed": None}
    if not s.calibration:
        out["notes"].append(
            "Calibration was not run: the config has no `calibration:` block, so nothing here shows "
            "that this run can tell equal objectives apart from different ones. Add "
            "`calibration: {null_control: <entry>, positive_control: <entry>}` (README, Method).")
        return out
    null = s.calibration.get("null_control")
    positive = s.calibration.get("positive_control")
    out.update(null_control=null, positive_control=positive)
    primary = (s.audit_benchmarks or s.benchmarks)[0]

    if null is None:
        out["warnings"].append("Calibration incomplete: no null_control (A/A) is configured.")
    else:
        checks: list[tuple[str, str, Estimate | None, float]] = []
        for benchmark in s.benchmarks:
            agg = comparison.aggregates.get(benchmark)
            for metric in ("accuracy_change", "compression"):
                est = (getattr(agg, metric)(null, reference)
                       if agg is not None and agg.seeds(null) and agg.seeds(reference) else None)
                checks.append((metric, benchmark, est, 0.0))
        null_runs, ref_runs = comparison.convergence.get(null), comparison.convergence.get(reference)
        speed = convergence_speedup(null_runs, ref_runs, "steps") if null_runs and ref_runs else None
        checks.append(("convergence_speedup", "validation", speed, 1.0))
        usable = [c for c in checks if c[2] is not None and c[2].stat is not None and c[2].bound is None]
        m = max(1, len(usable))
        level = 1.0 - ALPHA / m
        entries: dict[str, dict[str, dict[str, Any]]] = {}
        failed, unmeasured = [], []
        for metric, benchmark, est, no_effect in checks:
            entry = _ci_entry(est if (est is not None and est.bound is None) else None, level)
            if est is not None and est.bound is not None:
                entry["note"] = f"{est.note}: not a usable A/A check"
            if entry["ci"] is None:
                entry.update(reads="not measured", passed=None)
                unmeasured.append(f"{metric} on {benchmark} ({entry['note']})")
            else:
                covers = entry["ci"][0] <= no_effect <= entry["ci"][1]
                entry.update(reads="no difference" if covers else "difference", passed=covers)
                if not covers:
                    failed.append((metric, benchmark, entry))
            entries.setdefault(metric, {})[benchmark] = entry
        out["aa"] = {
            "accuracy_change": _primary(entries["accuracy_change"], primary),
            "compression": _primary(entries["compression"], primary),
            "convergence_speedup": {**entries["convergence_speedup"]["validation"], "unit": "steps"},
        }
        for metric in ("accuracy_change", "compression"):
            out["aa"][metric]["passed"] = (None if all(e["passed"] is None for e in entries[metric].values())
                                           else all(e["passed"] is not False for e in entries[metric].values()))
        out["aa_family_size"] = m
        out["aa_passed"] = not failed if usable else None
        for metric, benchmark, entry in failed:
            out["warnings"].append(
                f"A/A control FAILED: {null} (the reference {reference} trained again) differs from "
                f"{reference} in {metric.replace('_', ' ')} on {benchmark} (simultaneous {level:.1%} CI "
                f"[{entry['ci'][0]:.4g}, {entry['ci'][1]:.4g}] excludes no effect). Two runs of the same "
                "objective should not differ: the run's seed-to-seed noise is larger than the intervals "
                "assume, or the two were not trained alike. Treat every verdict below with suspicion.")
        if not usable:
            out["warnings"].append(f"Calibration incomplete: the A/A control {null} could not be measured "
                                   f"({'; '.join(unmeasured)}).")
        elif unmeasured:
            out["notes"].append("A/A checks not measurable: " + "; ".join(unmeasured) + ".")

    if positive is None:
        out["warnings"].append("Calibration incomplete: no positive_control is configured.")
    else:
        detect_on = s.audit_benchmarks or s.benchmarks
        comp, acc = {}, {}
        for benchmark in s.benchmarks:
            agg = comparison.aggregates.get(benchmark)
            ok = agg is not None and agg.seeds(positive) and agg.seeds(reference)
            missing = Estimate(None, note=f"no {benchmark} results for {positive} or {reference}")
            comp[benchmark] = _ci_entry(agg.compression(positive, reference) if ok else missing)
            acc[benchmark] = _ci_entry(agg.accuracy_change(positive, reference) if ok else missing)
            if benchmark in detect_on:
                ci = comp[benchmark]["ci"]
                comp[benchmark]["detected"] = None if ci is None else ci[0] > 0
        flags = [comp[b].get("detected") for b in detect_on]
        detected = None if any(f is None for f in flags) else all(flags)
        out["positive"] = {"compression": _primary(comp, primary), "accuracy_change": _primary(acc, primary),
                           "detected": detected,
                           "criterion": f"compression 95% CI above 0 vs {reference} on {', '.join(detect_on)}"}
        if detected is None:
            why = "; ".join(f"{b}: {comp[b]['note'] or 'not measurable'}" for b in detect_on
                            if comp[b].get("detected") is None)
            out["warnings"].append(f"Calibration incomplete: the positive control {positive} could not be "
                                   f"measured ({why}).")
        elif not detected:
            out["warnings"].append(
                f"Positive control NOT DETECTED: {positive} (the reference plus an explicit length penalty) "
                f"shows no compression vs {reference} whose 95% CI excludes 0 on {', '.join(detect_on)}. "
                "The run cannot see a built-in effect of the kind the compression claims are about: an "
                "'inconclusive' below says little, and a 'refuted' compression claim may be the instrument's failure.")
    out["passed"] = None if (out.get("aa_passed") is None or out["positive"].get("detected") is None) else (
        out["aa_passed"] and out["positive"]["detected"])
    return out


def _mechanism_keys(run_info: dict[str, Any], entry: str) -> list[str] | None:
    """The run's mechanism metric keys: run.json's list, else the registered objective's (older runs)."""
    if "mechanism" in run_info:
        return [str(k) for k in run_info["mechanism"]]
    from harness import objectives  # only for runs written before run.json carried the keys

    name = run_info.get("registered_objective") or entry
    return list(objectives.get(name).mechanism) if name in objectives.available() else None


def mechanism_summary(comparison: Comparison) -> dict[str, Any]:
    """Per entry: how often its distinguishing mechanism acted during training, and its KL weight.

    A training step counts as active when any of the objective's ``mechanism`` metrics is
    non-zero on it. Per entry: ``status`` "active" (active on some step of every seed),
    "partly active" (some seeds only), "inactive" (on no step of any seed: a comparison
    with it says nothing about its mechanism), "always" (no conditional mechanism: it acts
    the same way on every batch), "unknown" (the metrics were not logged); ``active_steps``
    the share of logged training steps it acted on, pooled over seeds; ``means`` each
    metric's mean over those steps; ``beta`` the KL coefficient from run.json.
    """
    out: dict[str, Any] = {}
    for entry in comparison.objectives + comparison.settings.controls:
        runs = [run for (objective, _), run in sorted(comparison.loaded.runs.items()) if objective == entry]
        if not runs:
            continue
        keys = _mechanism_keys(runs[0].info, entry)
        betas = sorted({float(run.info.get("hyperparams", {}).get("beta", 0.0) or 0.0) for run in runs})
        row: dict[str, Any] = {"keys": keys, "beta": betas[0] if len(betas) == 1 else betas}
        if keys == []:
            out[entry] = {**row, "status": "always"}
            continue
        steps = [[m for m in run.metrics if m.get("step", 0) > 0 and any(k in m for k in keys or [])] for run in runs]
        if keys is None or not any(steps):
            out[entry] = {**row, "status": "unknown"}
            continue
        active = [[any(float(m.get(k) or 0.0) != 0.0 for k in keys) for m in ms] for ms in steps]
        pooled = [a for seed in active for a in seed]
        seeds_active = sum(any(seed) for seed in active)
        status = ("inactive" if seeds_active == 0 else "active" if seeds_active == len(active) else "partly active")
        means = {k: float(np.mean([float(m[k]) for ms in steps for m in ms if k in m]))
                 for k in keys if any(k in m for ms in steps for m in ms)}
        out[entry] = {**row, "status": status, "active_steps": sum(pooled) / len(pooled),
                      "steps_logged": len(pooled), "seeds_active": seeds_active, "seeds": len(active), "means": means}
    return out


def threshold_summary(comparison: Comparison) -> dict[str, Any] | None:
    info = comparison.threshold_info
    if info is None:
        return None
    return {"value": info.value, "start": info.start, "reference_final": info.reference_final,
            "frac": info.frac, "n_val": info.n_val, "se": info.se, "margin_se": info.margin_se,
            "reference_gain_se": info.reference_gain_se, "floored": info.floored,
            "min_se": THRESHOLD_MIN_SE,
            "reference_below_threshold": (info.reference_final is not None
                                          and info.reference_final < info.value)}


#: The speedup the design check simulates: "50% less convergence time" (TEPO's claim).
POWER_SPEEDUP = 2.0
#: Simulated comparisons per design check (each ~3 ms; the shares' SE is <= 2.5 points).
POWER_TRIALS = 400


def convergence_power(comparison: Comparison) -> dict[str, Any] | None:
    """Could this run measure a convergence speedup at all? A world fitted to the reference's
    own validation curves (fit_curve_world: noise, seed spread of the gain, time constant),
    then POWER_TRIALS simulated comparisons through the same threshold rule, smoothing and
    number of seeds: one objective POWER_SPEEDUP x faster than the reference, one equal.
    Only when some run is censored (then the run's own speedups cannot size the design);
    None otherwise, without a fraction-based threshold or with < 2 reference runs; a dict
    with only "note" when the curves cannot be fitted (e.g. validated at different steps)."""
    s = comparison.settings
    runs = [run.metrics for (o, _), run in sorted(comparison.loaded.runs.items()) if o == s.reference_objective]
    censored = any(not c.reached for by_seed in comparison.convergence.values() for c in by_seed.values())
    if s.convergence_threshold is not None or len(runs) < 2 or not censored:
        return None
    try:
        world = fit_curve_world(runs, n_val=comparison.validation_items())
    except ValueError as exc:
        return {"note": f"not simulated: {exc}"}
    common = dict(n_seeds=len(runs), frac=s.convergence_threshold_frac, window=s.convergence_smooth,
                  trials=POWER_TRIALS, seed=0)
    return {"world": {k: finite_or_none(v) if isinstance(v, float) else v for k, v in vars(world).items()},
            "faster": speedup_power(world, speed=POWER_SPEEDUP, **common).to_dict(),
            "equal": speedup_power(world, speed=1.0, **common).to_dict()}


def reference_trend(comparison: Comparison) -> dict[str, Any] | None:
    """Is the reference still improving when the run stops?

    Per reference seed, the late validation trend (``late_validation_trend``: the
    least-squares slope of validation accuracy over the second half of the run) as the gain
    over that window (``rise``, accuracy units); a t-interval over seeds.
    still_rising: the interval lies above 0. too_short: still rising and the reference's own
    steps-to-threshold censored in some seed, so a threshold at a fraction of its final gain
    sits near the run's end: the run is too short to measure convergence. None when the
    reference has no late validations.
    """
    reference = comparison.settings.reference_objective
    fits = [fit for (objective, _), run in sorted(comparison.loaded.runs.items())
            if objective == reference and (fit := late_validation_trend(run.metrics)) is not None]
    gains = [fit["rise"] for fit in fits]
    if not gains:
        return None
    first, last = min(fit["from_step"] for fit in fits), max(fit["to_step"] for fit in fits)
    runs = comparison.convergence.get(reference, {})
    out: dict[str, Any] = {"objective": reference, "from_step": first, "to_step": last,
                           "late_gain": float(np.mean(gains)), "ci": None, "n_seeds": len(gains),
                           "still_rising": None, "censored_seeds": sum(not c.reached for c in runs.values())}
    if len(gains) >= 2:
        lo, hi = seed_t(gains).interval()
        out["ci"] = [finite_or_none(lo), finite_or_none(hi)]
        out["still_rising"] = bool(lo > 0)
    # The run is too short for convergence when the rise is what censors the reference: a
    # reference that crossed the threshold in every seed converged, whatever its late slope.
    out["too_short"] = bool(out["still_rising"] and out["censored_seeds"] > 0)
    return out


def build_summary(comparison: Comparison, claims: ClaimsFile | None) -> dict[str, Any]:
    """Everything the leaderboard, plots and audit show, as a JSON-ready dict."""
    s = comparison.settings
    root = comparison.loaded.root
    summary: dict[str, Any] = {
        "comparison": s.comparison,
        "config": str(s.config_path) if s.config_path else None,
        "settings": {**s.as_dict(), "confidence_level": CONFIDENCE_LEVEL, "interval_method": "t"},
        "objectives": comparison.objectives,
        "controls": s.controls,
        "seeds": s.seeds,
        "benchmarks": {b: benchmark_rows(comparison, b) for b in s.benchmarks},
        "convergence": {
            "threshold": comparison.threshold,
            "threshold_source": comparison.threshold_source,
            "threshold_detail": threshold_summary(comparison),
            "val_interval": comparison.val_interval(),
            "reference_trend": comparison.reference_trend(),
            "power": comparison.convergence_power(),
            "objectives": {o: comparison.convergence_estimates(o) for o in comparison.objectives},
        },
        "calibration": calibration_summary(comparison),
        "mechanisms": mechanism_summary(comparison),
        "integrity": integrity_summary(comparison),  # harness/report/integrity.py (issue 19)
        "missing": [m.to_dict(root) for m in comparison.loaded.missing],
        "audit": [row.to_dict() for row in audit_claims(claims, comparison)] if claims else [],
        "claims_file": str(claims.path) if claims and claims.path else None,
    }
    summary["mde"] = summary["calibration"]["mde"]
    # A JSON round trip: tuples become lists, infinities are refused (a bug, not a figure),
    # and the renderers see exactly what summary.json holds.
    return json.loads(json.dumps(summary, allow_nan=False))
