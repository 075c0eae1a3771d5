"""Leaderboard (markdown + HTML) and audit (markdown) from the summary dict alone.

Tables are built once as rows of strings (``Section``) and written in both formats, so
the markdown and the HTML always show the same numbers. Nothing here computes a
metric: every figure comes from summary.json.
"""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.report.audit import PROVISIONAL_BELOW_SEEDS

DASH = "—"


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)  # (alt, relative path)
    bullets: list[str] = field(default_factory=list)


# -- number formatting ------------------------------------------------------------------


def _num(x: float, fmt: str) -> str:
    """Format with ``fmt``; fmt "k" writes large counts as 85.3k / 1.23M."""
    if fmt != "k":
        return ("{:" + fmt + "}").format(x)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.0f}"


def _ci(e: Mapping[str, Any] | None, scale: float, fmt: str, signed: bool = False) -> tuple[str, str]:
    """(value, " [low, high]") strings, or (DASH, "") when undefined."""
    if not e or e.get("value") is None:
        return DASH, ""

    def f(x: float) -> str:
        text = _num(x * scale, fmt)
        return ("+" + text) if signed and x * scale >= 0 and not text.startswith("+") else text

    value = f(e["value"])
    if e.get("ci_low") is None or e.get("ci_high") is None:
        return value, ""
    return value, f" [{f(e['ci_low'])}, {f(e['ci_high'])}]"


def fmt_accuracy(e: Mapping[str, Any] | None) -> str:
    v, ci = _ci(e, 100.0, ".1f")
    return v + ci


def fmt_points(e: Mapping[str, Any] | None) -> str:
    v, ci = _ci(e, 100.0, ".1f", signed=True)
    return v + ci


def fmt_length(e: Mapping[str, Any] | None) -> str:
    v, ci = _ci(e, 1.0, ".1f")
    return v + ci


def fmt_percent(e: Mapping[str, Any] | None) -> str:
    v, ci = _ci(e, 100.0, ".1f", signed=True)
    return v + ("%" if v != DASH else "") + ci


def _bound_prefix(e: Mapping[str, Any]) -> str:
    return {"lower": "≥ ", "upper": "≤ "}.get(e.get("bound") or "", "")


def fmt_speedup(e: Mapping[str, Any] | None) -> str:
    if not e or e.get("value") is None:
        return "n/a" if e else DASH
    v, ci = _ci(e, 1.0, ".2f")
    return f"{_bound_prefix(e)}{v}×{ci}"


def fmt_cost(e: Mapping[str, Any] | None, fmt: str = ".0f") -> str:
    """Convergence cost: censored seeds make it a lower bound; none reached: 'not reached'."""
    if not e:
        return DASH
    n = e.get("n_seeds", 0)
    reached = e.get("reached", n)
    if e.get("value") is None:
        return f"not reached (0/{n})" if e.get("bound") == "lower" else "n/a"
    v, ci = _ci(e, 1.0, fmt)
    tail = f" ({reached}/{n} reached)" if reached != n else ""
    return f"{_bound_prefix(e)}{v}{ci}{tail}"


def fmt_measured(metric: str, e: Mapping[str, Any] | None) -> str:
    if metric in ("convergence_speedup", "sample_efficiency"):
        return fmt_speedup(e)
    if metric == "compression":
        return fmt_percent(e)
    if metric == "accuracy_change":
        s = fmt_points(e)
        return s if s == DASH else s + " pts"
    return fmt_length(e)


def _metric_units(metric: str) -> tuple[str, float, str, str]:
    return {"convergence_speedup": ("×", 1.0, ".2f", "speedup"),
            "sample_efficiency": ("×", 1.0, ".2f", "token-efficiency ratio"),
            "compression": ("%", 100.0, ".0f", "compression"),
            "accuracy_change": (" pts", 100.0, ".1f", "Δ accuracy")}[metric]


def fmt_claimed(metric: str, claimed: Mapping[str, Any]) -> str:
    """The claim as stated, and the range the audit tests it against."""
    sym, scale, f, label = _metric_units(metric)

    def n(x: float) -> str:
        return ("{:" + f + "}").format(x * scale) + sym

    lo, hi = claimed.get("min"), claimed.get("max")
    low, high = (claimed.get("range") or [None, None])
    no_effect = claimed.get("no_effect", 0.0)
    if lo is not None and lo == hi:
        formal = f"= {n(lo)}, tested as [{n(low)}, {n(high)}]" if low is not None else f"= {n(lo)}"
    elif low is not None and high is not None:
        left = "[" if lo is not None else "("
        right = "]" if hi is not None else ")"
        formal = f"in {left}{n(low)}, {n(high)}{right}"
    elif low is not None:
        formal = f"≥ {n(low)}" if lo is not None else f"> {n(no_effect)}"
    elif high is not None:
        formal = f"≤ {n(high)}" if hi is not None else f"< {n(no_effect)}"
    else:
        formal = "any value"
    formal = f"{label} {formal}"
    text = claimed.get("text") or ""
    return f"{text} ({formal})" if text else formal


def fmt_mde(metric: str, mde: Mapping[str, Any] | None) -> str:
    """The smallest effect either way from no effect the test detects with 80% power."""
    if not mde or mde.get("up") is None:
        return DASH
    if metric in ("convergence_speedup", "sample_efficiency"):
        down = f" or ≤ {mde['down']:.2f}×" if mde.get("down") is not None else ""
        return f"≥ {mde['up']:.2f}×{down}"
    if metric == "compression":
        down = f" or ≤ {mde['down'] * 100:+.1f}%" if mde.get("down") is not None else ""
        return f"≥ {mde['up'] * 100:+.1f}%{down}"
    return f"±{mde['up'] * 100:.1f} pts"


def fmt_params(params: Any) -> str:
    if not isinstance(params, (int, float)):
        return "? params"
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if params >= div:
            return f"{params / div:.3g}{suffix} params"
    return f"{int(params)} params"


def fmt_scale(scale: Mapping[str, Any] | None) -> str:
    if not scale:
        return DASH
    steps = scale.get("steps") or []
    steps_txt = (f"{steps[0]} steps" if len(steps) == 1 else
                 f"{'/'.join(str(s) for s in steps)} steps" if steps else "? steps")
    seeds = scale.get("seeds") or []
    seeds_txt = f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(str(s) for s in seeds)})"
    bench = scale.get("benchmark") or "?"
    if scale.get("n_items"):
        bench += f" ({scale['n_items']} items)"
    return f"{scale.get('model') or '?'} ({fmt_params(scale.get('params'))}), {steps_txt}, {seeds_txt}, {bench}"


# -- leaderboard ------------------------------------------------------------------------


def leaderboard_sections(summary: Mapping[str, Any]) -> list[Section]:
    settings = summary["settings"]
    reference = settings["reference_objective"]
    # Speedup columns only for baselines that are part of this comparison.
    absent_baselines = [b for b in settings["baseline_objectives"] if b not in summary["objectives"]]
    baselines = [b for b in settings["baseline_objectives"] if b in summary["objectives"]]
    conv = summary["convergence"]
    conv_objectives = conv["objectives"]
    sections: list[Section] = []

    calibration = summary.get("calibration") or {}
    intro = Section(f"Leaderboard: {summary['comparison']}")
    intro.paragraphs += warning_paragraphs(calibration)
    n_seeds = len(summary["seeds"])
    intro.paragraphs.append(
        (f"Config `{summary['config']}`; " if summary.get('config') else "Config resolved by the workflow; ")
        + f"objectives {', '.join(summary['objectives'])}; "
        f"seeds {', '.join(str(s) for s in summary['seeds'])}. Reference objective for compression: "
        f"**{reference}**; speedups vs {', '.join(baselines) or 'no baseline'}. Every figure is the mean over seeds "
        f"with a {settings['confidence_level']:.0%} t-interval over seeds in brackets (paired by seed and by "
        "test item for comparisons; see Method)."
        + (f" Calibration controls ({', '.join(summary.get('controls') or [])}) are not ranked: see Calibration."
           if summary.get("controls") else ""))
    if n_seeds < PROVISIONAL_BELOW_SEEDS:
        intro.paragraphs.append(
            f"**Provisional:** {n_seeds} seed{'s' if n_seeds != 1 else ''} (< {PROVISIONAL_BELOW_SEEDS}). Intervals "
            "over so few seeds are honest but wide; the minimum detectable effects under each table say what "
            "this run can and cannot tell apart.")
    if absent_baselines:
        intro.paragraphs.append(f"No speedup vs {', '.join(absent_baselines)}: not in this comparison.")
    inactive = [o for o in summary["objectives"] if ((summary.get("mechanisms") or {}).get(o) or {}).get("status") == "inactive"]
    if inactive:
        intro.paragraphs.append(
            f"**Mechanism never acted:** {', '.join(inactive)}. Its distinguishing mechanism was zero on every "
            "training step of every seed, so a difference (or none) says nothing about that mechanism; see "
            "Mechanism activity.")
    sections.append(intro)

    header = ["Objective", "Seeds", "Accuracy %", "Gain vs base (pts)", "Mean length (tok)",
              "Length if correct (tok)", f"Compression vs {reference}", f"Δ accuracy vs {reference} (pts)",
              "Steps to threshold"] + [f"Speedup vs {b}" for b in baselines] + ["Mechanism"]
    mechanisms = summary.get("mechanisms") or {}

    for benchmark, bench in summary["benchmarks"].items():
        sec = Section(f"Benchmark: {benchmark}")
        sec.paragraphs.append(
            f"Domain {bench.get('domain') or '?'}, {bench.get('n_items') or '?'} test items, "
            f"{fmt_decoding(bench.get('decoding'))}. Scale: {fmt_scale(bench.get('scale'))}.")
        sec.paragraphs.append(mde_paragraph(summary, benchmark))
        sec.header = header
        base = bench.get("base")
        if base:
            sec.rows.append([base.get("label", "base (warm start)"), "1", fmt_accuracy(base["accuracy"]), DASH,
                             fmt_length(base["mean_length"]), fmt_length(base["mean_length_correct"]),
                             DASH, DASH, DASH] + [DASH] * len(baselines) + [DASH])
        else:
            sec.notes.append("The warm-start model has no evaluation on this benchmark: no gain vs base.")
        for row in bench["rows"]:
            objective = row["objective"]
            if row["status"] == "missing":
                files = [m["path"] for m in row["missing"]]
                first = f"`{files[0]}`" + (f" (+{len(files) - 1} more)" if len(files) > 1 else "") if files else ""
                sec.rows.append([objective, "0", f"missing {first}".strip()] + [DASH] * (len(header) - 3))
                continue
            c = conv_objectives.get(objective) or {}
            steps = c.get("steps")
            if steps is not None:
                steps = {**steps, "reached": c.get("reached")}
            speedups = [fmt_speedup((c.get("speedup", {}).get(b) or {}).get("steps"))
                        if b != objective else DASH for b in baselines]
            is_ref = objective == reference
            sec.rows.append([
                objective + (" (reference)" if is_ref else ""),
                str(len(row["seeds"])),
                fmt_accuracy(row["accuracy"]),
                fmt_points(row["gain_vs_base"]),
                fmt_length(row["mean_length"]),
                fmt_length(row["mean_length_correct"]),
                DASH if is_ref else fmt_percent(row["compression_vs_reference"]),
                DASH if is_ref else fmt_points(row["accuracy_change_vs_reference"]),
                fmt_cost(steps),
            ] + speedups + [fmt_mechanism(mechanisms.get(objective))])
            if row["missing"]:
                sec.notes.append(f"{objective}: partial: missing " +
                                 ", ".join(f"`{m['path']}`" for m in row["missing"]))
            for label, key in (("accuracy", "accuracy"), ("gain vs base", "gain_vs_base"),
                               ("length if correct", "mean_length_correct"),
                               ("compression", "compression_vs_reference")):
                note = (row.get(key) or {}).get("note")
                if note:
                    sec.notes.append(f"{objective}, {label}: {note}")
        sections.append(sec)

    csec = Section("Convergence (validation split of the training task)")
    csec.paragraphs += convergence_paragraphs(conv)
    threshold = conv.get("threshold")
    measured = [c["per_seed"].values() for c in conv_objectives.values() if c.get("per_seed")]
    if measured and all(r.get("reached") and r.get("step") == 0 for runs in measured for r in runs):
        csec.paragraphs.append(
            "**Not measurable here:** every run of every objective is at the threshold already at step 0 "
            "(the reference's final validation accuracy is no better than the starting model's), so "
            "convergence speed cannot be told apart; the speedups read n/a. More validation items or a "
            "longer run would give the threshold room.")
    csec.header = (["Objective", "Reached", "Steps", "Rollout tokens", "Wall s"]
                   + [f"Speedup vs {b} (steps)" for b in baselines]
                   + [f"Speedup vs {b} (tokens)" for b in baselines])
    for objective in summary["objectives"]:
        c = conv_objectives.get(objective) or {}
        if not c.get("seeds"):
            why = "no threshold" if threshold is None else "no runs"
            csec.rows.append([objective, why] + [DASH] * (len(csec.header) - 2))
            continue
        reached = c.get("reached")
        costs = [fmt_cost({**c[u], "reached": reached} if c.get(u) else None, f)
                 for u, f in (("steps", ".0f"), ("rollout_tokens", "k"), ("wall_s", ".0f"))]
        sp_steps = [fmt_speedup((c.get("speedup", {}).get(b) or {}).get("steps")) if b != objective else DASH
                    for b in baselines]
        sp_tok = [fmt_speedup((c.get("speedup", {}).get(b) or {}).get("rollout_tokens")) if b != objective else DASH
                  for b in baselines]
        csec.rows.append([objective, f"{reached}/{len(c['seeds'])}"] + costs + sp_steps + sp_tok)
        for b, sp in (c.get("speedup") or {}).items():
            note = (sp.get("steps") or {}).get("note")
            if note:
                csec.notes.append(f"{objective} vs {b}: {note}")
    sections.append(csec)

    plots = summary.get("plots") or []
    if plots:
        psec = Section("Plots")
        psec.images = [(p.rsplit("/", 1)[-1].removesuffix(".png").replace("_", " "), p) for p in plots]
        sections.append(psec)

    if mechanisms:
        sections.append(mechanism_section(summary))
    sections.append(calibration_section(summary))

    method = Section("Method")
    method.bullets = [
        "Accuracy: mean verifier score on the benchmark's test items, greedy or avg@k as each table says "
        "(avg@k: k draws per item at the training temperature, the item's score the mean of its k verdicts; "
        "chosen for the default because one greedy path of a small policy flips between verbose and terse on "
        "small weight changes, see README). Length: mean completion tokens (avg@k: the item's mean over its "
        "draws); 'if correct' weights each item's length by its score.",
        f"Compression of X = 1 − geometric mean over paired seeds of len(X, s) / len({reference}, s), at the "
        "final checkpoint; Δ accuracy beside it (points). Negative compression = longer; nothing is clipped.",
        "Speedup vs a baseline = geometric mean over paired seeds of cost(baseline, s) / cost(X, s); > 1 = X "
        "reaches the threshold sooner.",
        "Intervals: Student-t over the per-seed paired estimates d_s (n − 1 df), which carry each seed's "
        "training noise and its own test-set noise; ratios on the log scale. Every seed is scored on the same "
        "items, so the test set's shared variance (the item component of the seeds × items table, 0 for two "
        "equal objectives) is added with its own t quantile. A seed-level percentile bootstrap spans about the "
        "range of 3 seeds and was replaced: in simulation it called equal objectives different in up to 19% of "
        "3-seed comparisons (tests/test_stat_calibration.py).",
        "The warm start (one model, one evaluation) has test-set noise only: its interval is over items.",
        f"Minimum detectable effect: (t_0.975,n−1 + t_0.80,n−1) × SE at n seeds, SE from the observed paired "
        f"differences vs {reference} (80% power, two-sided α 0.05).",
    ]
    sections.append(method)

    if summary.get("missing"):
        msec = Section("Missing results")
        msec.bullets = [f"`{m['path']}` ({m['what']} of {m['objective']} seed {m['seed']})"
                        for m in summary["missing"]]
        sections.append(msec)
    from harness.report.integrity import add_integrity  # the Integrity column and section (issue 19)

    return add_integrity(sections, summary)


# -- audit ------------------------------------------------------------------------------


def audit_sections(summary: Mapping[str, Any]) -> list[Section]:
    rows = summary.get("audit") or []
    measured = [r for r in rows if r["verdict"] != "not measured"]
    intro = Section(f"Claims audit: {summary['comparison']}")
    intro.paragraphs += warning_paragraphs(summary.get("calibration") or {})
    if any(r.get("provisional") for r in measured):
        n = min(r["n_seeds"] for r in measured)
        intro.paragraphs.append(
            f"**Provisional:** measured on {n} seed{'s' if n != 1 else ''} (< {PROVISIONAL_BELOW_SEEDS}): every "
            "verdict below is provisional; the minimum detectable effect beside each inconclusive one says what "
            "more seeds could show.")
    intro.paragraphs.append(
        f"Claims from `{summary.get('claims_file') or 'config/claims.yaml'}`, each measured as the paired "
        "(by seed) effect of the objective vs its comparator with a 95% t-interval over seeds (see the "
        "leaderboard's Method). **supported**: the CI lies inside the claimed range (a direction-only claim: "
        "entirely on the claimed side of no effect; a point value is tested as a range around it); "
        "**refuted**: the CI lies entirely outside it on the unfavourable side; **inconclusive**: anything "
        "else. One verdict per claim: a compression claim \"without accuracy loss\" is supported only when the "
        "compression is and the accuracy change CI lies above −1 point, refuted when either part is. "
        f"Multiplicity: Holm's correction across the {len(measured)} measured claims (a verdict stands only if "
        "its adjusted p < 0.05). A refutation on a small model means *not reproduced at this scale*, not that "
        "the paper is wrong at its scale.")
    table = Section("Verdicts")
    table.header = ["Claim", "Source", "Check", "Claimed", "Measured (95% CI)", "Δ accuracy (95% CI)",
                    "p (Holm)", "Verdict", "Why", "Scale", "Paper vs here"]
    for r in rows:
        src = r["source"]
        source = f"arXiv {src.get('arxiv', '?')}"
        if src.get("seed_article"):
            source += f"; {src['seed_article'].rsplit('/', 1)[-1]}"
        check = (f"{r['objective']} vs {r['comparator']}: {r['metric'].replace('_', ' ')}"
                 + (f" ({r['unit']})" if r.get("unit") else "")
                 + (" without accuracy loss" if r.get("without_accuracy_loss") else ""))
        check += f", on {r['benchmark']}"
        scale = fmt_scale(r.get("scale")) if r.get("scale") else DASH
        if r.get("paper_scale"):
            scale += f"; paper: {r['paper_scale']}"
        accuracy = DASH
        if r.get("without_accuracy_loss"):
            accuracy = fmt_measured("accuracy_change", r.get("accuracy_change")) + " (must be > −1 pt)"
        p = DASH
        if r.get("p_value") is not None:
            p = f"{r['p_value']:.2g} ({r['p_adjusted']:.2g})" if r.get("p_adjusted") is not None else f"{r['p_value']:.2g}"
        why = r["reason"]
        if r["verdict"] == "inconclusive" and r.get("mde"):
            mde_metric = r["metric"] if r["mde"].get("check", "claim") == "claim" else "accuracy_change"
            why += (f". Detectable at {r['mde']['n_seeds']} seeds (80% power): "
                    f"{mde_metric.replace('_', ' ')} {fmt_mde(mde_metric, r['mde'])}")
            if r.get("seeds_needed"):
                why += f"; ~{r['seeds_needed']} seeds would likely settle it"
            elif r.get("seeds_note"):
                why += f"; {r['seeds_note']}"
        table.rows.append([
            r["claim_id"], source, check, fmt_claimed(r["metric"], r["claimed"]),
            fmt_measured(r["metric"], r.get("measured")), accuracy, p, f"**{r['verdict_text']}**", why, scale,
            r.get("paper_vs_here") or DASH,
        ])
    if not rows:
        table.paragraphs.append("No claims were audited (no claims file).")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    if counts:
        table.paragraphs.append(
            f"Tally ({len(rows)} claims, one verdict each): "
            + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
            + (" — all provisional." if any(r.get("provisional") for r in measured) else "."))
    return [intro, table]


# -- shared paragraphs ------------------------------------------------------------------


def warning_paragraphs(calibration: Mapping[str, Any]) -> list[str]:
    """The calibration's failures, loud, for the top of the leaderboard and the audit; the
    note that it was not run when it was not configured (never silent)."""
    out = [f"**WARNING — {w}**" for w in calibration.get("warnings") or []]
    if not calibration.get("configured", False):
        out += [f"**Note:** {n}" for n in calibration.get("notes") or []]
    return out


def mde_paragraph(summary: Mapping[str, Any], benchmark: str) -> str:
    mde = summary.get("mde") or {}
    bench = mde.get(benchmark) or {}
    speed = (mde.get("validation") or {}).get("convergence_speedup")
    reference = summary["settings"]["reference_objective"]
    n = len(summary["seeds"])
    parts = [f"accuracy change {fmt_mde('accuracy_change', bench.get('accuracy_change'))}",
             f"compression {fmt_mde('compression', bench.get('compression'))}",
             f"speedup (validation) {fmt_mde('convergence_speedup', speed)}"
             + ("" if speed or n < 2 else " (not measurable: no objective reached the convergence threshold in every seed, "
                                 "so no speedup has a seed variance to size it; see Convergence)")]
    text = (f"Minimum detectable effect vs {reference} at {n} seed{'s' if n != 1 else ''} (80% power, two-sided α 0.05, from the "
            f"observed paired differences): {'; '.join(parts)}. A smaller true effect will usually read "
            "inconclusive here: that means \"not resolved at this many seeds\", not \"no effect\".")
    own = [(o, m) for o, m in (bench.get("by_objective") or {}).items()
           if (m.get("accuracy_change") or {}).get("up") is not None or (m.get("compression") or {}).get("up") is not None]
    if len(own) > 1:
        text += (" Each objective's own (its seeds' spread alone; the figures above average the seed variances, so "
                 "one entry whose length drifts differently in every seed sets them for all): "
                 + "; ".join(f"{o} {_own_mde(m)}" for o, m in own) + ".")
    return text


def _own_mde(mde: Mapping[str, Any]) -> str:
    """One objective's MDEs, short: "±2.3 pts, +7.1% / -7.6%"."""
    acc, comp = mde.get("accuracy_change") or {}, mde.get("compression") or {}
    parts = []
    if acc.get("up") is not None:
        parts.append(f"±{acc['up'] * 100:.1f} pts")
    if comp.get("up") is not None:
        parts.append(f"{comp['up'] * 100:+.1f}%" + (f" / {comp['down'] * 100:+.1f}%" if comp.get("down") is not None else ""))
    return ", ".join(parts)


def convergence_paragraphs(conv: Mapping[str, Any]) -> list[str]:
    threshold = conv.get("threshold")
    detail = conv.get("threshold_detail") or {}
    if threshold is None:
        return [f"Threshold {conv['threshold_source']}."]
    text = f"Threshold: validation accuracy ≥ {threshold:.4f} ({conv['threshold_source']})."
    if detail.get("margin_se") is not None:
        text += (f" It sits {detail['margin_se']:.1f} standard errors of the validation estimate above the "
                 f"start {detail['start']:.4f} (SE {detail['se']:.4f} on {detail['n_val']} items; the floor is "
                 f"{detail['min_se']:g} SE, so that validation noise alone does not \"converge\" a run).")
    elif detail.get("n_val"):
        text += (f" The start accuracy {detail.get('start', 0):.4f} has a binomial standard error of 0 on "
                 f"{detail['n_val']} items, so the margin in standard errors is not defined.")
    else:
        text += " The number of validation items is unknown, so its margin over the start in standard errors is not shown."
    text += (" Cost = the first validation step from which accuracy *stays* at or above the threshold to the end "
             "of the run (and the rollout tokens and wall seconds spent by then); per objective, the geometric mean "
             "over seeds with a t-interval on the log scale (a cost is positive and skewed). A run whose accuracy is below "
             "the threshold at its last validation is censored: its cost is only known to exceed the run's "
             "length (≥), and a speedup involving it is a bound (≤ or ≥) that decides only in its safe direction.")
    if conv.get("val_interval"):
        text += (f" Resolution: validation every {conv['val_interval']} steps; per-seed speedups are ratios of "
                 "multiples of it.")
    out = [text]
    if detail.get("reference_below_threshold"):
        gain = detail.get("reference_gain_se")
        out.append(
            "**Not measurable here:** the reference's own mean gain over the start "
            + (f"({gain:.1f} SE) " if gain is not None else "")
            + "is below the threshold, i.e. within validation noise: convergence speed is not measured reliably "
              "by this run. More validation items (train.val_prompts) or a longer run would make it measurable.")
    trend = conv.get("reference_trend")
    if trend:
        ci = trend.get("ci")
        ci_txt = f" [{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}]" if ci and None not in ci else ""
        seeds = trend["n_seeds"]
        measured = (f"{trend['objective']}'s validation accuracy changed by {trend['late_gain'] * 100:+.1f} pts"
                    f"{ci_txt} over steps {trend['from_step']}–{trend['to_step']} (least-squares slope over the late "
                    f"validations x their span, mean over {seeds} seed{'s' if seeds != 1 else ''}"
                    f"{', t-interval' if ci_txt else ''})")
        if trend.get("too_short"):
            frac = detail.get("frac")
            out.append(
                f"**The reference had not converged when the run stopped:** {measured}, and it is below the "
                f"threshold at the end of {trend['censored_seeds']} of its {seeds} seeds. A threshold at "
                + (f"{frac:g} of its final gain " if frac is not None else "a fraction of its final gain ")
                + ("(here raised to the floor of 3 SE above the start) " if detail.get("floored") else "")
                + "is then crossed late, so a run that ends just below it is censored, and every speedup "
                  "involving a censored run is only a bound, whatever the objectives do. Measuring convergence "
                  "reliably needs a run long enough for the reference to plateau (train.steps).")
        else:
            out.append(f"Late trend: {measured}"
                       + ("; no rise resolved, consistent with a plateau." if trend.get("still_rising") is False
                          else "; one seed, so no interval." if not ci_txt
                          else "; still rising, but it crossed the threshold in every seed, so speedups measure the "
                               "steps to the threshold, not to a plateau."))
    power = conv.get("power")
    if power and power.get("faster"):
        out.append(power_paragraph(power))
    elif power and power.get("note"):
        out.append(f"Design check: {power['note']}.")
    return out


def power_paragraph(power: Mapping[str, Any]) -> str:
    """The design check of harness.report.build.convergence_power, in words."""
    w, fast, equal = power["world"], power["faster"], power["equal"]

    def share(x: float | None) -> str:
        return "—" if x is None else f"{x:.0%}"

    return (f"**Design check** (simulation, {fast['trials']} comparisons with this run's {fast['n_seeds']} seeds, "
            f"threshold rule and smoothing over {fast['window']} validation{'s' if fast['window'] != 1 else ''}, on "
            f"curves fitted to the reference's: start {w['start']:.3f}, gain {w['gain']:.3f} ± {w['gain_sd']:.3f} "
            f"across seeds, time constant {w['tau']:.0f} steps, validation noise SD {w['noise_sd']:.3f}): an "
            f"objective {fast['speed']:g}× faster is measured (no censored run) in {share(fast['measurable'])} of "
            f"comparisons and bounded by a censored run in {share(fast['bounded'])}; when measured, its interval "
            f"holds {fast['speed']:g}× in {share(fast['covered'])} and calls it faster in {share(fast.get('faster'))}. "
            f"An equal objective is measured in {share(equal['measurable'])} and then called different in "
            f"{share(equal['different'])}. A design that rarely measures says as much about a \"not measurable\" "
            "verdict as the MDE says about an \"inconclusive\" one.")


def _fmt_entry(metric: str, entry: Mapping[str, Any] | None) -> str:
    if not entry or entry.get("mean") is None:
        return (entry or {}).get("note") or DASH
    e = {"value": entry["mean"], "ci_low": (entry.get("ci") or [None, None])[0],
         "ci_high": (entry.get("ci") or [None, None])[1], "bound": entry.get("bound")}
    text = fmt_measured(metric, e)
    level = entry.get("ci_level")
    if level is not None and abs(level - 0.95) > 1e-9:
        text += f" ({level:.1%} CI)"
    return text


def fmt_decoding(decoding: Mapping[str, Any] | None) -> str:
    """How the test items were decoded: 'greedy decoding' or 'avg@k (k draws per item at temperature T)'."""
    if not decoding:
        return "decoding not recorded"
    if decoding.get("samples"):
        k = decoding["samples"]
        return f"avg@{k} ({k} draws per item at temperature {decoding.get('temperature', 1.0):g}; item score = mean verdict)"
    return "greedy decoding"


def fmt_mechanism(m: Mapping[str, Any] | None) -> str:
    """One leaderboard cell: whether the objective's distinguishing mechanism acted in training."""
    if not m:
        return DASH
    status = m.get("status")
    if status == "always":
        return "always (unconditional)"
    if status == "unknown":
        return "not logged"
    if status == "inactive":
        return "**never acted**"
    share = f"{m['active_steps']:.0%} of steps"
    return share if status == "active" else f"{share}, {m['seeds_active']}/{m['seeds']} seeds"


def mechanism_section(summary: Mapping[str, Any]) -> Section:
    """How much each objective's distinguishing mechanism did during training (metrics.jsonl)."""
    sec = Section("Mechanism activity (training)")
    sec.paragraphs.append(
        "Each objective names the per-step metrics that measure its distinguishing mechanism (`mechanism` in its "
        "file; e.g. TEPO's share of KL-masked tokens, DAPO's overlong-penalised sequences and dropped groups). "
        "A step is active when any of them is non-zero; means are over all logged steps and seeds. "
        "\"always\": the objective has no conditional mechanism. β is the KL coefficient each objective trains "
        "with (the papers differ).")
    sec.header = ["Objective", "β (KL)", "Active", "Mechanism metrics (mean over steps)"]
    for objective in summary["objectives"]:  # controls: summary.json's "mechanisms"
        m = (summary.get("mechanisms") or {}).get(objective)
        if not m:
            continue
        beta = m.get("beta")
        beta_s = ", ".join(f"{b:g}" for b in beta) if isinstance(beta, list) else f"{beta:g}"
        means = m.get("means") or {}
        detail = ", ".join(f"{k} {_num(v, '.3g')}" for k, v in means.items()) or ", ".join(m.get("keys") or []) or DASH
        sec.rows.append([objective, beta_s, fmt_mechanism(m), detail])
    return sec


def calibration_section(summary: Mapping[str, Any]) -> Section:
    cal = summary.get("calibration") or {}
    sec = Section("Calibration")
    reference = summary["settings"]["reference_objective"]
    if not cal.get("configured"):
        sec.paragraphs += [f"**Note:** {n}" for n in cal.get("notes") or []]
    else:
        verdict = {True: "**passed**", False: "**FAILED**", None: "**incomplete**"}[cal.get("passed")]
        sec.paragraphs.append(
            f"Calibration {verdict}. Null (A/A) control `{cal.get('null_control')}`: the reference {reference} "
            "trained again with an independent seed stream; every metric must read \"no difference\" (a "
            f"simultaneous CI over the {cal.get('aa_family_size', '?')} A/A checks, Bonferroni, covering no "
            f"effect). Positive control `{cal.get('positive_control')}`: {reference} plus an explicit length "
            "penalty, a built-in compression that must be detected ("
            + ((cal.get("positive") or {}).get("criterion") or "compression CI above 0") + ").")
        sec.paragraphs += [f"**WARNING — {w}**" for w in cal.get("warnings") or []]
        sec.header = ["Control", "Metric", "Benchmark", "Measured vs " + reference, "Reads"]
        aa = cal.get("aa") or {}
        for metric in ("accuracy_change", "compression"):
            for benchmark, entry in ((aa.get(metric) or {}).get("by_benchmark") or {}).items():
                sec.rows.append([f"A/A {cal.get('null_control')}", metric.replace("_", " "), benchmark,
                                 _fmt_entry(metric, entry), entry.get("reads", DASH)])
        speed = aa.get("convergence_speedup")
        if speed:
            sec.rows.append([f"A/A {cal.get('null_control')}", "convergence speedup (steps)", "validation",
                             _fmt_entry("convergence_speedup", speed), speed.get("reads", DASH)])
        pos = cal.get("positive") or {}
        for metric in ("compression", "accuracy_change"):
            for benchmark, entry in ((pos.get(metric) or {}).get("by_benchmark") or {}).items():
                reads = DASH
                if "detected" in entry:
                    reads = {True: "detected", False: "NOT detected", None: "not measured"}[entry["detected"]]
                sec.rows.append([f"positive {cal.get('positive_control')}", metric.replace("_", " "), benchmark,
                                 _fmt_entry(metric, entry), reads])
        sec.notes += list(cal.get("notes") or [])
    gains = cal.get("rl_gain") or {}
    if gains:
        sec.bullets.append(f"What RL did: {reference}'s accuracy gain over the warm start: " + "; ".join(
            f"{b} {_fmt_entry('accuracy_change', e)}" for b, e in gains.items()) + ".")
    sec.bullets.append("Written to `calibration.json` with the minimum detectable effects per benchmark.")
    return sec


# -- writers ----------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(sections: Sequence[Section]) -> str:
    out: list[str] = []
    for i, sec in enumerate(sections):
        out.append(("# " if i == 0 else "## ") + sec.title)
        out.append("")
        for p in sec.paragraphs:
            out += [p, ""]
        if sec.header:
            out.append("| " + " | ".join(_md_cell(h) for h in sec.header) + " |")
            out.append("|" + "|".join("---" for _ in sec.header) + "|")
            for row in sec.rows:
                out.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
            out.append("")
        for note in sec.notes:
            out.append(f"- Note: {note}")
        if sec.notes:
            out.append("")
        for b in sec.bullets:
            out.append(f"- {b}")
        if sec.bullets:
            out.append("")
        for alt, path in sec.images:
            out += [f"![{alt}]({path})", ""]
    return "\n".join(out).rstrip() + "\n"


def html_inline(text: str) -> str:
    """Escape, then render the two markdown marks we use: `code` and **bold**."""
    parts = html.escape(text).split("`")
    text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))
