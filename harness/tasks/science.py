"""The embedded science world: quantities with units, formula application, multiple choice.

Three kinds of problem, each answered on a final "A: ..." line in the math world's short
line-based style:
- formula: "Q: v=12 m/s t=3 s d=?\\n" -> "d=v*t\\nd=12*3\\nd=36 m\\nA: 36 m\\n"; the answer
  carries its unit and the science verifier (pint) checks value and dimension. Some
  formula problems are asked as multiple choice instead ("... d=? A)36 m B)4 m C)15 m
  D)9 m"), answered with the letter.
- conversion: "Q: 3 km = how many m?\\n" -> "1 km=1000 m\\n3*1000=3000\\nA: 3000\\n". The
  answer is the bare number on purpose: a reference "3000 m" would also accept "3 km"
  (the same quantity), i.e. copying the question would be rewarded.
- unit choice: "Q: unit of force? A)J B)N C)W D)Pa\\n" -> "force is N\\nA: B\\n".

Every distinct problem lands in exactly one split, chosen by a hash of the problem (a
formula problem keeps its split whether asked numerically or as multiple choice), so
train / validation / test are disjoint by construction. ``seed`` picks the format, the
distractors and the choice order, never the split.

Version history: 1 — initial generator.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

VERSION = 1
ANSWER_DELIMITER = "A: "
LETTERS = "ABCDE"
MAX_PROMPT_CHARS = 59
#: Integer answers: a tolerance only absorbs float formatting, never a wrong value.
REL_TOL = 1e-6


@dataclass(frozen=True)
class Formula:
    """target = a*b (product) or a/b (quotient); inputs are (symbol, unit) pairs."""

    target: str
    unit: str
    a: tuple[str, str]
    b: tuple[str, str]
    op: str  # "*" | "/"
    constant: tuple[str, int, str] | None = None  # (symbol, value, unit) multiplied in, e.g. g


FORMULAS: tuple[Formula, ...] = (
    Formula("d", "m", ("v", "m/s"), ("t", "s"), "*"),
    Formula("F", "N", ("m", "kg"), ("a", "m/s^2"), "*"),
    Formula("p", "kg*m/s", ("m", "kg"), ("v", "m/s"), "*"),
    Formula("W", "J", ("F", "N"), ("d", "m"), "*"),
    Formula("U", "V", ("I", "A"), ("R", "ohm"), "*"),
    Formula("Q", "C", ("I", "A"), ("t", "s"), "*"),
    Formula("P", "W", ("U", "V"), ("I", "A"), "*"),
    Formula("E", "J", ("m", "kg"), ("h", "m"), "*", ("g", 10, "m/s^2")),
    Formula("v", "m/s", ("d", "m"), ("t", "s"), "/"),
    Formula("a", "m/s^2", ("v", "m/s"), ("t", "s"), "/"),
    Formula("P", "W", ("W", "J"), ("t", "s"), "/"),
    Formula("I", "A", ("U", "V"), ("R", "ohm"), "/"),
    Formula("rho", "kg/m^3", ("m", "kg"), ("V", "m^3"), "/"),
)

#: (from unit, to unit, factor): 1 from = factor to.
CONVERSIONS: tuple[tuple[str, str, int], ...] = (
    ("km", "m", 1000), ("m", "cm", 100), ("m", "mm", 1000), ("cm", "mm", 10),
    ("kg", "g", 1000), ("g", "mg", 1000), ("h", "min", 60), ("min", "s", 60),
    ("h", "s", 3600), ("L", "mL", 1000), ("kJ", "J", 1000), ("kW", "W", 1000),
)

#: quantity -> its SI unit symbol (the unit-choice questions).
UNITS_OF: dict[str, str] = {
    "force": "N", "energy": "J", "power": "W", "charge": "C", "current": "A",
    "voltage": "V", "pressure": "Pa", "frequency": "Hz", "mass": "kg", "time": "s",
    "length": "m", "resistance": "ohm",
}


@dataclass(frozen=True)
class ScienceWorld:
    """Generator settings (the `data.science` block of a config)."""

    seed: int = 0
    lo: int = 1
    hi: int = 12
    conversion_hi: int = 30
    p_choice: float = 0.3
    n_choices: int = 4
    test_percent: int = 16
    validation_percent: int = 5


def science_world(world: dict[str, Any]) -> ScienceWorld:
    """ScienceWorld from a config block; unknown keys fail with the allowed ones."""
    from harness.tasks import world_from_config

    return world_from_config(ScienceWorld, world, "science")


@dataclass(frozen=True)
class Problem:
    """kind "formula": args = (formula index, x, y) where the answer is x*y(*c) or x (= (x*y)/y);
    kind "conversion": args = (conversion index, n); kind "unit": args = (quantity,)."""

    kind: str
    args: tuple[Any, ...]

    @property
    def key(self) -> str:
        return f"{self.kind}:" + ",".join(str(a) for a in self.args)


def all_problems(world: ScienceWorld) -> list[Problem]:
    values = range(world.lo, world.hi + 1)
    out = [Problem("formula", (i, x, y)) for i in range(len(FORMULAS)) for x in values for y in values]
    out += [Problem("conversion", (i, n)) for i in range(len(CONVERSIONS)) for n in range(1, world.conversion_hi + 1)]
    out += [Problem("unit", (q,)) for q in UNITS_OF]
    return out


def split_of(problem: Problem, world: ScienceWorld) -> str:
    """Deterministic split by a hash of the problem: the same problem never crosses splits."""
    h = int(hashlib.sha256(f"science:{problem.key}".encode()).hexdigest()[:8], 16) % 100
    if h < world.test_percent:
        return "test"
    if h < world.test_percent + world.validation_percent:
        return "validation"
    return "train"


def _choices(correct: str, distractors: list[str], rng: random.Random, n: int) -> tuple[str, str, list[str]]:
    """(" A).. B)..", letter of the correct one, options in order)."""
    options = [correct] + [d for i, d in enumerate(distractors) if d != correct and d not in distractors[:i]][: n - 1]
    if len(options) != n:
        raise AssertionError(f"science world: only {len(options)} distinct options for {correct!r}; add distractors")
    rng.shuffle(options)
    text = " ".join(f"{LETTERS[i]}){o}" for i, o in enumerate(options))
    return text, LETTERS[options.index(correct)], options


def _formula_item(p: Problem, rng: random.Random, world: ScienceWorld) -> dict[str, Any]:
    f = FORMULAS[p.args[0]]
    x, y = p.args[1], p.args[2]
    if f.op == "*":
        a_val, b_val = x, y
        c = f.constant[1] if f.constant else 1
        result = a_val * b_val * c
        given = [(f.a, a_val), (f.b, b_val)] + ([((f.constant[0], f.constant[2]), c)] if f.constant else [])
        expr = f"{f.a[0]}*{f.constant[0]}*{f.b[0]}" if f.constant else f"{f.a[0]}*{f.b[0]}"
        subst = f"{a_val}*{c}*{b_val}" if f.constant else f"{a_val}*{b_val}"
        wrong = [a_val + b_val, abs(a_val - b_val), result + b_val, 2 * result, result + 1, result + 2, result + 3]
    else:  # quotient: the answer x is an integer by construction
        a_val, b_val, result = x * y, y, x
        given = [(f.a, a_val), (f.b, b_val)]
        expr, subst = f"{f.a[0]}/{f.b[0]}", f"{a_val}/{b_val}"
        wrong = [a_val * b_val, a_val + b_val, a_val - b_val, result + 1, result + b_val, result + 2, result + 3]
    stem = "Q: " + " ".join(f"{sym}={val} {unit}" for (sym, unit), val in given) + f" {f.target}=?"
    answer = f"{result} {f.unit}"
    work = f"{f.target}={expr}\n{f.target}={subst}\n{f.target}={answer}\n"
    distractors = [f"{w} {f.unit}" for w in wrong if w > 0]
    choice_text, letter, _ = _choices(answer, distractors, rng, world.n_choices)
    as_choice = rng.random() < world.p_choice and len(f"{stem} {choice_text}\n") <= MAX_PROMPT_CHARS
    if as_choice:
        return {"prompt": f"{stem} {choice_text}\n", "answer": letter, "solution": f"{work}{ANSWER_DELIMITER}{letter}\n", "kind": "formula_choice"}
    return {"prompt": f"{stem}\n", "answer": answer, "rel_tol": REL_TOL, "solution": f"{work}{ANSWER_DELIMITER}{answer}\n", "kind": "formula"}


def _conversion_item(p: Problem) -> dict[str, Any]:
    src, dst, factor = CONVERSIONS[p.args[0]]
    n = p.args[1]
    value = n * factor
    solution = f"1 {src}={factor} {dst}\n{n}*{factor}={value}\n{ANSWER_DELIMITER}{value}\n"
    return {"prompt": f"Q: {n} {src} = how many {dst}?\n", "answer": str(value), "rel_tol": REL_TOL, "solution": solution, "kind": "conversion"}


def _unit_item(p: Problem, rng: random.Random, world: ScienceWorld) -> dict[str, Any]:
    quantity = p.args[0]
    unit = UNITS_OF[quantity]
    others = sorted(set(UNITS_OF.values()) - {unit})
    choice_text, letter, _ = _choices(unit, rng.sample(others, len(others)), rng, world.n_choices)
    return {"prompt": f"Q: unit of {quantity}? {choice_text}\n", "answer": letter, "solution": f"{quantity} is {unit}\n{ANSWER_DELIMITER}{letter}\n", "kind": "unit_choice"}


def make_items(split: str, world: ScienceWorld, limit: int | None = None) -> list[dict[str, Any]]:
    """All problems of ``split`` as science benchmark items, in a fixed (hash) order."""
    probs = [p for p in all_problems(world) if split_of(p, world) == split]
    probs.sort(key=lambda p: hashlib.sha256(f"order:{p.key}".encode()).hexdigest())
    if limit is not None:
        probs = probs[:limit]
    items = []
    for p in probs:
        rng = random.Random(f"science-v{VERSION}:{world.seed}:{p.key}")
        if p.kind == "formula":
            body = _formula_item(p, rng, world)
        elif p.kind == "conversion":
            body = _conversion_item(p)
        else:
            body = _unit_item(p, rng, world)
        items.append({"id": f"science-v{VERSION}-{p.key}", "domain": "science", **body})
    return items
