"""Log a comparison to MLflow (display only; the JSON files are the source of truth).

Where. The tracking URI is the caller's (``harness report --tracking-uri``), else
``$MLFLOW_TRACKING_URI`` (the workflow sets it from the config's ``mlflow.tracking_uri``),
else ``sqlite:///results/mlflow.db`` with artifacts under results/mlruns. The experiment is
``$MLFLOW_EXPERIMENT_NAME`` (config ``mlflow.experiment``), else the comparison's name;
several comparisons, and other people's runs, may share one experiment.

What. One run per objective x seed (params = hyperparameters + resolved train config,
per-step metrics from metrics.jsonl, evaluation metrics, run.json; where the integrity
monitor ran, integrity.jsonl, its flagged samples as the table integrity_samples.json and
the run's integrity verdict, see ``_log_integrity``), a run for the base
model's evaluations, and one "summary" run carrying the leaderboard, audit, summary.json,
plots and the leaderboard tables.

Runs are found by a stable key and updated in place, never deleted. Each run carries the
tag ``arena.key`` = ``<comparison>/<objective>/seed<seed>`` (``<comparison>/summary``) with
``arena.comparison`` / ``arena.objective`` / ``arena.seed``; a rerun finds its run by that
tag and adds only what is new: params not logged yet, training rows not logged yet (a row
is its step and timestamp), evaluation and summary values that changed, artifacts
(overwritten). When a run no longer describes the results (its params differ: the config
changed; or its training rows came from another training: metrics.jsonl changed), it is
kept, tagged ``arena.superseded_by`` (its key gets a " (superseded)" suffix) and a new run
takes the key. Nothing outside the comparison's own keys is read or written.

Timestamps are real times: a training row's is its run's start plus the row's ``wall_s``
(training seconds; time between a kill and the resume is not counted), so a run's curve
sits where the training happened. A run the report creates starts at metrics.jsonl's
modification time less the last row's ``wall_s``; evaluation metrics carry their eval
file's modification time, summary metrics the report's time.

Live. ``python -m harness.report.tracking follow --comparison C -- harness train --settings
JSON`` runs a training job and logs its metrics.jsonl rows as they appear (the trainer rewrites it at every checkpoint), so a day-long GPU run is watchable;
the workflow wraps training jobs in it when ``mlflow.live`` is on (``auto``: on for a
tracking server, off for sqlite and local files, where concurrent writers lock). The
report later fills in params and evaluations on the same run. An MLflow failure in the
follower warns and never stops the training.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from harness.report.build import Comparison

MAX_PARAM_VALUE = 6000  # mlflow.utils.validation.MAX_PARAM_VAL_LENGTH
MAX_PARAM_KEY = 250
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
KEY_TAG = "arena.key"
SUPERSEDED_TAG = "arena.superseded_by"
METRICS_SHA_TAG = "arena.metrics_sha256"
#: logged for every training row: its (step, timestamp) history says which rows a run has
ROW_MARKER = "train/wall_s"
#: URI schemes whose store is a local file or database: one writer at a time (no live logging)
LOCAL_SCHEMES = ("", "file", "sqlite")
LIVE_SETTINGS = ("auto", True, False)
#: each run's kept integrity samples (harness/integrity), as an MLflow table artifact
INTEGRITY_SAMPLES_TABLE = "integrity_samples.json"
#: each run's integrity verdict as the leaderboard shows it: "clean" / "N flags: ..."
INTEGRITY_TAG = "arena.integrity"


# ---------------------------------------------------------------- where

def default_tracking_uri(results: Path) -> str:
    return f"sqlite:///{(results / 'mlflow.db').resolve()}"


def resolve_tracking_uri(results: Path, explicit: str | None = None) -> str:
    """``explicit``, else $MLFLOW_TRACKING_URI, else sqlite under ``results``."""
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(results)


def experiment_name(comparison: str) -> str:
    """$MLFLOW_EXPERIMENT_NAME, else the comparison's name."""
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or comparison


def is_local_store(uri: str) -> bool:
    """True for sqlite and plain file stores (one writer at a time), False for a server."""
    return urlparse(uri).scheme in LOCAL_SCHEMES


def live_logging(setting: str | bool | None, uri: str) -> bool:
    """Whether training jobs log each step as it happens: ``auto`` (or None) means on for a
    tracking server and off for sqlite / local files, where concurrent writers lock."""
    if setting not in LIVE_SETTINGS and setting is not None:
        raise ValueError(f"mlflow.live must be one of auto, true, false; got {setting!r}")
    if setting in ("auto", None):
        return not is_local_store(uri)
    return bool(setting)


def workflow_environment(config: Mapping[str, Any]) -> dict[str, str]:
    """The MLflow variables a workflow's jobs get from the config's ``mlflow`` block: the
    config's tracking URI and experiment, where it gives them, take precedence over the
    environment's."""
    block = config.get("mlflow") or {}
    env = {}
    if block.get("tracking_uri"):
        env["MLFLOW_TRACKING_URI"] = str(block["tracking_uri"])
    if block.get("experiment"):
        env["MLFLOW_EXPERIMENT_NAME"] = str(block["experiment"])
    return env


# ---------------------------------------------------------------- helpers

def flatten(prefix: str, value: Any, out: dict[str, str]) -> dict[str, str]:
    """Nested config -> {"a.b.c": "value"}; values longer than MLflow allows point to the
    run's config artifact instead of being cut."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
        return out
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    out[prefix[:MAX_PARAM_KEY]] = text if len(text) <= MAX_PARAM_VALUE else "<too long: see run.json artifact>"
    return out


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _mtime_ms(path: Path) -> int:
    return int(path.stat().st_mtime * 1000)


def run_key(comparison: str, objective: str | None = None, seed: int | None = None) -> str:
    """The stable key of a run: ``<comparison>/<objective>/seed<seed>``, or ``<comparison>/summary``."""
    return f"{comparison}/summary" if objective is None else f"{comparison}/{objective}/seed{seed}"


def _metric_name(key: str) -> str:
    return f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"


def row_metrics(lines: Iterable[Mapping[str, Any]], start_ms: int) -> list[Any]:
    """MLflow metrics of training rows; each row at ``start_ms`` + its ``wall_s``, with
    ``train/wall_s`` always present (the marker of a logged row)."""
    from mlflow.entities import Metric

    out = []
    for line in lines:
        step = int(line["step"])
        wall = float(line.get("wall_s") or 0.0)
        timestamp = start_ms + int(round(wall * 1000))
        out.append(Metric(ROW_MARKER, wall, timestamp, step))
        for key, value in line.items():
            if key in ("step", "wall_s") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            out.append(Metric(_metric_name(key), float(value), timestamp, step))
    return out


def _row_points(client: Any, run_id: str) -> set[tuple[int, int]]:
    """(step, timestamp) of the training rows a run holds already."""
    return {(m.step, m.timestamp) for m in client.get_metric_history(run_id, ROW_MARKER)}


def _new_rows(client: Any, run: Any, lines: list[Mapping[str, Any]]) -> list[Any]:
    """Metrics of the rows of ``lines`` that ``run`` does not hold yet."""
    start = run.info.start_time
    have = _row_points(client, run.info.run_id)
    fresh = [line for line in lines
             if (int(line["step"]), start + int(round(float(line.get("wall_s") or 0.0) * 1000))) not in have]
    return row_metrics(fresh, start)


def _changed(run: Any, metrics: list[Any]) -> list[Any]:
    """The metrics whose latest value in ``run`` differs (or that it lacks)."""
    latest = run.data.metrics
    return [m for m in metrics if latest.get(m.key) != m.value]


def _log_metrics(client: Any, run_id: str, metrics: list[Any]) -> None:
    for chunk in _chunks(metrics, MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=chunk)


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


# ---------------------------------------------------------------- runs by key

def ensure_experiment(client: Any, name: str, uri: str, results: Path) -> str:
    """The experiment's id, created if missing (artifacts under results/mlruns for a local
    store; the server's default artifact root otherwise), restored if deleted."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = (results / "mlruns" / name).resolve().as_uri() if is_local_store(uri) else None
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:  # created meanwhile by another job
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def find_run(client: Any, experiment_id: str, key: str) -> Any | None:
    """The newest active run whose ``arena.key`` tag is ``key``, or None."""
    from mlflow.entities import ViewType

    runs = client.search_runs([experiment_id], filter_string=f"tags.`{KEY_TAG}` = '{key}'",
                              run_view_type=ViewType.ACTIVE_ONLY, max_results=1,
                              order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None


def supersede(client: Any, run: Any, by: str) -> None:
    """Keep ``run`` but take it off its key: a newer run (``by``) describes the results now."""
    client.set_tag(run.info.run_id, SUPERSEDED_TAG, by)
    client.set_tag(run.info.run_id, KEY_TAG, f"{run.data.tags.get(KEY_TAG, '')} (superseded)")
    client.set_tag(run.info.run_id, "mlflow.runName", f"{run.info.run_name} (superseded)")


def create_run(client: Any, experiment_id: str, key: str, name: str, tags: Mapping[str, str],
               start_ms: int | None = None) -> Any:
    return client.create_run(experiment_id, start_time=start_ms, run_name=name,
                             tags={**tags, KEY_TAG: key})


def _conflicts(run: Any, params: Mapping[str, str]) -> list[str]:
    existing = run.data.params
    return sorted(k for k, v in params.items() if k in existing and existing[k] != v)


def _log_params(client: Any, run: Any, params: Mapping[str, str]) -> None:
    from mlflow.entities import Param

    new = [Param(k, v) for k, v in sorted(params.items()) if k not in run.data.params]
    for chunk in _chunks(new, MAX_PARAMS_PER_BATCH):
        client.log_batch(run.info.run_id, params=chunk)


def _log_artifacts(client: Any, run_id: str, paths: Iterable[Path]) -> None:
    for path in paths:
        if path.is_dir():
            client.log_artifacts(run_id, str(path), artifact_path=path.name)
        elif path.exists():
            client.log_artifact(run_id, str(path))


class _Logged:
    """What one ``log_comparison`` call did to the runs it touched."""

    def __init__(self) -> None:
        self.created = self.updated = self.superseded = 0


def _upsert(client: Any, experiment_id: str, key: str, name: str, tags: Mapping[str, str],
            params: Mapping[str, str], counts: _Logged, *, start_ms: int, metrics_sha: str | None = None) -> Any:
    """The run that holds ``key`` now: the existing one when it still describes the results,
    else a new one (the old one superseded); its missing params logged."""
    run = find_run(client, experiment_id, key)
    stale = run is not None and (
        _conflicts(run, params)
        or (metrics_sha is not None and run.data.tags.get(METRICS_SHA_TAG) not in (None, metrics_sha)))
    if run is None or stale:
        new = create_run(client, experiment_id, key, name, tags, start_ms)
        if run is not None:
            supersede(client, run, new.info.run_id)
            counts.superseded += 1
        counts.created += 1
        run = client.get_run(new.info.run_id)
    else:
        counts.updated += 1
        client.log_batch(run.info.run_id, tags=_tags({**tags, KEY_TAG: key}))
    _log_params(client, run, params)
    return run


def _tags(tags: Mapping[str, str]) -> list[Any]:
    from mlflow.entities import RunTag

    return [RunTag(k, v) for k, v in tags.items()]


def _training_start_ms(metrics_path: Path, lines: list[Mapping[str, Any]]) -> int:
    """When a finished training started: metrics.jsonl's last write less its last row's wall_s."""
    last_wall = float(lines[-1].get("wall_s") or 0.0) if lines else 0.0
    try:
        return _mtime_ms(metrics_path) - int(round(last_wall * 1000))
    except OSError:
        return _now_ms()


# ---------------------------------------------------------------- the report

def _eval_metrics(comparison: Comparison, objective: str, seed: int) -> list[Any]:
    from mlflow.entities import Metric

    out = []
    for benchmark, records in comparison.loaded.evals.items():
        rec = records.get((objective, seed))
        if rec is None:
            continue
        step = rec.steps or 0
        try:
            timestamp = _mtime_ms(rec.path)
        except OSError:
            timestamp = _now_ms()
        values = {"accuracy": rec.data.get("accuracy"), "mean_length": rec.data.get("mean_length"),
                  "mean_length_correct": rec.data.get("mean_length_correct"), "n": rec.data.get("n")}
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.append(Metric(f"eval/{benchmark}/{key}", float(value), timestamp, step))
    return out


def log_comparison(comparison: Comparison, summary: Mapping[str, Any], results: Path,
                   outputs: Iterable[Path], tracking_uri: str | None = None) -> dict[str, Any]:
    """Bring the comparison's runs in MLflow up to date with the result files (see the module doc)."""
    from mlflow.tracking import MlflowClient

    from harness.metrics import BASE_OBJECTIVE

    uri = resolve_tracking_uri(results, tracking_uri)
    client = MlflowClient(tracking_uri=uri)
    name = comparison.settings.comparison
    experiment = experiment_name(name)
    experiment_id = ensure_experiment(client, experiment, uri, results)
    # runs of several comparisons in one experiment: the comparison names them in the UI
    label = "" if experiment == name else f"{name}/"
    base_tags = {"arena.comparison": name, "arena.logged_by": "harness report"}
    counts = _Logged()

    for (objective, seed), run in sorted(comparison.loaded.runs.items()):
        params: dict[str, str] = {"objective": objective, "seed": str(seed)}
        hyper = run.info.get("hyperparams", comparison.settings.objectives.get(objective, {}))
        flatten("hp", hyper or {}, params)
        flatten("config", run.info.get("config") or {}, params)
        flatten("model", run.info.get("model") or {}, params)
        sha = _sha256(run.metrics_path)
        tracked = _upsert(client, experiment_id, run_key(name, objective, seed), f"{label}{objective}/seed{seed}",
                          {**base_tags, "arena.objective": objective, "arena.seed": str(seed)}, params, counts,
                          start_ms=_training_start_ms(run.metrics_path, run.metrics), metrics_sha=sha)
        run_id = tracked.info.run_id
        _log_metrics(client, run_id, _new_rows(client, tracked, run.metrics)
                     + _changed(tracked, _eval_metrics(comparison, objective, seed)))
        _log_artifacts(client, run_id, [run.metrics_path.parent / "run.json"])
        _log_integrity(client, run_id, run.metrics_path.parent, summary, objective, seed)  # issue 19, when it ran
        if sha is not None:
            client.set_tag(run_id, METRICS_SHA_TAG, sha)
        client.set_terminated(run_id)
    if any((BASE_OBJECTIVE, 0) in records for records in comparison.loaded.evals.values()):
        tracked = _upsert(client, experiment_id, run_key(name, BASE_OBJECTIVE, 0), f"{label}{BASE_OBJECTIVE}/seed0",
                          {**base_tags, "arena.objective": BASE_OBJECTIVE, "arena.seed": "0"},
                          {"objective": BASE_OBJECTIVE, "seed": "0"}, counts, start_ms=_now_ms())
        _log_metrics(client, tracked.info.run_id, _changed(tracked, _eval_metrics(comparison, BASE_OBJECTIVE, 0)))
        client.set_terminated(tracked.info.run_id)

    tracked = _upsert(client, experiment_id, run_key(name), f"{label}summary", {**base_tags, "arena.summary": "true"},
                      flatten("report", summary["settings"], {}), counts, start_ms=_now_ms())
    _log_metrics(client, tracked.info.run_id, _changed(tracked, _summary_metrics(summary)))
    _log_artifacts(client, tracked.info.run_id, outputs)
    _log_tables(client, tracked.info.run_id, summary)
    client.set_terminated(tracked.info.run_id)
    return {"tracking_uri": uri, "experiment": experiment, "experiment_id": experiment_id,
            "runs_logged": counts.created + counts.updated, "runs_created": counts.created,
            "runs_updated": counts.updated, "runs_superseded": counts.superseded,
            # `harness report` prints this one: runs that existed and were brought up to date
            "runs_replaced": counts.updated}


def _summary_metrics(summary: Mapping[str, Any]) -> list[Any]:
    from mlflow.entities import Metric

    now = _now_ms()
    out = []
    for benchmark, bench in summary["benchmarks"].items():
        for row in bench["rows"]:
            for key in ("accuracy", "mean_length", "compression_vs_reference", "gain_vs_base"):
                value = (row.get(key) or {}).get("value")
                if value is not None:
                    out.append(Metric(f"{benchmark}/{row['objective']}/{key}", float(value), now, 0))
    return out


def _log_tables(client: Any, run_id: str, summary: Mapping[str, Any]) -> None:
    """The leaderboard rows as MLflow tables (sortable in the UI), replaced on a rerun."""
    tables = {}
    for benchmark, bench in summary["benchmarks"].items():
        rows = [r for r in bench["rows"] if r.get("status") != "missing"]
        if not rows:
            continue
        tables[f"leaderboard_{benchmark}.json"] = {
            "objective": [r["objective"] for r in rows],
            "seeds": [len(r["seeds"]) for r in rows],
            "accuracy": [(r.get("accuracy") or {}).get("value") for r in rows],
            "accuracy_ci_low": [(r.get("accuracy") or {}).get("ci_low") for r in rows],
            "accuracy_ci_high": [(r.get("accuracy") or {}).get("ci_high") for r in rows],
            "mean_length": [(r.get("mean_length") or {}).get("value") for r in rows],
            "compression_vs_reference": [(r.get("compression_vs_reference") or {}).get("value") for r in rows],
        }
    log_table_artifacts(client, run_id, tables)


def log_table_artifacts(client: Any, run_id: str, tables: Mapping[str, Mapping[str, Sequence[Any]]]) -> None:
    """Log each {artifact file name: {column: values}} as an MLflow table of the run,
    replacing the file a previous report logged under that name.

    ``MlflowClient.log_table`` appends to an existing table file, so a rerun would double its
    rows: the same file (pandas' "split" JSON, as log_table writes it) is logged as a plain
    artifact, which overwrites, and registered as a table the way log_table does (the run's
    ``mlflow.loggedArtifacts`` tag), so the UI's table view and ``load_table`` find it."""
    from mlflow.utils.mlflow_tags import MLFLOW_LOGGED_ARTIFACTS

    if not tables:
        return
    logged = json.loads(client.get_run(run_id).data.tags.get(MLFLOW_LOGGED_ARTIFACTS, "[]"))
    with tempfile.TemporaryDirectory() as tmp:
        for artifact, columns in tables.items():
            path = Path(tmp) / artifact
            path.write_text(json.dumps({"columns": list(columns),
                                        "data": [list(values) for values in zip(*columns.values())]}))
            client.log_artifact(run_id, str(path))
            entry = {"path": artifact, "type": "table"}
            if entry not in logged:
                logged.append(entry)
    client.set_tag(run_id, MLFLOW_LOGGED_ARTIFACTS, json.dumps(logged))


def _log_integrity(client: Any, run_id: str, run_dir: Path, summary: Mapping[str, Any], objective: str,
                   seed: int) -> None:
    """The integrity monitor's record of one run (issue 19): integrity.jsonl as an artifact,
    its kept flagged samples (prompt, completion, verdict, detector, second opinion) as the
    table ``INTEGRITY_SAMPLES_TABLE``, and the report's verdict on the run as the tag
    ``arena.integrity`` ("clean" / "N flags: ...") with the metrics ``integrity/flags`` and
    ``integrity/alarms/<name>`` for every alarm the report knows (1 where it stands, expected
    ones included; 0 where not). The
    per-step counts reach MLflow as ``train/integrity_*`` with the other training rows."""
    from mlflow.entities import Metric

    from harness.report.integrity import ALARM_TITLES, integrity_cell, run_samples_table

    record = run_dir / "integrity.jsonl"
    if not record.exists():
        return
    _log_artifacts(client, run_id, [record])
    table = run_samples_table(record)
    if table["detector"]:
        log_table_artifacts(client, run_id, {INTEGRITY_SAMPLES_TABLE: table})
    entry = ((summary.get("integrity") or {}).get("entries") or {}).get(objective) or {}
    verdict = (entry.get("seeds") or {}).get(str(seed))
    if verdict and verdict.get("monitored"):
        client.set_tag(run_id, INTEGRITY_TAG, integrity_cell({**verdict, "monitored": 1, "runs": 1,
                                                              "alarms": [a["name"] for a in verdict["alarms"]
                                                                         if not a["expected"]]}))
        now = _now_ms()
        metrics = [Metric("integrity/flags", float(verdict["flags"]), now, 0)]
        standing = {a["name"] for a in verdict["alarms"]}
        metrics += [Metric(f"integrity/alarms/{name}", float(name in standing), now, 0) for name in ALARM_TITLES]
        _log_metrics(client, run_id, _changed(client.get_run(run_id), metrics))


# ---------------------------------------------------------------- live, from a training job

class LiveRun:
    """One training job's run, fed the rows of its metrics.jsonl as they appear.

    At the start of a fresh training (no resume state in ``run_dir/state``) an existing run
    under the key belongs to an earlier training: it is superseded and a new run starts now;
    a resumed training continues its run. Every MLflow error is caught by the caller."""

    def __init__(self, client: Any, experiment_id: str, key: str, name: str, tags: Mapping[str, str],
                 metrics_path: Path, *, resuming: bool) -> None:
        self.client, self.metrics_path = client, metrics_path
        run = find_run(client, experiment_id, key)
        if run is None or not resuming:
            new = create_run(client, experiment_id, key, name, {**tags, "arena.logged_by": "harness live"})
            if run is not None:
                supersede(client, run, new.info.run_id)
            run = client.get_run(new.info.run_id)
        self.run_id, self.start_ms = run.info.run_id, run.info.start_time
        self.have = _row_points(client, self.run_id)
        self._seen_mtime: float | None = None

    def sync(self) -> int:
        """Log the rows of metrics.jsonl this run does not hold; returns how many."""
        try:
            mtime = self.metrics_path.stat().st_mtime
        except OSError:
            return 0
        if mtime == self._seen_mtime:
            return 0
        lines = [json.loads(line) for line in self.metrics_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        self._seen_mtime = mtime
        fresh = []
        for line in lines:
            point = (int(line["step"]), self.start_ms + int(round(float(line.get("wall_s") or 0.0) * 1000)))
            if point not in self.have:
                fresh.append(line)
                self.have.add(point)
        _log_metrics(self.client, self.run_id, row_metrics(fresh, self.start_ms))
        return len(fresh)

    def finish(self, returncode: int) -> None:
        status = "FINISHED" if returncode == 0 else ("KILLED" if returncode < 0 else "FAILED")
        self.client.set_terminated(self.run_id, status=status)


def follow(cmd: Sequence[str], *, run_dir: Path, comparison: str, objective: str, seed: int,
           results: Path = Path("results"), interval_s: float = 30.0) -> int:
    """Run ``cmd`` (a training job), logging its metrics.jsonl rows to MLflow as they appear;
    returns its exit code (128 + signal when a signal ended it). MLflow trouble warns once
    per kind and is retried at the next interval; the training is never stopped by it."""
    proc = subprocess.Popen(list(cmd))

    def forward(signum: int, _frame: Any) -> None:
        proc.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    live: LiveRun | None = None
    warned: set[str] = set()
    resuming = (run_dir / "state" / "state.pt").exists()

    def attempt() -> None:
        nonlocal live
        try:
            if live is None:
                from mlflow.tracking import MlflowClient

                uri = resolve_tracking_uri(results)
                client = MlflowClient(tracking_uri=uri)
                experiment = experiment_name(comparison)
                experiment_id = ensure_experiment(client, experiment, uri, results)
                label = "" if experiment == comparison else f"{comparison}/"
                live = LiveRun(client, experiment_id, run_key(comparison, objective, seed), f"{label}{objective}/seed{seed}",
                               {"arena.comparison": comparison, "arena.objective": objective, "arena.seed": str(seed)},
                               run_dir / "metrics.jsonl", resuming=resuming)
            live.sync()
        except Exception as err:  # noqa: BLE001 - display only: training goes on
            kind = type(err).__name__
            if kind not in warned:
                warned.add(kind)
                print(f"[mlflow live] WARNING: {kind}: {err} (retrying every {interval_s:.0f} s; "
                      "the training is not affected)", file=sys.stderr, flush=True)

    while True:
        try:
            returncode = proc.wait(timeout=interval_s)
            break
        except subprocess.TimeoutExpired:
            attempt()
    attempt()
    if live is not None:
        try:
            live.finish(returncode)
        except Exception as err:  # noqa: BLE001
            print(f"[mlflow live] WARNING: could not close the run: {err}", file=sys.stderr, flush=True)
    return 128 - returncode if returncode < 0 else returncode


def job_identity(cmd: Sequence[str]) -> dict[str, Any]:
    """objective, seed and run directory of a ``harness train --settings JSON`` command (the
    workflow's training jobs), read from its settings; {} when it has none."""
    args = list(cmd)
    if "--settings" not in args or args.index("--settings") + 1 >= len(args):
        return {}
    s = json.loads(args[args.index("--settings") + 1])
    return {"objective": s["objective"], "seed": int(s["seed"]), "run_dir": Path(s["out_dir"])}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m harness.report.tracking follow --comparison C -- harness train --settings JSON``:
    run the training command and log its rows live (objective, seed and run directory are the
    settings'; --objective / --seed / --run-dir give them for any other command)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser(prog="python -m harness.report.tracking", description=main.__doc__)
    parser.add_argument("action", choices=["follow"])
    parser.add_argument("--comparison", required=True)
    parser.add_argument("--run-dir", type=Path, help="default: the settings' out_dir")
    parser.add_argument("--objective", help="default: the settings' objective")
    parser.add_argument("--seed", type=int, help="default: the settings' seed")
    parser.add_argument("--results", default="results", type=Path)
    parser.add_argument("--interval", default=30.0, type=float, help="seconds between looks at metrics.jsonl")
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if not cmd:
        parser.error("give the training command after --")
    job = job_identity(cmd)
    run_dir, objective = args.run_dir or job.get("run_dir"), args.objective or job.get("objective")
    seed = args.seed if args.seed is not None else job.get("seed")
    if run_dir is None or objective is None or seed is None:
        parser.error("the command has no --settings JSON: give --run-dir, --objective and --seed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow's import-time deprecation noise in the job log
        return follow(cmd, run_dir=run_dir, comparison=args.comparison, objective=objective,
                      seed=seed, results=args.results, interval_s=args.interval)


if __name__ == "__main__":
    raise SystemExit(main())
