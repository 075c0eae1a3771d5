"""lm-eval glue for the arena's suites: read our JSONL items, score with our verifiers.

Data: ``<data dir>/<suite>/<split>.jsonl`` as written by ``harness data`` (the workflow's
data rule). The data dir is, first found: lm-eval metadata ``arena_data_dir``
(``--metadata '{"arena_data_dir": "..."}'``), the environment variable ``ARENA_DATA_DIR``,
else ``results/data`` relative to the working directory (the repository root). The split
is ``test`` unless metadata ``arena_split`` says otherwise.

Items are kept whole as a JSON string column: suites carry different extra fields (code
tests, multiple-choice options, reasoning-gym provenance) that one Arrow schema cannot
hold, and the verifiers need the item exactly as written.

Scoring: ``verifiers.verify(domain, registry.verifier_response(item, generation), item)``,
the same call the workflow's evaluator makes, so both give the same per-item scores.

The papers' benchmarks (``spec_<name>`` tasks, harness/tasks/specs.py): items from
``specs.load_benchmark`` (the local copy ``<arena_benchmark_dir>/<name>``, from metadata
``arena_benchmark_dir`` or $HARNESS_BENCHMARK_DIR; else the hub at the spec's revision),
the spec's prompt, k = ``repeats`` draws at the spec's temperature and top-p, each judged by
``specs.verify_spec_items`` (what ``harness evaluate`` calls for them), scored as avg@k,
unbiased pass@k and maj@k (harness/metrics/sampling.py).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

try:
    import harness  # noqa: F401
except ImportError:  # lm-eval loads this file by path; make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from harness.io import read_jsonl  # noqa: E402
from harness.tasks.registry import verifier_response  # noqa: E402

DATA_DIR_ENV = "ARENA_DATA_DIR"
DEFAULT_DATA_DIR = "results/data"


def data_file(suite: str, split: str = "test", data_dir: str | None = None) -> Path:
    root = data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(root) / suite / f"{split}.jsonl"


def load_suite(suite: str, arena_data_dir: str | None = None, arena_split: str = "test", **_: Any):
    """lm-eval ``custom_dataset``: {"test": Dataset} with columns id, prompt, answer, item (JSON)."""
    import datasets

    path = data_file(suite, arena_split, arena_data_dir)
    if not path.exists():
        raise FileNotFoundError(
            f"arena_{suite}: no data file {path.resolve()}; write it with `snakemake {path}` or "
            f"`harness data` (suite {suite!r}), or point {DATA_DIR_ENV} / --metadata arena_data_dir "
            "at the folder holding <suite>/<split>.jsonl"
        )
    rows = [
        {"id": it["id"], "prompt": it["prompt"], "answer": str(it["answer"]), "item": json.dumps(it, sort_keys=True)}
        for it in read_jsonl(path)
    ]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def doc_to_text(doc: dict[str, Any]) -> str:
    """The raw prompt, unchanged (no chat template; the tokenizer adds BOS)."""
    return doc["prompt"]


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """acc = the verifier's score (1.0 or 0.0) of the first generation."""
    from verifiers import verify

    item = json.loads(doc["item"])
    verdict = verify(item["domain"], verifier_response(item, results[0]), item)
    return {"acc": float(verdict.score)}


# --- the papers' benchmarks -----------------------------------------------------------------

def load_spec(benchmark: str, arena_benchmark_dir: str | None = None, arena_limit: int | None = None, **_: Any):
    """lm-eval ``custom_dataset`` of a spec benchmark: {"test": Dataset} with columns id,
    prompt, answer, item (JSON), checksum (sha256 of all loaded items, the same on every row,
    so a sample log says which items it saw)."""
    import datasets

    from harness.tasks.specs import load_benchmark, local_path

    source = local_path(benchmark, arena_benchmark_dir)
    if arena_benchmark_dir is not None and source is None:
        raise FileNotFoundError(f"spec_{benchmark}: no local copy under {arena_benchmark_dir} (expected "
                                f"{benchmark}/ or {benchmark}.jsonl / .parquet in the datasets layout)")
    loaded = load_benchmark(benchmark, source, limit=arena_limit)
    rows = [{"id": it["id"], "prompt": it["prompt"], "answer": str(it["answer"]),
             "item": json.dumps(it, sort_keys=True), "checksum": loaded.checksum} for it in loaded.items]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def process_spec_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """Per item: acc (the first draw's score), avg_at_k, pass_at_k and (not for code) maj_at_k
    over the k = ``repeats`` generations, k = len(results)."""
    from harness.evaluate import answer_key
    from harness.metrics.sampling import per_problem_scores
    from harness.tasks.specs import verify_spec_items

    item = json.loads(doc["item"])
    k = len(results)
    verdicts = verify_spec_items(list(results), [item] * k)
    scores = [[float(v.score) for v in verdicts]]
    out = {"acc": scores[0][0], "avg_at_k": per_problem_scores("avg@k", scores, k)[0],
           "pass_at_k": per_problem_scores("pass@k", scores, k)[0]}
    if item["domain"] != "code":
        answers = [[answer_key(item["domain"], verifier_response(item, r)) for r in results]]
        out["maj_at_k"] = per_problem_scores("maj@k", scores, k, answers)[0]
    return out
