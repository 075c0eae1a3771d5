"""Read the result files the training and evaluation jobs wrote (the source of truth).

Layout (written atomically by harness/train and the evaluate rule):
    results/runs/{objective}/seed{seed}/metrics.jsonl   one JSON object per step
    results/runs/{objective}/seed{seed}/run.json        hyperparams, resolved config, scale
    results/eval/{objective}/seed{seed}/{benchmark}.json per-item scores and lengths
    results/eval/base/seed0/{benchmark}.json            the warm-start model

A file that is absent is recorded as missing (the report shows it by name); a file
that is present but unreadable is an error naming the file (and line) to fix.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.io import read_json
from harness.metrics import BASE_OBJECTIVE, RunEval

EVAL_REQUIRED = ("benchmark", "accuracy", "items")
ITEM_REQUIRED = ("id", "score", "length")


class ResultsError(ValueError):
    """A result file exists but cannot be used; the message names the file and the fix."""


def run_dir(results: Path, objective: str, seed: int) -> Path:
    return results / "runs" / objective / f"seed{seed}"


def eval_path(results: Path, objective: str, seed: int, benchmark: str) -> Path:
    return results / "eval" / objective / f"seed{seed}" / f"{benchmark}.json"


@dataclass
class RunRecord:
    """One training run: its per-step metrics lines and run.json (empty if missing)."""

    objective: str
    seed: int
    metrics: list[dict[str, Any]]
    info: dict[str, Any]
    metrics_path: Path


@dataclass
class EvalRecord:
    """One checkpoint on one benchmark, with items in the benchmark's common order."""

    objective: str
    seed: int
    benchmark: str
    path: Path
    data: dict[str, Any]
    ids: list[str]
    run_eval: RunEval

    @property
    def model(self) -> dict[str, Any]:
        return dict(self.data.get("model") or {})

    @property
    def steps(self) -> int | None:
        steps = self.data.get("steps")
        return int(steps) if steps is not None else None


@dataclass
class Missing:
    path: Path
    what: str
    objective: str
    seed: int

    def to_dict(self, root: Path) -> dict[str, Any]:
        return {"path": _relative(self.path, root), "what": self.what,
                "objective": self.objective, "seed": self.seed}


@dataclass
class LoadedResults:
    root: Path
    runs: dict[tuple[str, int], RunRecord] = field(default_factory=dict)
    evals: dict[str, dict[tuple[str, int], EvalRecord]] = field(default_factory=dict)
    missing: list[Missing] = field(default_factory=list)

    def missing_for(self, objective: str) -> list[Missing]:
        return [m for m in self.missing if m.objective == objective]


def _relative(path: Path, root: Path) -> str:
    try:
        return (Path(root.name) / path.relative_to(root)).as_posix()
    except ValueError:
        return path.as_posix()


def read_metrics_jsonl(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl lines; an unreadable line is an error naming file and line number."""
    lines: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                raise ResultsError(f"{path}:{number}: not valid JSON ({err.msg}); "
                                   "rerun the training job to rewrite it") from None
            if not isinstance(record, dict) or "step" not in record:
                raise ResultsError(f"{path}:{number}: each line must be an object with a 'step'")
            lines.append(record)
    return lines


def _read_json_file(path: Path) -> Any:
    try:
        return read_json(path)
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON (line {err.lineno}: {err.msg}); "
                           "rerun the job that writes it") from None


def load_run(results: Path, objective: str, seed: int, missing: list[Missing]) -> RunRecord | None:
    directory = run_dir(results, objective, seed)
    metrics_path = directory / "metrics.jsonl"
    info_path = directory / "run.json"
    if not metrics_path.exists():
        missing.append(Missing(metrics_path, "training metrics", objective, seed))
        return None
    info: dict[str, Any] = {}
    if info_path.exists():
        info = _read_json_file(info_path)
        if not isinstance(info, dict):
            raise ResultsError(f"{info_path}: must be a JSON object")
    else:
        missing.append(Missing(info_path, "run summary", objective, seed))
    return RunRecord(objective, seed, read_metrics_jsonl(metrics_path), info, metrics_path)


def load_eval(results: Path, objective: str, seed: int, benchmark: str,
              missing: list[Missing]) -> EvalRecord | None:
    path = eval_path(results, objective, seed, benchmark)
    if not path.exists():
        missing.append(Missing(path, f"{benchmark} evaluation", objective, seed))
        return None
    data = _read_json_file(path)
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: must be a JSON object")
    for key in EVAL_REQUIRED:
        if key not in data:
            raise ResultsError(f"{path}: key '{key}' is missing; rerun the evaluate job")
    items = data["items"]
    if not isinstance(items, list) or not items:
        raise ResultsError(f"{path}: key 'items' must be a non-empty list of per-item results")
    for i, item in enumerate(items):
        for key in ITEM_REQUIRED:
            if not isinstance(item, dict) or key not in item:
                raise ResultsError(f"{path}: items[{i}] lacks '{key}'")
    ids = [str(item["id"]) for item in items]
    if len(set(ids)) != len(ids):
        raise ResultsError(f"{path}: item ids are not unique")
    scores = np.array([float(item["score"]) for item in items])
    lengths = np.array([float(item["length"]) for item in items])
    return EvalRecord(objective, seed, benchmark, path, data, ids, RunEval(scores, lengths))


def _align(records: Iterable[EvalRecord], benchmark: str) -> None:
    """Put every record's items in the order of the first (base if present); same id set required."""
    records = list(records)
    if not records:
        return
    reference = records[0]
    order = {item_id: i for i, item_id in enumerate(reference.ids)}
    for rec in records[1:]:
        if rec.ids == reference.ids:
            continue
        if set(rec.ids) != set(order):
            only_here = sorted(set(rec.ids) - set(order))[:3]
            only_there = sorted(set(order) - set(rec.ids))[:3]
            raise ResultsError(
                f"{rec.path}: its {benchmark} items differ from {reference.path} "
                f"(e.g. only here: {only_here}, only there: {only_there}); every checkpoint must "
                "be evaluated on the same test items: rerun the evaluate jobs of this benchmark")
        position = {item_id: i for i, item_id in enumerate(rec.ids)}
        perm = np.array([position[i] for i in reference.ids])
        rec.ids = list(reference.ids)
        rec.run_eval = RunEval(rec.run_eval.scores[perm], rec.run_eval.lengths[perm])


def load_results(results: str | Path, objectives: Iterable[str], seeds: Iterable[int],
                 benchmarks: Iterable[str]) -> LoadedResults:
    """Everything the report needs; absent files are listed in ``missing``."""
    root = Path(results)
    loaded = LoadedResults(root=root)
    objectives, seeds, benchmarks = list(objectives), list(seeds), list(benchmarks)
    for objective in objectives:
        for seed in seeds:
            run = load_run(root, objective, seed, loaded.missing)
            if run is not None:
                loaded.runs[(objective, seed)] = run
    for benchmark in benchmarks:
        records: dict[tuple[str, int], EvalRecord] = {}
        base = load_eval(root, BASE_OBJECTIVE, 0, benchmark, loaded.missing)
        if base is not None:
            records[(BASE_OBJECTIVE, 0)] = base
        for objective in objectives:
            for seed in seeds:
                rec = load_eval(root, objective, seed, benchmark, loaded.missing)
                if rec is not None:
                    records[(objective, seed)] = rec
        _align(records.values(), benchmark)
        loaded.evals[benchmark] = records
    return loaded
