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
