"""Log a comparison to MLflow (display only; the JSON files are the source of truth).

One experiment per comparison (artifacts under results/mlruns), one run per
objective x seed (params = hyperparameters + resolved train config, per-step metrics
from metrics.jsonl, evaluation metrics), a run for the warm-start model's evaluations,
and one "summary" run carrying the leaderboard, audit, summary.json and plots.

Re-running replaces, never duplicates: the experiment's previous runs are deleted
(metadata permanently, as `mlflow gc` does, and their artifact folders) before the
new ones are logged.
"""
from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from harness.metrics import BASE_OBJECTIVE
from harness.report.build import Comparison

MAX_PARAM_VALUE = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000


def default_tracking_uri(results: Path) -> str:
    return f"sqlite:///{(results / 'mlflow.db').resolve()}"


def flatten(prefix: str, value: Any, out: dict[str, str]) -> dict[str, str]:
    """Nested config -> {"a.b.c": "value"}; values longer than MLflow allows point to the
    run's config artifact instead of being cut."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
        return out
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    out[prefix] = text if len(text) <= MAX_PARAM_VALUE else "<too long: see run.json artifact>"
    return out


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _artifact_dir(uri: str | None) -> Path | None:
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return None
    return Path(unquote(parsed.path))


def _clear_experiment(client: Any, experiment_id: str, artifact_root: Path) -> int:
    from mlflow.entities import ViewType

    removed = 0
    page_token = None
    while True:
        page = client.search_runs([experiment_id], run_view_type=ViewType.ALL,
                                  max_results=1000, page_token=page_token)
        for run in page:
            run_id = run.info.run_id
            if run.info.lifecycle_stage != "deleted":
                client.delete_run(run_id)
            store = getattr(client, "_tracking_client", None)
            store = getattr(store, "store", None)
            hard_delete = getattr(store, "_hard_delete_run", None)
            if callable(hard_delete):  # what `mlflow gc` does; soft delete suffices without it
                hard_delete(run_id)
            folder = _artifact_dir(run.info.artifact_uri)
            if folder is not None and folder.parent.is_dir() and artifact_root in folder.parents:
                shutil.rmtree(folder.parent if folder.name == "artifacts" else folder, ignore_errors=True)
            removed += 1
        page_token = page.token
        if not page_token:
            return removed


def _metrics_from_lines(lines: list[Mapping[str, Any]]) -> list[Any]:
    from mlflow.entities import Metric

    out = []
    for line in lines:
        step = int(line["step"])
        timestamp = int(float(line.get("wall_s") or 0.0) * 1000)
        for key, value in line.items():
            if key == "step" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            out.append(Metric(key=f"train/{key}" if not key.startswith("val_") else f"val/{key[4:]}",
                              value=float(value), timestamp=timestamp, step=step))
    return out


def _log_run(client: Any, experiment_id: str, name: str, tags: Mapping[str, str],
             params: Mapping[str, str], metrics: list[Any], artifacts: Iterable[Path] = ()) -> str:
    from mlflow.entities import Param, RunTag

    run = client.create_run(experiment_id, run_name=name, tags=dict(tags))
    run_id = run.info.run_id
    for chunk in _chunks([Param(k[:250], v) for k, v in sorted(params.items())], MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=chunk)
    for chunk in _chunks(metrics, MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=chunk)
    for path in artifacts:
        if path.is_dir():
            client.log_artifacts(run_id, str(path), artifact_path=path.name)
        elif path.exists():
            client.log_artifact(run_id, str(path))
    client.log_batch(run_id, tags=[RunTag("arena.logged_by", "harness report")])
    client.set_terminated(run_id)
    return run_id


def _eval_metrics(comparison: Comparison, objective: str, seed: int) -> list[Any]:
    from mlflow.entities import Metric

    out = []
    for benchmark, records in comparison.loaded.evals.items():
        rec = records.get((objective, seed))
        if rec is None:
            continue
        step = rec.steps or 0
        values = {"accuracy": rec.data.get("accuracy"), "mean_length": rec.data.get("mean_length"),
                  "mean_length_correct": rec.data.get("mean_length_correct"), "n": rec.data.get("n")}
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.append(Metric(f"eval/{benchmark}/{key}", float(value), 0, step))
    return out


def log_comparison(comparison: Comparison, summary: Mapping[str, Any], results: Path,
                   outputs: Iterable[Path], tracking_uri: str | None = None) -> dict[str, Any]:
    """Replace the comparison's MLflow experiment with the current results."""
    from mlflow.tracking import MlflowClient

    uri = tracking_uri or default_tracking_uri(results)
    client = MlflowClient(tracking_uri=uri)
    name = comparison.settings.comparison
    artifact_root = (results / "mlruns" / name).resolve()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        experiment_id = client.create_experiment(name, artifact_location=artifact_root.as_uri())
    else:
        experiment_id = experiment.experiment_id
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment_id)
    removed = _clear_experiment(client, experiment_id, artifact_root)

    base_tags = {"arena.comparison": name}
    logged = 0
    for (objective, seed), run in sorted(comparison.loaded.runs.items()):
        params: dict[str, str] = {"objective": objective, "seed": str(seed)}
        hyper = run.info.get("hyperparams", comparison.settings.objectives.get(objective, {}))
        flatten("hp", hyper or {}, params)
        flatten("config", run.info.get("config") or {}, params)
        model = run.info.get("model") or {}
        flatten("model", model, params)
        metrics = _metrics_from_lines(run.metrics) + _eval_metrics(comparison, objective, seed)
        artifacts = [run.metrics_path.parent / "run.json"]
        _log_run(client, experiment_id, f"{objective}/seed{seed}",
                 {**base_tags, "arena.objective": objective, "arena.seed": str(seed)},
                 params, metrics, artifacts)
        logged += 1
    if any((BASE_OBJECTIVE, 0) in records for records in comparison.loaded.evals.values()):
        _log_run(client, experiment_id, f"{BASE_OBJECTIVE}/seed0",
                 {**base_tags, "arena.objective": BASE_OBJECTIVE, "arena.seed": "0"},
                 {"objective": BASE_OBJECTIVE, "seed": "0"}, _eval_metrics(comparison, BASE_OBJECTIVE, 0))
        logged += 1

    summary_metrics = _summary_metrics(summary)
    summary_run = _log_run(client, experiment_id, "summary", {**base_tags, "arena.summary": "true"},
                           flatten("report", summary["settings"], {}), summary_metrics, outputs)
    _log_tables(client, summary_run, summary)
    return {"tracking_uri": uri, "experiment_id": experiment_id, "runs_logged": logged + 1,
            "runs_replaced": removed}


def _summary_metrics(summary: Mapping[str, Any]) -> list[Any]:
    from mlflow.entities import Metric

    out = []
    for benchmark, bench in summary["benchmarks"].items():
        for row in bench["rows"]:
            for key in ("accuracy", "mean_length", "compression_vs_reference", "gain_vs_base"):
                value = (row.get(key) or {}).get("value")
                if value is not None:
                    out.append(Metric(f"{benchmark}/{row['objective']}/{key}", float(value), 0, 0))
    return out


def _log_tables(client: Any, run_id: str, summary: Mapping[str, Any]) -> None:
    """The leaderboard rows as MLflow tables (sortable in the UI)."""
    for benchmark, bench in summary["benchmarks"].items():
        rows = [r for r in bench["rows"] if r.get("status") != "missing"]
        if not rows:
            continue
        table = {
            "objective": [r["objective"] for r in rows],
            "seeds": [len(r["seeds"]) for r in rows],
            "accuracy": [(r.get("accuracy") or {}).get("value") for r in rows],
            "accuracy_ci_low": [(r.get("accuracy") or {}).get("ci_low") for r in rows],
            "accuracy_ci_high": [(r.get("accuracy") or {}).get("ci_high") for r in rows],
            "mean_length": [(r.get("mean_length") or {}).get("value") for r in rows],
            "compression_vs_reference": [(r.get("compression_vs_reference") or {}).get("value") for r in rows],
        }
        with warnings.catch_warnings():  # pandas deprecation noise from inside mlflow
            warnings.simplefilter("ignore")
            client.log_table(run_id, data=table, artifact_file=f"leaderboard_{benchmark}.json")
