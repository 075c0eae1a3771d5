"""The embedded code world: synthesise a one-line function ``f(x)`` from input/output examples.

A problem is one function of a family (affine maps on ints, string ops, list ops). The
prompt shows a few examples, the model writes the whole function, and the sandboxed code
verifier runs HumanEval-style ``check(candidate)`` tests on held-out inputs plus the shown
ones. The shown examples are chosen so that no other function of the same family fits
them all, so the tests reject every other member of the family (a test checks it).

    prompt:    "# Q: f(2)=5 f(3)=7\\n"
    solution:  "def f(x):\\n return 2*x+1\\n"

The prompt is a Python comment, not "Q: def f(x): ...": the code verifier executes an
item's "prompt" beside the tests as TRUSTED helper source (HumanEval/32 needs that), so
the prompt must be valid Python; a comment is, and defines nothing.

Every distinct function lands in exactly one split, chosen by a hash of its source, so
train / validation / test are disjoint by construction. ``seed`` only picks which inputs
are shown and held out; the split of a function never depends on it.

Version history: 1 — initial generator.
"""
from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

VERSION = 1
ENTRY_POINT = "f"
MAX_SHOWN = 4
MAX_PROMPT_CHARS = 59

# Shown and held-out inputs per argument type; the two pools never overlap.
INT_SHOWN = (0, 1, 2, 3, 4, 5)
INT_HELD_OUT = (-3, -1, 6, 7, 10, 12)
STR_SHOWN = ("ab", "cat", "dog", "xyz", "sun", "pq", "moon", "lamp")
STR_HELD_OUT = ("go", "bird", "star", "kiwi", "rock", "hat", "jump")
LIST_SHOWN = ((1, 2, 3), (4, 5), (3, 1, 2), (7, 2, 9), (5,), (2, 8), (6, 0, 4))
LIST_HELD_OUT = ((6, 1), (9, 9, 2), (0, 4, 3, 8), (10, 3), (5, 7, 1), (8,))


@dataclass(frozen=True)
class CodeWorld:
    """Generator settings (the `data.code` block of a config)."""

    seed: int = 0
    slope_lo: int = -9
    slope_hi: int = 9
    intercept_lo: int = -30
    intercept_hi: int = 30
    n_held_out: int = 3
    test_percent: int = 16
    validation_percent: int = 5


@dataclass(frozen=True)
class Problem:
    """One target function: ``expr`` is the body of ``return`` in the canonical solution."""

    family: str
    expr: str
    arg_type: str  # "int" | "str" | "list"

    @property
    def key(self) -> str:
        return f"{self.family}:{self.expr}"


def code_world(world: dict[str, Any]) -> CodeWorld:
    """CodeWorld from a config block; unknown keys fail with the allowed ones."""
    from harness.tasks import world_from_config

    return world_from_config(CodeWorld, world, "code")


def affine_expr(a: int, b: int) -> str:
    """Canonical source of a*x+b: '2*x+1', 'x-3', '-x', '4*x'."""
    term = "x" if a == 1 else "-x" if a == -1 else f"{a}*x"
    return term if b == 0 else f"{term}{b:+d}"


def all_problems(world: CodeWorld) -> list[Problem]:
    out = [
        Problem("affine", affine_expr(a, b), "int")
        for a in range(world.slope_lo, world.slope_hi + 1) if a != 0
        for b in range(world.intercept_lo, world.intercept_hi + 1)
    ]
    string_exprs = ["x[::-1]", "x.upper()", "x+x", "x*3", "x[0]", "x[-1]", "x[1:]", "x[:-1]", "len(x)"]
    string_exprs += [f"x+'{c}'" for c in string.ascii_lowercase]
    string_exprs += [f"'{c}'+x" for c in string.ascii_lowercase]
    out += [Problem("string", e, "str") for e in string_exprs]
    list_exprs = ["sum(x)", "len(x)", "max(x)", "min(x)", "x[0]", "x[-1]", "sorted(x)", "x[::-1]"]
    list_exprs += [f"sum(x)+{k}" for k in range(1, 10)]
    list_exprs += [f"max(x)+{k}" for k in range(1, 10)]
    list_exprs += [f"len(x)*{k}" for k in range(2, 6)]
    out += [Problem("list", e, "list") for e in list_exprs]
    return out


def split_of(problem: Problem, world: CodeWorld) -> str:
    """Deterministic split by a hash of the solution's source: the same function never crosses
    splits, even when two families share it (x[0] on strings and on lists)."""
    h = int(hashlib.sha256(f"code:{problem.expr}".encode()).hexdigest()[:8], 16) % 100
    if h < world.test_percent:
        return "test"
    if h < world.test_percent + world.validation_percent:
        return "validation"
    return "train"


def literal(value: Any) -> str:
    """Compact Python literal for prompts: 5, 'ab', [1,2,3]."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(literal(v) for v in value) + "]"
    return repr(value)


def _as_arg(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def function_of(problem: Problem) -> Callable[[Any], Any]:
    # The expression is this generator's own canonical text, never model output.
    return eval(f"lambda x: {problem.expr}", {"__builtins__": {"len": len, "max": max, "min": min, "sum": sum, "sorted": sorted}})


def _pools(arg_type: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    return {"int": (INT_SHOWN, INT_HELD_OUT), "str": (STR_SHOWN, STR_HELD_OUT), "list": (LIST_SHOWN, LIST_HELD_OUT)}[arg_type]


def _outputs(problems: list[Problem]) -> dict[str, dict[Any, Any]]:
    """Every function's output on every pool input."""
    table: dict[str, dict[Any, Any]] = {}
    for p in problems:
        fn = function_of(p)
        shown, held = _pools(p.arg_type)
        table[p.key] = {x: fn(_as_arg(x)) for x in shown + held}
    return table


def _fit_index(family: list[Problem], table: dict[str, dict[Any, Any]]) -> dict[tuple[Any, str], set[str]]:
    """(input, repr(output)) -> keys of the family's functions that map input to output."""
    index: dict[tuple[Any, str], set[str]] = {}
    for p in family:
        for x, y in table[p.key].items():
            index.setdefault((x, repr(y)), set()).add(p.key)
    return index


def _choose_inputs(problem: Problem, table: dict[str, dict[Any, Any]], index: dict[tuple[Any, str], set[str]], world: CodeWorld) -> tuple[list[Any], list[Any]]:
    """Shown inputs (at least 2, more until no other family member fits) and held-out ones."""
    rng = random.Random(f"code-v{VERSION}:{world.seed}:{problem.key}")
    shown_pool, held_pool = _pools(problem.arg_type)
    order = rng.sample(shown_pool, len(shown_pool))
    mine = table[problem.key]

    def fitting(shown: list[Any]) -> set[str]:
        return set.intersection(*(index[(x, repr(mine[x]))] for x in shown))

    # at least two examples; after that, only examples that rule out a remaining rival
    shown = order[:2]
    for extra in order[2:]:
        if fitting(shown) == {problem.key} or len(shown) == MAX_SHOWN:
            break
        if fitting(shown + [extra]) < fitting(shown):
            shown.append(extra)
    if fitting(shown) != {problem.key}:
        raise AssertionError(f"code world: {problem.key} is not identified by {MAX_SHOWN} examples; change the pools")
    held = sorted(rng.sample(held_pool, min(world.n_held_out, len(held_pool))), key=held_pool.index)
    return sorted(shown, key=shown_pool.index), held


def prompt_for(examples: list[tuple[Any, Any]]) -> str:
    return "# Q: " + " ".join(f"{ENTRY_POINT}({literal(x)})={literal(y)}" for x, y in examples) + "\n"


def solution_for(problem: Problem) -> str:
    return f"def {ENTRY_POINT}(x):\n return {problem.expr}\n"


def tests_for(cases: list[tuple[Any, Any]]) -> str:
    """HumanEval-style test source: ``check(candidate)`` asserting each case."""
    lines = ["def check(candidate):"]
    lines += [f"    assert candidate({_as_arg(x)!r}) == {y!r}" for x, y in cases]
    return "\n".join(lines) + "\n"


def make_items(split: str, world: CodeWorld, limit: int | None = None) -> list[dict[str, Any]]:
    """All problems of ``split`` as code benchmark items, in a fixed (hash) order."""
    problems = all_problems(world)
    families: dict[str, list[Problem]] = {}
    for p in problems:
        families.setdefault(p.family, []).append(p)
    mine = [p for p in problems if split_of(p, world) == split]
    mine.sort(key=lambda p: hashlib.sha256(f"order:{p.key}".encode()).hexdigest())
    if limit is not None:
        mine = mine[:limit]
    table = _outputs([p for p in problems if p.family in {m.family for m in mine}])
    indexes = {name: _fit_index(members, table) for name, members in families.items() if name in {m.family for m in mine}}
    items = []
    for p in mine:
        shown, held = _choose_inputs(p, table, indexes[p.family], world)
        out = table[p.key]
        prompt = prompt_for([(x, out[x]) for x in shown])
        if len(prompt) > MAX_PROMPT_CHARS:
            raise AssertionError(f"code world: prompt {prompt!r} is too long for the char model; shorten the pools")
        solution = solution_for(p)
        items.append({
            "id": f"code-v{VERSION}-{p.key}",
            "domain": "code",
            "family": p.family,
            "prompt": prompt,
            "answer": solution,
            "solution": solution,
            "tests": tests_for([(x, out[x]) for x in held + shown]),
            "entry_point": ENTRY_POINT,
        })
    return items
