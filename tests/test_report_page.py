"""results/leaderboard.html: one self-contained page; in headless Chromium its tables sort by a
clicked header, its banner reads the run's calibration, and every figure loads.

The browser checks need Debian's `chromium` (skipped with a message without it); the rest reads
the HTML as text. Two synthetic comparisons: the default config's objectives, seeds and controls
with healthy controls, and a small one whose A/A control differs and positive control is missed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.report import cli
from harness.report.page import COMPRESSION, POINTS, SPEEDUP, calibration_state, effect_direction, render_page
from harness.report.render import fmt_accuracy, fmt_mde, fmt_mechanism
from harness.report.synthetic import SyntheticObjective, synthetic_config, write_synthetic_results

REPO = Path(__file__).resolve().parent.parent
CLAIMS = str(REPO / "config" / "claims.yaml")
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (Debian: `apt-get install chromium`); "
                             "the page's in-browser checks (sorting, banner, images, screenshot) are skipped")
MAX_PAGE_BYTES = 5_000_000
CONTROLS = {"null_control": "grpo_aa", "positive_control": "grpo_lenpen"}


def _healthy_default() -> dict[str, SyntheticObjective]:
    """Every objective of config/config.yaml, the controls healthy: the A/A is the reference with
    its own noise, the positive control the reference 10 tokens shorter."""
    names = list(DEFAULT["objectives"])
    out = {}
    for k, name in enumerate(names):
        out[name] = SyntheticObjective(accuracy=0.45 + 0.015 * k, length=60 - 2.5 * k, converge_step=20 + 5 * (k % 5),
                                       seed_offsets=(0.0, 0.02, -0.01, 0.01, -0.02), noise=0.03)
    out["grpo"] = SyntheticObjective(accuracy=0.50, length=40, converge_step=40, seed_offsets=(0.0, 0.02, -0.01))
    out["grpo_aa"] = SyntheticObjective(accuracy=0.50, length=40, converge_step=40, seed_offsets=(0.01, 0.0, 0.01),
                                        noise=0.05)
    out["grpo_lenpen"] = SyntheticObjective(accuracy=0.50, length=30, converge_step=40, noise=0.05)
    out["hmpo"] = SyntheticObjective(accuracy=0.49, length=30, converge_step=None)
    return out


BROKEN = {
    "grpo": SyntheticObjective(accuracy=0.50, length=40, converge_step=40, seed_offsets=(0.0, 0.02, -0.01)),
    "dapo": SyntheticObjective(accuracy=0.52, length=42, converge_step=30),
    "hmpo": SyntheticObjective(accuracy=0.49, length=30, converge_step=None),
    "grpo_aa": SyntheticObjective(accuracy=0.60, length=40, converge_step=40, noise=0.05),
    "grpo_lenpen": SyntheticObjective(accuracy=0.50, length=40, converge_step=40, noise=0.05),
}


def _report(root: Path, objectives: dict[str, SyntheticObjective], seeds: list[int]) -> Path:
    results = root / "results"
    write_synthetic_results(results, objectives, seeds=seeds, n_items=300)
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(synthetic_config(list(objectives), seeds=seeds, claims=CLAIMS,
                                                      calibration=CONTROLS)))
    assert cli.main(["--config", str(config), "--results", str(results), "--no-mlflow"]) == 0
    return results


@pytest.fixture(scope="module")
def passing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _report(tmp_path_factory.mktemp("passing"), _healthy_default(), list(DEFAULT["seeds"]))


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _report(tmp_path_factory.mktemp("failing"), BROKEN, [0, 1, 2])


def _summary(results: Path) -> dict:
    return json.loads((results / "summary.json").read_text())


def _page(results: Path) -> str:
    return (results / "leaderboard.html").read_text()


def _banner(page: str) -> str:
    match = re.search(r'<section id="calibration-banner"[^>]*>.*?</section>', page, re.S)
    assert match, "no calibration banner"
    return match.group(0)


def _table(page: str, table_id: str) -> str:
    match = re.search(rf'<table id="{table_id}".*?</table>', page, re.S)
    assert match, f"no table {table_id}"
    return match.group(0)


def _row_keys(table: str) -> list[str]:
    """The first cell's data-sort of every sortable row, in page order (Chromium may reorder attributes)."""
    body = table.split('<tbody class="rows">', 1)[1]
    return [re.search(r'data-sort="([^"]*)"', td).group(1)
            for td in re.findall(r"<tr[^>]*>\s*(<td[^>]*>)", body)]


# -- the page as text ---------------------------------------------------------------------------


def test_page_is_self_contained_and_under_5_mb_for_the_default_comparison(passing: Path) -> None:
    page = _page(passing)
    assert len(page.encode()) < MAX_PAGE_BYTES
    assert not re.search(r'(src|href)="(https?:)?//', page), "a network reference: the page must open offline"
    assert "<link" not in page and "@import" not in page and "url(http" not in page
    plots = _summary(passing)["plots"]
    assert len(plots) >= 5
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert len(srcs) == len(plots) and all(s.startswith("data:image/png;base64,") for s in srcs)
    for plot in plots:  # each figure once, captioned with its file
        assert page.count(f"<code>{plot}</code>") == 1, plot


def test_banner_reads_the_calibration_and_turns_loud_when_a_control_fails(passing: Path, failing: Path) -> None:
    ok = _banner(_page(passing))
    assert 'data-calibration="passed"' in ok and "banner-passed" in ok and "WARNING" not in ok
    bad_page = _page(failing)
    bad = _banner(bad_page)
    assert 'data-calibration="failed"' in bad and 'role="alert"' in bad
    assert "A/A control FAILED" in bad and "Positive control NOT DETECTED" in bad
    assert bad_page.index(bad) < bad_page.index("<table"), "the banner comes before every table"
    summary = _summary(passing)
    summary["calibration"] = {**summary["calibration"], "configured": False, "passed": None,
                              "notes": ["Calibration was not run: no `calibration:` block."]}
    assert calibration_state(summary["calibration"]) == "not-run"
    assert 'data-calibration="not-run"' in _banner(render_page(summary, passing))


def test_every_number_names_the_json_it_came_from(passing: Path) -> None:
    page, summary = _page(passing), _summary(passing)
    table = _table(page, "bench-math")
    rows = summary["benchmarks"]["math"]["rows"]
    i, dapo = next((i, r) for i, r in enumerate(rows) if r["objective"] == "dapo")
    acc = fmt_accuracy(dapo["accuracy"])
    cell = re.search(rf'<td[^>]*title="{re.escape(acc)}\n[^"]*"', table)
    assert cell, "the accuracy cell's hover starts with the figure as leaderboard.md prints it"
    assert acc in (passing / "leaderboard.md").read_text()
    assert f"summary.json › benchmarks.math.rows[{i}].accuracy" in cell.group(0)
    for seed in DEFAULT["seeds"]:
        assert f"results/eval/dapo/seed{seed}/math.json" in cell.group(0)
    numbers = re.findall(r'<td[^>]*class="num[^"]*"[^>]*>', table)
    assert numbers and all("summary.json ›" in td for td in numbers)
    assert "summary.json › convergence.objectives.dapo.steps" in table
    assert "results/runs/dapo/seed0/metrics.jsonl" in table


def test_effects_are_coloured_only_when_the_ci_excludes_no_effect() -> None:
    def e(value: float, low: float, high: float, bound: str | None = None) -> dict:
        return {"value": value, "ci_low": low, "ci_high": high, "bound": bound}

    assert effect_direction(e(0.03, 0.01, 0.05), POINTS) == 1
    assert effect_direction(e(0.02, -0.01, 0.05), POINTS) == 0
    assert effect_direction(e(-0.03, -0.05, -0.01), POINTS) == -1
    assert effect_direction(e(0.2, 0.1, 0.3), COMPRESSION) == 1  # shorter
    assert effect_direction(e(1.5, 1.2, 1.9), SPEEDUP) == 1 and effect_direction(e(0.9, 0.7, 1.1), SPEEDUP) == 0
    # a censored speedup decides only in its safe direction
    assert effect_direction(e(1.5, 1.2, 1.9, "lower"), SPEEDUP) == 1
    assert effect_direction(e(0.5, 0.4, 0.6, "lower"), SPEEDUP) == 0
    assert effect_direction(e(0.5, 0.4, 0.6, "upper"), SPEEDUP) == -1
    assert effect_direction({"value": None}, POINTS) == 0 and effect_direction(None, POINTS) == 0


def test_table_shows_effect_bars_mde_headers_and_mechanism(passing: Path) -> None:
    page, summary = _page(passing), _summary(passing)
    table = _table(page, "bench-math")
    mde = summary["mde"]["math"]
    assert f"MDE {fmt_mde('compression', mde['compression'])}" in table
    assert f"MDE {fmt_mde('accuracy_change', mde['accuracy_change'])}" in table
    hmpo = next(r for r in summary["benchmarks"]["math"]["rows"] if r["objective"] == "hmpo")
    assert hmpo["compression_vs_reference"]["ci_low"] > 0  # 30 vs 40 tokens: shorter, resolved
    hmpo_row = re.search(r'<tr><td data-sort="hmpo".*?</tr>', table, re.S).group(0)
    assert 'class="fx fx-better"' in hmpo_row
    assert table.count("<svg") >= 3 * len(summary["objectives"]) - 3
    assert "Mechanism" in table
    assert fmt_mechanism(summary["mechanisms"]["grpo"]) in table  # the reference: "always (unconditional)"


def test_credit_and_integrity_links_appear_only_when_the_files_exist(passing: Path, tmp_path: Path) -> None:
    summary = {k: v for k, v in _summary(passing).items() if k != "integrity"}
    results = tmp_path / "results"
    results.mkdir()
    page = render_page(summary, results)
    assert "credit/credit.html" not in page and "integrity.md" not in page
    (results / "credit").mkdir()
    (results / "credit" / "credit.html").write_text("<html></html>")
    (results / "integrity.md").write_text("# samples\n")
    page = render_page(summary, results)
    assert '<a href="credit/credit.html">' in page and '<a href="integrity.md">' in page
    (results / "integrity.md").unlink()  # written by the report right after the page, from this block:
    assert '<a href="integrity.md">' in render_page({**summary, "integrity": {"entries": {}}}, results)


def test_columns_and_sections_other_modules_add_to_the_leaderboard_appear_on_the_page(
        passing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.report.page as page_module
    from harness.report.render import Section, leaderboard_sections

    def with_audit_column(summary: dict) -> list[Section]:
        sections = leaderboard_sections(summary)
        for sec in sections:
            if sec.title.startswith("Benchmark: "):
                sec.header = sec.header + ["Checked"]
                sec.rows = [row + [f"**seen {row[0]}**"] for row in sec.rows]
        sections.insert(-1, Section("Checks (training)", paragraphs=["What was checked."],
                                    header=["Objective", "Checked"], rows=[["dapo", "yes"]]))
        return sections

    monkeypatch.setattr(page_module, "leaderboard_sections", with_audit_column)
    summary = {**_summary(passing), "checks": {"entries": {"dapo": {}}}}
    page = render_page(summary, passing)
    table = _table(page, "bench-math")
    assert ">Checked<" in table and "<strong>seen dapo</strong>" in table
    assert "<strong>seen grpo (reference)</strong>" in table
    assert "<h2>Checks (training)</h2>" in page and "What was checked." in page
    assert "summary.json › checks.entries.dapo" in page


def test_figures_over_the_inline_budget_are_linked_next_to_the_page(passing: Path) -> None:
    page = render_page(_summary(passing), passing, image_budget=0)
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert srcs and all(s.startswith("plots/") and (passing / s).is_file() for s in srcs)


def test_page_is_rebuilt_identically(passing: Path) -> None:
    summary = _summary(passing)
    assert render_page(summary, passing, commit="abc") == render_page(summary, passing, commit="abc")


# -- the page in a browser ----------------------------------------------------------------------


def _chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None
    sandbox = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []  # root: no user namespace
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--mute-audio",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", *sandbox, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def _dom(tmp_path: Path, results: Path, query: str = "") -> str:
    url = (results / "leaderboard.html").as_uri() + query
    return _chromium(tmp_path, "--dump-dom", url)


@needs_chromium
def test_in_chromium_the_tables_sort_by_the_clicked_header(passing: Path, tmp_path: Path) -> None:
    summary = _summary(passing)
    rows = summary["benchmarks"]["math"]["rows"]
    before = _row_keys(_table(_dom(tmp_path, passing), "bench-math"))
    assert before == [r["objective"] for r in rows]  # the summary's order until a header is clicked

    dom = _dom(tmp_path, passing, "?sort=bench-math:2:desc")  # Accuracy %: clicked twice
    assert 'data-sorted="bench-math:2:desc"' in dom
    by_accuracy = sorted(rows, key=lambda r: -r["accuracy"]["value"])  # stable, as the page's sort
    assert _row_keys(_table(dom, "bench-math")) == [r["objective"] for r in by_accuracy]
    assert re.search(r'<th[^>]*aria-sort="descending"[^>]*>Accuracy %', dom)

    dom = _dom(tmp_path, passing, "?sort=bench-math:0:desc")  # a text column
    assert _row_keys(_table(dom, "bench-math")) == sorted((r["objective"] for r in rows), reverse=True)

    dom = _dom(tmp_path, passing, "?sort=convergence:2:asc")  # steps; "not reached" after every number
    conv = summary["convergence"]["objectives"]
    keys = _row_keys(_table(dom, "convergence"))
    assert keys[-1] == "hmpo" and conv["hmpo"]["reached"] == 0
    reached = [conv[o]["steps"]["value"] for o in keys[:-1]]
    assert reached == sorted(reached)

    dom = _dom(tmp_path, passing, "?sort=bench-math:6:desc")  # compression; the reference has none: last
    keys = _row_keys(_table(dom, "bench-math"))
    ranked = sorted((r for r in rows if r["compression_vs_reference"]),
                    key=lambda r: -r["compression_vs_reference"]["value"])
    assert keys == [r["objective"] for r in ranked] + ["grpo"]
    base_first = _table(dom, "bench-math").split('<tbody class="rows">')[0]
    assert "base (warm start)" in base_first  # the warm start stays pinned above the sorted rows

    dom = _dom(tmp_path, passing, "?sort=audit:0:desc")
    claims = [r["claim_id"] for r in summary["audit"]]
    assert _row_keys(_table(dom, "audit")) == sorted(claims, reverse=True)


@needs_chromium
@pytest.mark.parametrize("which,state", [("passing", "passed"), ("failing", "failed")])
def test_in_chromium_the_banner_reads_the_calibration_and_every_image_loads(which: str, state: str,
                                                                           request: pytest.FixtureRequest,
                                                                           tmp_path: Path) -> None:
    results: Path = request.getfixturevalue(which)
    dom = _dom(tmp_path, results)
    assert f'data-calibration="{state}"' in dom
    html_tag = re.search(r"<html[^>]*>", dom).group(0)
    n_plots = len(_summary(results)["plots"])
    assert 'data-images-loaded="true"' in html_tag, html_tag
    assert f'data-images="{n_plots}"' in html_tag and 'data-images-broken="0"' in html_tag


@needs_chromium
def test_in_chromium_a_screenshot_of_the_page_is_not_blank(failing: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "leaderboard.png"
    _chromium(tmp_path, "--window-size=1440,1000", f"--screenshot={shot}",
              (failing / "leaderboard.html").as_uri())
    with Image.open(shot) as image:
        assert image.size == (1440, 1000)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the screenshot is (nearly) one colour"
    # the failed calibration's banner background is on screen
    assert any(count > 1000 and rgb == (0xFF, 0xEB, 0xE9) for count, rgb in colours)
