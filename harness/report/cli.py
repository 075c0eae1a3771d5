"""`harness report --config CONFIG.yaml --results results`: leaderboard, plots, audit, MLflow.

Writes (all atomically, JSON and markdown first):
    results/summary.json        every number below, machine-readable
    results/calibration.json    the run's own controls: A/A, positive control, MDEs, RL gain
    results/leaderboard.md      one table per benchmark + convergence table
    results/leaderboard.html    the page: calibration banner, sortable tables with CI bars, figures inlined (page.py)
    results/audit.md            the claims audit
    results/integrity.md        the integrity monitor's flagged runs with samples to read
    results/plots/*.png         learning curves with CI bands, accuracy-vs-length frontier
then logs to MLflow (the config's or $MLFLOW_TRACKING_URI's server, else sqlite:///results/mlflow.db). An MLflow failure prints a warning and
leaves the files above intact (exit code 0); rerun the command to retry the logging.
Exit code 2: the config, claims file or a result file is unusable (the message says
which file and key).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from harness.io import atomic_write_json, atomic_write_text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="harness report",
        description="Aggregate results into the leaderboard, plots, claims audit and MLflow.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="comparison config YAML (e.g. config/config.yaml)")
    source.add_argument("--config-json", help="the resolved config as a JSON string (what the workflow passes)")
    parser.add_argument("--results", default="results", help="results directory (default: results)")
    parser.add_argument("--claims", default=None, help="claims YAML (default: the config's `claims:` key)")
    parser.add_argument("--no-mlflow", action="store_true", help="write the files only; skip MLflow")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///RESULTS/mlflow.db)")
    return parser.parse_args(argv)


def _log(message: str) -> None:
    print(f"[report] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Imports after argument parsing so that `--help` is instant.
    from harness.report.audit import ClaimsError, load_claims
    from harness.report.build import Comparison, build_summary
    from harness.report.integrity import write_integrity_markdown
    from harness.report.page import git_commit, render_page
    from harness.report.render import audit_sections, leaderboard_sections, to_markdown
    from harness.report.results import ResultsError, load_results
    from harness.report.settings import ConfigError, ReportSettings, resolve_path

    started = time.perf_counter()
    results = Path(args.results)
    try:
        settings = (ReportSettings.from_file(args.config) if args.config
                    else ReportSettings.from_config(json.loads(args.config_json)))
        for warning in settings.warnings:
            _log(f"warning: {warning}")
        claims_path = resolve_path(args.claims, args.config) if args.claims else settings.claims_path
        claims = load_claims(claims_path) if claims_path else None
        loaded = load_results(results, settings.objectives, settings.seeds, settings.benchmarks)
    except (ConfigError, ClaimsError, ResultsError) as err:
        _log(f"error: {err}")
        return 2

    for missing in loaded.missing:
        _log(f"missing: {missing.to_dict(results)['path']} ({missing.what} of {missing.objective} "
             f"seed {missing.seed})")
    comparison = Comparison(settings, loaded)
    summary = build_summary(comparison, claims)

    from harness.report.plots import write_plots

    summary["plots"] = write_plots(comparison, summary, results / "plots")
    title = f"Leaderboard: {settings.comparison}"
    for warning in summary["calibration"]["warnings"]:
        _log(f"WARNING: {warning}")
    for note in summary["calibration"]["notes"]:
        _log(f"note: {note}")
    outputs = [
        atomic_write_json(results / "summary.json", summary),
        atomic_write_json(results / "calibration.json", summary["calibration"]),
        atomic_write_text(results / "leaderboard.md", to_markdown(leaderboard_sections(summary))),
        atomic_write_text(results / "leaderboard.html", render_page(summary, results, title, commit=git_commit(results))),
        atomic_write_text(results / "audit.md", to_markdown(audit_sections(summary))),
    ]
    outputs.append(write_integrity_markdown(summary, results))  # results/integrity.md: flagged runs, samples
    _log(f"wrote {', '.join(str(p) for p in outputs)} and {len(summary['plots'])} plots "
         f"({time.perf_counter() - started:.1f} s)")

    if args.no_mlflow:
        return 0
    try:
        from harness.report.tracking import log_comparison

        info = log_comparison(comparison, summary, results, outputs + [results / "plots"],
                              tracking_uri=args.tracking_uri)
        _log(f"MLflow: {info['runs_logged']} runs in experiment '{settings.comparison}' at "
             f"{info['tracking_uri']} (created {info['runs_created']}, updated {info['runs_updated']})")
    except Exception as err:  # noqa: BLE001 - MLflow only displays; the files are complete
        _log(f"WARNING: MLflow logging failed ({type(err).__name__}: {err}). The JSON, markdown, "
             "HTML and plots are written and complete; rerun `harness report` to retry the logging.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
