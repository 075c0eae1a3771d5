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


def fmt_claimed(metric: str, claimed: Mapping[str, Any]) -> str:
    lo, hi = claimed.get("min"), claimed.get("max")
    unit = {"convergence_speedup": ("×", 1.0, ".2f", "speedup"),
            "sample_efficiency": ("×", 1.0, ".2f", "token-efficiency ratio"),
            "compression": ("%", 100.0, ".0f", "compression"),
            "accuracy_change": (" pts", 100.0, ".1f", "Δ accuracy")}[metric]
    sym, scale, f, label = unit

    def n(x: float) -> str:
        return ("{:" + f + "}").format(x * scale) + sym

    no_effect = claimed.get("no_effect", 0.0)
    decrease = claimed.get("direction") == "decrease"
    if lo is not None and hi is not None:
        formal = f"= {n(lo)}" if lo == hi else f"in [{n(lo)}, {n(hi)}]"
    elif hi is not None:
        formal = f"in ({n(no_effect)}, {n(hi)}]" if not decrease else f"≤ {n(hi)}"
    elif lo is not None:
        formal = f"≥ {n(lo)}" if not decrease else f"in [{n(lo)}, {n(no_effect)})"
    else:
        formal = f"{'<' if decrease else '>'} {n(no_effect)}"
    formal = f"{label} {formal}"
    text = claimed.get("text") or ""
    return f"{text} ({formal})" if text else formal


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

    intro = Section(f"Leaderboard: {summary['comparison']}")
    intro.paragraphs.append(
        (f"Config `{summary['config']}`; " if summary.get('config') else "Config resolved by the workflow; ") + f"objectives {', '.join(summary['objectives'])}; "
        f"seeds {', '.join(str(s) for s in summary['seeds'])}. Reference objective for compression: "
        f"**{reference}**; speedups vs {', '.join(baselines) or 'no baseline'}. Every figure is the mean over seeds "
        f"with a {settings['confidence_level']:.0%} bootstrap CI in brackets "
        f"({settings['bootstrap_resamples']:,} resamples, seed {settings['bootstrap_seed']}; see Method)."
    )
    if absent_baselines:
        intro.paragraphs.append(f"No speedup vs {', '.join(absent_baselines)}: not in this comparison.")
    sections.append(intro)

    header = ["Objective", "Seeds", "Accuracy %", "Gain vs base (pts)", "Mean length (tok)",
              "Length if correct (tok)", f"Compression vs {reference}", f"Δ accuracy vs {reference} (pts)",
              "Steps to threshold"] + [f"Speedup vs {b}" for b in baselines]

    for benchmark, bench in summary["benchmarks"].items():
        sec = Section(f"Benchmark: {benchmark}")
        sec.paragraphs.append(
            f"Domain {bench.get('domain') or '?'}, {bench.get('n_items') or '?'} test items. "
            f"Scale: {fmt_scale(bench.get('scale'))}.")
        sec.header = header
        base = bench.get("base")
        if base:
            sec.rows.append([base.get("label", "base (warm start)"), "1", fmt_accuracy(base["accuracy"]), DASH,
                             fmt_length(base["mean_length"]), fmt_length(base["mean_length_correct"]),
                             DASH, DASH, DASH] + [DASH] * len(baselines))
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
            ] + speedups)
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
    threshold = conv.get("threshold")
    csec.paragraphs.append(
        (f"Threshold: validation accuracy ≥ {threshold:.4f} ({conv['threshold_source']}). "
         if threshold is not None else f"Threshold {conv['threshold_source']}. ")
        + "Cost = first validation step at or above it (and the rollout tokens and wall seconds "
          "spent by then). A run that never reaches it is censored: its cost is only known to "
          "exceed the run's length (≥), and a speedup involving it is a bound (≤ or ≥)."
        + (f" Resolution: the validation interval ({conv['val_interval']} steps)."
           if conv.get("val_interval") else ""))
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

    method = Section("Method")
    method.bullets = [
        "Accuracy: mean verifier score on the benchmark's test items (greedy decoding). Length: mean "
        "completion tokens; 'if correct' averages over correct responses only.",
        f"Compression of X = 1 − mean length(X) / mean length({reference}), over the seeds both have, "
        "at the final checkpoint; Δ accuracy beside it (points). Negative compression = longer; "
        "nothing is clipped.",
        "Speedup vs a baseline = mean cost(baseline) / mean cost(X) over shared seeds; > 1 = X "
        "reaches the threshold sooner.",
        "Evaluation CIs: crossed seed × item bootstrap: each resample draws seeds with replacement "
        "(paired by seed across objectives) and test items with replacement (the same items for every "
        "seed and objective: paired by item), so the CI carries seed and evaluation-set noise. "
        "Convergence CIs: scipy.stats.bootstrap over seeds (paired), seed noise only.",
        "With 3 seeds a seed-level bootstrap understates seed-to-seed variance: treat such CIs as provisional.",
    ]
    sections.append(method)

    if summary.get("missing"):
        msec = Section("Missing results")
        msec.bullets = [f"`{m['path']}` ({m['what']} of {m['objective']} seed {m['seed']})"
                        for m in summary["missing"]]
        sections.append(msec)
    return sections


# -- audit ------------------------------------------------------------------------------


def audit_sections(summary: Mapping[str, Any]) -> list[Section]:
    rows = summary.get("audit") or []
    intro = Section(f"Claims audit: {summary['comparison']}")
    intro.paragraphs.append(
        f"Claims from `{summary.get('claims_file') or 'config/claims.yaml'}`, each measured as the paired "
        "(by seed) effect of the objective vs its comparator with a 95% bootstrap CI "
        f"({summary['settings']['bootstrap_resamples']:,} resamples, seed {summary['settings']['bootstrap_seed']}). "
        "**supported**: the CI is on the claimed side of no effect and does not exclude the claimed "
        "magnitude; **refuted**: the CI excludes the claimed magnitude on the unfavourable side or "
        "shows no or the opposite effect; **inconclusive**: anything else. \"Without accuracy loss\" is "
        "its own check (accuracy change CI lower bound above −1 point). A refutation on a small model "
        "means *not reproduced at this scale*, not that the paper is wrong at its scale.")
    table = Section("Verdicts")
    table.header = ["Claim", "Source", "Check", "Claimed", "Measured (95% CI)", "Verdict", "Why", "Scale"]
    for r in rows:
        src = r["source"]
        source = f"arXiv {src.get('arxiv', '?')}"
        if src.get("seed_article"):
            source += f"; {src['seed_article'].rsplit('/', 1)[-1]}"
        check = (f"{r['objective']} vs {r['comparator']}: {r['metric'].replace('_', ' ')}"
                 + (f" ({r['unit']})" if r.get("unit") else ""))
        if r["check"] == "without_accuracy_loss":
            check = f"{r['objective']} vs {r['comparator']}: without accuracy loss"
        check += f", on {r['benchmark']}"
        scale = fmt_scale(r.get("scale")) if r.get("scale") else DASH
        if r.get("paper_scale"):
            scale += f"; paper: {r['paper_scale']}"
        table.rows.append([
            r["claim_id"], source, check, fmt_claimed(r["metric"], r["claimed"]),
            fmt_measured(r["metric"], r.get("measured")), f"**{r['verdict_text']}**", r["reason"], scale,
        ])
    if not rows:
        table.paragraphs.append("No claims were audited (no claims file).")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    if counts:
        table.paragraphs.append("Tally: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + ".")
    return [intro, table]


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


def _html_inline(text: str) -> str:
    """Escape, then render the two markdown marks we use: `code` and **bold**."""
    parts = html.escape(text).split("`")
    text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def to_html(sections: Sequence[Section], title: str) -> str:
    out = [
        "<!DOCTYPE html>", "<html lang=\"en\">", "<head>", "<meta charset=\"utf-8\">",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:110em}"
        "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;"
        "text-align:left;font-variant-numeric:tabular-nums}th{background:#f3f3f3}"
        "img{max-width:48em;display:block;margin:1em 0}</style>",
        "</head>", "<body>",
    ]
    for i, sec in enumerate(sections):
        tag = "h1" if i == 0 else "h2"
        out.append(f"<{tag}>{html.escape(sec.title)}</{tag}>")
        out += [f"<p>{_html_inline(p)}</p>" for p in sec.paragraphs]
        if sec.header:
            out.append("<table>")
            out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in sec.header) + "</tr>")
            for row in sec.rows:
                out.append("<tr>" + "".join(f"<td>{_html_inline(c)}</td>" for c in row) + "</tr>")
            out.append("</table>")
        items = [f"Note: {n}" for n in sec.notes] + list(sec.bullets)
        if items:
            out.append("<ul>" + "".join(f"<li>{_html_inline(x)}</li>" for x in items) + "</ul>")
        for alt, path in sec.images:
            out.append(f"<img src=\"{html.escape(path)}\" alt=\"{html.escape(alt)}\">")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
