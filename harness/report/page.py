"""results/leaderboard.html: the comparison's face, one self-contained file people open and send.

Built from the summary dict alone (summary.json, plus the PNGs ``summary["plots"]`` names);
nothing here computes a metric, and every figure is formatted by the same ``fmt_*`` helpers as
leaderboard.md, so the two always show the same numbers. The page adds what a plain table
cannot: the calibration verdict as a banner (loud when a control fails), each effect drawn as a
point with its CI against "no effect" (coloured only when the CI excludes it, green for the
better direction, red for the worse), tables that sort by any column, the figures beside the
tables in the figures' own colours, and on every number a hover title naming the summary.json
key and the per-run files it comes from.

No network at view time: CSS and JS are inline and the figures are inlined as base64 PNG up to
``IMAGE_INLINE_BUDGET`` bytes (beyond it, linked as the files under results/plots next to the
page). Test hook: ``leaderboard.html?sort=<table id>:<column>:<asc|desc>`` clicks that header on
load; the page writes ``data-images-loaded`` / ``data-images`` / ``data-sorted`` on <html> so a
headless browser can check it (tests/test_report_page.py).
"""
from __future__ import annotations

import base64
import html
import math
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.report.plots import BASE_COLOR, objective_colors
from harness.report.render import (
    DASH,
    Section,
    html_inline,
    audit_sections,
    calibration_section,
    fmt_accuracy,
    fmt_cost,
    fmt_decoding,
    fmt_length,
    fmt_mde,
    fmt_mechanism,
    fmt_params,
    fmt_percent,
    fmt_points,
    fmt_scale,
    fmt_speedup,
    leaderboard_sections,
    mde_paragraph,
    mechanism_section,
    warning_paragraphs,
)

IMAGE_INLINE_BUDGET = 4_000_000  # base64 bytes; keeps the default comparison's page well under 5 MB
SUMMARY = "summary.json"

# -- helpers ------------------------------------------------------------------------------------


def git_commit(path: Path) -> str | None:
    """The commit of the repository holding ``path`` ("abc1234", "+ local changes" when tracked
    files differ from it); None outside a git repository or without git."""
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()

        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit} + local changes" if dirty else commit


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _attr_sort(value: float | str | None) -> str:
    """data-sort: a number (sorted numerically), text, or empty (always sorted last)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "Infinity" if math.isinf(value) else ("" if math.isnan(value) else repr(value))
    return str(value)


def _td(text_html: str, *, sort: float | str | None, title: str = "", cls: str = "") -> str:
    return (f'<td data-sort="{_esc(_attr_sort(sort))}"' + (f' class="{cls}"' if cls else "")
            + (f' title="{_esc(title)}"' if title else "") + f">{text_html}</td>")


def _figure(text: str) -> str:
    """A formatted figure ("60.4 [56.0, 64.9]", "≥ 50 [50, 50] (3/5 reached)") as the value on one
    line and its interval, smaller, under it."""
    head, sep, tail = text.partition(" [")
    if not sep:
        return f'<span class="v">{_esc(text)}</span>'
    return f'<span class="v">{_esc(head)}</span><span class="ci">[{_esc(tail)}</span>'


def _num_td(text: str, *, sort: float | str | None, title: str) -> str:
    """A number cell; its hover title starts with the figure exactly as leaderboard.md prints it."""
    return _td(_figure(text), sort=sort, title=f"{text}\n{title}", cls="num")


def _eval_files(results_name: str, objective: str, seeds: Sequence[int], benchmark: str) -> list[str]:
    return [f"{results_name}/eval/{objective}/seed{s}/{benchmark}.json" for s in seeds]


def _run_files(results_name: str, objective: str, seeds: Sequence[Any]) -> list[str]:
    return [f"{results_name}/runs/{objective}/seed{s}/metrics.jsonl" for s in seeds]


def _source(key: str, files: Sequence[str] = (), what: str = "") -> str:
    """A hover title: the summary.json key path, then the per-run files behind it."""
    text = f"{SUMMARY} › {key}" + (f"\n{what}" if what else "")
    if files:
        text += "\nfrom:\n" + "\n".join(files)
    return text


# -- effects: a point with its CI against no effect ---------------------------------------------


@dataclass(frozen=True)
class EffectKind:
    """How one effect column reads: its no-effect value, axis, and which direction is better."""

    no_effect: float
    log: bool  # ratios: drawn on a log axis
    better: int  # +1: larger is better, -1: smaller is better
    fmt: Callable[[Mapping[str, Any] | None], str]


POINTS = EffectKind(0.0, False, +1, fmt_points)  # accuracy differences (higher = better)
COMPRESSION = EffectKind(0.0, False, +1, fmt_percent)  # shorter responses at the same task
SPEEDUP = EffectKind(1.0, True, +1, fmt_speedup)  # > 1: reaches the threshold sooner


def _interval(e: Mapping[str, Any] | None) -> tuple[float | None, float | None, float | None]:
    if not e or e.get("value") is None:
        return None, None, None
    return e["value"], e.get("ci_low"), e.get("ci_high")


def effect_direction(e: Mapping[str, Any] | None, kind: EffectKind) -> int:
    """+1 / -1 when the CI excludes no effect on the better / worse side, 0 otherwise.

    A censored estimate (``bound`` lower/upper: some seed never reached the threshold) decides
    only in its safe direction, as in the audit: a lower bound can only show "above", an upper
    bound only "below"."""
    value, low, high = _interval(e)
    if value is None or low is None or high is None:
        return 0
    assert e is not None
    bound = e.get("bound")
    above = low > kind.no_effect and bound in (None, "lower")
    below = high < kind.no_effect and bound in (None, "upper")
    side = 1 if above else -1 if below else 0
    return side * kind.better


class Axis:
    """A shared horizontal scale for one column's bars, so rows compare by eye."""

    WIDTH, HEIGHT, PAD = 84.0, 14.0, 4.0

    def __init__(self, estimates: Sequence[Mapping[str, Any] | None], kind: EffectKind) -> None:
        self.kind = kind
        xs = [self._t(kind.no_effect)]
        for e in estimates:
            xs += [self._t(x) for x in _interval(e) if x is not None]
        lo, hi = min(xs), max(xs)
        if hi - lo < 1e-12:
            lo, hi = lo - 1.0, hi + 1.0
        margin = 0.04 * (hi - lo)
        self.lo, self.hi = lo - margin, hi + margin

    def _t(self, x: float) -> float:
        return math.log(max(x, 1e-6)) if self.kind.log else x

    def px(self, x: float) -> float:
        usable = self.WIDTH - 2 * self.PAD
        return round(self.PAD + usable * (self._t(x) - self.lo) / (self.hi - self.lo), 1)

    def svg(self, e: Mapping[str, Any] | None) -> str:
        value, low, high = _interval(e)
        if value is None:
            return ""
        assert e is not None
        direction = effect_direction(e, self.kind)
        cls = {1: "fx-better", -1: "fx-worse", 0: "fx-none"}[direction]
        h, mid, zero = self.HEIGHT, self.HEIGHT / 2, self.px(self.kind.no_effect)
        parts = [f'<svg class="fx {cls}" width="{self.WIDTH:g}" height="{h:g}" viewBox="0 0 {self.WIDTH:g} {h:g}"'
                 ' aria-hidden="true">',
                 f'<line class="zero" x1="{zero}" y1="0" x2="{zero}" y2="{h:g}"/>']
        if low is not None and high is not None:
            parts.append(f'<line class="ci" x1="{self.px(low)}" y1="{mid:g}" x2="{self.px(high)}" y2="{mid:g}"/>')
        hollow = " hollow" if e.get("bound") else ""
        parts.append(f'<circle class="pt{hollow}" cx="{self.px(value)}" cy="{mid:g}" r="3.2"/>')
        parts.append("</svg>")
        return "".join(parts)


def _effect_cell(e: Mapping[str, Any] | None, axis: Axis, title: str) -> str:
    text = axis.kind.fmt(e)
    direction = effect_direction(e, axis.kind)
    mark = ""
    if direction:
        title += f"\nThe CI excludes no effect ({axis.kind.no_effect:g}): {'better' if direction > 0 else 'worse'}."
        mark = "▲ " if direction > 0 else "▼ "
    sort = (e or {}).get("value")
    if sort is None and (e or {}).get("bound") == "lower":
        sort = math.inf
    return _td(f'<div class="fxtext">{_figure(mark + text)}</div>{axis.svg(e)}', sort=sort,
               title=f"{text}\n{title}", cls="num fxcell")


# -- the page's parts ---------------------------------------------------------------------------


def _swatch(color: str) -> str:
    return f'<span class="sw" style="background:{color}"></span>'


def _header_cell(label: str, sub: str = "", title: str = "") -> str:
    body = _esc(label) + (f'<span class="sub">{_esc(sub)}</span>' if sub else "")
    return f'<th scope="col"' + (f' title="{_esc(title)}"' if title else "") + f">{body}</th>"


def calibration_state(calibration: Mapping[str, Any]) -> str:
    """"passed", "failed" (any control failed), "incomplete", or "not-run"."""
    if not calibration.get("configured"):
        return "not-run"
    positive = calibration.get("positive") or {}
    if (calibration.get("passed") is False or calibration.get("aa_passed") is False
            or positive.get("detected") is False):
        return "failed"
    return "passed" if calibration.get("passed") else "incomplete"


def _control_lines(cal: Mapping[str, Any]) -> list[str]:
    lines = []
    reference = cal.get("reference")
    aa = cal.get("aa") or {}
    if cal.get("null_control"):
        checks = [e for m in ("accuracy_change", "compression")
                  for e in ((aa.get(m) or {}).get("by_benchmark") or {}).values()]
        if aa.get("convergence_speedup"):
            checks.append(aa["convergence_speedup"])
        measured = [c for c in checks if c.get("passed") is not None]
        ok = sum(bool(c.get("passed")) for c in measured)
        verdict = {True: "reads no difference", False: "FAILED: reads a difference", None: "not measured"}[
            cal.get("aa_passed")]
        lines.append(f"A/A control <code>{_esc(cal['null_control'])}</code> (the reference {_esc(reference)} "
                     f"trained again): <strong>{verdict}</strong> ({ok}/{len(measured)} measured checks cover no "
                     "effect).")
    if cal.get("positive_control"):
        positive = cal.get("positive") or {}
        comp = positive.get("compression") or {}
        measured = ""
        if comp.get("mean") is not None:
            ci = comp.get("ci") or [None, None]
            measured = fmt_percent({"value": comp["mean"], "ci_low": ci[0], "ci_high": ci[1]})
            measured = f"compression {measured} on {comp.get('benchmark')}, "
        verdict = {True: "detected", False: "NOT DETECTED", None: "not measured"}[positive.get("detected")]
        lines.append(f"Positive control <code>{_esc(cal['positive_control'])}</code> (a built-in length penalty): "
                     f"<strong>{verdict}</strong> ({_esc(measured)}criterion: "
                     f"{_esc(positive.get('criterion') or 'compression CI above 0')}).")
    return lines


def _banner(summary: Mapping[str, Any]) -> str:
    cal = summary.get("calibration") or {}
    state = calibration_state(cal)
    headline = {
        "passed": "Calibration passed: this run tells equal objectives apart from different ones.",
        "failed": "Calibration FAILED: treat every difference and verdict on this page with suspicion.",
        "incomplete": "Calibration incomplete: a control could not be measured.",
        "not-run": "Calibration was not run: nothing shows this run can tell equal objectives apart.",
    }[state]
    body = [f'<p class="headline">{_esc(headline)}</p>']
    body += [f"<p>{line}</p>" for line in _control_lines(cal)]
    # render's warnings are bold through and through; here the headline is the loud part
    loud = [p[2:-2] if p.startswith("**") and p.endswith("**") and p.count("**") == 2 else p
            for p in warning_paragraphs(cal)]
    if loud:
        body.append("<ul>" + "".join(f"<li>{html_inline(p)}</li>" for p in loud) + "</ul>")
    notes = (cal.get("notes") or []) if cal.get("configured") else []
    body += [f'<p class="note">Note: {html_inline(n)}</p>' for n in notes]
    return (f'<section id="calibration-banner" class="banner banner-{state}" data-calibration="{state}" '
            f'role="{"alert" if state == "failed" else "status"}" '
            f'title="{_esc(_source("calibration", what="also written to calibration.json"))}">'
            + "".join(body) + "</section>")


def _scale_items(summary: Mapping[str, Any], commit: str | None) -> list[tuple[str, str, str]]:
    """(label, value html, hover title) for the header."""
    benches = summary.get("benchmarks") or {}
    scale = next((b.get("scale") for b in benches.values() if b.get("scale")), None) or {}
    steps = scale.get("steps") or []
    seeds = summary.get("seeds") or []
    items = [
        ("Model", f"{_esc(scale.get('model') or '?')} ({_esc(fmt_params(scale.get('params')))})",
         _source("benchmarks.<benchmark>.scale")),
        ("Training", f"{_esc('/'.join(str(s) for s in steps) or '?')} steps",
         _source("benchmarks.<benchmark>.scale.steps")),
        ("Seeds", f"{len(seeds)} ({_esc(', '.join(str(s) for s in seeds))})", _source("seeds")),
        ("Benchmarks", _esc(", ".join(f"{name} ({b.get('n_items') or '?'} items)" for name, b in benches.items())),
         _source("benchmarks.<benchmark>.n_items")),
        ("Reference", f"<code>{_esc(summary['settings']['reference_objective'])}</code>",
         _source("settings.reference_objective")),
    ]
    if commit:
        items.append(("Commit", f"<code>{_esc(commit)}</code>",
                      "git rev-parse HEAD of the repository the report ran in"))
    return items


def _legend(summary: Mapping[str, Any], colors: Mapping[str, str]) -> str:
    items = [f'<span class="lg">{_swatch(c)}{_esc(o)}</span>' for o, c in colors.items()]
    items.append(f'<span class="lg">{_swatch(BASE_COLOR)}base (warm start)</span>')
    return ('<p class="legend" title="The same colours as every figure on this page (harness/report/plots.py)">'
            "Objectives: " + " ".join(items) + "</p>")


class Images:
    """The figures: inlined as base64 PNG up to the budget, else linked as files next to the page."""

    def __init__(self, results: Path, plots: Sequence[str], budget: int = IMAGE_INLINE_BUDGET) -> None:
        self.results, self.budget, self.used = results, budget, 0
        self.remaining = list(plots)

    def take(self, name: str) -> str | None:
        """The plot path ending in ``name`` (e.g. "val_accuracy.png"), once; None if absent."""
        for path in self.remaining:
            if path.rsplit("/", 1)[-1] == name:
                self.remaining.remove(path)
                return path
        return None

    def figure(self, path: str, caption: str) -> str:
        file = self.results / path
        src = path
        try:
            data = file.read_bytes()
        except OSError:
            data = None
        if data is not None:
            encoded = base64.b64encode(data).decode("ascii")
            if self.used + len(encoded) <= self.budget:
                self.used += len(encoded)
                src = "data:image/png;base64," + encoded
        return (f'<figure class="fig" title="{_esc(path)} (click to enlarge)"><img src="{_esc(src)}" '
                f'alt="{_esc(caption)}" loading="eager"><figcaption>{_esc(caption)} · <code>{_esc(path)}</code>'
                "</figcaption></figure>")

    def strip(self, paths_and_captions: Sequence[tuple[str | None, str]]) -> str:
        figs = [self.figure(p, c) for p, c in paths_and_captions if p]
        return f'<div class="figs">{"".join(figs)}</div>' if figs else ""


def _caption(path: str) -> str:
    return path.rsplit("/", 1)[-1].removesuffix(".png").replace("_", " ")


def _extra_source(summary: Mapping[str, Any], title: str, name: str) -> str:
    """Hover title for a column or section another module adds to the leaderboard (e.g. Integrity):
    its summary.json block by the title's first word, per objective when it has ``entries``."""
    key = title.split(" (")[0].strip().lower().replace(" ", "_")
    block = summary.get(key)
    if isinstance(block, Mapping) and name in (block.get("entries") or {}):
        return _source(f"{key}.entries.{name}")
    return _source(key) if block is not None else f"leaderboard.md, section {title}"


def _extra_columns(summary: Mapping[str, Any], sec: Section | None) -> tuple[list[str], dict[str, list[str]]]:
    """Columns render.leaderboard_sections puts after "Mechanism" (added by other modules, e.g. the
    Integrity column): their headers and, per row name, their cells."""
    if sec is None or "Mechanism" not in sec.header:
        return [], {}
    start = sec.header.index("Mechanism") + 1
    cells = {row[0].removesuffix(" (reference)"): row[start:] for row in sec.rows if len(row) == len(sec.header)}
    return sec.header[start:], cells


def _benchmark_table(summary: Mapping[str, Any], benchmark: str, bench: Mapping[str, Any],
                     colors: Mapping[str, str], results_name: str, rendered: Section | None = None) -> str:
    """The benchmark's table from summary.json; ``rendered`` (render's Section for it) supplies the
    cells of any column appended after "Mechanism" by another module."""
    extra, extra_cells = _extra_columns(summary, rendered)
    settings = summary["settings"]
    reference = settings["reference_objective"]
    baselines = [b for b in settings["baseline_objectives"] if b in summary["objectives"]]
    conv = (summary.get("convergence") or {}).get("objectives") or {}
    mechanisms = summary.get("mechanisms") or {}
    mde = (summary.get("mde") or {}).get(benchmark) or {}
    speed_mde = ((summary.get("mde") or {}).get("validation") or {}).get("convergence_speedup")
    rows = [r for r in bench["rows"]]
    ok_rows = [r for r in rows if r["status"] != "missing"]

    def speedup(objective: str, baseline: str) -> Mapping[str, Any] | None:
        return ((conv.get(objective) or {}).get("speedup", {}).get(baseline) or {}).get("steps")

    axes = {
        "gain_vs_base": Axis([r.get("gain_vs_base") for r in ok_rows], POINTS),
        "compression_vs_reference": Axis([r.get("compression_vs_reference") for r in ok_rows], COMPRESSION),
        "accuracy_change_vs_reference": Axis([r.get("accuracy_change_vs_reference") for r in ok_rows], POINTS),
    }
    speed_axes = {b: Axis([speedup(r["objective"], b) for r in ok_rows], SPEEDUP) for b in baselines}
    mde_key = f"mde.{benchmark}"
    header = [
        _header_cell("Objective"), _header_cell("Seeds"),
        _header_cell("Accuracy %", "mean [95% CI]"),
        _header_cell("Gain vs base", "pts"),
        _header_cell("Mean length", "tokens"),
        _header_cell("Length if correct", "tokens"),
        _header_cell(f"Compression vs {reference}", f"MDE {fmt_mde('compression', mde.get('compression'))}",
                     _source(f"{mde_key}.compression", what="minimum detectable effect, 80% power")),
        _header_cell(f"Δ accuracy vs {reference}",
                     f"pts · MDE {fmt_mde('accuracy_change', mde.get('accuracy_change'))}",
                     _source(f"{mde_key}.accuracy_change", what="minimum detectable effect, 80% power")),
        _header_cell("Steps to threshold", "validation"),
    ]
    for b in baselines:
        sub = f"MDE {fmt_mde('convergence_speedup', speed_mde)}" if b == reference else "steps"
        header.append(_header_cell(f"Speedup vs {b}", sub,
                                   _source("mde.validation.convergence_speedup") if b == reference else ""))
    header.append(_header_cell("Mechanism", "share of steps it acted"))
    header += [_header_cell(h) for h in extra]

    def extra_tds(name: str) -> list[str]:
        texts = extra_cells.get(name) or [DASH] * len(extra)
        return [_td(html_inline(t), sort=t.strip("*"), title=_extra_source(summary, h, name))
                for h, t in zip(extra, texts)]

    body_pinned, body = [], []
    base = bench.get("base")
    bkey = f"benchmarks.{benchmark}"
    if base:
        files = _eval_files(results_name, "base", [0], benchmark)
        cells = [_td(f'{_swatch(BASE_COLOR)}{_esc(base.get("label", "base (warm start)"))}', sort=None,
                     cls="obj"),
                 _td("1", sort=1.0, cls="num",
                     title=_source(f"{bkey}.base", files, "one evaluation of the warm start")),
                 _num_td(fmt_accuracy(base["accuracy"]), sort=(base["accuracy"] or {}).get("value"),
                         title=_source(f"{bkey}.base.accuracy", files, "one model: test-set noise only")),
                 _td(DASH, sort=None),
                 _num_td(fmt_length(base["mean_length"]), sort=(base["mean_length"] or {}).get("value"),
                         title=_source(f"{bkey}.base.mean_length", files)),
                 _num_td(fmt_length(base["mean_length_correct"]), sort=(base["mean_length_correct"] or {}).get("value"),
                         title=_source(f"{bkey}.base.mean_length_correct", files))]
        cells += [_td(DASH, sort=None) for _ in range(len(header) - len(extra) - len(cells))]
        cells += extra_tds(base.get("label", "base (warm start)"))
        body_pinned.append('<tr class="base">' + "".join(cells) + "</tr>")
    for i, row in enumerate(rows):
        objective = row["objective"]
        is_ref = objective == reference
        name = _esc(objective) + (' <span class="tag">reference</span>' if is_ref else "")
        cells = [_td(f"{_swatch(colors.get(objective, BASE_COLOR))}{name}", sort=objective, cls="obj")]
        rkey = f"{bkey}.rows[{i}]"
        if row["status"] == "missing":
            files = [m["path"] for m in row["missing"]]
            cells.append(_td("0", sort=0.0, cls="num"))
            cells.append(_td(_esc(f"missing {files[0]}" + (f" (+{len(files) - 1} more)" if len(files) > 1 else ""))
                             if files else "missing", sort=None, title=_source(f"{rkey}.missing", files)))
            cells += [_td(DASH, sort=None) for _ in range(len(header) - len(extra) - len(cells))]
            cells += extra_tds(objective)
            body.append('<tr class="missing">' + "".join(cells) + "</tr>")
            continue
        own = _eval_files(results_name, objective, row["seeds"], benchmark)
        ref_files = _eval_files(results_name, reference, row["seeds"], benchmark)
        base_files = _eval_files(results_name, "base", [0], benchmark)
        paired = "paired by seed and test item"
        cells.append(_td(str(len(row["seeds"])), sort=float(len(row["seeds"])), cls="num",
                         title=_source(f"{rkey}.seeds", own, f"seeds {', '.join(map(str, row['seeds']))}")))
        cells.append(_num_td(fmt_accuracy(row["accuracy"]), sort=(row["accuracy"] or {}).get("value"),
                             title=_source(f"{rkey}.accuracy", own, "mean over seeds, 95% t-interval")))
        cells.append(_effect_cell(row.get("gain_vs_base"), axes["gain_vs_base"],
                                  _source(f"{rkey}.gain_vs_base", own + base_files, paired)))
        cells.append(_num_td(fmt_length(row["mean_length"]), sort=(row["mean_length"] or {}).get("value"),
                             title=_source(f"{rkey}.mean_length", own)))
        cells.append(_num_td(fmt_length(row["mean_length_correct"]),
                             sort=(row["mean_length_correct"] or {}).get("value"),
                             title=_source(f"{rkey}.mean_length_correct", own)))
        for key in ("compression_vs_reference", "accuracy_change_vs_reference"):
            if is_ref:
                cells.append(_td(DASH, sort=None, title="the reference itself"))
            else:
                cells.append(_effect_cell(row.get(key), axes[key], _source(f"{rkey}.{key}", own + ref_files, paired)))
        c = conv.get(objective) or {}
        steps = {**c["steps"], "reached": c.get("reached")} if c.get("steps") is not None else None
        runs = _run_files(results_name, objective, c.get("seeds") or row["seeds"])
        steps_sort = (steps or {}).get("value")
        if steps and steps_sort is None and steps.get("bound") == "lower":
            steps_sort = math.inf
        cells.append(_num_td(fmt_cost(steps), sort=steps_sort,
                             title=_source(f"convergence.objectives.{objective}.steps", runs)))
        for b in baselines:
            if b == objective:
                cells.append(_td(DASH, sort=None))
                continue
            base_runs = _run_files(results_name, b, (conv.get(b) or {}).get("seeds") or [])
            cells.append(_effect_cell(speedup(objective, b), speed_axes[b],
                                      _source(f"convergence.objectives.{objective}.speedup.{b}.steps",
                                              runs + base_runs, "paired by seed, geometric mean")))
        m = mechanisms.get(objective)
        m_sort: float | str | None = (m or {}).get("active_steps")
        if m_sort is None and m:
            m_sort = {"always": "always", "unknown": "not logged", "inactive": -1.0}.get(m.get("status"), None)
        cells.append(_td(html_inline(fmt_mechanism(m)), sort=m_sort,
                         cls="warn" if (m or {}).get("status") == "inactive" else "",
                         title=_source(f"mechanisms.{objective}", runs) if m else "no mechanism data in summary.json"))
        cells += extra_tds(objective)
        body.append("<tr>" + "".join(cells) + "</tr>")
    table_id = f"bench-{benchmark}"
    return (f'<table id="{_esc(table_id)}" class="sortable board"><thead><tr>{"".join(header)}</tr></thead>'
            + (f'<tbody class="pinned">{"".join(body_pinned)}</tbody>' if body_pinned else "")
            + f'<tbody class="rows">{"".join(body)}</tbody></table>')


def _convergence_table(summary: Mapping[str, Any], colors: Mapping[str, str], results_name: str) -> str:
    """The rendered convergence Section's cells, with bars for the speedups and per-cell sources."""
    settings = summary["settings"]
    baselines = [b for b in settings["baseline_objectives"] if b in summary["objectives"]]
    conv = (summary.get("convergence") or {}).get("objectives") or {}
    units = (("steps", ".0f", "Steps"), ("rollout_tokens", "k", "Rollout tokens"), ("wall_s", ".0f", "Wall s"))
    header = [_header_cell("Objective"), _header_cell("Reached")] + [_header_cell(label) for _, _, label in units]
    header += [_header_cell(f"Speedup vs {b}", "steps") for b in baselines]
    header += [_header_cell(f"Speedup vs {b}", "rollout tokens") for b in baselines]

    def sp(o: str, b: str, unit: str) -> Mapping[str, Any] | None:
        return ((conv.get(o) or {}).get("speedup", {}).get(b) or {}).get(unit)

    axes = {(b, u): Axis([sp(o, b, u) for o in summary["objectives"]], SPEEDUP)
            for b in baselines for u in ("steps", "rollout_tokens")}
    rows = []
    for objective in summary["objectives"]:
        c = conv.get(objective) or {}
        key = f"convergence.objectives.{objective}"
        cells = [_td(f"{_swatch(colors.get(objective, BASE_COLOR))}{_esc(objective)}", sort=objective, cls="obj")]
        runs = _run_files(results_name, objective, c.get("seeds") or [])
        if not c.get("seeds"):
            why = "no threshold" if (summary.get("convergence") or {}).get("threshold") is None else "no runs"
            cells.append(_td(why, sort=None))
            cells += [_td(DASH, sort=None) for _ in range(len(header) - 2)]
            rows.append("<tr>" + "".join(cells) + "</tr>")
            continue
        reached = c.get("reached")
        cells.append(_td(f"{reached}/{len(c['seeds'])}", sort=float(reached or 0), cls="num",
                         title=_source(f"{key}.reached", runs)))
        for unit, fmt, _ in units:
            e = {**c[unit], "reached": reached} if c.get(unit) else None
            value = (e or {}).get("value")
            if e and value is None and e.get("bound") == "lower":
                value = math.inf
            cells.append(_num_td(fmt_cost(e, fmt), sort=value, title=_source(f"{key}.{unit}", runs)))
        for unit in ("steps", "rollout_tokens"):
            for b in baselines:
                if b == objective:
                    cells.append(_td(DASH, sort=None))
                    continue
                base_runs = _run_files(results_name, b, (conv.get(b) or {}).get("seeds") or [])
                cells.append(_effect_cell(sp(objective, b, unit), axes[(b, unit)],
                                          _source(f"{key}.speedup.{b}.{unit}", runs + base_runs)))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table id="convergence" class="sortable board"><thead><tr>{"".join(header)}</tr></thead>'
            f'<tbody class="rows">{"".join(rows)}</tbody></table>')


def _section_table(sec: Section, table_id: str, row_titles: Sequence[str] = (),
                   cell_class: Callable[[int, int, str], str] | None = None,
                   cell_html: Callable[[int, int, str], str] | None = None, drop: Sequence[int] = ()) -> str:
    """A render.Section's table (the same strings as the markdown), sortable, one hover title per
    row; columns in ``drop`` are left out (shown elsewhere on the page)."""
    if not sec.header:
        return ""
    keep = [j for j in range(len(sec.header)) if j not in drop]
    head = "".join(_header_cell(sec.header[j]) for j in keep)
    rows = []
    for i, row in enumerate(sec.rows):
        title = row_titles[i] if i < len(row_titles) else ""
        cells = []
        for j in keep:
            text = row[j]
            body = cell_html(i, j, text) if cell_html else html_inline(text)
            cells.append(_td(body, sort=text.strip("*"), title=title,
                             cls=cell_class(i, j, text) if cell_class else ""))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table id="{_esc(table_id)}" class="sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody class="rows">{"".join(rows)}</tbody></table>')


def _section_text(sec: Section, skip: Sequence[str] = ()) -> str:
    out = [f"<p>{html_inline(p)}</p>" for p in sec.paragraphs if p not in skip]
    items = [f"Note: {n}" for n in sec.notes] + list(sec.bullets)
    if items:
        out.append("<ul>" + "".join(f"<li>{html_inline(x)}</li>" for x in items) + "</ul>")
    return "".join(out)


VERDICT_CLASS = {"supported": "v-supported", "refuted": "v-refuted", "inconclusive": "v-inconclusive"}


def _audit(summary: Mapping[str, Any]) -> str:
    """The audit's verdict table (render.audit_sections' strings): verdicts as coloured words with
    their reason under them, each claim's statement under its id, a scale shared by every claim
    stated once above the table."""
    rows = summary.get("audit") or []
    intro, table = audit_sections(summary)
    if not rows:
        return _section_text(table)
    header = table.header
    col = {h: j for j, h in enumerate(header)}
    verdict_col = col.get("Verdict", -1)
    drop, scale_note = [], ""
    if "Scale" in col and len({r[col["Scale"]] for r in table.rows}) == 1:
        drop.append(col["Scale"])
        scale_note = f'<p class="ctx">Scale of every claim: {html_inline(table.rows[0][col["Scale"]])}.</p>'
    if "Source" in col and col["Source"] != 0:
        drop.append(col["Source"])  # shown under the claim's id
    why_col = col.get("Why")
    wide = {"Check": "w10", "Claimed": "w11", "Why": "small w16", "Scale": "small w12"}
    keys = {"Measured (95% CI)": "measured", "Δ accuracy (95% CI)": "accuracy_change", "p (Holm)": "p_adjusted",
            "Verdict": "verdict", "Claimed": "claimed", "Scale": "scale"}
    titles = [_source(f"audit[{i}]", what=r.get("statement") or "") for i, r in enumerate(rows)]

    def cls(i: int, j: int, text: str) -> str:
        if j == verdict_col:
            return "verdict " + VERDICT_CLASS.get(rows[i]["verdict"], "v-other")
        return wide.get(header[j], "")

    def cell(i: int, j: int, text: str) -> str:
        if j == verdict_col:
            word = rows[i]["verdict"]
            rest = str(rows[i].get("verdict_text") or word).removeprefix(word).lstrip(": ")
            if why_col is not None and rest in table.rows[i][why_col]:
                rest = ""  # the reason column says it already
            body = f'<span class="vword">{_esc(word)}</span>'
            body += f'<span class="sub">{_esc(rest)}</span>' if rest else ""
        else:
            body = html_inline(text)
        if j == 0:
            if rows[i].get("statement"):
                body += f'<span class="sub">{_esc(rows[i]["statement"])}</span>'
            if "Source" in col:
                body += f'<span class="sub src">{html_inline(table.rows[i][col["Source"]])}</span>'
        key = keys.get(header[j])
        if key:
            body = f'<span title="{_esc(_source(f"audit[{i}].{key}"))}">{body}</span>'
        return body

    skip = warning_paragraphs(summary.get("calibration") or {})
    method = [p for p in intro.paragraphs if p not in skip]
    return (_section_text(table) + scale_note
            + '<div class="scroll">' + _section_table(table, "audit", titles, cls, cell, drop) + "</div>"
            + ('<details><summary>How the verdicts are decided</summary>'
               + "".join(f"<p>{html_inline(p)}</p>" for p in method) + "</details>"))


def _links(summary: Mapping[str, Any], results: Path) -> str:
    """Links to the files next to the page that exist. integrity.md also when the summary has an
    integrity block: the report writes that file from it right after this page."""
    links = [("leaderboard.md", "leaderboard (markdown)"), ("audit.md", "claims audit (markdown)"),
             ("summary.json", "summary.json"), ("calibration.json", "calibration.json"),
             ("credit/credit.html", "token-credit pictures"), ("integrity.md", "integrity samples")]
    will_exist = {"integrity.md"} if summary.get("integrity") is not None else set()
    present = [(href, label) for href, label in links if href in will_exist or (results / href).exists()]
    return " · ".join(f'<a href="{_esc(href)}">{_esc(label)}</a>' for href, label in present)


# -- the page -----------------------------------------------------------------------------------


def render_page(summary: Mapping[str, Any], results: Path, title: str | None = None, *,
                commit: str | None = None, image_budget: int = IMAGE_INLINE_BUDGET) -> str:
    """The leaderboard page as one HTML string; ``results`` is the directory the page will sit in
    (figures and linked files are looked up there)."""
    results = Path(results)
    results_name = results.name or "results"
    title = title or f"Leaderboard: {summary['comparison']}"
    colors = objective_colors(list(summary["objectives"]))
    images = Images(results, list(summary.get("plots") or []), image_budget)
    sections = leaderboard_sections(summary)
    by_title = {sec.title: sec for sec in sections}
    calibration = summary.get("calibration") or {}

    out = [f'<header><h1>{_esc(title)}</h1><dl class="meta">']
    for label, value, hover in _scale_items(summary, commit):
        out.append(f'<div title="{_esc(hover)}"><dt>{_esc(label)}</dt><dd>{value}</dd></div>')
    out.append("</dl>")
    links = _links(summary, results)
    if links:
        out.append(f'<nav class="links">{links}</nav>')
    out.append("</header>")
    out.append(_banner(summary))
    out.append(f'<div class="intro">{_section_text(sections[0], skip=warning_paragraphs(calibration))}'
               '<p class="hint">Each effect is a point with its 95% CI against no effect (the vertical line), '
               'coloured only when the CI excludes it: <span class="k-better">▲ green = better</span> (more '
               'accurate, shorter, faster), <span class="k-worse">▼ red = worse</span>, grey = not resolved. '
               'Click a column header to sort. Hover any number for the summary.json key and the per-run '
               "files it comes from.</p>" + _legend(summary, colors) + "</div>")

    first = True
    for benchmark, bench in summary["benchmarks"].items():
        out.append(f'<section class="bench" id="benchmark-{_esc(benchmark)}"><h2>Benchmark: {_esc(benchmark)}</h2>')
        out.append(f'<p class="ctx">Domain {_esc(bench.get("domain") or "?")}, '
                   f'{_esc(bench.get("n_items") or "?")} test items, {_esc(fmt_decoding(bench.get("decoding")))}. '
                   f'Scale: {_esc(fmt_scale(bench.get("scale")))}.</p>')
        sec = by_title.get(f"Benchmark: {benchmark}")
        out.append('<div class="scroll">' + _benchmark_table(summary, benchmark, bench, colors, results_name, sec)
                   + "</div>")
        notes = _section_text(Section("", notes=sec.notes)) if sec else ""
        out.append(f'<details class="mde"><summary>Minimum detectable effects and notes</summary>'
                   f"<p>{html_inline(mde_paragraph(summary, benchmark))}</p>{notes}</details>")
        strip = [(images.take(f"frontier_{benchmark}.png"), f"{benchmark}: accuracy vs length (up-left is better)")]
        if first:
            strip.append((images.take("val_accuracy.png"), "validation accuracy over training"))
            strip.append((images.take("val_length.png"), "validation response length over training"))
        out.append(images.strip(strip) + "</section>")
        first = False

    conv_sec = by_title.get("Convergence (validation split of the training task)")
    out.append('<section id="convergence-section"><h2>Convergence (validation split of the training task)</h2>')
    if conv_sec:
        out.append(f'<details><summary>Threshold and how cost is counted</summary>{_section_text(conv_sec)}</details>')
    out.append('<div class="scroll">' + _convergence_table(summary, colors, results_name) + "</div>")
    out.append(images.strip([
        (images.take("val_accuracy_vs_rollout_tokens.png"), "validation accuracy vs rollout tokens"),
        (images.take("train_response_length.png"), "rollout response length in training")]))
    out.append("</section>")
    if images.remaining:
        out.append('<section><h2>More figures</h2>'
                   + images.strip([(p, _caption(p)) for p in list(images.remaining)]) + "</section>")

    out.append('<section id="audit-section"><h2>Claims audit</h2>' + _audit(summary) + "</section>")

    cal_sec = calibration_section(summary)
    cal_titles = [_source("calibration.aa" if r[0].startswith("A/A") else "calibration.positive") for r in cal_sec.rows]
    out.append('<section id="calibration-section"><h2>Calibration</h2>' + _section_text(cal_sec)
               + _section_table(cal_sec, "calibration", cal_titles) + "</section>")
    if summary.get("mechanisms"):
        mech = mechanism_section(summary)
        shown = [o for o in summary["objectives"] if (summary.get("mechanisms") or {}).get(o)]
        out.append('<section id="mechanism-section"><h2>Mechanism activity (training)</h2>' + _section_text(mech)
                   + _section_table(mech, "mechanisms", [_source(f"mechanisms.{o}") for o in shown]) + "</section>")
    # Sections other modules add to the leaderboard (e.g. Integrity): their text and table as rendered.
    handled = {"Convergence (validation split of the training task)", "Plots", "Mechanism activity (training)",
               "Calibration", "Method", "Missing results"}
    for k, sec in enumerate(sections[1:], 1):
        if sec.title in handled or sec.title.startswith("Benchmark: "):
            continue
        titles = [_extra_source(summary, sec.title, row[0]) for row in sec.rows]
        out.append(f'<section id="section-{k}"><h2>{_esc(sec.title)}</h2>{_section_text(sec)}'
                   f'<div class="scroll">{_section_table(sec, f"section-{k}-table", titles)}</div></section>')
    for name in ("Method", "Missing results"):
        sec = by_title.get(name)
        if sec:
            is_open = " open" if name == "Missing results" else ""
            out.append(f"<section><details{is_open}><summary>{_esc(name)}</summary>"
                       + _section_text(sec) + "</details></section>")
    out.append('<footer>Written by <code>harness report</code> from summary.json alone; the plain, diffable '
               "version is leaderboard.md. Opens with no network: styles, script and figures are in this file."
               "</footer>")
    return _document(title, "".join(out))


CSS = """
:root{--fg:#1d2125;--mute:#5f6b76;--line:#d8dee4;--bg:#fff;--better:#1a7f37;--worse:#cf222e;--none:#8c959f}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
 margin:0 auto;padding:.8rem 1.2rem 3rem;max-width:1600px}
h1{font-size:1.5rem;margin:.2rem 0 .4rem}h2{font-size:1.15rem;margin:1.6rem 0 .4rem;border-bottom:1px solid var(--line);padding-bottom:.2rem}
code{font-size:.92em;background:#f3f5f7;padding:0 .2em;border-radius:3px}
.meta{display:flex;flex-wrap:wrap;gap:.3rem 1.4rem;margin:.2rem 0 .5rem}.meta div{display:flex;gap:.35rem}
.meta dt{color:var(--mute)}.meta dd{margin:0;font-weight:600}
.links a{margin-right:.2rem}
.banner{border-radius:6px;padding:.55rem .9rem;margin:.6rem 0;border:1px solid}
.banner p{margin:.15rem 0}.banner ul{margin:.3rem 0 .1rem 1.1rem;padding:0;font-size:.92em}
.banner .headline{font-weight:700}
.banner-passed{background:#eef8f0;border-color:#a7d8b2}
.banner-incomplete,.banner-not-run{background:#fff8e5;border-color:#e6c35c}
.banner-failed{background:#ffebe9;border:3px solid var(--worse)}
.banner-failed .headline{color:var(--worse);font-size:1.2rem;text-transform:none}
.banner .note{color:var(--mute);font-size:.9em}
.intro p{margin:.35rem 0;max-width:110em;font-size:.95em}.hint{color:var(--mute);font-size:.92em}
.k-better{color:var(--better);font-weight:600}.k-worse{color:var(--worse);font-weight:600}
.legend{font-size:.92em}.lg{white-space:nowrap;margin-right:.6rem}
.sw{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.3em;vertical-align:-.05em}
.ctx{color:var(--mute);margin:.2rem 0 .4rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums;margin:.3rem 0}
th,td{border-bottom:1px solid var(--line);padding:.26rem .4rem;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600;cursor:pointer;user-select:none;position:relative;padding-right:1.1rem;vertical-align:bottom}
th .sub,td .sub{display:block;font-weight:400;color:var(--mute);font-size:.85em}
th::after{content:"↕";position:absolute;right:.3rem;bottom:.3rem;color:#b4bcc4;font-size:.8em}
th[aria-sort=ascending]::after{content:"▲";color:var(--fg)}th[aria-sort=descending]::after{content:"▼";color:var(--fg)}
td.num{white-space:nowrap}td.num .v{display:block}td.num .ci{display:block;font-size:.84em;color:var(--mute)}td.obj{white-space:nowrap;font-weight:600}
tbody.pinned td{background:#fafbfc;color:var(--mute)}
tr:hover td{background:#f3f8ff}
.tag{font-size:.75em;font-weight:400;color:var(--mute);border:1px solid var(--line);border-radius:3px;padding:0 .25em}
.fxcell{min-width:88px}.fxtext{white-space:nowrap}
svg.fx{display:block;margin-top:2px}
svg.fx .zero{stroke:#6e7781;stroke-width:1;stroke-dasharray:2 1.5}
svg.fx .ci{stroke-width:3;stroke-linecap:round}
.fx-none .ci{stroke:#c9d1d9}.fx-none .pt{fill:var(--none)}
.fx-better .ci{stroke:#8fd19e}.fx-better .pt{fill:var(--better)}
.fx-worse .ci{stroke:#f5a3a3}.fx-worse .pt{fill:var(--worse)}
.pt.hollow{fill:#fff!important;stroke:var(--fg);stroke-width:1.2}
td.fxcell:has(.fx-better) .v{color:var(--better);font-weight:700}
td.fxcell:has(.fx-worse) .v{color:var(--worse);font-weight:700}
td.warn{color:var(--worse);font-weight:600}
td.small{font-size:.85em;color:#3d454d}
td.verdict .vword{font-weight:700;text-transform:uppercase;font-size:.9em;letter-spacing:.02em}
td.verdict{min-width:8em}td.w10{min-width:10em}td.w11{min-width:11em}td.w12{min-width:12em}td.w16{min-width:16em}
td .src{font-size:.8em}
.v-supported{color:var(--better)}.v-refuted{color:var(--worse)}.v-inconclusive{color:var(--mute)}.v-other{color:var(--none)}
details{margin:.3rem 0}summary{cursor:pointer;color:var(--mute)}details p,details li{max-width:110em}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:.8rem;margin:.7rem 0}
.fig{margin:0;border:1px solid var(--line);border-radius:6px;padding:.3rem;background:#fff;cursor:zoom-in}
.fig img{width:100%;height:auto;display:block}
.fig figcaption{font-size:.8em;color:var(--mute);margin-top:.2rem}
.fig.zoom{position:fixed;inset:2vh 2vw;z-index:10;cursor:zoom-out;display:flex;flex-direction:column;
 box-shadow:0 0 0 100vmax rgba(0,0,0,.55)}
.fig.zoom img{object-fit:contain;flex:1;min-height:0}
img.broken{outline:3px solid var(--worse);min-height:2em}
footer{margin-top:2rem;color:var(--mute);font-size:.85em}
"""

# Sorting: click a header (again: reverse). Numbers (data-sort) sort numerically, text by
# locale; an empty data-sort (no value) always sorts last. Pinned rows (the warm start) stay on top.
JS = """
(function(){
function val(td){if(!td)return null;var s=td.getAttribute('data-sort');if(s===null)s=td.textContent.trim();
 if(s==='')return null;var n=Number(s);return isNaN(n)?s.toLowerCase():n;}
function cmp(a,b){if(a===null&&b===null)return 0;if(a===null)return 1;if(b===null)return -1;
 var na=typeof a==='number',nb=typeof b==='number';if(na&&nb)return a<b?-1:a>b?1:0;if(na)return -1;if(nb)return 1;
 return a.localeCompare(b);}
function sortBy(th){var table=th.closest('table'),tbody=table.querySelector('tbody.rows');if(!tbody)return;
 var idx=Array.prototype.indexOf.call(th.parentNode.children,th);
 var dir=th.getAttribute('aria-sort')==='ascending'?'descending':'ascending';
 table.querySelectorAll('th[aria-sort]').forEach(function(h){h.removeAttribute('aria-sort');});
 th.setAttribute('aria-sort',dir);var sign=dir==='ascending'?1:-1;
 var rows=Array.prototype.slice.call(tbody.rows).map(function(tr,i){return [val(tr.children[idx]),i,tr];});
 rows.sort(function(x,y){if(x[0]===null||y[0]===null)return cmp(x[0],y[0])||x[1]-y[1];return sign*cmp(x[0],y[0])||x[1]-y[1];});
 rows.forEach(function(r){tbody.appendChild(r[2]);});
 document.documentElement.setAttribute('data-sorted',table.id+':'+idx+':'+(sign>0?'asc':'desc'));}
document.querySelectorAll('table.sortable thead th').forEach(function(th){
 th.addEventListener('click',function(){sortBy(th);});});
document.querySelectorAll('.fig').forEach(function(f){f.addEventListener('click',function(){f.classList.toggle('zoom');});});
document.addEventListener('keydown',function(e){if(e.key==='Escape')document.querySelectorAll('.fig.zoom').forEach(function(f){f.classList.remove('zoom');});});
var m=/[?&]sort=([^&]+)/.exec(location.search);
if(m){var p=decodeURIComponent(m[1]).split(':'),t=document.getElementById(p[0]);
 var th=t&&t.querySelectorAll('thead th')[Number(p[1])];
 if(th){var want=(p[2]||'asc').indexOf('desc')===0?'descending':'ascending';
  for(var k=0;k<2&&th.getAttribute('aria-sort')!==want;k++)th.click();}}
function images(){var imgs=Array.prototype.slice.call(document.images);
 var bad=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0);});
 bad.forEach(function(i){i.classList.add('broken');});
 var r=document.documentElement;r.setAttribute('data-images',String(imgs.length));
 r.setAttribute('data-images-broken',String(bad.length));r.setAttribute('data-images-loaded',bad.length?'false':'true');}
if(document.readyState==='complete')images();else window.addEventListener('load',images);
})();
"""


def _document(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
            f"<title>{_esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n"
            f"<script>{JS}</script>\n</body>\n</html>\n")
