"""Every benchmark suite by name, the benchmarks built on them, and how a response is verified.

    SUITES["code"]("test", seed=0)            -> list of items
    BENCHMARKS["code"]                        -> ("code", "test")
    write_suite("code", "results/data/code", {})  -> [train, validation, test JSONL paths]

A suite is a function ``(split, **world) -> list[item]``; ``world`` is the config's
``data.<suite>`` block (embedded suites validate its keys; every suite takes ``limit``).
Items are ``{"id", "domain", "prompt", "answer", ...}`` plus a warm-start ``"solution"``
(math keeps its own ``"shortest_solution"`` and verbose generator); code items add
``"tests"`` and ``"entry_point"``.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.io import atomic_write_jsonl

if TYPE_CHECKING:
    from verifiers import Verdict

SPLITS = ("train", "validation", "test")
Suite = Callable[..., list[dict[str, Any]]]


def math_items(split: str, *, limit: int | None = None, **world: Any) -> list[dict[str, Any]]:
    """The embedded math world (harness/tasks/math_cot.py), exactly as its own writer makes it.

    Its warm-start text is verbose on purpose (math_cot.sft_examples); ``shortest_solution``
    is the minimal correct one."""
    from harness.tasks import math_world
    from harness.tasks.math_cot import make_items

    return make_items(split, math_world(world), limit=limit)


def code_items(split: str, *, limit: int | None = None, **world: Any) -> list[dict[str, Any]]:
    """The embedded code world (harness/tasks/code_synth.py)."""
    from harness.tasks.code_synth import code_world, make_items

    return make_items(split, code_world(world), limit=limit)


def science_items(split: str, *, limit: int | None = None, **world: Any) -> list[dict[str, Any]]:
    """The embedded science world (harness/tasks/science.py)."""
    from harness.tasks.science import make_items, science_world

    return make_items(split, science_world(world), limit=limit)


def _real(name: str) -> Suite:
    from harness.tasks import real

    if name == "humaneval":
        return real.humaneval_items
    if name == "science_large":
        return real.science_large_items
    return partial(real.reasoning_gym_items, name.removeprefix("rg_"))


def _lazy_real(name: str) -> Suite:
    def suite(split: str, **world: Any) -> list[dict[str, Any]]:
        return _real(name)(split, **world)

    suite.__name__ = f"{name}_items"
    suite.__doc__ = f"Real-scale suite {name!r} (harness/tasks/real.py)."
    return suite


#: Embedded suites are generated (a tiny model can learn them); the others load PyPI data.
EMBEDDED_SUITES = ("math", "code", "science")
SUITES: dict[str, Suite] = {
    "math": math_items,
    "code": code_items,
    "science": science_items,
    "humaneval": _lazy_real("humaneval"),
    "rg_gsm_symbolic": _lazy_real("rg_gsm_symbolic"),
    "rg_basic_arithmetic": _lazy_real("rg_basic_arithmetic"),
    "rg_simple_equations": _lazy_real("rg_simple_equations"),
    "science_large": _lazy_real("science_large"),
}

#: Benchmark name -> (suite, split); leaderboards report the test split.
BENCHMARKS: dict[str, tuple[str, str]] = {name: (name, "test") for name in SUITES}


def suite_items(suite: str, split: str, world: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Items of one split of a suite, with a clear error for an unknown suite or split."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; available: {sorted(SUITES)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; available: {list(SPLITS)}")
    return SUITES[suite](split, **(world or {}))


def write_suite(suite: str, out_dir: str | Path, world: dict[str, Any] | None = None) -> list[Path]:
    """Write train/validation/test JSONL of ``suite`` under ``out_dir``; returns the paths."""
    return [atomic_write_jsonl(Path(out_dir) / f"{split}.jsonl", suite_items(suite, split, world)) for split in SPLITS]


def verifier_response(item: dict[str, Any], completion: str) -> str:
    """The text a verifier judges for ``completion`` of ``item``.

    Cut at the item's first ``stop`` string, if any; for a prompt the model continues
    (HumanEval: ``completion_of_prompt``), the prompt goes in front. Embedded items
    have neither, so this is the identity for them.
    """
    stops = [s for s in item.get("stop") or [] if s]
    if stops:
        cut = min((i for i in (completion.find(s) for s in stops) if i >= 0), default=len(completion))
        completion = completion[:cut]
    return item["prompt"] + completion if item.get("completion_of_prompt") else completion


def verify_items(texts: list[str], items: list[dict[str, Any]]) -> list[Verdict]:
    """Verdicts of completions ``texts`` against their ``items``, one per text, in order.

    Each item is judged by its own domain's verifier on `verifier_response`, so a batch may
    mix suites. Training rewards (`harness.train.loop.score`) and evaluation
    (`harness.evaluate.evaluate_model`) both judge through here, so they judge alike.
    """
    if len(texts) != len(items):
        raise ValueError(f"verify_items: {len(texts)} texts for {len(items)} items")
    from verifiers import verify_batch

    verdicts: list[Verdict | None] = [None] * len(texts)
    by_domain: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        by_domain.setdefault(it["domain"], []).append(i)
    for domain, idx in by_domain.items():
        judged = verify_batch(domain, [verifier_response(items[i], texts[i]) for i in idx], [items[i] for i in idx])
        for i, v in zip(idx, judged):
            verdicts[i] = v
    return verdicts  # type: ignore[return-value]
