"""The embedded math world: chained addition with verbose, imperfect chain-of-thought.

Problems are sums of 2-3 integers in [lo, hi]. Every distinct problem lands in exactly
one split, chosen by a hash of the problem text, so train / validation / test are
disjoint by construction (a test checks it). The warm-start solutions are deliberately
verbose (a restatement, redundant "check" lines, a closing restatement) and sometimes
wrong (a slip of ±1 or ±10 in one step), so RL has room both to raise accuracy and to
shorten the reasoning. ``shortest_solution`` is the minimal correct reasoning, the yard
stick for compression.

Version history: 1 — initial generator.
"""
from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass
from typing import Any

VERSION = 1
ANSWER_DELIMITER = "A: "


@dataclass(frozen=True)
class MathWorld:
    """Generator settings (the `data.math` block of the config)."""

    lo: int = 1
    hi: int = 19
    min_terms: int = 2
    max_terms: int = 3
    p_restate: float = 0.5
    check_counts: tuple[int, ...] = (0, 0, 1, 1, 2)
    p_conclude: float = 0.5
    p_slip: float = 0.1
    test_percent: int = 16
    validation_percent: int = 5


def problem_text(terms: tuple[int, ...]) -> str:
    return "+".join(str(t) for t in terms)


def prompt_for(terms: tuple[int, ...]) -> str:
    return f"Q: {problem_text(terms)}=?\n"


def split_of(terms: tuple[int, ...], world: MathWorld) -> str:
    """Deterministic split by a hash of the problem: the same problem never crosses splits."""
    h = int(hashlib.sha256(problem_text(terms).encode()).hexdigest()[:8], 16) % 100
    if h < world.test_percent:
        return "test"
    if h < world.test_percent + world.validation_percent:
        return "validation"
    return "train"


def all_problems(world: MathWorld) -> list[tuple[int, ...]]:
    values = range(world.lo, world.hi + 1)
    out: list[tuple[int, ...]] = []
    for n in range(world.min_terms, world.max_terms + 1):
        out.extend(itertools.product(values, repeat=n))
    return out


def shortest_solution(terms: tuple[int, ...]) -> str:
    """The minimal correct reasoning: one line per addition, then the answer."""
    lines, acc = [], terms[0]
    for t in terms[1:]:
        lines.append(f"{acc}+{t}={acc + t}")
        acc += t
    lines.append(f"{ANSWER_DELIMITER}{acc}")
    return "\n".join(lines) + "\n"


def verbose_solution(terms: tuple[int, ...], rng: random.Random, world: MathWorld) -> tuple[str, bool]:
    """A warm-start solution: restatements and re-check lines, sometimes a slip.

    Returns (text, correct).
    """
    lines: list[str] = []
    if rng.random() < world.p_restate:
        lines.append(f"add {problem_text(terms)}")
    slip_step = rng.randrange(len(terms) - 1) if rng.random() < world.p_slip else -1
    acc = terms[0]
    for i, t in enumerate(terms[1:]):
        result = acc + t
        if i == slip_step:
            result = max(0, result + rng.choice((-10, -1, 1, 10)))
        lines.append(f"{acc}+{t}={result}")
        for _ in range(rng.choice(world.check_counts)):
            lines.append(f"check {acc}+{t}={result}")
        acc = result
    if rng.random() < world.p_conclude:
        lines.append(f"so {problem_text(terms)}={acc}")
    lines.append(f"{ANSWER_DELIMITER}{acc}")
    return "\n".join(lines) + "\n", acc == sum(terms)


def make_items(split: str, world: MathWorld, limit: int | None = None) -> list[dict[str, Any]]:
    """All problems of ``split`` as benchmark items, in a fixed (hash) order."""
    probs = [p for p in all_problems(world) if split_of(p, world) == split]
    probs.sort(key=lambda p: hashlib.sha256(("order:" + problem_text(p)).encode()).hexdigest())
    if limit is not None:
        probs = probs[:limit]
    return [
        {
            "id": f"math-v{VERSION}-{problem_text(p)}",
            "domain": "math",
            "prompt": prompt_for(p),
            "answer": str(sum(p)),
            "shortest_solution": shortest_solution(p),
            "terms": list(p),
        }
        for p in probs
    ]


def sft_examples(items: list[dict[str, Any]], n: int, seed: int, world: MathWorld) -> list[tuple[str, str]]:
    """``n`` (prompt, verbose solution) pairs drawn with replacement from ``items``."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        item = items[rng.randrange(len(items))]
        text, _ = verbose_solution(tuple(item["terms"]), rng, world)
        out.append((item["prompt"], text))
    return out
